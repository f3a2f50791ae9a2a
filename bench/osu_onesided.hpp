// ompi-virt bench: the timing kernels of the one-sided OSU-compatible benchmarks.
//
// One driver runs every one-sided benchmark.  A benchmark supplies an Ops class:
//   std::size_t win_bytes(size, W)      bytes of the window per rank
//   void setup(size, W)                 allocate its local buffers
//   void issue(win, peer, disp, size, j) issue the j-th operation of an epoch
//   void prepare(rank, peer, size, W, Window&)   -c: set up known data
//   bool check(rank, peer, size, W, Window&, origin, target)  -c: verify it
// and the driver adds the synchronization (OSU's run_*_with_{lock,flush,...}).
#pragma once

#include "osu_harness.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ovb {

enum class Pattern { Latency, Bandwidth, BiBandwidth };

// Passive-target epochs (lock, flush, flush_local, lock_all), shared by the
// latency and bandwidth kernels: rank 0 runs `issue` `skip + iters` times and
// times the last `iters`.  Returns false for an active-target `sync`.
template <class Issue>
bool passive_kernel(Sync sync, int rank, int peer, MPI_Win win, long iters, long skip,
                    Issue &&issue, double &t0, double &t1) {
    if (rank != 0) {
        return sync == Sync::Lock || sync == Sync::Flush || sync == Sync::FlushLocal ||
               sync == Sync::LockAll;
    }
    switch (sync) {
        case Sync::Lock:
            for (long i = 0; i < skip + iters; ++i) {
                if (i == skip) t0 = MPI_Wtime();
                OVB_CHECK(MPI_Win_lock(MPI_LOCK_SHARED, peer, 0, win));
                issue();
                OVB_CHECK(MPI_Win_unlock(peer, win));
            }
            t1 = MPI_Wtime();
            return true;
        case Sync::Flush:
        case Sync::FlushLocal:
            OVB_CHECK(MPI_Win_lock(MPI_LOCK_SHARED, peer, 0, win));
            for (long i = 0; i < skip + iters; ++i) {
                if (i == skip) t0 = MPI_Wtime();
                issue();
                if (sync == Sync::Flush) OVB_CHECK(MPI_Win_flush(peer, win));
                else OVB_CHECK(MPI_Win_flush_local(peer, win));
            }
            t1 = MPI_Wtime();
            OVB_CHECK(MPI_Win_unlock(peer, win));
            return true;
        case Sync::LockAll:
            for (long i = 0; i < skip + iters; ++i) {
                if (i == skip) t0 = MPI_Wtime();
                OVB_CHECK(MPI_Win_lock_all(0, win));
                issue();
                OVB_CHECK(MPI_Win_unlock_all(win));
            }
            t1 = MPI_Wtime();
            return true;
        default:
            return false;
    }
}

// Latency kernel (OSU run_put_with_*): returns the elapsed time on rank 0 over
// `iters` timed iterations after `skip` warm-up ones.
template <class Ops>
double latency_kernel(Ops &ops, Sync sync, int rank, MPI_Win win, MPI_Aint disp, std::size_t size,
                      long iters, long skip, MPI_Group peer_group) {
    const int peer = 1 - rank;
    double t0 = 0.0, t1 = 0.0;
    if (passive_kernel(sync, rank, peer, win, iters, skip,
                       [&] { ops.issue(win, peer, disp, size, 0); }, t0, t1)) {
        return t1 - t0;
    }
    switch (sync) {
        case Sync::Fence:
            // Ping-pong of epochs: rank 0 acts in the first, rank 1 in the second.
            OVB_CHECK(MPI_Barrier(MPI_COMM_WORLD));
            for (long i = 0; i < skip + iters; ++i) {
                if (i == skip) t0 = MPI_Wtime();
                if (rank == 0) {
                    OVB_CHECK(MPI_Win_fence(0, win));
                    ops.issue(win, peer, disp, size, 0);
                    OVB_CHECK(MPI_Win_fence(0, win));
                    OVB_CHECK(MPI_Win_fence(0, win));
                } else {
                    OVB_CHECK(MPI_Win_fence(0, win));
                    OVB_CHECK(MPI_Win_fence(0, win));
                    ops.issue(win, peer, disp, size, 0);
                    OVB_CHECK(MPI_Win_fence(0, win));
                }
            }
            t1 = MPI_Wtime();
            break;
        case Sync::Pscw:
            OVB_CHECK(MPI_Barrier(MPI_COMM_WORLD));
            for (long i = 0; i < skip + iters; ++i) {
                if (i == skip) t0 = MPI_Wtime();
                if (rank == 0) {
                    OVB_CHECK(MPI_Win_start(peer_group, 0, win));
                    ops.issue(win, peer, disp, size, 0);
                    OVB_CHECK(MPI_Win_complete(win));
                    OVB_CHECK(MPI_Win_post(peer_group, 0, win));
                    OVB_CHECK(MPI_Win_wait(win));
                } else {
                    OVB_CHECK(MPI_Win_post(peer_group, 0, win));
                    OVB_CHECK(MPI_Win_wait(win));
                    OVB_CHECK(MPI_Win_start(peer_group, 0, win));
                    ops.issue(win, peer, disp, size, 0);
                    OVB_CHECK(MPI_Win_complete(win));
                }
            }
            t1 = MPI_Wtime();
            break;
        default:  // passive target: handled by passive_kernel above
            break;
    }
    return t1 - t0;
}

// Bandwidth kernels (OSU osu_put_bw / osu_get_bw / osu_put_bibw): W operations
// per synchronization.
template <class Ops>
double bandwidth_kernel(Ops &ops, Sync sync, bool bidir, int rank, MPI_Win win, MPI_Aint disp,
                        std::size_t size, int W, long iters, long skip, MPI_Group peer_group) {
    const int peer = 1 - rank;
    double t0 = 0.0, t1 = 0.0;
    auto issue_all = [&] {
        for (int j = 0; j < W; ++j) ops.issue(win, peer, disp, size, j);
    };
    if (bidir) {
        OVB_CHECK(MPI_Barrier(MPI_COMM_WORLD));
        for (long i = 0; i < skip + iters; ++i) {
            if (i == skip) t0 = MPI_Wtime();
            if (sync == Sync::Fence) {
                OVB_CHECK(MPI_Win_fence(0, win));
                issue_all();
                OVB_CHECK(MPI_Win_fence(0, win));
            } else {  // pscw
                OVB_CHECK(MPI_Win_post(peer_group, 0, win));
                OVB_CHECK(MPI_Win_start(peer_group, 0, win));
                issue_all();
                OVB_CHECK(MPI_Win_complete(win));
                OVB_CHECK(MPI_Win_wait(win));
            }
        }
        t1 = MPI_Wtime();
        return t1 - t0;
    }
    if (passive_kernel(sync, rank, peer, win, iters, skip, issue_all, t0, t1)) {
        return t1 - t0;
    }
    switch (sync) {
        case Sync::Fence:
            OVB_CHECK(MPI_Barrier(MPI_COMM_WORLD));
            for (long i = 0; i < skip + iters; ++i) {
                if (i == skip) t0 = MPI_Wtime();
                OVB_CHECK(MPI_Win_fence(0, win));
                if (rank == 0) issue_all();
                OVB_CHECK(MPI_Win_fence(0, win));
            }
            t1 = MPI_Wtime();
            break;
        case Sync::Pscw:
            OVB_CHECK(MPI_Barrier(MPI_COMM_WORLD));
            for (long i = 0; i < skip + iters; ++i) {
                if (i == skip) t0 = MPI_Wtime();
                if (rank == 0) {
                    OVB_CHECK(MPI_Win_start(peer_group, 0, win));
                    issue_all();
                    OVB_CHECK(MPI_Win_complete(win));
                } else {
                    OVB_CHECK(MPI_Win_post(peer_group, 0, win));
                    OVB_CHECK(MPI_Win_wait(win));
                }
            }
            t1 = MPI_Wtime();
            break;
        default:  // passive target: handled by passive_kernel above
            break;
    }
    return t1 - t0;
}

// The whole program: MPI_Init .. MPI_Finalize.  Exit status 1 if -c found bad data.
template <class Ops>
int run_one_sided(const Spec &spec, Pattern pat, int argc, char **argv) {
    Options opt;
    int rank = 0, status = EXIT_SUCCESS;
    if (!start_program(spec, argc, argv, opt, &rank, &status)) return status;
    const int peer = 1 - rank;
    MPI_Group world_group, peer_group;
    OVB_CHECK(MPI_Comm_group(MPI_COMM_WORLD, &world_group));
    OVB_CHECK(MPI_Group_incl(world_group, 1, &peer, &peer_group));

    const bool bidir = pat == Pattern::BiBandwidth;
    const bool active = opt.sync == Sync::Fence || opt.sync == Sync::Pscw;
    // Who writes/reads whom in one epoch pattern (for -c).
    const bool is_origin = rank == 0 || bidir || (pat == Pattern::Latency && active);
    const bool is_target = rank == 1 || bidir || (pat == Pattern::Latency && active);
    const int W = pat == Pattern::Latency ? 1 : opt.window_size;

    if (rank == 0) print_header(spec, opt);
    bool all_valid = true;
    for (std::size_t size = opt.min_size; size <= opt.max_size; size *= 2) {
        Ops ops;
        Window w(opt.win, ops.win_bytes(size, W), peer);
        ops.setup(size, W);
        // Both ranks have touched their buffers before rank 0 starts timing
        // (bench/README.md, "Deviations from OSU").
        OVB_CHECK(MPI_Barrier(MPI_COMM_WORLD));
        const long iters = opt.iters_for(size), skip = opt.skip_for(size);
        double t;
        if (pat == Pattern::Latency)
            t = latency_kernel(ops, opt.sync, rank, w.win, w.disp, size, iters, skip, peer_group);
        else
            t = bandwidth_kernel(ops, opt.sync, bidir, rank, w.win, w.disp, size, W, iters, skip, peer_group);
        OVB_CHECK(MPI_Barrier(MPI_COMM_WORLD));

        int valid = -1;
        if (opt.validate) {
            // One more epoch of the same pattern on known data, outside the timing.
            ops.prepare(rank, peer, size, W, w);
            OVB_CHECK(MPI_Barrier(MPI_COMM_WORLD));
            if (pat == Pattern::Latency)
                latency_kernel(ops, opt.sync, rank, w.win, w.disp, size, 1, 0, peer_group);
            else
                bandwidth_kernel(ops, opt.sync, bidir, rank, w.win, w.disp, size, W, 1, 0, peer_group);
            OVB_CHECK(MPI_Barrier(MPI_COMM_WORLD));
            valid = all_ok(ops.check(rank, peer, size, W, w, is_origin, is_target));
            if (!valid) all_valid = false;
        }
        if (rank == 0) {
            double value;
            if (pat == Pattern::Latency) value = t * 1.0e6 / double(iters) / (active ? 2.0 : 1.0);
            else value = double(size) / 1.0e6 * double(iters) * double(W) * (bidir ? 2.0 : 1.0) / t;
            print_row(opt, size, value, valid);
        }
        if (size == 0) break;
    }
    MPI_Group_free(&peer_group);
    MPI_Group_free(&world_group);
    MPI_Finalize();
    return all_valid ? EXIT_SUCCESS : EXIT_FAILURE;
}

// ---------------------------------------------------------------- operations

// MPI_Put of `size` bytes (j-th slot of a window of W slots).
struct PutOps {
    Buffer *sbuf = nullptr;
    ~PutOps() { delete sbuf; }
    std::size_t win_bytes(std::size_t size, int W) const { return size * W; }
    void setup(std::size_t size, int W) { sbuf = new Buffer(size * W); }
    void issue(MPI_Win win, int peer, MPI_Aint disp, std::size_t size, int j) {
        OVB_CHECK(MPI_Put(sbuf->p + j * size, int(size), MPI_CHAR, peer, disp + MPI_Aint(j * size), int(size),
                          MPI_CHAR, win));
    }
    void prepare(int rank, int, std::size_t size, int W, Window &w) {
        fill_pattern(sbuf->p, size * W, rank, size);
        std::memset(w.base, 0, size * W);
    }
    bool check(int, int peer, std::size_t size, int W, Window &w, bool, bool target) {
        return !target || check_pattern(w.base, size * W, peer, size);
    }
};

// MPI_Get of `size` bytes into the j-th slot of a local buffer.
struct GetOps {
    Buffer *rbuf = nullptr;
    ~GetOps() { delete rbuf; }
    std::size_t win_bytes(std::size_t size, int W) const { return size * W; }
    void setup(std::size_t size, int W) { rbuf = new Buffer(size * W); }
    void issue(MPI_Win win, int peer, MPI_Aint disp, std::size_t size, int j) {
        OVB_CHECK(MPI_Get(rbuf->p + j * size, int(size), MPI_CHAR, peer, disp + MPI_Aint(j * size), int(size),
                          MPI_CHAR, win));
    }
    void prepare(int rank, int, std::size_t size, int W, Window &w) {
        fill_pattern(w.base, size * W, rank, size);
        std::memset(rbuf->p, 0, size * W);
    }
    bool check(int, int peer, std::size_t size, int W, Window &, bool origin, bool) {
        return !origin || check_pattern(rbuf->p, size * W, peer, size);
    }
};

}  // namespace ovb
