// ompi-virt bench: collective latency benchmarks (osu_allreduce, osu_alltoall),
// same methodology as OSU 7.x collectives: for each size, warm-up calls, then
// timed calls each preceded by a barrier that is not timed; the row is the
// average over the ranks of each rank's mean time per call.  Any number of
// ranks >= 2.  Sizes are bytes: allreduce sums size/4 MPI_FLOATs (at least 1),
// alltoall sends size MPI_CHARs to every rank.
#pragma once

#include "osu_harness.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace ovb {

enum class Collective { Allreduce, Alltoall };

// Seconds summed over `iters` timed calls of this rank (after `skip` untimed ones).
inline double collective_kernel(Collective kind, char *s, char *r, std::size_t size, long iters, long skip) {
    const int count = kind == Collective::Allreduce ? int(std::max<std::size_t>(size / sizeof(float), 1))
                                                    : int(size);
    double total = 0.0;
    for (long i = 0; i < skip + iters; ++i) {
        OVB_CHECK(MPI_Barrier(MPI_COMM_WORLD));
        const double t0 = MPI_Wtime();
        if (kind == Collective::Allreduce)
            OVB_CHECK(MPI_Allreduce(s, r, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
        else
            OVB_CHECK(MPI_Alltoall(s, count, MPI_CHAR, r, count, MPI_CHAR, MPI_COMM_WORLD));
        if (i >= skip) total += MPI_Wtime() - t0;
    }
    return total;
}

// -c: one call with known inputs; true if this rank got the right result.
inline bool collective_check(Collective kind, char *s, char *r, std::size_t size, int rank, int nprocs) {
    if (kind == Collective::Allreduce) {
        const std::size_t n = std::max<std::size_t>(size / sizeof(float), 1);
        float *in = reinterpret_cast<float *>(s), *out = reinterpret_cast<float *>(r);
        for (std::size_t i = 0; i < n; ++i) in[i] = float(rank + 1) * float(i % 7 + 1);
        std::fill(out, out + n, -1.0f);
        collective_kernel(kind, s, r, size, 1, 0);
        const float ranks = float(nprocs) * float(nprocs + 1) / 2.0f;  // small integers: exact in float
        for (std::size_t i = 0; i < n; ++i)
            if (out[i] != ranks * float(i % 7 + 1)) return false;
        return true;
    }
    for (int d = 0; d < nprocs; ++d) fill_pattern(s + std::size_t(d) * size, size, rank, size);
    std::memset(r, 0, size * std::size_t(nprocs));
    collective_kernel(kind, s, r, size, 1, 0);
    for (int src = 0; src < nprocs; ++src)
        if (!check_pattern(r + std::size_t(src) * size, size, src, size)) return false;
    return true;
}

inline int run_collective(const Spec &spec, Collective kind, int argc, char **argv) {
    Options opt;
    int rank = 0, nprocs = 0, status = EXIT_SUCCESS;
    if (!start_program(spec, argc, argv, opt, &rank, &status)) return status;
    MPI_Comm_size(MPI_COMM_WORLD, &nprocs);
    if (rank == 0) print_header(spec, opt);
    bool all_valid = true;
    for (std::size_t size = opt.min_size; size <= opt.max_size; size *= 2) {
        const std::size_t bytes = kind == Collective::Alltoall ? size * std::size_t(nprocs)
                                                                : std::max<std::size_t>(size, sizeof(float));
        Buffer s(bytes), r(bytes);
        const long iters = opt.iters_for(size), skip = opt.skip_for(size);
        const double mine = iters > 0 ? collective_kernel(kind, s.p, r.p, size, iters, skip) / double(iters)
                                      : 0.0;
        double sum = 0.0;
        OVB_CHECK(MPI_Reduce(&mine, &sum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD));
        int valid = -1;
        if (opt.validate) {
            valid = all_ok(collective_check(kind, s.p, r.p, size, rank, nprocs));
            if (!valid) all_valid = false;
        }
        if (rank == 0) print_row(opt, size, sum / double(nprocs) * 1.0e6, valid);
        if (size == 0) break;  // -m 0:...: 0 * 2 would never end
    }
    MPI_Finalize();
    return all_valid ? EXIT_SUCCESS : EXIT_FAILURE;
}

}  // namespace ovb
