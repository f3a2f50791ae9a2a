// rma_cases_burst.cc - bursts of small puts and gets before one
// synchronization (group 36): what osc virt gathers into batched requests
// (osc_virt_batch.h: up to 128 per request, sealed by the next request of
// another kind, a change of target or window, a synchronization or a progress
// pass).  Each case makes bursts longer than one batch, switches target and
// direction in the middle of one, mixes in accumulates (ordered among
// themselves) and derived datatypes that split into many small pieces, and
// checks every byte after the epoch's synchronization.
#include "rma_harness.h"

#include <cstring>

using namespace rma;

namespace {

constexpr int kSlots = 300;  // > 2 batches of 128

long long val(int rank, int i, int salt) { return 1000000LL * (rank + 1) + 1000LL * salt + i; }

}  // namespace

RMA_CASE(36, op_burst_put_get, "300 8-byte puts, one flush, 300 8-byte gets, one flush (lock_all, then lock "
                               "shared): every value lands and comes back") {
    for (int mode = 0; mode < 2; ++mode) {
        const std::string tag = mode == 0 ? "lock_all" : "lock shared";
        WinMem<long long> buf;
        Window w(ctx);
        if (!win_vec(ctx, kSlots, -1LL, w, buf)) return;
        const int t = ctx.right();
        std::vector<long long> src(kSlots), got(kSlots, 0);
        for (int i = 0; i < kSlots; ++i) src[i] = val(ctx.rank, i, mode);
        if (mode == 0) {
            CK(MPI_Win_lock_all(0, w.win));
        } else {
            CK(MPI_Win_lock(MPI_LOCK_SHARED, t, 0, w.win));
        }
        for (int i = 0; i < kSlots; ++i) CK(MPI_Put(&src[i], 1, MPI_LONG_LONG, t, i, 1, MPI_LONG_LONG, w.win));
        CK(MPI_Win_flush(t, w.win));
        for (int i = 0; i < kSlots; ++i) CK(MPI_Get(&got[i], 1, MPI_LONG_LONG, t, i, 1, MPI_LONG_LONG, w.win));
        CK(MPI_Win_flush(t, w.win));
        for (int i = 0; i < kSlots; ++i) ctx.expect_eq(tag + ": get after flush returns the put", i, src[i], got[i]);
        if (mode == 0) {
            CK(MPI_Win_unlock_all(w.win));
        } else {
            CK(MPI_Win_unlock(t, w.win));
        }
        local_read(ctx, w.win, [&] {
            for (int i = 0; i < kSlots; ++i)
                ctx.expect_eq(tag + ": target slot from left", i, val(ctx.left(), i, mode), buf[i]);
        });
    }
}

RMA_CASE(36, op_burst_mixed, "interleaved small puts to both neighbours, gets, and MPI_SUM accumulates to one "
                             "slot (ordered), one flush_all; unlock_all completes gets of 1-8 bytes") {
    WinMem<long long> buf;
    Window w(ctx);
    if (!win_vec(ctx, 2 * kSlots + 1, 0LL, w, buf)) return;
    const int r = ctx.right(), l = ctx.left();
    // Rank i's neighbours write disjoint halves of rank i's window: the left
    // neighbour (puts to its right) slots [0, kSlots), the right neighbour
    // (puts to its left) [kSlots, 2 kSlots); both add 1 + i to the last slot.
    // With 2 ranks left == right: both halves still come from the one peer.
    std::vector<long long> src(2 * kSlots), got(kSlots, -7);
    for (int i = 0; i < 2 * kSlots; ++i) src[i] = val(ctx.rank, i, 9);
    CK(MPI_Win_lock_all(0, w.win));
    long long sum = 0;
    for (int i = 0; i < kSlots; ++i) {
        CK(MPI_Put(&src[i], 1, MPI_LONG_LONG, r, i, 1, MPI_LONG_LONG, w.win));
        CK(MPI_Put(&src[kSlots + i], 1, MPI_LONG_LONG, l, kSlots + i, 1, MPI_LONG_LONG, w.win));
        if (i % 7 == 0) {
            const long long add = 1 + i;
            sum += add;
            CK(MPI_Accumulate(&add, 1, MPI_LONG_LONG, r, 2 * kSlots, 1, MPI_LONG_LONG, MPI_SUM, w.win));
        }
    }
    CK(MPI_Win_flush_all(w.win));
    // Gets of 1..8 bytes of what we put to the right, completed by unlock_all.
    for (int i = 0; i < kSlots; ++i) {
        const int n = 1 + i % 8;
        CK(MPI_Get(&got[i], n, MPI_BYTE, r, static_cast<MPI_Aint>(i), n, MPI_BYTE, w.win));
    }
    // got[] is not to be read before the epoch ends: unlock_all completes it.
    CK(MPI_Win_unlock_all(w.win));
    for (int i = 0; i < kSlots; ++i) {
        long long want = -7;
        std::memcpy(&want, &src[i], static_cast<size_t>(1 + i % 8));
        ctx.expect_eq("get of 1-8 bytes completed by unlock_all", i, want, got[i]);
    }
    local_read(ctx, w.win, [&] {
        for (int i = 0; i < kSlots; ++i) {
            ctx.expect_eq("slot from the left neighbour", i, val(l, i, 9), buf[i]);
            ctx.expect_eq("slot from the right neighbour", kSlots + i, val(r, kSlots + i, 9), buf[kSlots + i]);
        }
        // Every rank accumulated the same sum into its right neighbour.
        ctx.expect_eq("accumulates in one slot", 2 * kSlots, sum, buf[2 * kSlots]);
    });
}

RMA_CASE(36, op_burst_strided_fence, "a strided vector of 8-byte blocks (many small pieces) put and got back "
                                     "under fence") {
    WinMem<long long> buf;
    Window w(ctx);
    if (!win_vec(ctx, 2 * kSlots, -1LL, w, buf)) return;
    MPI_Datatype every_other = MPI_DATATYPE_NULL;
    CK(MPI_Type_vector(kSlots, 1, 2, MPI_LONG_LONG, &every_other));
    CK(MPI_Type_commit(&every_other));
    if (!ctx.all_ok()) return;
    const int t = ctx.right();
    std::vector<long long> src(kSlots), got(2 * kSlots, -3);
    for (int i = 0; i < kSlots; ++i) src[i] = val(ctx.rank, i, 4);
    CK(MPI_Win_fence(0, w.win));
    CK(MPI_Put(src.data(), kSlots, MPI_LONG_LONG, t, 1, 1, every_other, w.win));  // odd slots
    CK(MPI_Win_fence(0, w.win));
    CK(MPI_Get(got.data() + 1, 1, every_other, t, 1, 1, every_other, w.win));  // odd slots back, to odd slots
    CK(MPI_Win_fence(0, w.win));
    for (int i = 0; i < 2 * kSlots; ++i)
        ctx.expect_eq("strided get after fence", i, i % 2 ? src[i / 2] : -3LL, got[i]);
    for (int i = 0; i < 2 * kSlots; ++i)
        ctx.expect_eq("target slot (odd: from left)", i, i % 2 ? val(ctx.left(), i / 2, 4) : -1LL, buf[i]);
    CK(MPI_Win_fence(MPI_MODE_NOSUCCEED, w.win));
    CK(MPI_Type_free(&every_other));
}
