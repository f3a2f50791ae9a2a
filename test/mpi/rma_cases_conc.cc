// rma_cases_conc.cc - concurrency semantics (group 60) and error paths (group 70).
#include "rma_harness.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

using namespace rma;

// ===================================================================== concurrency
RMA_CASE(60, conc_accumulate_sum, "all ranks MPI_Accumulate(SUM) into one element (and into every rank) under lock_all") {
    const int iters = 2000;
    WinMem<long long> buf;
    Window w(ctx);
    if (!win_vec(ctx, 2, 0, w, buf)) return;
    const long long one = 1, mine = ctx.rank + 1;
    CK(MPI_Win_lock_all(0, w.win));
    for (int it = 0; it < iters; ++it) {
        CK(MPI_Accumulate(&one, 1, MPI_LONG_LONG, 0, 0, 1, MPI_LONG_LONG, MPI_SUM, w.win));
        const int t = (ctx.rank + it) % ctx.size;
        CK(MPI_Accumulate(&mine, 1, MPI_LONG_LONG, t, 1, 1, MPI_LONG_LONG, MPI_SUM, w.win));
        if (it % 64 == 63) CK(MPI_Win_flush_all(w.win));
    }
    CK(MPI_Win_unlock_all(w.win));
    // every rank reads rank 0's hot element; every rank checks its own element 1
    long long hot = -1;
    CK(MPI_Barrier(ctx.comm));
    CK(MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, w.win));
    CK(MPI_Get(&hot, 1, MPI_LONG_LONG, 0, 0, 1, MPI_LONG_LONG, w.win));
    CK(MPI_Win_unlock(0, w.win));
    ctx.expect_eq("hot element on rank 0 (size*iters)", 0, static_cast<long long>(ctx.size) * iters, hot);
    // element 1 of rank t got (r+1) from each origin r for iterations with (r+it)%size==t
    long long e = 0;
    for (int r = 0; r < ctx.size; ++r)
        for (int it = 0; it < iters; ++it)
            if ((r + it) % ctx.size == ctx.rank) e += r + 1;
    local_read(ctx, w.win, [&] { ctx.expect_eq("spread element", 1, e, buf[1]); });
}

RMA_CASE(60, conc_fetch_and_op_counter, "shared-lock MPI_Fetch_and_op counter: unique tickets, exact total") {
    const int iters = 500;
    WinMem<long long> buf;
    Window w(ctx);
    if (!win_vec(ctx, 1, 0, w, buf)) return;
    std::vector<long long> tickets(iters, -1);
    const long long one = 1;
    CK(MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, w.win));
    for (int it = 0; it < iters; ++it) {
        CK(MPI_Fetch_and_op(&one, &tickets[it], MPI_LONG_LONG, 0, 0, MPI_SUM, w.win));
        if (it % 50 == 49) CK(MPI_Win_flush(0, w.win));
    }
    CK(MPI_Win_unlock(0, w.win));
    // tickets from one origin must increase (same origin, same location: ordered)
    for (int it = 1; it < iters; ++it)
        if (tickets[it] <= tickets[it - 1]) {
            ctx.fail("tickets not increasing at " + std::to_string(it) + ": " + std::to_string(tickets[it - 1]) +
                     " then " + std::to_string(tickets[it]));
            break;
        }
    std::vector<long long> all(ctx.rank == 0 ? static_cast<size_t>(iters) * ctx.size : 0);
    CK(MPI_Gather(tickets.data(), iters, MPI_LONG_LONG, all.data(), iters, MPI_LONG_LONG, 0, ctx.comm));
    if (ctx.rank == 0) {
        std::sort(all.begin(), all.end());
        for (size_t i = 0; i < all.size(); ++i)
            if (!ctx.expect_eq("sorted tickets (must be 0..size*iters-1, each once)", static_cast<long>(i),
                               static_cast<long long>(i), all[i]))
                break;
    }
    local_read(ctx, w.win, [&] {
        if (ctx.rank == 0) ctx.expect_eq("final counter", 0, static_cast<long long>(iters) * ctx.size, buf[0]);
    });
}

RMA_CASE(60, conc_exclusive_rmw, "exclusive-lock get/flush/put increments: no lost updates") {
    const int iters = 200;
    WinMem<long long> buf;
    Window w(ctx);
    if (!win_vec(ctx, 2, 0, w, buf)) return;
    std::vector<long long> seen(iters, -1);
    for (int it = 0; it < iters; ++it) {
        long long v = -1;
        CK(MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, w.win));
        CK(MPI_Get(&v, 1, MPI_LONG_LONG, 0, 0, 1, MPI_LONG_LONG, w.win));
        CK(MPI_Win_flush(0, w.win));
        seen[it] = v;
        ++v;
        CK(MPI_Put(&v, 1, MPI_LONG_LONG, 0, 0, 1, MPI_LONG_LONG, w.win));
        CK(MPI_Win_unlock(0, w.win));
    }
    std::vector<long long> all(ctx.rank == 0 ? static_cast<size_t>(iters) * ctx.size : 0);
    CK(MPI_Gather(seen.data(), iters, MPI_LONG_LONG, all.data(), iters, MPI_LONG_LONG, 0, ctx.comm));
    if (ctx.rank == 0) {
        std::sort(all.begin(), all.end());
        for (size_t i = 0; i < all.size(); ++i)
            if (!ctx.expect_eq("sorted values read under the exclusive lock", static_cast<long>(i), static_cast<long long>(i), all[i]))
                break;
    }
    local_read(ctx, w.win, [&] {
        if (ctx.rank == 0) ctx.expect_eq("final counter", 0, static_cast<long long>(iters) * ctx.size, buf[0]);
    });
}

RMA_CASE(60, conc_cas_mutex, "MPI_Compare_and_swap spin mutex protecting a get/put critical section") {
    const int iters = 50;
    WinMem<int> buf;  // [0] mutex (0 free, r+1 held by r), [1] counter
    Window w(ctx);
    if (!win_vec(ctx, 2, 0, w, buf)) return;
    const int zero = 0, me = ctx.rank + 1;
    long spins = 0;
    CK(MPI_Win_lock_all(0, w.win));
    for (int it = 0; it < iters && !ctx.failed(); ++it) {
        int prev = -1;
        for (;;) {
            if (!CK(MPI_Compare_and_swap(&me, &zero, &prev, MPI_INT, 0, 0, w.win))) break;
            if (!CK(MPI_Win_flush(0, w.win))) break;
            if (prev == 0) break;
            if (prev < 1 || prev > ctx.size) {
                ctx.fail("mutex holds impossible value " + std::to_string(prev));
                break;
            }
            ++spins;
        }
        int v = -1;
        CK(MPI_Get(&v, 1, MPI_INT, 0, 1, 1, MPI_INT, w.win));
        CK(MPI_Win_flush(0, w.win));
        ++v;
        CK(MPI_Put(&v, 1, MPI_INT, 0, 1, 1, MPI_INT, w.win));
        CK(MPI_Win_flush(0, w.win));
        int released = -1;
        CK(MPI_Compare_and_swap(&zero, &me, &released, MPI_INT, 0, 0, w.win));
        CK(MPI_Win_flush(0, w.win));
        ctx.expect_eq("mutex value at release", it, me, released);
    }
    CK(MPI_Win_unlock_all(w.win));
    ctx.info("CAS spins: " + std::to_string(spins));
    local_read(ctx, w.win, [&] {
        if (ctx.rank == 0) {
            ctx.expect_eq("mutex free at the end", 0, 0, buf[0]);
            ctx.expect_eq("counter protected by CAS mutex", 1, iters * ctx.size, buf[1]);
        }
    });
}

// A rank that idles in MPI while a window exists may sleep between progress
// passes (osc_virt_idle_nap_us): a tcp message must still wake it at once.
// CI runs this case once more with a 10 s nap; each exchange is bounded by
// 2 s, so a nap that only a timer ends fails it instead of passing slowly.
RMA_CASE(60, conc_pt2pt_to_idle_rank, "pt2pt ping-pong to a rank idle in MPI_Recv for 15 ms, with a window open: each exchange < 2 s") {
    const int rounds = 8;
    WinMem<int> buf;
    Window w(ctx);
    if (!win_vec(ctx, 1, 0, w, buf)) return;
    if (ctx.size < 2) {
        ctx.skip("needs 2 ranks");
        return;
    }
    double worst = 0.0;
    for (int i = 0; i < rounds && ctx.rank < 2; ++i) {
        int v = -1;
        if (ctx.rank == 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(15));  // rank 1 idles in MPI_Recv
            const double t0 = MPI_Wtime();
            const int sent = 1000 + i;
            CK(MPI_Send(&sent, 1, MPI_INT, 1, 7, ctx.comm));
            CK(MPI_Recv(&v, 1, MPI_INT, 1, 8, ctx.comm, MPI_STATUS_IGNORE));
            worst = std::max(worst, MPI_Wtime() - t0);
            ctx.expect_eq("echo", i, sent + 1, v);
        } else {
            CK(MPI_Recv(&v, 1, MPI_INT, 0, 7, ctx.comm, MPI_STATUS_IGNORE));
            ++v;
            CK(MPI_Send(&v, 1, MPI_INT, 0, 8, ctx.comm));
        }
    }
    if (ctx.rank == 0) {
        ctx.expect(worst < 2.0, "a message to an idle rank took " + std::to_string(worst) +
                                    " s to be answered: its nap was not ended by the socket");
        ctx.info("slowest exchange " + std::to_string(worst * 1e6) + " us");
    }
    CK(MPI_Barrier(ctx.comm));
}

// ===================================================================== error paths
namespace {
constexpr int kGuard = 16;
constexpr int kWin = 32;
constexpr int kSentinel = 0x5a5a5a5a;

// One out-of-range MPI_Put into the right neighbour's window w, whose local
// memory is win_mem (kWin ints, all -1), and the checks at origin and target.
// guarded: win_mem is the middle of a kGuard+kWin+kGuard buffer we own (so an
// unchecked access lands in a guard zone instead of corrupting the heap) and
// the guards are checked.  Returns (collectively) whether every origin saw
// its put rejected.
bool bad_put(Ctx& ctx, Window& w, int* win_mem, bool guarded, MPI_Aint disp, const std::string& what,
             int expected_class) {
    const int src[4] = {11, 22, 33, 44};
    const int r = ctx.right();
    CK(MPI_Win_lock(MPI_LOCK_SHARED, r, 0, w.win));
    int rc = MPI_Put(src, 4, MPI_INT, r, disp, 4, MPI_INT, w.win);
    int rc_unlock = MPI_Win_unlock(r, w.win);
    int ec = rc;
    MPI_Error_class(rc, &ec);
    std::string seen;
    if (rc != MPI_SUCCESS) {
        seen = what + " returned " + mpi_error_string(rc);
        ctx.info(seen);
        if (ec != expected_class)
            ctx.info(std::string("expected ") + mpi_error_class_name(expected_class) + ", accepted any error class");
    } else {
        ctx.skip(std::string("component does not check the target range: ") + what + " returned MPI_SUCCESS (" +
                 mpi_error_class_name(expected_class) + " expected)");
    }
    if (rc_unlock != MPI_SUCCESS) ctx.info("MPI_Win_unlock after the bad put returned " + mpi_error_string(rc_unlock));
    // target side: did anything land outside the window?  Tell each target
    // whether its origin (left neighbour) saw the put accepted.
    std::vector<int> accepted(static_cast<size_t>(ctx.size), 0);
    int mine = rc == MPI_SUCCESS ? 1 : 0;
    CK(MPI_Allgather(&mine, 1, MPI_INT, accepted.data(), 1, MPI_INT, ctx.comm));
    const bool left_accepted = accepted[static_cast<size_t>(ctx.left())] != 0;
    local_read(ctx, w.win, [&] {
        int hit = 0;
        if (guarded) {
            const int* mem = win_mem - kGuard;
            for (int i = 0; i < kGuard; ++i) hit += (mem[i] != kSentinel) + (mem[kGuard + kWin + i] != kSentinel);
        }
        if (hit && left_accepted)
            ctx.skip("target range not checked: " + std::to_string(hit) +
                     " guard element(s) outside the window were overwritten");
        else if (hit)
            ctx.fail("the put returned an error at the origin but " + std::to_string(hit) +
                     " guard element(s) outside the window were overwritten");
        for (int i = 0; i < kWin; ++i) {
            const long j = i - static_cast<long>(disp);  // index into src if covered by the bad put
            if (j >= 0 && j < 4 && left_accepted) {
                if (win_mem[i] != -1 && win_mem[i] != src[j])
                    ctx.expect_eq("window element covered by the bad put", i, src[j], win_mem[i]);
            } else {
                ctx.expect_eq("window contents (must be untouched)", i, -1, win_mem[i]);
            }
        }
    });
    for (int a : accepted)
        if (a) return false;
    return true;
}

// The bad put on a guarded MPI_Win_create window (both flavors).  With
// --flavor allocate it is repeated on an MPI_Win_allocate window, whose
// surroundings belong to MPI, but only when every origin saw it rejected on
// the guarded window: a component that does not check would corrupt the heap.
void range_error_case(Ctx& ctx, MPI_Aint disp, const char* what, int expected_class) {
    bool rejected = false;
    {
        std::vector<int> mem(kGuard + kWin + kGuard, kSentinel);
        for (int i = 0; i < kWin; ++i) mem[kGuard + i] = -1;
        Window w(ctx);
        if (!win_create(ctx, mem.data() + kGuard, kWin * sizeof(int), sizeof(int), w)) return;
        rejected = bad_put(ctx, w, mem.data() + kGuard, true, disp, what, expected_class);
    }
    if (ctx.opt.flavor != Flavor::Allocate) return;
    if (!rejected) {
        ctx.info("not repeated on an MPI_Win_allocate window: the component accepted it on a guarded window");
        return;
    }
    WinMem<int> wm;
    Window w(ctx);
    if (!win_vec(ctx, kWin, -1, w, wm)) return;
    bad_put(ctx, w, wm.data(), false, disp, std::string(what) + " into an MPI_Win_allocate window", expected_class);
}
}  // namespace

RMA_CASE(70, err_put_out_of_range, "MPI_Put past the end of the target window -> MPI_ERR_RMA_RANGE (SKIP if unchecked)") {
    range_error_case(ctx, kWin - 1, "MPI_Put of 4 ints at disp kWin-1 (3 past the end)", MPI_ERR_RMA_RANGE);
}

RMA_CASE(70, err_put_negative_disp, "MPI_Put at a negative displacement -> MPI_ERR_DISP (SKIP if unchecked)") {
    range_error_case(ctx, -4, "MPI_Put of 4 ints at disp -4", MPI_ERR_DISP);
}

namespace {
// Call an RMA function outside any epoch; expect MPI_ERR_RMA_SYNC.
void no_epoch_check(Ctx& ctx, const char* what, int rc, std::vector<std::string>& unchecked) {
    if (rc == MPI_SUCCESS) {
        unchecked.push_back(what);
        return;
    }
    int ec = rc;
    MPI_Error_class(rc, &ec);
    ctx.info(std::string(what) + " outside an epoch returned " + mpi_error_string(rc));
    if (ec != MPI_ERR_RMA_SYNC) ctx.info(std::string(what) + ": expected MPI_ERR_RMA_SYNC, accepted any error class");
}
}  // namespace

RMA_CASE(70, err_no_epoch, "MPI_Put / MPI_Get outside any epoch -> MPI_ERR_RMA_SYNC (SKIP if unchecked)") {
    WinMem<int> buf;
    Window w(ctx);
    if (!win_vec(ctx, 8, -1, w, buf)) return;
    int v = 99, g = -9;
    std::vector<std::string> unchecked;
    no_epoch_check(ctx, "MPI_Put", MPI_Put(&v, 1, MPI_INT, ctx.right(), 0, 1, MPI_INT, w.win), unchecked);
    no_epoch_check(ctx, "MPI_Get", MPI_Get(&g, 1, MPI_INT, ctx.right(), 1, 1, MPI_INT, w.win), unchecked);
    no_epoch_check(ctx, "MPI_Accumulate",
                   MPI_Accumulate(&v, 1, MPI_INT, ctx.right(), 2, 1, MPI_INT, MPI_SUM, w.win), unchecked);
    // close whatever the component may have opened/queued, then check the window is usable
    CK(MPI_Win_fence(0, w.win));
    CK(MPI_Win_fence(MPI_MODE_NOSUCCEED, w.win));
    if (!unchecked.empty()) {
        std::string s;
        for (auto& u : unchecked) s += (s.empty() ? "" : ", ") + u;
        ctx.skip("component does not detect RMA calls outside an epoch: " + s + " returned MPI_SUCCESS");
    }
    std::vector<int> src(8, 7);
    CK(MPI_Win_lock(MPI_LOCK_EXCLUSIVE, ctx.right(), 0, w.win));
    CK(MPI_Put(src.data(), 8, MPI_INT, ctx.right(), 0, 8, MPI_INT, w.win));
    CK(MPI_Win_unlock(ctx.right(), w.win));
    local_read(ctx, w.win, [&] {
        for (int i = 0; i < 8; ++i) ctx.expect_eq("window usable after the errors", i, 7, buf[i]);
    });
}

RMA_CASE(70, err_sync_misuse, "unlock/flush without a lock -> MPI_ERR_RMA_SYNC (SKIP if unchecked)") {
    WinMem<int> buf;
    Window w(ctx);
    if (!win_vec(ctx, 8, -1, w, buf)) return;
    std::vector<std::string> unchecked;
    no_epoch_check(ctx, "MPI_Win_unlock", MPI_Win_unlock(ctx.right(), w.win), unchecked);
    no_epoch_check(ctx, "MPI_Win_flush", MPI_Win_flush(ctx.right(), w.win), unchecked);
    no_epoch_check(ctx, "MPI_Win_unlock_all", MPI_Win_unlock_all(w.win), unchecked);
    CK(MPI_Barrier(ctx.comm));
    if (!unchecked.empty()) {
        std::string s;
        for (auto& u : unchecked) s += (s.empty() ? "" : ", ") + u;
        ctx.skip("component does not detect synchronization misuse: " + s + " returned MPI_SUCCESS");
    }
    // window still works
    std::vector<int> src(8, 3);
    CK(MPI_Win_fence(0, w.win));
    CK(MPI_Put(src.data(), 8, MPI_INT, ctx.right(), 0, 8, MPI_INT, w.win));
    CK(MPI_Win_fence(MPI_MODE_NOSUCCEED, w.win));
    for (int i = 0; i < 8; ++i) ctx.expect_eq("window usable after the errors", i, 3, buf[i]);
}
