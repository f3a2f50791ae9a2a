/*
 * ov_layout.h — layout of a guest region (one per (guest, job)), the shared
 * memory the backend creates and hands to the frontends of that guest.
 *
 *   offset 0                  ov_region_hdr (one page, OV_REGION_HDR_SIZE)
 *   heap_off .. +heap_size    heap: window memory and process blocks, carved by
 *                             the backend's allocator (metadata is private to
 *                             the backend; nothing in the heap is trusted)
 *
 *   process block (one per attached process, from the heap, 64-byte aligned):
 *     ctl_off  ov_proc_ctl                       (3 cache lines)
 *     rq_off   ov_ring_idx + rq_slots * ov_req_desc
 *     cq_off   ov_ring_idx + cq_slots * ov_completion
 *
 * Rules: offsets, never pointers.  The header is written by the backend before
 * the fd is handed out and never changed afterwards except `state`.  The
 * frontend checks magic, layout_version, header_size, region_size and that
 * heap_off + heap_size <= region_size before using anything (ov_region_check).
 * The backend never reads the header or any offset back from shared memory:
 * it keeps private copies.  The only shared words the backend reads are the
 * frontend-written ones marked "frontend" below, and it treats them as hostile.
 */
#ifndef OMPI_VIRT_COMMON_OV_LAYOUT_H
#define OMPI_VIRT_COMMON_OV_LAYOUT_H

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "ov_protocol.h"

#define OV_CACHE_LINE 64
#define OV_REGION_MAGIC 0x4e4f494745525f4full /* "O_REGION" little-endian */
#define OV_LAYOUT_VERSION 2u /* 2: ring slots carry a stamp (ov_ring.h), cookies are 32-bit */
#define OV_REGION_HDR_SIZE 4096u
#define OV_RING_MIN_SLOTS 2u
#define OV_RING_MAX_SLOTS 65536u

enum ov_region_state : uint32_t {
    OV_REGION_LIVE = 1,     /* backend serving */
    OV_REGION_SHUTDOWN = 2, /* backend exited cleanly: frontends fail with OV_ERR_BACKEND_GONE */
};

struct ov_region_hdr {
    /* ---- cache line 0: identity; backend, once, before the fd is passed */
    uint64_t magic;            /* backend: OV_REGION_MAGIC */
    uint32_t layout_version;   /* backend: OV_LAYOUT_VERSION */
    uint32_t header_size;      /* backend: OV_REGION_HDR_SIZE */
    uint64_t region_size;      /* backend: bytes of the whole mapping */
    uint64_t backend_instance; /* backend: id of the backend that made the region */
    uint64_t job_key;          /* backend: job this region serves */
    char guest[OV_GUEST_NAME_MAX - 8]; /* backend: guest name, NUL-terminated (informational, truncated) */
    /* ---- cache line 1: offset table; backend, once */
    uint64_t heap_off;         /* backend: start of the heap (== header_size) */
    uint64_t heap_size;        /* backend: bytes of heap */
    uint64_t ring_desc_size;   /* backend: sizeof(ov_req_desc) */
    uint64_t ring_cpl_size;    /* backend: sizeof(ov_completion) */
    uint64_t ring_idx_size;    /* backend: sizeof(ov_ring_idx) */
    uint64_t ctl_size;         /* backend: sizeof(ov_proc_ctl) */
    uint64_t reserved1[2];
    /* ---- cache line 2: live state */
    std::atomic<uint32_t> state; /* backend: ov_region_state (release); frontend reads (acquire) */
    uint32_t pad2[15];
};

/* SPSC ring indices: free-running 64-bit counters, slot = index & (slots-1).
 * Producer and consumer on separate cache lines.  Slots follow this struct. */
struct ov_ring_idx {
    std::atomic<uint64_t> tail; /* producer: next index to write (release after the slot) */
    uint8_t pad0[OV_CACHE_LINE - sizeof(std::atomic<uint64_t>)];
    std::atomic<uint64_t> head; /* consumer: next index to read (release after copying the slot) */
    uint8_t pad1[OV_CACHE_LINE - sizeof(std::atomic<uint64_t>)];
};

/* Per-process notification words. */
struct ov_proc_ctl {
    /* ---- cache line 0: backend, once at RINGS time (informational for the frontend) */
    uint32_t proc_id;   /* backend */
    uint32_t rq_slots;  /* backend */
    uint32_t cq_slots;  /* backend */
    uint32_t reserved0;
    uint8_t pad0[OV_CACHE_LINE - 16];
    /* ---- cache line 1: backend-written live words */
    std::atomic<uint32_t> backend_sleeping; /* backend: 1 while it may block in epoll; frontend reads
                                               after publishing a descriptor (seq_cst fence) */
    std::atomic<uint32_t> cq_seq;           /* backend: futex word, bumped after posting completions
                                               when fe_waiting; frontend futex-waits on it */
    uint8_t pad1[OV_CACHE_LINE - 8];
    /* ---- cache line 2: frontend-written live words (hostile to the backend) */
    std::atomic<uint32_t> fe_waiting;       /* frontend: 1 while it may block on cq_seq */
    std::atomic<uint32_t> fe_cpu;           /* frontend: 1 + the CPU it last submitted from, 0 if
                                               unknown.  A scheduling hint only: a backend thread on
                                               that same CPU yields it after serving this process
                                               (container guests; a VM's vCPU numbers mean nothing
                                               on the host and are ignored) */
    uint8_t pad2[OV_CACHE_LINE - 8];
};

static_assert(std::atomic<uint32_t>::is_always_lock_free, "shared atomics must be lock-free");
static_assert(std::atomic<uint64_t>::is_always_lock_free, "shared atomics must be lock-free");
static_assert(sizeof(std::atomic<uint32_t>) == 4, "futex word must be 32 bits");
static_assert(std::is_standard_layout_v<ov_region_hdr>, "shm");
static_assert(std::is_standard_layout_v<ov_ring_idx>, "shm");
static_assert(std::is_standard_layout_v<ov_proc_ctl>, "shm");
static_assert(offsetof(ov_region_hdr, heap_off) == 64, "offset table on line 1");
static_assert(offsetof(ov_region_hdr, state) == 128, "live state on line 2");
static_assert(sizeof(ov_region_hdr) == 192, "region header size");
static_assert(sizeof(ov_region_hdr) <= OV_REGION_HDR_SIZE, "header fits its page");
static_assert(offsetof(ov_ring_idx, head) == OV_CACHE_LINE, "head and tail on separate lines");
static_assert(sizeof(ov_ring_idx) == 2 * OV_CACHE_LINE, "ring index block size");
static_assert(offsetof(ov_proc_ctl, backend_sleeping) == OV_CACHE_LINE, "backend words on line 1");
static_assert(offsetof(ov_proc_ctl, fe_waiting) == 2 * OV_CACHE_LINE, "frontend words on line 2");
static_assert(sizeof(ov_proc_ctl) == 3 * OV_CACHE_LINE, "proc ctl size");

/* Layout of a process block; computed identically by both sides. */
struct ov_proc_block_layout {
    uint64_t ctl_off, rq_off, cq_off, size; /* relative to the block start */
};

constexpr bool ov_is_pow2(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

constexpr uint64_t ov_align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

constexpr ov_proc_block_layout ov_proc_block(uint32_t rq_slots, uint32_t cq_slots)
{
    ov_proc_block_layout l{};
    l.ctl_off = 0;
    l.rq_off = ov_align_up(sizeof(ov_proc_ctl), OV_CACHE_LINE);
    l.cq_off = ov_align_up(l.rq_off + sizeof(ov_ring_idx) + uint64_t(rq_slots) * sizeof(ov_req_desc),
                           OV_CACHE_LINE);
    l.size = ov_align_up(l.cq_off + sizeof(ov_ring_idx) + uint64_t(cq_slots) * sizeof(ov_completion),
                         OV_CACHE_LINE);
    return l;
}
static_assert(ov_proc_block(64, 64).size == 192 + 128 + 64 * 64 + 128 + 64 * 32, "block pin");

/* Frontend-side check of a freshly mapped header (the frontend trusts the
 * backend, but not a stale or foreign file).  Returns OV_OK, OV_ERR_LAYOUT or
 * OV_ERR_VERSION. */
inline ov_status_t ov_region_check(const ov_region_hdr *h, uint64_t mapped_size)
{
    if (mapped_size < OV_REGION_HDR_SIZE || h->magic != OV_REGION_MAGIC)
        return OV_ERR_LAYOUT;
    if (h->layout_version != OV_LAYOUT_VERSION)
        return OV_ERR_VERSION;
    if (h->header_size != OV_REGION_HDR_SIZE || h->region_size != mapped_size ||
        h->heap_off < h->header_size || h->heap_off > mapped_size ||
        h->heap_size > mapped_size - h->heap_off || h->ring_desc_size != sizeof(ov_req_desc) ||
        h->ring_cpl_size != sizeof(ov_completion) || h->ring_idx_size != sizeof(ov_ring_idx) ||
        h->ctl_size != sizeof(ov_proc_ctl))
        return OV_ERR_LAYOUT;
    return OV_OK;
}

#endif
