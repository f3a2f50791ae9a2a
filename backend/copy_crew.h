/*
 * copy_crew.h — helper threads that share one large copy with the backend's
 * data-plane thread.
 *
 * Why: one thread copying with process_vm_readv/writev (or memcpy between
 * regions) tops out well below what the memory system gives two cores, and
 * during a large put or get the requesting rank only waits.  Splitting the
 * copy lets an otherwise idle core work on it.
 *
 * Contract:
 *   run(len, fn, ctx) calls fn(ctx, off, n) over [0, len) in parts (about
 *   two per thread, page multiples, at least part_bytes; the last one
 *   shorter; every part starts at a multiple of 4096, which accumulates
 *   rely on to split only between whole elements) and returns when every part has returned.  The calling thread claims parts too, so a helper that is
 *   asleep or has no core costs at most its wake-up call: the work never
 *   waits for a helper to start, only for parts a helper has already taken.
 *   The result is OV_OK if every part returned OV_OK, else the status of one
 *   failing part; parts after a failure still run (each one is independent),
 *   so callers must accept any subset of the range done on failure.
 *   Copies shorter than 2 * part_bytes, and every copy of a crew with no
 *   helpers, run on the calling thread as one part.
 *
 * Threading: run() is called by one thread at a time (the data-plane
 * thread); fn must be safe to call from several threads on disjoint parts.
 * Idle helpers spin for spin_us after a job, then sleep on a futex: an idle
 * backend keeps using no CPU.  The destructor stops and joins them.
 */
#ifndef OMPI_VIRT_BACKEND_COPY_CREW_H
#define OMPI_VIRT_BACKEND_COPY_CREW_H

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "ov_protocol.h"

class ov_copy_crew {
public:
    using part_fn = ov_status_t (*)(void *ctx, uint64_t off, uint64_t len);

    static constexpr uint64_t default_part_bytes = uint64_t(128) << 10;

    /* `helpers` threads (0: none); parts of at least part_bytes (0: the
     * default), rounded up to a multiple of 4096. */
    explicit ov_copy_crew(unsigned helpers, uint64_t part_bytes = default_part_bytes, uint32_t spin_us = 50);
    ~ov_copy_crew();
    ov_copy_crew(const ov_copy_crew &) = delete;
    ov_copy_crew &operator=(const ov_copy_crew &) = delete;

    unsigned helpers() const noexcept { return unsigned(threads_.size()); }
    uint64_t part_bytes() const noexcept { return part_; }
    /* Parts helpers have run since construction (for tests and status). */
    uint64_t helper_parts() const noexcept { return helper_parts_.load(std::memory_order_relaxed); }

    ov_status_t run(uint64_t len, part_fn fn, void *ctx) noexcept;
    /* Whether run() would share a copy of `len` bytes with helpers (else it
     * runs fn(ctx, 0, len) itself, and so may the caller). */
    bool splits(uint64_t len) const noexcept { return !threads_.empty() && len >= 2 * part_; }

private:
    void helper_main();
    void work(bool helper) noexcept;

    /* The current job: written by run() only while no helper is inside
     * (inside_ == 0) and active_ is false. */
    part_fn fn_ = nullptr;
    void *ctx_ = nullptr;
    uint64_t len_ = 0, part_len_ = 0, nparts_ = 0;
    std::atomic<uint64_t> next_{0}, done_{0};
    std::atomic<int> status_{OV_OK};
    std::atomic<bool> active_{false};
    std::atomic<uint32_t> inside_{0}; /* helpers between checking active_ and leaving */

    std::atomic<uint32_t> gen_{0}; /* bumped per job; helpers sleep on it */
    std::atomic<uint32_t> sleepers_{0};
    std::atomic<bool> stop_{false};
    std::atomic<uint64_t> helper_parts_{0};
    const uint64_t part_;
    const uint32_t spin_us_;
    std::vector<std::thread> threads_;
};

#endif
