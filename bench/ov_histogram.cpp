// ompi-virt bench: ov_histogram — distributed bucket histogram with MPI_Accumulate
// (stands for NAS IS: integer keys counted into buckets owned by all ranks).
// Each rank generates its keys, counts them locally, and adds each owner's slice
// into the owner's window with one MPI_Accumulate(MPI_SUM, MPI_LONG) per owner;
// ranks are then computed with MPI_Exscan.  The checksum sum(count[b]*(b+1)) is
// compared with a serial count of every rank's keys on rank 0.
//   ov_histogram [-k KEYS_PER_RANK] [-b BUCKETS] [-i ITERS] [-s fence|lock_all]
#include "miniapp.hpp"

#include <cstdint>
#include <vector>

namespace {
std::uint64_t splitmix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}
// NAS IS draws keys as a sum of four uniforms (bell-shaped); do the same.
long key(long it, int rank, long i, long buckets) {
    std::uint64_t h = splitmix((std::uint64_t(it) << 48) ^ (std::uint64_t(rank) << 32) ^ std::uint64_t(i));
    std::uint64_t s = (h & 0xffff) + ((h >> 16) & 0xffff) + ((h >> 32) & 0xffff) + ((h >> 48) & 0xffff);
    return long(s * std::uint64_t(buckets) / (4ull * 65536ull));
}
}  // namespace

int main(int argc, char **argv) {
    int rank = 0, P = 0;
    if (!ovm::start(argc, argv,
                    "usage: ov_histogram [-k KEYS_PER_RANK (default 1048576)] [-b BUCKETS (default 65536)]\n"
                    "                    [-i ITERS (default 10)] [-s fence|lock_all (default fence)]\n",
                    &rank, &P))
        return 0;
    const long nkeys = ovm::opt_long(argc, argv, "-k", 1 << 20), buckets = ovm::opt_long(argc, argv, "-b", 1 << 16);
    const long iters = ovm::opt_long(argc, argv, "-i", 10);
    const std::string sync = ovm::opt_str(argc, argv, "-s", "fence");
    if (nkeys < 1 || buckets < P || iters < 1 || (sync != "fence" && sync != "lock_all")) {
        if (rank == 0) std::fprintf(stderr, "ov_histogram: bad options (see -h)\n");
        MPI_Finalize();
        return 2;
    }
    const long mine = ovm::block_size(buckets, P, rank), first = ovm::block_start(buckets, P, rank);
    long *win_counts = nullptr;
    MPI_Win win;
    MPI_Win_allocate(MPI_Aint(std::max(mine, 1L) * sizeof(long)), sizeof(long), MPI_INFO_NULL, MPI_COMM_WORLD,
                     &win_counts, &win);
    std::vector<long> local(buckets);
    std::int64_t check_total = 0;  // sum over iterations of the checksum
    long my_rank_offset = 0;

    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    for (long it = 0; it < iters; ++it) {
        std::fill(win_counts, win_counts + mine, 0L);
        std::fill(local.begin(), local.end(), 0L);
        for (long i = 0; i < nkeys; ++i) ++local[key(it, rank, i, buckets)];
        MPI_Barrier(MPI_COMM_WORLD);  // every owner has zeroed its slice
        if (sync == "fence") MPI_Win_fence(0, win);
        else MPI_Win_lock_all(0, win);
        for (int p = 0; p < P; ++p) {
            long pf = ovm::block_start(buckets, P, p), pn = ovm::block_size(buckets, P, p);
            MPI_Accumulate(local.data() + pf, int(pn), MPI_LONG, p, 0, int(pn), MPI_LONG, MPI_SUM, win);
        }
        if (sync == "fence") MPI_Win_fence(0, win);
        else {
            MPI_Win_unlock_all(win);
            MPI_Barrier(MPI_COMM_WORLD);  // all contributions are in
            MPI_Win_lock(MPI_LOCK_SHARED, rank, 0, win);  // synchronise my view of my window
            MPI_Win_unlock(rank, win);
        }
        // Ranking: keys in my buckets start after all keys in lower buckets.
        long cnt = 0;
        std::int64_t cs = 0;
        for (long b = 0; b < mine; ++b) {
            cnt += win_counts[b];
            cs += std::int64_t(win_counts[b]) * (first + b + 1);
        }
        my_rank_offset = 0;
        MPI_Exscan(&cnt, &my_rank_offset, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
        if (rank == 0) my_rank_offset = 0;
        std::int64_t all = 0;
        MPI_Allreduce(&cs, &all, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
        check_total += all;
    }
    double t = MPI_Wtime() - t0, tmax;
    MPI_Allreduce(&t, &tmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    // The last rank's offset + its count must equal the number of keys.
    long last_end = 0, cnt = 0;
    for (long b = 0; b < mine; ++b) cnt += win_counts[b];
    last_end = my_rank_offset + cnt;
    MPI_Bcast(&last_end, 1, MPI_LONG, P - 1, MPI_COMM_WORLD);
    MPI_Win_free(&win);

    std::int64_t ref = 0;
    if (rank == 0) {
        std::vector<long> h(buckets);
        for (long it = 0; it < iters; ++it) {
            std::fill(h.begin(), h.end(), 0L);
            for (int p = 0; p < P; ++p)
                for (long i = 0; i < nkeys; ++i) ++h[key(it, p, i, buckets)];
            for (long b = 0; b < buckets; ++b) ref += std::int64_t(h[b]) * (b + 1);
        }
    }
    MPI_Bcast(&ref, 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
    const bool total_ok = last_end == long(P) * nkeys;
    char params[160];
    std::snprintf(params, sizeof params, "sync=%s keys=%ld buckets=%ld iters=%ld total_ok=%d", sync.c_str(), nkeys,
                  buckets, iters, int(total_ok));
    // Integers: exact match required (tolerance 0); a wrong total fails too.
    int rc = ovm::report(rank, P, "ov_histogram", params, tmax, total_ok ? double(check_total) : -1.0, double(ref), 0.0);
    MPI_Finalize();
    return rc;
}
