/*
 * ov_btl_segment.h — layout of a btl vmshm segment and the two lock-free
 * structures that live in it (per-receiver FIFO, per-pair fast box).  MPI-free
 * and header-only: the backend (which creates the segment), the BTL (which
 * uses it), the unit tests and the fuzz target include it.
 *
 * One segment per job on one backend, shared by every rank of that job the
 * backend serves (all its guests).  Indexed by rank (vpid), nranks slots:
 *
 *   offset 0          ov_bseg_hdr (one page; backend, once, before the fd goes out)
 *   members_off       nranks x ov_bseg_member  (backend: who holds the segment)
 *   fifos_off         nranks x (ov_bfifo_ctl + fifo_slots x ov_bfifo_slot)
 *                     FIFO r: fragments sent TO rank r, and rank r's own
 *                     fragments handed back by their receivers
 *   frags_off         nranks x frags_per_rank x frag_size
 *                     rank s's send fragments (ov_bfrag_hdr + payload)
 *   fboxes_off        nranks x nranks x fbox_stride
 *                     fast box (r, s) at index r * nranks + s: rank s -> rank r
 *
 * Rules (DESIGN.md "Shared-memory layout"): offsets, never pointers; every
 * index lives on its own cache line; acquire/release on each shared index.
 * The memory is zero when granted and every structure starts valid at zero
 * (the FIFO's slot sequence numbers are stored relative to the slot index).
 *
 * Trust: every rank of the job can write every byte of the segment.  A rank
 * therefore copies the header ONCE after mapping, checks it against
 * ov_bseg_geometry(nranks) (ov_bseg_check) and never reads the geometry from
 * shared memory again.  Every value read from a FIFO slot, a fragment
 * header or a fast-box entry is validated (ov_bseg_locate_frag,
 * ov_bfbox_reader::peek) before it is used as a length or an offset: a rank
 * that scribbles breaks its own job's messages, never makes another rank
 * read or write outside the segment.
 */
#ifndef OMPI_VIRT_COMMON_OV_BTL_SEGMENT_H
#define OMPI_VIRT_COMMON_OV_BTL_SEGMENT_H

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>

#include "ov_protocol.h"

#define OV_BSEG_MAGIC 0x474553484d534d56ull /* "VMSMHSEG" little-endian */
#define OV_BSEG_LAYOUT_VERSION 2u /* 2: fast-box readers poll entry headers (see "fast box") */
#define OV_BSEG_HDR_SIZE 4096u
#define OV_BSEG_LINE 64u
#define OV_BSEG_MAX_RANKS 256u          /* a larger job gets OV_ERR_TOO_LARGE: no vmshm */
#define OV_BSEG_FRAGS_PER_RANK 32u      /* send fragments each rank owns */
#define OV_BSEG_FRAG_HDR 64u
#define OV_BSEG_FRAG_PAYLOAD (32u * 1024u) /* btl_max_send_size */
#define OV_BSEG_FRAG_SIZE (OV_BSEG_FRAG_HDR + OV_BSEG_FRAG_PAYLOAD)
#define OV_BSEG_FBOX_DATA 4096u         /* bytes of one fast box's ring (power of two) */
#define OV_BSEG_FBOX_MAX 512u           /* largest payload one fast-box entry carries */
#define OV_BSEG_FIFO_RETURN (1ull << 63) /* FIFO value flag: a fragment handed back to its owner */

enum ov_bseg_state : uint32_t { OV_BSEG_LIVE = 1, OV_BSEG_SHUTDOWN = 2 };

struct ov_bseg_hdr {
    /* ---- line 0: identity (backend, once) */
    uint64_t magic;            /* OV_BSEG_MAGIC */
    uint32_t layout_version;   /* OV_BSEG_LAYOUT_VERSION */
    uint32_t header_size;      /* OV_BSEG_HDR_SIZE */
    uint64_t segment_size;     /* bytes of the whole mapping */
    uint64_t backend_instance; /* the backend that made it */
    uint64_t job_key;          /* the job it serves */
    uint64_t segment_id;       /* backend-wide, never 0, never reused by one backend */
    uint32_t nranks;           /* rank slots (the job's size) */
    uint32_t reserved0;
    uint64_t reserved1;
    /* ---- line 1: geometry (backend, once; equal to ov_bseg_geometry(nranks)) */
    uint32_t frags_per_rank, frag_size, fifo_slots, fbox_stride;
    uint64_t members_off, fifos_off, frags_off, fboxes_off;
    uint64_t fifo_stride;
    uint64_t reserved2;
    /* ---- line 2: live state */
    std::atomic<uint32_t> state; /* backend: ov_bseg_state (release); ranks read (acquire) */
    uint32_t pad2[15];
};

/* One per rank slot.  `present` is written by the backend only: non-zero
 * while a process of that rank holds the segment.  Reachability reads it. */
struct ov_bseg_member {
    std::atomic<uint32_t> present;
    uint32_t pad[15];
};

/* Multi-producer single-consumer bounded queue (Vyukov) of uint64 values. */
struct ov_bfifo_ctl {
    std::atomic<uint64_t> tail; /* producers: next position to claim (CAS) */
    uint8_t pad0[OV_BSEG_LINE - 8];
    std::atomic<uint64_t> head; /* consumer: informational copy of its private head */
    uint8_t pad1[OV_BSEG_LINE - 8];
};
struct ov_bfifo_slot {
    std::atomic<uint64_t> rseq;  /* sequence number minus the slot index (so zero memory is "empty, lap 0") */
    std::atomic<uint64_t> value; /* producer, before publishing rseq */
};

/* Header of a send fragment; written by its owner before it is posted. */
struct ov_bfrag_hdr {
    uint32_t len;      /* payload bytes, <= OV_BSEG_FRAG_PAYLOAD */
    uint8_t tag;       /* BTL active-message tag */
    uint8_t reserved8;
    uint16_t reserved16;
    uint32_t seq;      /* per (sender, receiver) order across FIFO and fast box */
    uint32_t reserved[13];
};

/* Fast box control; the data ring follows (OV_BSEG_FBOX_DATA bytes). */
struct ov_bfbox_ctl {
    std::atomic<uint64_t> head; /* unused since layout 2 (the reader polls entry headers) */
    uint8_t pad0[OV_BSEG_LINE - 8];
    std::atomic<uint64_t> tail; /* reader (the receiver): bytes consumed, free-running */
    uint8_t pad1[OV_BSEG_LINE - 8];
};
/* One entry in the ring: this header, then `size` payload bytes, padded to 8. */
struct ov_bfbox_entry {
    uint16_t size;  /* payload bytes (<= OV_BSEG_FBOX_MAX); kind SKIP: 0 */
    uint8_t tag;
    uint8_t kind;   /* OV_BFBOX_MSG or OV_BFBOX_SKIP (the rest of the ring up to its end is unused) */
    uint32_t seq;
};
enum : uint8_t { OV_BFBOX_MSG = 1, OV_BFBOX_SKIP = 2 };

static_assert(std::atomic<uint32_t>::is_always_lock_free && std::atomic<uint64_t>::is_always_lock_free,
              "shared atomics must be lock-free");
static_assert(std::is_standard_layout_v<ov_bseg_hdr> && sizeof(ov_bseg_hdr) == 192, "segment header");
static_assert(offsetof(ov_bseg_hdr, frags_per_rank) == 64 && offsetof(ov_bseg_hdr, state) == 128, "lines");
static_assert(std::is_standard_layout_v<ov_bseg_member> && sizeof(ov_bseg_member) == OV_BSEG_LINE, "member");
static_assert(std::is_standard_layout_v<ov_bfifo_ctl> && sizeof(ov_bfifo_ctl) == 2 * OV_BSEG_LINE, "fifo");
static_assert(offsetof(ov_bfifo_ctl, head) == OV_BSEG_LINE, "fifo indices on separate lines");
static_assert(std::is_standard_layout_v<ov_bfifo_slot> && sizeof(ov_bfifo_slot) == 16, "fifo slot");
static_assert(std::is_standard_layout_v<ov_bfrag_hdr> && sizeof(ov_bfrag_hdr) == OV_BSEG_FRAG_HDR, "frag hdr");
static_assert(std::is_standard_layout_v<ov_bfbox_ctl> && sizeof(ov_bfbox_ctl) == 2 * OV_BSEG_LINE, "fbox");
static_assert(offsetof(ov_bfbox_ctl, tail) == OV_BSEG_LINE, "fbox indices on separate lines");
static_assert(sizeof(ov_bfbox_entry) == 8, "fbox entry header");
static_assert((OV_BSEG_FBOX_DATA & (OV_BSEG_FBOX_DATA - 1)) == 0, "fbox ring is a power of two");
static_assert(OV_BSEG_FBOX_MAX + sizeof(ov_bfbox_entry) <= OV_BSEG_FBOX_DATA / 4, "several entries per box");

/* ---------------------------------------------------------------- geometry */

struct ov_bseg_geom {
    uint32_t nranks = 0, frags_per_rank = 0, frag_size = 0, fifo_slots = 0, fbox_stride = 0;
    uint64_t members_off = 0, fifos_off = 0, frags_off = 0, fboxes_off = 0, fifo_stride = 0;
    uint64_t size = 0; /* page-aligned (4 KiB) */
};

constexpr uint64_t ov_bseg_round(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

constexpr uint32_t ov_bseg_pow2_at_least(uint64_t v)
{
    uint32_t p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

/* The one layout for nranks (1..OV_BSEG_MAX_RANKS); both sides compute it. */
constexpr ov_bseg_geom ov_bseg_geometry(uint32_t nranks)
{
    ov_bseg_geom g{};
    g.nranks = nranks;
    g.frags_per_rank = OV_BSEG_FRAGS_PER_RANK;
    g.frag_size = OV_BSEG_FRAG_SIZE;
    /* every fragment of the job fits in any one FIFO: an honest producer never finds it full */
    g.fifo_slots = ov_bseg_pow2_at_least(uint64_t(nranks) * OV_BSEG_FRAGS_PER_RANK);
    g.fbox_stride = uint32_t(sizeof(ov_bfbox_ctl) + OV_BSEG_FBOX_DATA);
    g.members_off = OV_BSEG_HDR_SIZE;
    g.fifos_off = ov_bseg_round(g.members_off + uint64_t(nranks) * sizeof(ov_bseg_member), 4096);
    g.fifo_stride = ov_bseg_round(sizeof(ov_bfifo_ctl) + uint64_t(g.fifo_slots) * sizeof(ov_bfifo_slot), 4096);
    g.frags_off = g.fifos_off + uint64_t(nranks) * g.fifo_stride;
    g.fboxes_off = ov_bseg_round(g.frags_off + uint64_t(nranks) * g.frags_per_rank * g.frag_size, 4096);
    g.size = ov_bseg_round(g.fboxes_off + uint64_t(nranks) * nranks * g.fbox_stride, 4096);
    return g;
}
static_assert(ov_bseg_geometry(4).fifo_slots == 128, "geometry pin");
static_assert(ov_bseg_geometry(OV_BSEG_MAX_RANKS).size < (uint64_t(1) << 30), "largest segment under 1 GiB (sparse)");

/* Backend: write the header of a fresh (zeroed) segment. */
inline void ov_bseg_init_hdr(void *base, const ov_bseg_geom &g, uint64_t instance, uint64_t job_key, uint64_t id)
{
    auto *h = new (base) ov_bseg_hdr{};
    h->magic = OV_BSEG_MAGIC;
    h->layout_version = OV_BSEG_LAYOUT_VERSION;
    h->header_size = OV_BSEG_HDR_SIZE;
    h->segment_size = g.size;
    h->backend_instance = instance;
    h->job_key = job_key;
    h->segment_id = id;
    h->nranks = g.nranks;
    h->frags_per_rank = g.frags_per_rank;
    h->frag_size = g.frag_size;
    h->fifo_slots = g.fifo_slots;
    h->fbox_stride = g.fbox_stride;
    h->members_off = g.members_off;
    h->fifos_off = g.fifos_off;
    h->frags_off = g.frags_off;
    h->fboxes_off = g.fboxes_off;
    h->fifo_stride = g.fifo_stride;
    h->state.store(OV_BSEG_LIVE, std::memory_order_release);
}

/* Rank side: is the freshly mapped header the layout this code speaks, for
 * nranks, of `mapped` bytes?  OV_OK, OV_ERR_VERSION or OV_ERR_LAYOUT.  On OV_OK
 * *out holds the geometry to use from now on (never re-read). */
inline ov_status_t ov_bseg_check(const void *base, uint64_t mapped, uint32_t nranks, ov_bseg_geom *out)
{
    if (mapped < OV_BSEG_HDR_SIZE || nranks == 0 || nranks > OV_BSEG_MAX_RANKS)
        return OV_ERR_LAYOUT;
    ov_bseg_hdr h;
    std::memcpy(static_cast<void *>(&h), base, sizeof(h)); /* copy once: the header is shared */
    if (h.magic != OV_BSEG_MAGIC)
        return OV_ERR_LAYOUT;
    if (h.layout_version != OV_BSEG_LAYOUT_VERSION)
        return OV_ERR_VERSION;
    const ov_bseg_geom g = ov_bseg_geometry(nranks);
    if (h.header_size != OV_BSEG_HDR_SIZE || h.segment_size != mapped || g.size != mapped || h.nranks != nranks ||
        h.frags_per_rank != g.frags_per_rank || h.frag_size != g.frag_size || h.fifo_slots != g.fifo_slots ||
        h.fbox_stride != g.fbox_stride || h.members_off != g.members_off || h.fifos_off != g.fifos_off ||
        h.frags_off != g.frags_off || h.fboxes_off != g.fboxes_off || h.fifo_stride != g.fifo_stride)
        return OV_ERR_LAYOUT;
    *out = g;
    return OV_OK;
}

/* vm mode: the segment is an ivshmem BAR (docs/btl-vmshm.md "vm mode"), and a
 * PCI BAR is a power of two bytes: the backend sizes the segment's file to
 * ov_bseg_bar_size(geometry size); the layout uses the first geometry-size
 * bytes, the rest stays zero. */
constexpr uint64_t ov_bseg_bar_size(uint64_t segment_size)
{
    uint64_t p = 1;
    while (p < segment_size)
        p <<= 1;
    return p;
}

/* Rank side, vm mode: a BAR of `bar` bytes holding a segment for nranks.
 * Same checks as ov_bseg_check against the geometry's size, plus: the BAR is
 * exactly ov_bseg_bar_size of it (another device of another size is not
 * ours).  OV_OK, OV_ERR_VERSION or OV_ERR_LAYOUT. */
inline ov_status_t ov_bseg_check_bar(const void *base, uint64_t bar, uint32_t nranks, ov_bseg_geom *out)
{
    if (nranks == 0 || nranks > OV_BSEG_MAX_RANKS)
        return OV_ERR_LAYOUT;
    const uint64_t size = ov_bseg_geometry(nranks).size;
    if (bar != ov_bseg_bar_size(size))
        return OV_ERR_LAYOUT;
    return ov_bseg_check(base, size, nranks, out);
}

/* Addresses inside a segment mapped at `base` (indices checked by the caller). */
inline ov_bseg_member *ov_bseg_member_at(char *base, const ov_bseg_geom &g, uint32_t rank)
{
    return reinterpret_cast<ov_bseg_member *>(base + g.members_off) + rank;
}
inline ov_bfifo_ctl *ov_bseg_fifo_at(char *base, const ov_bseg_geom &g, uint32_t rank)
{
    return reinterpret_cast<ov_bfifo_ctl *>(base + g.fifos_off + rank * g.fifo_stride);
}
inline uint64_t ov_bseg_frag_off(const ov_bseg_geom &g, uint32_t owner, uint32_t index)
{
    return g.frags_off + (uint64_t(owner) * g.frags_per_rank + index) * g.frag_size;
}
inline ov_bfbox_ctl *ov_bseg_fbox_at(char *base, const ov_bseg_geom &g, uint32_t receiver, uint32_t sender)
{
    return reinterpret_cast<ov_bfbox_ctl *>(base + g.fboxes_off + (uint64_t(receiver) * g.nranks + sender) * g.fbox_stride);
}

/* Decode a FIFO value read from the segment: the fragment it names must be
 * one of the job's fragments, at a fragment boundary.  *owner is derived
 * from the offset, never from anything the fragment says. */
inline bool ov_bseg_locate_frag(const ov_bseg_geom &g, uint64_t value, uint32_t *owner, uint32_t *index,
                                bool *is_return)
{
    const uint64_t off = value & ~OV_BSEG_FIFO_RETURN;
    if (off < g.frags_off)
        return false;
    const uint64_t rel = off - g.frags_off;
    if (rel % g.frag_size != 0)
        return false;
    const uint64_t n = rel / g.frag_size;
    if (n >= uint64_t(g.nranks) * g.frags_per_rank)
        return false;
    *owner = uint32_t(n / g.frags_per_rank);
    *index = uint32_t(n % g.frags_per_rank);
    *is_return = (value & OV_BSEG_FIFO_RETURN) != 0;
    return true;
}

/* ---------------------------------------------------------------- FIFO */

/* One FIFO as seen by its producers (any rank) and by its consumer (the
 * rank that owns it, which keeps `head` private: nobody else can move it). */
class ov_bfifo {
public:
    ov_bfifo() = default;
    ov_bfifo(ov_bfifo_ctl *ctl, uint32_t slots) // slots: power of two
        : ctl_(ctl), slots_(reinterpret_cast<ov_bfifo_slot *>(ctl + 1)), mask_(slots - 1)
    {
    }
    /* Producer.  false: full, or its shared words are corrupt (a bounded
     * number of CAS retries, so a scribbled tail cannot make us spin). */
    bool push(uint64_t value, unsigned max_tries = 1024)
    {
        uint64_t pos = ctl_->tail.load(std::memory_order_relaxed);
        for (unsigned i = 0; i < max_tries; ++i) {
            ov_bfifo_slot &s = slots_[pos & mask_];
            const uint64_t seq = s.rseq.load(std::memory_order_acquire) + (pos & mask_);
            const int64_t dif = int64_t(seq - pos);
            if (dif == 0) {
                if (ctl_->tail.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
                    s.value.store(value, std::memory_order_relaxed);
                    s.rseq.store(pos + 1 - (pos & mask_), std::memory_order_release);
                    return true;
                }
            } else if (dif < 0) {
                return false; /* full: the consumer has not freed this slot's previous lap */
            } else {
                pos = ctl_->tail.load(std::memory_order_relaxed);
            }
        }
        return false;
    }
    /* Consumer (one thread at a time).  false: empty. */
    bool pop(uint64_t *value)
    {
        ov_bfifo_slot &s = slots_[head_ & mask_];
        const uint64_t seq = s.rseq.load(std::memory_order_acquire) + (head_ & mask_);
        if (seq != head_ + 1)
            return false;
        *value = s.value.load(std::memory_order_relaxed);
        s.rseq.store(head_ + mask_ + 1 - (head_ & mask_), std::memory_order_release);
        ++head_;
        ctl_->head.store(head_, std::memory_order_relaxed);
        return true;
    }
    bool attached() const { return ctl_ != nullptr; }

private:
    ov_bfifo_ctl *ctl_ = nullptr;
    ov_bfifo_slot *slots_ = nullptr;
    uint64_t mask_ = 0;
    uint64_t head_ = 0; /* consumer's private position */
};

/* ---------------------------------------------------------------- fast box */

/* Protocol (layout 2): the receiver polls the entry header at its own tail
 * instead of a published head, so a message costs the receiver one cache
 * line (header and a small payload share it) instead of two, as vader's fast
 * boxes do.  The writer keeps the 8 bytes after its last entry zero (the
 * "nothing yet" header; a valid entry header is never zero, its kind is not
 * 0): it writes the payload, zeroes the header slot after it, then stores the
 * entry's header with release.  A SKIP that pads to the ring's end is stored
 * after the entry it precedes (at offset 0) is complete.  It therefore always
 * leaves 8 free bytes after an entry, so that zero never lands on an entry
 * not yet read.  The control block's `head` is not used (kept for the
 * offsets); `tail` is the receiver's consumed byte count. */

inline uint32_t ov_bfbox_entry_bytes(uint32_t payload) { return uint32_t(sizeof(ov_bfbox_entry) + ((payload + 7u) & ~7u)); }

/* An entry header as one 8-byte word (entries are 8-aligned in an 8-aligned
 * ring): atomic, so the reader never sees half of one. */
inline uint64_t ov_bfbox_load_word(const char *p)
{
    return __atomic_load_n(reinterpret_cast<const uint64_t *>(p), __ATOMIC_ACQUIRE);
}
inline void ov_bfbox_store_word(char *p, uint64_t w, int order = __ATOMIC_RELEASE)
{
    __atomic_store_n(reinterpret_cast<uint64_t *>(p), w, order);
}
inline uint64_t ov_bfbox_word(const ov_bfbox_entry &e)
{
    uint64_t w;
    std::memcpy(&w, &e, sizeof(w));
    return w;
}

/* The sender's side of one fast box.  Keeps its own head and the last tail
 * it read; reads the receiver's tail again only when that cached one leaves
 * too little room (so a sender does not pull the receiver's tail line
 * across cores on every message), and distrusts it: a tail that moves
 * backwards or past the head is never accepted. */
class ov_bfbox_writer {
public:
    ov_bfbox_writer() = default;
    explicit ov_bfbox_writer(ov_bfbox_ctl *ctl) : ctl_(ctl), data_(reinterpret_cast<char *>(ctl + 1)) {}
    /* Room for `payload` contiguous bytes?  Returns where to write them, or
     * nullptr (full, too large, or the receiver's tail is nonsense).  Nothing
     * is visible to the receiver until commit(). */
    char *reserve(uint32_t payload)
    {
        if (payload > OV_BSEG_FBOX_MAX || ctl_ == nullptr)
            return nullptr;
        const uint32_t need = ov_bfbox_entry_bytes(payload);
        const uint32_t off = uint32_t(head_ & (OV_BSEG_FBOX_DATA - 1));
        const uint32_t to_end = OV_BSEG_FBOX_DATA - off;
        skip_ = need > to_end ? to_end : 0;
        /* the entry, its skip, and the zero header after it */
        const uint64_t want = uint64_t(need) + skip_ + sizeof(ov_bfbox_entry);
        if (want > OV_BSEG_FBOX_DATA - (head_ - tail_)) {
            const uint64_t tail = ctl_->tail.load(std::memory_order_acquire);
            if (tail < tail_ || tail > head_)
                return nullptr; /* a tail we never allowed: the box is broken */
            tail_ = tail;
            if (want > OV_BSEG_FBOX_DATA - (head_ - tail_))
                return nullptr;
        }
        pending_ = skip_ ? 0 : off;
        return data_ + pending_ + sizeof(ov_bfbox_entry);
    }
    /* Publish what reserve() returned, holding `payload` bytes. */
    void commit(uint32_t payload, uint8_t tag, uint32_t seq)
    {
        const uint32_t need = ov_bfbox_entry_bytes(payload);
        ov_bfbox_store_word(data_ + ((pending_ + need) & (OV_BSEG_FBOX_DATA - 1)), 0, __ATOMIC_RELAXED);
        ov_bfbox_store_word(data_ + pending_, ov_bfbox_word(ov_bfbox_entry{uint16_t(payload), tag, OV_BFBOX_MSG, seq}));
        if (skip_) /* after the entry at 0: a reader that follows the skip finds it whole */
            ov_bfbox_store_word(data_ + (head_ & (OV_BSEG_FBOX_DATA - 1)),
                                ov_bfbox_word(ov_bfbox_entry{0, 0, OV_BFBOX_SKIP, seq}));
        head_ += skip_ + need;
    }

private:
    ov_bfbox_ctl *ctl_ = nullptr;
    char *data_ = nullptr;
    uint64_t head_ = 0;
    uint64_t tail_ = 0; /* the receiver's tail as last read: tail_ <= head_, head_ + 8 <= tail_ + ring */
    uint32_t skip_ = 0, pending_ = 0;
};

/* The receiver's side.  Keeps its own tail; distrusts every entry header
 * (read once as one word, then checked): a kind that is neither MSG nor
 * SKIP, a size above OV_BSEG_FBOX_MAX, an entry running past the ring's end
 * or a SKIP at offset 0 (an entry always fits there) breaks the box for
 * good.  A hostile writer can make its own messages wrong, never make the
 * reader touch a byte outside the ring. */
class ov_bfbox_reader {
public:
    enum result { EMPTY, MESSAGE, CORRUPT };
    struct message {
        const char *payload; /* inside the ring, contiguous */
        uint32_t size;
        uint8_t tag;
        uint32_t seq;
    };
    ov_bfbox_reader() = default;
    explicit ov_bfbox_reader(ov_bfbox_ctl *ctl) : ctl_(ctl), data_(reinterpret_cast<char *>(ctl + 1)) {}
    /* Look at the next message without consuming it (skips are consumed).
     * CORRUPT is sticky: the box is never read again. */
    result peek(message *m)
    {
        if (broken_ || ctl_ == nullptr)
            return broken_ ? CORRUPT : EMPTY;
        uint32_t off = uint32_t(tail_ & (OV_BSEG_FBOX_DATA - 1));
        uint64_t w = ov_bfbox_load_word(data_ + off);
        if (w == 0)
            return EMPTY;
        ov_bfbox_entry e;
        std::memcpy(&e, &w, sizeof(e));
        if (e.kind == OV_BFBOX_SKIP) {
            if (off == 0)
                return fail();
            tail_ += OV_BSEG_FBOX_DATA - off;
            ctl_->tail.store(tail_, std::memory_order_release);
            off = 0;
            w = ov_bfbox_load_word(data_);
            if (w == 0)
                return EMPTY; /* not a writer of ours: it stores the skip last */
            std::memcpy(&e, &w, sizeof(e));
        }
        const uint32_t need = ov_bfbox_entry_bytes(e.size);
        if (e.kind != OV_BFBOX_MSG || e.size > OV_BSEG_FBOX_MAX || off + need > OV_BSEG_FBOX_DATA)
            return fail();
        m->payload = data_ + off + sizeof(ov_bfbox_entry);
        m->size = e.size;
        m->tag = e.tag;
        m->seq = e.seq;
        pending_ = need;
        return MESSAGE;
    }
    /* Consume the message peek() returned and give its bytes back to the writer. */
    void consume()
    {
        tail_ += pending_;
        pending_ = 0;
        ctl_->tail.store(tail_, std::memory_order_release);
    }
    bool broken() const { return broken_; }

private:
    result fail()
    {
        broken_ = true;
        return CORRUPT;
    }
    ov_bfbox_ctl *ctl_ = nullptr;
    char *data_ = nullptr;
    uint64_t tail_ = 0;
    uint32_t pending_ = 0;
    bool broken_ = false;
};

#endif
