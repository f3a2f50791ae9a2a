/*
 * copy_crew.cc — parts of one copy run on helper threads (contract in
 * copy_crew.h).
 */
#include "copy_crew.h"

#include <sched.h>

#include <system_error>

#include "ov_clock.h"
#include "ov_futex.h"
#include "thread_creds.h"

namespace {

inline void cpu_relax()
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

/* Spins until done(), yielding now and then: on a machine with fewer cores
 * than busy threads the helper we wait for may be waiting for this core. */
template <class Done> void wait_for_helpers(Done done)
{
    for (uint32_t i = 1; !done(); i++) {
        if ((i & 1023) == 0)
            sched_yield();
        else
            cpu_relax();
    }
}

} // namespace

ov_copy_crew::ov_copy_crew(unsigned helpers, uint64_t part_bytes, uint32_t spin_us)
    : part_(((part_bytes ? part_bytes : default_part_bytes) + 4095) / 4096 * 4096), spin_us_(spin_us)
{
    threads_.reserve(helpers);
    for (unsigned i = 0; i < helpers; i++) {
        try {
            threads_.emplace_back([this] { helper_main(); });
        } catch (const std::system_error &) { /* out of threads: fewer helpers (helpers() says how many) */
            break;
        }
    }
}

ov_copy_crew::~ov_copy_crew()
{
    stop_.store(true, std::memory_order_seq_cst);
    gen_.fetch_add(1, std::memory_order_seq_cst);
    ov_futex_wake(&gen_);
    for (std::thread &t : threads_)
        t.join();
}

/* Claims parts until none is left.  Helpers count what they ran. */
void ov_copy_crew::work(bool helper) noexcept
{
    for (;;) {
        uint64_t i = next_.fetch_add(1, std::memory_order_relaxed);
        if (i >= nparts_)
            return;
        uint64_t off = i * part_len_;
        uint64_t n = len_ - off < part_len_ ? len_ - off : part_len_;
        ov_status_t s = fn_(ctx_, off, n);
        if (s != OV_OK) {
            int ok = OV_OK;
            status_.compare_exchange_strong(ok, s, std::memory_order_relaxed);
        }
        if (helper)
            helper_parts_.fetch_add(1, std::memory_order_relaxed);
        done_.fetch_add(1, std::memory_order_release); /* publishes this part's bytes */
    }
}

ov_status_t ov_copy_crew::run(uint64_t len, part_fn fn, void *ctx) noexcept
{
    if (!splits(len))
        return fn(ctx, 0, len);
    fn_ = fn;
    ctx_ = ctx;
    len_ = len;
    /* Two parts per thread: few, large calls (each process_vm_* call pins
     * its pages under page-table locks the other threads' calls contend
     * for), yet a late helper leaves at most half a share to wait for. */
    const uint64_t threads = threads_.size() + 1, page = 4096;
    uint64_t share = (len + 2 * threads - 1) / (2 * threads);
    share = (share + page - 1) / page * page;
    part_len_ = share > part_ ? share : part_;
    nparts_ = (len + part_len_ - 1) / part_len_;
    next_.store(0, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    status_.store(OV_OK, std::memory_order_relaxed);
    active_.store(true, std::memory_order_release);
    gen_.fetch_add(1, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) != 0)
        ov_futex_wake(&gen_);
    work(false);
    /* Only parts a helper has claimed are left: bounded by one part each. */
    wait_for_helpers([this] { return done_.load(std::memory_order_acquire) == nparts_; });
    active_.store(false, std::memory_order_seq_cst);
    /* A helper that saw active_ may still be about to claim (and find no)
     * part: the job's fields stay untouched until it has left. */
    wait_for_helpers([this] { return inside_.load(std::memory_order_seq_cst) == 0; });
    return ov_status_t(status_.load(std::memory_order_relaxed));
}

void ov_copy_crew::helper_main()
{
    /* 0, not gen_'s value when this thread gets to run: a job or the
     * destructor may already have bumped it */
    uint32_t seen = 0;
    for (;;) {
        /* wait for the next job: spin a little (back-to-back large copies
         * are the case that matters), then sleep */
        int64_t spin_until = ov_now_ns() + int64_t(spin_us_) * 1000;
        uint32_t g;
        for (uint32_t i = 1; (g = gen_.load(std::memory_order_acquire)) == seen; i++) {
            if ((i & 63) != 0) {
                cpu_relax();
                continue;
            }
            if (ov_now_ns() < spin_until)
                continue;
            ov_creds_restore(); /* a napping helper keeps no client's identity */
            sleepers_.fetch_add(1, std::memory_order_seq_cst);
            if (gen_.load(std::memory_order_seq_cst) == seen)
                ov_futex_wait(&gen_, seen, 1000);
            sleepers_.fetch_sub(1, std::memory_order_seq_cst);
        }
        seen = g;
        if (stop_.load(std::memory_order_acquire))
            return;
        inside_.fetch_add(1, std::memory_order_seq_cst);
        if (active_.load(std::memory_order_seq_cst))
            work(true);
        inside_.fetch_sub(1, std::memory_order_seq_cst);
    }
}
