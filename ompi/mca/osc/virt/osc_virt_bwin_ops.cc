/*
 * osc_virt_bwin_ops.cc — put, get, accumulate, get_accumulate, fetch_and_op
 * and compare_and_swap on backend-served targets (contract: osc_virt_bwin.h).
 *
 * Every operation walks the origin (and result) layout and the target layout
 * in lockstep (RawCursor) and issues one piece per contiguous run (a put,
 * get or accumulate that is one run on every side and fits one request
 * skips the walk):
 *   - same guest, put/get: memcpy, done before the call returns (for a create
 *     window only our own memory is; other ranks' go through the backend);
 *   - container mode, operations of osc_virt_single_copy_min bytes or more
 *     (16 MiB): the backend copies straight from/to our address (one copy,
 *     process_vm_readv/writev), leaving this CPU free;
 *   - otherwise (VM mode, smaller operations, accumulates): the piece goes through
 *     this process's staging area in the region, at most `chunk` bytes at a
 *     time, so copying the next piece in overlaps the backend copying this one.
 * Accumulates always go to the backend, even in the same guest, so that one
 * agent applies every accumulate of a location (atomic per element).
 */
#include "osc_virt.h"
#include "osc_virt_bwin.h"
#include "osc_virt_dtype.h"
#include "ov_entry.h"

#include <algorithm>
#include <cstring>

namespace ov::osc {

namespace {

/* Target layouts are walked at this fake address: only differences matter,
 * and it keeps negative lower bounds away from address 0. */
constexpr uintptr_t kTargetBias = uintptr_t{1} << 40;

/* The largest accumulate piece.  A put's pieces are pure copies that the
 * backend finishes about as fast as we stage them; an accumulate's take the
 * backend longer than our memcpy, so a 1 MiB MPI_Accumulate in one piece
 * was our copy, then the backend's arithmetic, one after the other.  In
 * 256 KiB pieces the two overlap (docs/osc-virt.md, accumulate throughput). */
constexpr size_t kAccPiece = size_t{256} << 10;

int request_free(ompi_request_t **req)
{
    if (!REQUEST_COMPLETE(*req)) {
        return MPI_ERR_REQUEST;
    }
    OMPI_REQUEST_FINI(*req);
    OBJ_RELEASE(*req);
    *req = MPI_REQUEST_NULL;
    return OMPI_SUCCESS;
}

int request_cancel(ompi_request_t *, int) { return MPI_ERR_REQUEST; }

ompi_request_t *new_request(ompi_win_t *win)
{
    ompi_request_t *r = OBJ_NEW(ompi_request_t);
    if (nullptr == r) {
        return nullptr;
    }
    OMPI_REQUEST_INIT(r, false);
    r->req_type = OMPI_REQUEST_WIN;
    r->req_mpi_object.win = win;
    r->req_state = OMPI_REQUEST_ACTIVE;
    r->req_free = OV_ENTRY(request_free);
    r->req_cancel = OV_ENTRY(request_cancel);
    return r;
}

void complete_request(ompi_request_t *r, int status)
{
    r->req_status.MPI_ERROR = status;
    ompi_request_complete(r, true);
}

/** Completes an MPI request when the last piece of its operation completes. */
struct RequestFinisher final : Finisher {
    ompi_request_t *req;
    explicit RequestFinisher(ompi_request_t *r) : req(r) {}
    void finish(int status) override { complete_request(req, status); }
};

/** For a request-based call (req non-null): *req, and the finisher that
 *  completes it when the operation's last part does; else null. */
Finisher *start_request(ompi_win_t *win, ompi_request_t **req)
{
    if (nullptr == req) {
        return nullptr;
    }
    *req = new_request(win);
    return new RequestFinisher(*req);
}

/** Ends issuing: drops the guard part; finishes at once if nothing is in flight. */
void issued(Finisher *f, int status)
{
    if (nullptr == f) {
        return;
    }
    if (OMPI_SUCCESS != status && OMPI_SUCCESS == f->status) {
        f->status = status;
    }
    if (0 == --f->parts) {
        f->finish(f->status);
        delete f;
    }
}

/** Walks two cursors in lockstep, calling fn(a, b, n) per common piece. */
template <class Fn> int walk2(RawCursor &a, RawCursor &b, size_t max_piece, Fn fn)
{
    for (;;) {
        const size_t na = a.avail(), nb = b.avail();
        if (0 == na || 0 == nb) {
            return OMPI_SUCCESS;
        }
        const size_t n = std::min({na, nb, max_piece});
        int ret = fn(a.pos(), b.pos(), n);
        if (OMPI_SUCCESS != ret) {
            return ret;
        }
        a.advance(n);
        b.advance(n);
    }
}

/* Bytes of `count` elements of `dt` if they are one contiguous run, else 0. */
size_t contiguous_bytes(int count, ompi_datatype_t *dt)
{
    if (count <= 0 || !ompi_datatype_is_contiguous_memory_layout(dt, count)) {
        return 0;
    }
    size_t size = 0;
    ompi_datatype_type_size(dt, &size);
    return size * static_cast<size_t>(count);
}

/* Where the data of a layout at `base` starts (its true lower bound). */
char *true_start(const void *base, ompi_datatype_t *dt)
{
    ptrdiff_t lb = 0, extent = 0;
    ompi_datatype_get_true_extent(dt, &lb, &extent);
    return const_cast<char *>(static_cast<const char *>(base)) + lb;
}

/* Every layout of an operation one contiguous run of the same length: the
 * target (tc x tdt), the origin (unless odt is null: MPI_NO_OP) and the
 * result (when rdt is non-null: get_accumulate, fetch_and_op).  An 8-byte
 * put, any put, get or accumulate of contiguous data; copy() and
 * accumulate() then issue one request without building cursors, which cost
 * ~130 of the ~1180 instructions an 8-byte put + flush took at the origin,
 * and 1252 -> 1052 per 8-byte MPI_Fetch_and_op (callgrind).  n == 0: not
 * one run. */
struct OneRun {
    char *origin = nullptr, *result = nullptr;
    ptrdiff_t target_lb = 0; /* where the target run starts, from the displacement */
    size_t n = 0;
};

OneRun one_run(int tc, ompi_datatype_t *tdt, const void *o, int oc, ompi_datatype_t *odt,
               void *r = nullptr, int rc = 0, ompi_datatype_t *rdt = nullptr)
{
    OneRun run;
    const size_t n = contiguous_bytes(tc, tdt);
    if (0 == n || (nullptr != odt && contiguous_bytes(oc, odt) != n) ||
        (nullptr != rdt && contiguous_bytes(rc, rdt) != n)) {
        return run;
    }
    ptrdiff_t extent = 0;
    ompi_datatype_get_true_extent(tdt, &run.target_lb, &extent);
    run.origin = nullptr != odt ? true_start(o, odt) : nullptr;
    run.result = nullptr != rdt ? true_start(r, rdt) : nullptr;
    run.n = n;
    return run;
}

} // namespace

int BackendWindow::put(const void *o, int oc, ompi_datatype_t *odt, int t, ptrdiff_t disp,
                       int tc, ompi_datatype_t *tdt, ompi_request_t **req)
{
    return copy(true, const_cast<void *>(o), oc, odt, t, disp, tc, tdt, req);
}

int BackendWindow::get(void *o, int oc, ompi_datatype_t *odt, int t, ptrdiff_t disp, int tc,
                       ompi_datatype_t *tdt, ompi_request_t **req)
{
    return copy(false, o, oc, odt, t, disp, tc, tdt, req);
}

int BackendWindow::copy(bool to_target, void *o, int oc, ompi_datatype_t *odt, int t,
                        ptrdiff_t disp, int tc, ompi_datatype_t *tdt, ompi_request_t **req)
{
    std::unique_lock<LinkMutex> guard = hold();
    int ret = issue_check(t, guard);
    if (OMPI_SUCCESS != ret) {
        return ret;
    }
    const Peer &p = peers_[t];
    const OneRun run = one_run(tc, tdt, o, oc, odt);
    if (0 != run.n && !p.same_guest && run.n <= link_->chunk() && !link_->single_copy_for(run.n)) {
        Finisher *fin = start_request(win_, req);
        const uint64_t toff = static_cast<uint64_t>(disp * p.disp_unit + run.target_lb);
        ret = issue_copy_piece(to_target, t, run.origin, toff, run.n, false, fin);
        issued(fin, ret);
        return ret;
    }
    RawCursor oc_(o, oc, odt);
    RawCursor tc_(reinterpret_cast<void *>(kTargetBias + disp * p.disp_unit), tc, tdt);
    if (p.same_guest) {
        char *tmem = p.direct;
        ret = walk2(oc_, tc_, SIZE_MAX, [&](char *mine, char *theirs, size_t n) {
            char *target = tmem + (reinterpret_cast<uintptr_t>(theirs) - kTargetBias);
            memcpy(to_target ? target : mine, to_target ? mine : target, n);
            return OMPI_SUCCESS;
        });
        if (nullptr != req) {
            *req = new_request(win_);
            complete_request(*req, ret);
        }
        return ret;
    }
    Finisher *fin = start_request(win_, req);
    /* Decided per operation, not per piece: staging pipelines the pieces of
     * one operation, single copy frees this CPU for the whole of it. */
    const bool single = link_->single_copy_for(oc_.total());
    ret = walk2(oc_, tc_, link_->chunk(), [&](char *mine, char *theirs, size_t n) {
        return issue_copy_piece(to_target, t, mine, reinterpret_cast<uintptr_t>(theirs) - kTargetBias,
                                n, single, fin);
    });
    issued(fin, ret);
    return ret;
}

ov_req_desc BackendWindow::request_to(int t, uint16_t op, uint64_t toff, size_t n) const
{
    const Peer &p = peers_[t];
    ov_req_desc d{};
    d.op = op;
    d.dtype_kind = OV_DT_BYTES;
    d.dtype_size = 1;
    d.target_win = p.win_id;
    d.target_epoch = p.win_epoch;
    d.target_off = p.part_off + toff;
    d.length = n;
    return d;
}

Completion BackendWindow::completion_of(int t, Finisher *fin)
{
    Completion c;
    c.tracker = &tracker_;
    c.target = t;
    c.finisher = fin;
    return c;
}

int BackendWindow::issue_copy_piece(bool to_target, int t, char *mine, uint64_t toff, size_t n,
                                    bool single, Finisher *fin)
{
    ov_req_desc d = request_to(t, to_target ? OV_OP_PUT : OV_OP_GET, toff, n);
    Completion c = completion_of(t, fin);
    if (single) {
        d.flags = OV_REQ_LOCAL_VA; /* the backend copies from/to `mine` itself */
        d.local_off = reinterpret_cast<uintptr_t>(mine);
    } else if (link_->inline_fits(to_target ? n : 0, to_target ? 0 : n)) {
        if (nullptr == fin && batches()) {
            return link_->batch_add(tracker_, t, d.target_win, d.target_epoch, to_target, mine,
                                    d.target_off, static_cast<uint32_t>(n), user_memory_);
        }
        d.flags = OV_REQ_INLINE; /* the bytes ride in the descriptor or the completion */
        if (to_target) {
            memcpy(ov_req_inline_origin(&d), mine, n);
            if (nullptr == fin && link_->can_quiet(tracker_, t)) {
                return link_->submit_quiet(d, tracker_, t); /* no completion to wait for one by one */
            }
        } else {
            c.result_inline(mine, n);
        }
    } else {
        int64_t off = link_->stage_for(d, n);
        if (off < 0) {
            return static_cast<int>(off);
        }
        d.local_off = static_cast<uint64_t>(off);
        if (to_target) {
            d.flags = link_->put_flags(n);
            memcpy(link_->staging_ptr(off), mine, n);
        } else { /* copied out when it completes */
            c.result_staged(mine, static_cast<uint64_t>(off), n);
        }
    }
    return link_->submit(d, c);
}

int BackendWindow::accumulate(const void *o, int oc, ompi_datatype_t *odt, void *r, int rc,
                              ompi_datatype_t *rdt, int t, ptrdiff_t disp, int tc,
                              ompi_datatype_t *tdt, ompi_op_t *op, bool fetch,
                              ompi_request_t **req)
{
    AccPiece a{};
    if (!accumulate_kind(tdt, &a.kind, &a.esize) || !accumulate_op(op, &a.acc_op)) {
        return OMPI_ERR_NOT_SUPPORTED; /* the module routes these to the fallback */
    }
    std::unique_lock<LinkMutex> guard = hold();
    int ret = issue_check(t, guard);
    if (OMPI_SUCCESS != ret) {
        return ret;
    }
    const Peer &p = peers_[t];
    a.t = t;
    a.fetch = fetch;
    a.no_origin = OV_ACC_NO_OP == a.acc_op;
    a.fin = start_request(win_, req);
    /* Pieces are whole elements (every layout is built from the same basic
     * type), at most kAccPiece bytes: while the backend computes piece k we
     * copy piece k+1 into staging. */
    const size_t piece = std::min<size_t>(link_->chunk(), kAccPiece);
    const size_t max_piece = piece - piece % a.esize;
    const uint64_t tdisp = static_cast<uint64_t>(disp * p.disp_unit);
    if (const OneRun run = one_run(tc, tdt, o, oc, a.no_origin ? nullptr : odt, r, rc,
                                   fetch ? rdt : nullptr);
        0 != run.n && run.n <= max_piece) {
        ret = issue_acc_piece(a, tdisp + run.target_lb, run.origin, run.result, run.n);
        issued(a.fin, ret);
        return ret;
    }
    RawCursor tc_(reinterpret_cast<void *>(kTargetBias + tdisp), tc, tdt);
    /* No origin data (NO_OP): walk the target against itself. */
    RawCursor oc_(a.no_origin ? reinterpret_cast<void *>(kTargetBias + tdisp) : o,
                  a.no_origin ? tc : oc, a.no_origin ? tdt : odt);
    RawCursor rc_(fetch ? r : nullptr, fetch ? rc : 0, fetch ? rdt : tdt);
    for (;;) {
        size_t n = std::min({tc_.avail(), oc_.avail(), max_piece});
        if (fetch) {
            n = std::min(n, rc_.avail());
        }
        if (0 == n) {
            break;
        }
        ret = issue_acc_piece(a, reinterpret_cast<uintptr_t>(tc_.pos()) - kTargetBias, oc_.pos(),
                              rc_.pos(), n);
        if (OMPI_SUCCESS != ret) {
            break;
        }
        tc_.advance(n);
        oc_.advance(n);
        if (fetch) {
            rc_.advance(n);
        }
    }
    issued(a.fin, ret);
    return ret;
}

int BackendWindow::issue_acc_piece(const AccPiece &a, uint64_t toff, const char *origin,
                                   char *result, size_t n)
{
    ov_req_desc d = request_to(a.t, a.fetch ? OV_OP_GET_ACC : OV_OP_ACC, toff, n);
    d.acc_op = a.acc_op;
    d.dtype_kind = a.kind;
    d.dtype_size = a.esize;
    Completion c = completion_of(a.t, a.fin);
    if (link_->inline_fits(a.no_origin ? 0 : n, a.fetch ? n : 0)) {
        d.flags = OV_REQ_INLINE; /* a fetch_and_op, a small accumulate */
        if (!a.no_origin) {
            memcpy(ov_req_inline_origin(&d), origin, n);
        }
        if (a.fetch) {
            c.result_inline(result, n);
        } else if (nullptr == a.fin && link_->can_quiet(tracker_, a.t)) {
            return link_->submit_quiet(d, tracker_, a.t);
        }
        return link_->submit(d, c);
    }
    int64_t src = link_->stage_for(d, n);
    if (src < 0) {
        return static_cast<int>(src);
    }
    if (!a.no_origin) {
        memcpy(link_->staging_ptr(src), origin, n);
    }
    d.local_off = static_cast<uint64_t>(src);
    if (a.fetch) {
        int64_t res = link_->stage(n);
        if (res < 0) {
            return static_cast<int>(res);
        }
        d.result_off = static_cast<uint64_t>(res);
        c.result_staged(result, static_cast<uint64_t>(res), n);
    }
    return link_->submit(d, c);
}

int BackendWindow::compare_and_swap(const void *o, const void *cmp, void *r, ompi_datatype_t *dt,
                                    int t, ptrdiff_t disp)
{
    uint8_t kind = 0;
    uint16_t esize = 0;
    if (!accumulate_kind(dt, &kind, &esize)) {
        return OMPI_ERR_NOT_SUPPORTED;
    }
    std::unique_lock<LinkMutex> guard = hold();
    int ret = issue_check(t, guard);
    if (OMPI_SUCCESS != ret) {
        return ret;
    }
    const uint64_t toff = static_cast<uint64_t>(disp * peers_[t].disp_unit);
    ov_req_desc d = request_to(t, OV_OP_CAS, toff, esize);
    d.dtype_kind = kind;
    d.dtype_size = esize;
    Completion c = completion_of(t, nullptr);
    if (link_->inline_fits(2 * esize, esize)) {
        d.flags = OV_REQ_INLINE;
        memcpy(ov_req_inline_origin(&d), o, esize);
        memcpy(ov_req_inline_origin(&d) + esize, cmp, esize);
        c.result_inline(r, esize);
        return link_->submit(d, c);
    }
    int64_t src = link_->stage_for(d, 2 * esize);
    if (src < 0) {
        return static_cast<int>(src);
    }
    memcpy(link_->staging_ptr(src), o, esize);
    memcpy(link_->staging_ptr(src) + esize, cmp, esize);
    int64_t res = link_->stage(esize);
    if (res < 0) {
        return static_cast<int>(res);
    }
    d.local_off = static_cast<uint64_t>(src);
    d.result_off = static_cast<uint64_t>(res);
    c.result_staged(r, static_cast<uint64_t>(res), esize);
    return link_->submit(d, c);
}

} // namespace ov::osc
