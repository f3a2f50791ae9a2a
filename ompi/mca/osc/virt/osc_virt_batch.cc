/*
 * osc_virt_batch.cc — small puts and gets in OV_REQ_BATCH requests
 * (contract: osc_virt_batch.h).
 */
#include "osc_virt.h"
#include "osc_virt_link.h"
#include "ompi/constants.h"

#include <cstring>
#include <new>

namespace ov::osc {

/** Where a get batch's results go: run once when its request completes,
 *  by retire() with the link lock held.  The entries' data[] lie in the
 *  staging block the request named; retire() has just given that block
 *  back to the ring allocator, but nothing reserves staging before this
 *  finisher has run and been deleted, so the bytes are still ours. */
struct GetScatter final : Finisher {
    explicit GetScatter(const ov_batch_entry *e) : entries(e) { parts = 0; }
    const ov_batch_entry *entries;
    struct Dest {
        char *at;
        uint32_t n;
    };
    Dest to[OV_BATCH_ENTRIES_MAX]; /* per entry, in order: no allocation that could throw */
    uint32_t count = 0;
    void finish(int st) override
    {
        if (OMPI_SUCCESS != st) {
            return; /* the window's tracker has the error; no result is valid */
        }
        for (uint32_t i = 0; i < count; ++i) {
            memcpy(to[i].at, entries[i].data, to[i].n);
        }
    }
};

int BackendLink::batch_add(Tracker &tr, int t, uint32_t win_id, uint32_t win_epoch, bool put,
                           char *mine, uint64_t toff, uint32_t n)
{
    OpenBatch &b = batch_;
    if (0 != b.n && (b.tracker != &tr || b.target != t || b.win_id != win_id ||
                     b.win_epoch != win_epoch || b.put != put || OV_BATCH_ENTRIES_MAX == b.n)) {
        int ret = seal_open_batch();
        if (OMPI_SUCCESS != ret) {
            return ret;
        }
    }
    if (0 == b.n) {
        const int64_t off = stage(OV_BATCH_ENTRIES_MAX * sizeof(ov_batch_entry));
        if (off < 0) {
            return static_cast<int>(off);
        }
        GetScatter *gets = nullptr;
        if (!put) {
            gets = new (std::nothrow)
                GetScatter(reinterpret_cast<const ov_batch_entry *>(staging_ptr(static_cast<uint64_t>(off))));
            if (nullptr == gets) {
                return OMPI_ERR_OUT_OF_RESOURCE;
            }
        }
        b = OpenBatch{&tr, t, win_id, win_epoch, put, static_cast<uint64_t>(off), 0, gets};
    }
    auto *e = reinterpret_cast<ov_batch_entry *>(staging_ptr(b.staging_off)) + b.n;
    e->target_off = toff;
    e->length = n;
    e->reserved = 0;
    if (put) {
        memcpy(e->data, mine, n);
    } else {
        b.gets->to[b.gets->count++] = GetScatter::Dest{mine, n}; /* b.n < OV_BATCH_ENTRIES_MAX */
    }
    b.n++;
    return OMPI_SUCCESS;
}

int BackendLink::seal_open_batch()
{
    const OpenBatch b = batch_;
    batch_ = OpenBatch{}; /* closed before submit(), whose push() seals */
    ov_req_desc d{};
    d.op = b.put ? OV_OP_PUT : OV_OP_GET;
    d.flags = OV_REQ_BATCH;
    d.dtype_kind = OV_DT_BYTES;
    d.dtype_size = 1;
    d.target_win = b.win_id;
    d.target_epoch = b.win_epoch;
    d.local_win = staging_.id;
    d.local_epoch = staging_.epoch;
    d.local_off = b.staging_off;
    d.length = uint64_t{b.n} * sizeof(ov_batch_entry);
    Completion c;
    c.tracker = b.tracker;
    c.target = b.target;
    c.finisher = b.gets;
    const int ret = submit(d, c);
    if (OMPI_SUCCESS != ret) {
        delete b.gets; /* never published: nothing will finish it */
    }
    return ret;
}

} // namespace ov::osc
