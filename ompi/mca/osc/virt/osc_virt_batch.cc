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
    GetDest to[OV_BATCH_ENTRIES_MAX]; /* per entry, in order: no allocation that could throw */
    uint32_t count = 0;               /* set when the batch is sealed */
    void finish(int st) override
    {
        if (OMPI_SUCCESS != st) {
            return; /* the window's tracker has the error; no result is valid */
        }
        /* The backend's core wrote these lines just now: ask for all of
         * them before the first copy waits for one. */
        for (uint32_t i = 0; i < count; i += 2) {
            __builtin_prefetch(&entries[i]);
        }
        for (uint32_t i = 0; i < count; ++i) {
            ov_batch_copy(to[i].at, entries[i].data, to[i].n);
        }
    }
};

int BackendLink::open_batch(Tracker &tr, int t, uint32_t win_id, uint32_t win_epoch, bool put,
                            bool user_window)
{
    const uint32_t cap = user_window ? OV_BATCH_ENTRIES_MAX : batch_entries_;
    const int64_t off = stage(uint64_t{cap} * sizeof(ov_batch_entry)); /* seals the open batch first */
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
    batch_ = OpenBatch{&tr, t, win_id, win_epoch, put, static_cast<uint64_t>(off), 0, cap, gets,
                       nullptr != gets ? gets->to : nullptr};
    return OMPI_SUCCESS;
}

int BackendLink::seal_open_batch()
{
    const OpenBatch b = batch_;
    order_batch_entries();
    if (nullptr != b.gets) {
        b.gets->count = b.n;
    }
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
