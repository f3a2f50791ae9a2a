// rma_threads.cc - one-sided MPI from several threads at once
// (MPI_THREAD_MULTIPLE) on an MPI_Win_allocate window (--flavor create: an
// MPI_Win_create window over memory the program owns).
//
// Every thread of every rank, inside one lock_all epoch:
//   - fetch_and_op(MPI_SUM, 1) on a counter at rank 0 (atomicity: the final
//     count is exact and every fetched value is unique);
//   - puts its own slot of every rank's window, flushes, gets it back;
//   - compare_and_swap on a per-(rank, thread) word (exactly one thread wins).
// Then a pair-type accumulate (MPI_2INT, MINLOC), which the backend does not
// compute, must either work or fail cleanly with an MPI error class (never
// crash or hang).  Prints "N passed, N failed, N skipped" like rma_test.
//
// Usage: rma_threads [--threads T] [--iters N] [--timeout SECONDS] [--flavor allocate|create]
#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

int g_rank = 0, g_size = 1;
std::atomic<int> g_errors{0};

void fail(const char *what, int rc)
{
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    if (rc != MPI_SUCCESS) {
        MPI_Error_string(rc, msg, &len);
    }
    std::fprintf(stderr, "rank %d: %s%s%s\n", g_rank, what, rc != MPI_SUCCESS ? ": " : "", msg);
    g_errors++;
}

#define CK(call)                                                                   \
    do {                                                                           \
        int rc_ = (call);                                                          \
        if (rc_ != MPI_SUCCESS) {                                                  \
            fail(#call, rc_);                                                      \
            return;                                                                \
        }                                                                          \
    } while (0)

struct Layout {
    int threads, iters;
    // window in longs: [0] counter (rank 0), [1 .. 1+size*threads) put slots,
    // then size*threads CAS words
    MPI_Aint slots() const { return static_cast<MPI_Aint>(g_size) * threads; }
    MPI_Aint put_at(int origin, int t) const { return 1 + origin * threads + t; }
    MPI_Aint cas_at(int origin, int t) const { return 1 + slots() + origin * threads + t; }
    MPI_Aint total() const { return 1 + 2 * slots(); }
};

void worker(MPI_Win win, const Layout &L, int t, std::vector<long> *fetched)
{
    const long one = 1;
    for (int i = 0; i < L.iters; ++i) {
        long old = -1;
        CK(MPI_Fetch_and_op(&one, &old, MPI_LONG, 0, 0, MPI_SUM, win));
        CK(MPI_Win_flush(0, win));
        fetched->push_back(old);
        for (int target = 0; target < g_size; ++target) {
            long v = (static_cast<long>(g_rank) << 32) | (t << 16) | i, back = -1;
            CK(MPI_Put(&v, 1, MPI_LONG, target, L.put_at(g_rank, t), 1, MPI_LONG, win));
            CK(MPI_Win_flush(target, win));
            CK(MPI_Get(&back, 1, MPI_LONG, target, L.put_at(g_rank, t), 1, MPI_LONG, win));
            CK(MPI_Win_flush(target, win));
            if (back != v) {
                fail("put/get of my own slot read back another value", MPI_SUCCESS);
                return;
            }
        }
    }
    // Every thread tries to claim every CAS word of thread (t+1)%T on rank
    // (rank+1)%size; exactly one claim per word succeeds overall.
    const int victim_rank = (g_rank + 1) % g_size, victim_t = (t + 1) % L.threads;
    const long mine = 1 + g_rank * L.threads + t, zero = 0;
    long got = -1;
    CK(MPI_Compare_and_swap(&mine, &zero, &got, MPI_LONG, victim_rank,
                            L.cas_at(victim_rank, victim_t), win));
    CK(MPI_Win_flush(victim_rank, win));
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

int main(int argc, char **argv)
{
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    Layout L{4, 50};
    int timeout = 60;
    bool create = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--threads" && i + 1 < argc) L.threads = std::atoi(argv[++i]);
        else if (a == "--iters" && i + 1 < argc) L.iters = std::atoi(argv[++i]);
        else if (a == "--timeout" && i + 1 < argc) timeout = std::atoi(argv[++i]);
        else if (a == "--flavor" && i + 1 < argc) create = std::string(argv[++i]) == "create";
        else if (a == "--help" || a == "-h") {
            if (g_rank == 0)
                std::printf("usage: rma_threads [--threads T] [--iters N] [--timeout S] [--flavor allocate|create]\n");
            MPI_Finalize();
            return 0;
        }
    }
    std::thread watchdog([timeout] {
        std::this_thread::sleep_for(std::chrono::seconds(timeout));
        std::fprintf(stderr, "rank %d: rma_threads: no result after %d s: aborting\n", g_rank, timeout);
        std::fflush(stderr);
        std::_Exit(3);
    });
    watchdog.detach();

    int passed = 0, failed = 0, skipped = 0;
    auto report = [&](const char *name, bool ok, const std::string &why) {
        int all_ok = ok ? 1 : 0;
        MPI_Allreduce(MPI_IN_PLACE, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        if (g_rank == 0) std::printf("%s %s%s%s\n", all_ok ? "PASS" : "FAIL", name, all_ok ? "" : ": ", all_ok ? "" : why.c_str());
        (all_ok ? passed : failed)++;
    };

    if (provided < MPI_THREAD_MULTIPLE) {
        if (g_rank == 0) std::printf("SKIP threads: MPI_THREAD_MULTIPLE not provided (%d)\n", provided);
        skipped++;
    } else {
        long *base = nullptr;
        MPI_Win win = MPI_WIN_NULL;
        std::vector<long> own;  // --flavor create: the window memory
        int rc;
        if (create) {
            own.assign(static_cast<size_t>(L.total()), 0L);
            base = own.data();
            rc = MPI_Win_create(base, L.total() * sizeof(long), sizeof(long), MPI_INFO_NULL, MPI_COMM_WORLD, &win);
        } else {
            rc = MPI_Win_allocate(L.total() * sizeof(long), sizeof(long), MPI_INFO_NULL, MPI_COMM_WORLD, &base, &win);
        }
        if (rc != MPI_SUCCESS) {
            fail(create ? "MPI_Win_create at MPI_THREAD_MULTIPLE" : "MPI_Win_allocate at MPI_THREAD_MULTIPLE", rc);
            report("threads_window", false, create ? "MPI_Win_create failed" : "MPI_Win_allocate failed");
        } else {
            MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
            MPI_Win_lock(MPI_LOCK_EXCLUSIVE, g_rank, 0, win);
            std::fill(base, base + L.total(), 0L);
            MPI_Win_unlock(g_rank, win);
            MPI_Barrier(MPI_COMM_WORLD);
            const double t0 = now();
            std::vector<std::vector<long>> fetched(L.threads);
            MPI_Win_lock_all(0, win);
            std::vector<std::thread> ts;
            for (int t = 0; t < L.threads; ++t) ts.emplace_back(worker, win, std::cref(L), t, &fetched[t]);
            for (auto &th : ts) th.join();
            MPI_Win_unlock_all(win);
            MPI_Barrier(MPI_COMM_WORLD);
            const double dt = now() - t0;
            report("threads_ops_no_errors", g_errors.load() == 0, "see stderr");

            // Every fetched counter value is unique across the job, and the
            // final count is exact.
            std::vector<long> mine;
            for (auto &f : fetched) mine.insert(mine.end(), f.begin(), f.end());
            int n = static_cast<int>(mine.size());
            std::vector<int> counts(g_size), displs(g_size);
            MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
            std::vector<long> all;
            if (g_rank == 0) {
                int s = 0;
                for (int i = 0; i < g_size; ++i) { displs[i] = s; s += counts[i]; }
                all.resize(s);
            }
            MPI_Gatherv(mine.data(), n, MPI_LONG, all.data(), counts.data(), displs.data(), MPI_LONG, 0, MPI_COMM_WORLD);
            bool unique_ok = true;
            std::string why;
            if (g_rank == 0) {
                std::set<long> seen(all.begin(), all.end());
                const long expect = static_cast<long>(g_size) * L.threads * L.iters;
                MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win);
                long final_count = base[0];
                MPI_Win_unlock(0, win);
                unique_ok = static_cast<long>(seen.size()) == expect && final_count == expect &&
                            *seen.begin() == 0 && *seen.rbegin() == expect - 1;
                why = "counter " + std::to_string(final_count) + ", " + std::to_string(seen.size()) +
                      " distinct fetched values, expected " + std::to_string(expect);
            }
            report("threads_fetch_and_op_atomic", unique_ok, why);

            // Each CAS word was claimed exactly once (by one of the threads
            // of the rank to the left).
            MPI_Win_lock(MPI_LOCK_SHARED, g_rank, 0, win);
            bool cas_ok = true;
            const int left = (g_rank - 1 + g_size) % g_size;
            for (int t = 0; t < L.threads; ++t) {
                long w = base[L.cas_at(g_rank, t)];
                long lo = 1 + left * L.threads, hi = lo + L.threads - 1;
                if (w < lo || w > hi) cas_ok = false;
            }
            MPI_Win_unlock(g_rank, win);
            report("threads_compare_and_swap", cas_ok, "a CAS word not claimed by exactly one left-neighbour thread");

            // A pair type: works, or fails with a clean error class.
            struct { int v, i; } in{g_rank, g_rank};
            MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win);
            rc = MPI_Accumulate(&in, 1, MPI_2INT, 0, 0, 1, MPI_2INT, MPI_MINLOC, win);
            int rc2 = MPI_Win_unlock(0, win);
            int cls = MPI_SUCCESS;
            if (rc != MPI_SUCCESS) MPI_Error_class(rc, &cls);
            bool pair_ok = (rc == MPI_SUCCESS && rc2 == MPI_SUCCESS) || cls == MPI_ERR_UNSUPPORTED_OPERATION ||
                           cls == MPI_ERR_NOT_SAME;
            report("threads_pair_type_clean", pair_ok, "MINLOC on MPI_2INT returned error class " + std::to_string(cls));
            if (g_rank == 0)
                std::printf("# %s window, %d ranks x %d threads x %d iterations in %.3f s\n",
                            create ? "create" : "allocate", g_size, L.threads, L.iters, dt);
            MPI_Win_free(&win);
        }
    }
    if (g_rank == 0) std::printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    MPI_Finalize();
    return failed ? 1 : 0;
}
