// rma_cases_large.cc - windows of --large-mb MiB per process (group 12,
// default 1024): MPI_Win_allocate and MPI_Win_allocate_shared (per node),
// touched at both ends by their owner, by MPI_Put/MPI_Get from a neighbour
// and, in the shared window, by load/store from a node neighbour.  Only
// the touched pages cost memory anywhere (the backend's region is sparse,
// and zeroes a new window by punching it out).  What they exist for: a
// window is limited by the host's memory, not by a default region size.
#include "rma_harness.h"

using namespace rma;

namespace {

using Elem = long long;

MPI_Aint large_elems(const Ctx& ctx) {
    return static_cast<MPI_Aint>(ctx.opt.large_mb) * (1 << 20) / static_cast<MPI_Aint>(sizeof(Elem));
}

Elem tag(int rank, int end) { return 1000003LL * (rank + 1) + end; }

// Each rank's ends: first and last element.  Puts its own tags into the
// right neighbour's ends (lock_all + flush), gets them back, and checks its
// own ends hold the left neighbour's tags.  Collective over `comm`.
void ends_ring(Ctx& ctx, MPI_Comm comm, MPI_Win win, Elem* mine, MPI_Aint n) {
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    const int right = (rank + 1) % size, left = (rank - 1 + size) % size;
    const MPI_Aint at[2] = {0, n - 1};
    Elem put[2] = {tag(rank, 0), tag(rank, 1)}, got[2] = {0, 0};
    CK(MPI_Win_lock_all(0, win));
    for (int e = 0; e < 2; ++e) CK(MPI_Put(&put[e], 1, MPI_LONG_LONG, right, at[e], 1, MPI_LONG_LONG, win));
    CK(MPI_Win_flush(right, win));
    for (int e = 0; e < 2; ++e) CK(MPI_Get(&got[e], 1, MPI_LONG_LONG, right, at[e], 1, MPI_LONG_LONG, win));
    CK(MPI_Win_flush(right, win));
    CK(MPI_Win_sync(win));
    CK(MPI_Barrier(comm));
    CK(MPI_Win_sync(win));
    for (int e = 0; e < 2; ++e) {
        ctx.expect_eq("get of the right neighbour's end", e, put[e], got[e]);
        ctx.expect_eq("own end written by the left neighbour", e, tag(left, e), mine[at[e]]);
    }
    CK(MPI_Win_unlock_all(win));
}

}  // namespace

RMA_CASE(12, win_large_allocate, "MPI_Win_allocate of --large-mb MiB (default 1024) per process, touched at both ends") {
    if (ctx.opt.large_mb == 0) {
        ctx.skip("--large-mb 0");
        return;
    }
    const MPI_Aint n = large_elems(ctx);
    Elem* base = nullptr;
    Window w(ctx);
    if (!win_allocate(ctx, n * static_cast<MPI_Aint>(sizeof(Elem)), sizeof(Elem), &base, w)) return;
    base[0] = base[n - 1] = -1;  // the owner's stores reach both ends
    CK(MPI_Win_fence(MPI_MODE_NOPRECEDE | MPI_MODE_NOSUCCEED, w.win));
    CK(MPI_Barrier(ctx.comm));
    ends_ring(ctx, ctx.comm, w.win, base, n);
}

RMA_CASE(12, win_large_shared, "MPI_Win_allocate_shared of --large-mb MiB per process (per node), ends by put/get and load/store") {
    if (ctx.opt.large_mb == 0) {
        ctx.skip("--large-mb 0");
        return;
    }
    MPI_Comm node = MPI_COMM_NULL;
    if (!CK(MPI_Comm_split_type(ctx.comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node))) return;
    const MPI_Aint n = large_elems(ctx);
    Elem* base = nullptr;
    Window w(ctx);
    const int rc = MPI_Win_allocate_shared(n * static_cast<MPI_Aint>(sizeof(Elem)), sizeof(Elem), MPI_INFO_NULL, node, &base, &w.win);
    int ok = rc == MPI_SUCCESS, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, ctx.comm);
    if (!all) {
        // no leak on a partial success: every rank in one node shares one verdict
        ctx.fail("MPI_Win_allocate_shared of " + std::to_string(ctx.opt.large_mb) + " MiB per process: " +
                 (ok ? std::string("failed on another rank") : mpi_error_string(rc)));
        if (ok) CK(MPI_Win_free(&w.win));
        w.win = MPI_WIN_NULL;
        MPI_Comm_free(&node);
        return;
    }
    CK(MPI_Win_set_errhandler(w.win, MPI_ERRORS_RETURN));
    int rank = 0, size = 1;
    MPI_Comm_rank(node, &rank);
    MPI_Comm_size(node, &size);
    base[0] = base[n - 1] = -1;
    CK(MPI_Win_fence(MPI_MODE_NOPRECEDE | MPI_MODE_NOSUCCEED, w.win));
    CK(MPI_Barrier(ctx.comm));
    ends_ring(ctx, node, w.win, base, n);
    // load/store: the left node neighbour's last element, through shared_query
    const int left = (rank - 1 + size) % size;
    MPI_Aint sz = 0;
    int du = 0;
    Elem* theirs = nullptr;
    if (CK(MPI_Win_shared_query(w.win, left, &sz, &du, &theirs))) {
        ctx.expect_eq("shared_query size of the left neighbour", -1, n * static_cast<MPI_Aint>(sizeof(Elem)), sz);
        CK(MPI_Win_lock_all(0, w.win));
        if (theirs) ctx.expect_eq("left neighbour's last element by load", -1, tag((left - 1 + size) % size, 1), theirs[n - 1]);
        CK(MPI_Win_unlock_all(w.win));
    }
    CK(MPI_Barrier(ctx.comm));
    w.free();
    MPI_Comm_free(&node);
}
