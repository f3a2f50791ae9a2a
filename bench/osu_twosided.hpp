// ompi-virt bench: the two-sided OSU-compatible benchmarks (osu_latency, osu_bw,
// osu_bibw), same methodology as OSU 7.x pt2pt: blocking ping-pong for latency;
// a window of W non-blocking sends per iteration plus a 4-byte ack for bandwidth;
// W receives + W sends on both sides for bi-directional bandwidth.
#pragma once

#include "osu_harness.hpp"

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <vector>

namespace ovb {

enum class TwoSided { Latency, Bw, BiBw };

inline double two_sided_kernel(TwoSided kind, int rank, char *s, char *r, std::size_t size, int W, long iters,
                               long skip) {
    const int peer = 1 - rank;
    const int n = int(size);
    double t0 = 0.0, t1 = 0.0;
    std::vector<MPI_Request> req(2 * std::size_t(W));
    OVB_CHECK(MPI_Barrier(MPI_COMM_WORLD));
    switch (kind) {
        case TwoSided::Latency:
            for (long i = 0; i < skip + iters; ++i) {
                if (i == skip) t0 = MPI_Wtime();
                if (rank == 0) {
                    OVB_CHECK(MPI_Send(s, n, MPI_CHAR, peer, 1, MPI_COMM_WORLD));
                    OVB_CHECK(MPI_Recv(r, n, MPI_CHAR, peer, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
                } else {
                    OVB_CHECK(MPI_Recv(r, n, MPI_CHAR, peer, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
                    OVB_CHECK(MPI_Send(s, n, MPI_CHAR, peer, 1, MPI_COMM_WORLD));
                }
            }
            t1 = MPI_Wtime();
            break;
        case TwoSided::Bw:
            for (long i = 0; i < skip + iters; ++i) {
                if (i == skip) t0 = MPI_Wtime();
                if (rank == 0) {
                    for (int j = 0; j < W; ++j)
                        OVB_CHECK(MPI_Isend(s + std::size_t(j) * size, n, MPI_CHAR, peer, 100, MPI_COMM_WORLD, &req[j]));
                    OVB_CHECK(MPI_Waitall(W, req.data(), MPI_STATUSES_IGNORE));
                    OVB_CHECK(MPI_Recv(r, 4, MPI_CHAR, peer, 101, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
                } else {
                    for (int j = 0; j < W; ++j)
                        OVB_CHECK(MPI_Irecv(r + std::size_t(j) * size, n, MPI_CHAR, peer, 100, MPI_COMM_WORLD, &req[j]));
                    OVB_CHECK(MPI_Waitall(W, req.data(), MPI_STATUSES_IGNORE));
                    OVB_CHECK(MPI_Send(s, 4, MPI_CHAR, peer, 101, MPI_COMM_WORLD));
                }
            }
            t1 = MPI_Wtime();
            break;
        case TwoSided::BiBw:
            for (long i = 0; i < skip + iters; ++i) {
                if (i == skip) t0 = MPI_Wtime();
                for (int j = 0; j < W; ++j)
                    OVB_CHECK(MPI_Irecv(r + std::size_t(j) * size, n, MPI_CHAR, peer, 10, MPI_COMM_WORLD, &req[j]));
                for (int j = 0; j < W; ++j)
                    OVB_CHECK(MPI_Isend(s + std::size_t(j) * size, n, MPI_CHAR, peer, 10, MPI_COMM_WORLD, &req[W + j]));
                OVB_CHECK(MPI_Waitall(2 * W, req.data(), MPI_STATUSES_IGNORE));
            }
            t1 = MPI_Wtime();
            break;
    }
    return t1 - t0;
}

inline int run_two_sided(const Spec &spec, TwoSided kind, int argc, char **argv) {
    Options opt;
    int rank = 0, status = EXIT_SUCCESS;
    if (!start_program(spec, argc, argv, opt, &rank, &status)) return status;
    const int peer = 1 - rank;
    const int W = kind == TwoSided::Latency ? 1 : opt.window_size;
    if (rank == 0) print_header(spec, opt);
    bool all_valid = true;
    for (std::size_t size = opt.min_size; size <= opt.max_size; size *= 2) {
        // Bandwidth tests post W receives into distinct slots (OSU reuses one
        // buffer; distinct slots let -c check every message).
        Buffer s(std::max<std::size_t>(size * W, 4)), r(std::max<std::size_t>(size * W, 4));
        const long iters = opt.iters_for(size), skip = opt.skip_for(size);
        const double t = two_sided_kernel(kind, rank, s.p, r.p, size, W, iters, skip);
        int valid = -1;
        if (opt.validate) {
            fill_pattern(s.p, size * W, rank, size);
            std::memset(r.p, 0, size * W);
            two_sided_kernel(kind, rank, s.p, r.p, size, W, 1, 0);
            bool receiver = kind != TwoSided::Bw || rank == 1;
            std::size_t got = kind == TwoSided::Latency ? size : size * W;
            bool ok = !receiver || check_pattern(r.p, got, peer, size);
            valid = all_ok(ok);
            if (!valid) all_valid = false;
        }
        if (rank == 0) {
            double value;
            if (kind == TwoSided::Latency) value = t * 1.0e6 / (2.0 * double(iters));
            else value = double(size) / 1.0e6 * double(iters) * W * (kind == TwoSided::BiBw ? 2.0 : 1.0) / t;
            print_row(opt, size, value, valid);
        }
    }
    MPI_Finalize();
    return all_valid ? EXIT_SUCCESS : EXIT_FAILURE;
}

}  // namespace ovb
