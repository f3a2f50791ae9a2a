// rma_cases_create.cc - windows where some ranks expose nothing, and what
// MPI_Win_create windows must refuse (group 15).
#include "rma_harness.h"

#include <algorithm>
#include <vector>

using namespace rma;

namespace {

constexpr int kGuardInts = 16;
constexpr int kSentinelInt = 0x5a5a5a5a;

}  // namespace

// Rank 0 exposes M ints, every other rank 0 bytes (a common MPICH pattern).
// --flavor create: MPI_Win_create, the 0-byte ranks pointing into guarded
// storage; allocate: MPI_Win_allocate(0).  Every rank locks, writes and
// accumulates into rank 0; locks on the 0-byte ranks and 0-count ops on them
// work; with create, a 1-int put into a 0-byte rank is MPI_ERR_RMA_RANGE
// (SKIP if unchecked).
RMA_CASE(15, win_zero_size, "ranks exposing 0 bytes: lock/put/accumulate/fetch_and_op to rank 0, locks and "
                            "0-count ops on the empty ranks, put into one -> MPI_ERR_RMA_RANGE") {
    const int M = std::max(64, ctx.size + 2);
    const bool exposes = ctx.rank == 0;
    const MPI_Aint bytes = exposes ? static_cast<MPI_Aint>(M * sizeof(int)) : 0;
    std::vector<int> store(kGuardInts + M + kGuardInts, kSentinelInt);
    int* mem = store.data() + kGuardInts;
    Window w(ctx);
    if (ctx.opt.flavor == Flavor::Create) {
        if (exposes) std::fill(mem, mem + M, 0);
        if (!win_create(ctx, mem, bytes, sizeof(int), w)) return;
    } else {
        int* base = nullptr;
        if (!win_allocate(ctx, bytes, sizeof(int), &base, w)) return;
        if (exposes) {
            mem = base;
            std::fill(mem, mem + M, 0);
        }
        CK(MPI_Win_fence(MPI_MODE_NOPRECEDE | MPI_MODE_NOSUCCEED, w.win));
        CK(MPI_Barrier(ctx.comm));
    }
    // slot r of rank 0: put under an exclusive lock; element M-1: a sum;
    // element M-2: a fetch_and_op ticket counter
    const int v = pat(ctx.rank, 0, 15), one = 1;
    int ticket = -1;
    CK(MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, w.win));
    CK(MPI_Put(&v, 1, MPI_INT, 0, ctx.rank, 1, MPI_INT, w.win));
    CK(MPI_Win_unlock(0, w.win));
    CK(MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, w.win));
    CK(MPI_Accumulate(&one, 1, MPI_INT, 0, M - 1, 1, MPI_INT, MPI_SUM, w.win));
    CK(MPI_Fetch_and_op(&one, &ticket, MPI_INT, 0, M - 2, MPI_SUM, w.win));
    CK(MPI_Win_unlock(0, w.win));
    ctx.expect(ticket >= 0 && ticket < ctx.size, "fetch_and_op ticket " + std::to_string(ticket) + " out of range");
    // every empty rank: lock each way, 0-count put/get/accumulate, unlock
    for (int t = 1; t < ctx.size; ++t) {
        int dummy = 0;
        CK(MPI_Win_lock(t == ctx.rank ? MPI_LOCK_EXCLUSIVE : MPI_LOCK_SHARED, t, 0, w.win));
        CK(MPI_Put(&dummy, 0, MPI_INT, t, 0, 0, MPI_INT, w.win));
        CK(MPI_Get(&dummy, 0, MPI_INT, t, 0, 0, MPI_INT, w.win));
        CK(MPI_Accumulate(&dummy, 0, MPI_INT, t, 0, 0, MPI_INT, MPI_SUM, w.win));
        CK(MPI_Win_flush(t, w.win));
        CK(MPI_Win_unlock(t, w.win));
    }
    CK(MPI_Win_lock_all(0, w.win));
    int got = -9;
    CK(MPI_Get(&got, 1, MPI_INT, 0, ctx.rank, 1, MPI_INT, w.win));
    CK(MPI_Win_flush_all(w.win));
    CK(MPI_Win_unlock_all(w.win));
    ctx.expect_eq("get back of my slot at rank 0", ctx.rank, v, got);
    local_read(ctx, w.win, [&] {
        if (!exposes) return;
        for (int r = 0; r < ctx.size; ++r) ctx.expect_eq("slot at rank 0", r, pat(r, 0, 15), mem[r]);
        ctx.expect_eq("sum at rank 0", M - 1, ctx.size, mem[M - 1]);
        ctx.expect_eq("tickets at rank 0", M - 2, ctx.size, mem[M - 2]);
    });
    // a put of data into an empty rank: out of range.  Only where the empty
    // window sits in guarded storage (create): an unchecked component would
    // write past a 0-byte MPI_Win_allocate block.
    if (ctx.size < 2 || ctx.opt.flavor != Flavor::Create) return;
    const int victim = 1;
    int rc = MPI_SUCCESS;
    if (ctx.rank == 0) {
        const int x = 77;
        CK(MPI_Win_lock(MPI_LOCK_SHARED, victim, 0, w.win));
        rc = MPI_Put(&x, 1, MPI_INT, victim, 0, 1, MPI_INT, w.win);
        CK(MPI_Win_unlock(victim, w.win));
    }
    CK(MPI_Bcast(&rc, 1, MPI_INT, 0, ctx.comm));
    int ec = rc;
    MPI_Error_class(rc, &ec);
    if (rc == MPI_SUCCESS) {
        ctx.skip("component does not check the target range: a 1-int put into a 0-byte window returned MPI_SUCCESS");
    } else {
        ctx.info("1-int put into a 0-byte window: " + mpi_error_string(rc));
        ctx.expect(ec == MPI_ERR_RMA_RANGE, "put into a 0-byte window: expected MPI_ERR_RMA_RANGE, got " +
                                               mpi_error_string(rc));
    }
    CK(MPI_Barrier(ctx.comm));
    if (ctx.rank == victim && rc != MPI_SUCCESS) {
        int hit = 0;
        for (int i = 0; i < kGuardInts + M + kGuardInts; ++i) hit += store[i] != kSentinelInt;
        ctx.expect(hit == 0, "the put was refused but " + std::to_string(hit) +
                                 " element(s) around the 0-byte window changed");
    }
}

// MPI-3.1 11.2.3: MPI_Win_shared_query only on MPI_Win_allocate_shared
// windows; "wrong flavor" is MPI_ERR_RMA_FLAVOR (what Open MPI itself answers
// for an osc component without the call).  MPI-4 lets it succeed.
RMA_CASE(15, win_create_shared_query, "MPI_Win_shared_query on an MPI_Win_create window -> MPI_ERR_RMA_FLAVOR") {
    std::vector<int> buf(16, 1);
    Window w(ctx);
    if (!win_create_vec(ctx, buf, w)) return;
    MPI_Aint sz = -1;
    int du = -1;
    void* p = nullptr;
    const int rc = MPI_Win_shared_query(w.win, ctx.rank, &sz, &du, &p);
    if (rc == MPI_SUCCESS) {
        ctx.skip("shared_query answered on a create window (MPI-4 behaviour): size " + std::to_string(sz));
        return;
    }
    int ec = rc;
    MPI_Error_class(rc, &ec);
    ctx.expect(ec == MPI_ERR_RMA_FLAVOR, "expected MPI_ERR_RMA_FLAVOR, got " + mpi_error_string(rc));
    // the window is still usable
    CK(MPI_Win_fence(0, w.win));
    const int x = pat(ctx.rank, 1, 15);
    CK(MPI_Put(&x, 1, MPI_INT, ctx.right(), 0, 1, MPI_INT, w.win));
    CK(MPI_Win_fence(MPI_MODE_NOSUCCEED, w.win));
    ctx.expect_eq("put after the refused shared_query", 0, pat(ctx.left(), 1, 15), buf[0]);
}
