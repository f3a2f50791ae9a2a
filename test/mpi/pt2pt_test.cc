/*
 * pt2pt_test.cc — two-sided MPI check for btl vmshm (and any BTL): every
 * message's bytes are verified.  Any number of ranks >= 2.
 *
 *   pingpong      rank 0 with every other rank, 0 B .. 16 MiB (fragment
 *                 and fast-box boundaries, eager/rendezvous/pipeline sizes)
 *   anysource     MPI_ANY_SOURCE / MPI_ANY_TAG receives, status checked
 *   tags          receives in another tag order than sent; same-tag order kept
 *   probe         MPI_Probe, MPI_Iprobe, MPI_Mprobe + MPI_Mrecv
 *   nonblocking   Isend/Irecv exchange with every rank, Waitall
 *   persistent    Send_init/Recv_init, started 10 times
 *   collectives   Barrier, Bcast 1 MiB, Allreduce (1 and 100000 doubles),
 *                 Allgather, Alltoall
 *   threads       MPI_THREAD_MULTIPLE: 4 threads on rank 0 and on the last
 *                 rank exchange messages at once, one tag per thread
 *                 (skipped, and said so, if the library gives less)
 *   many_large    32 large messages from rank 0 to the last rank all in
 *                 flight at once, half the receives MPI_ANY_SOURCE (MPICH's
 *                 pt2pt/manylmt and huge_anysrc, at 256 KiB each instead of
 *                 10 MiB: with btl_vmshm_rdma_min and btl_vmshm_get_limit at
 *                 64 KiB that is 160 gets at once, more than btl vmshm posts
 *                 to its backend at a time)
 *
 *   pt2pt_test [--cases NAME,NAME...] [--max-size BYTES]
 * runs only the cases named (default all) and ping-pongs only sizes up to
 * BYTES (default all, 16 MiB); an unknown case or a bad option is a usage
 * error (exit 2).
 *
 * Prints "FAIL <case>: why" per failure and "pt2pt_test: N passed, N failed"
 * at the end (rank 0); exits 1 if anything failed.  run-integration.sh bounds
 * the run.
 */
#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

int g_rank = 0, g_size = 0, g_failed = 0, g_passed = 0;
size_t g_max_size = SIZE_MAX; /* --max-size: largest ping-pong */

unsigned char pattern(int src, int dst, size_t size, size_t i)
{
    return static_cast<unsigned char>((i * 131u) ^ (size_t(src) * 7u) ^ (size_t(dst) * 13u) ^ (size >> 3));
}

void fill(std::vector<unsigned char> &b, int src, int dst)
{
    for (size_t i = 0; i < b.size(); ++i)
        b[i] = pattern(src, dst, b.size(), i);
}

bool check(const std::vector<unsigned char> &b, int src, int dst, const char *what)
{
    for (size_t i = 0; i < b.size(); ++i)
        if (b[i] != pattern(src, dst, b.size(), i)) {
            printf("FAIL %s: rank %d from %d, %zu bytes: byte %zu is %u, want %u\n", what, dst, src, b.size(), i,
                   b[i], pattern(src, dst, b.size(), i));
            return false;
        }
    return true;
}

/* Every rank's verdict on one case, summed at rank 0. */
void report(const char *name, bool ok)
{
    int bad = ok ? 0 : 1, total = 0;
    MPI_Allreduce(&bad, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (total == 0)
        ++g_passed;
    else
        ++g_failed;
    if (g_rank == 0)
        printf("%s %s\n", total == 0 ? "ok  " : "FAIL", name);
    fflush(stdout);
}

bool pingpong()
{
    const size_t sizes[] = {0, 1, 8, 200, 255, 256, 257, 512, 1024, 4095, 4096, 4097, 32767, 32768, 32769,
                            65536, 100000, 1 << 20, (4 << 20) + 3, 16 << 20};
    bool ok = true;
    for (int peer = 1; peer < g_size; ++peer) {
        for (size_t n : sizes) {
            if (n > g_max_size)
                continue;
            std::vector<unsigned char> out(n), in(n);
            if (g_rank == 0) {
                fill(out, 0, peer);
                MPI_Send(out.data(), int(n), MPI_BYTE, peer, 1, MPI_COMM_WORLD);
                MPI_Recv(in.data(), int(n), MPI_BYTE, peer, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                ok = check(in, peer, 0, "pingpong") && ok;
            } else if (g_rank == peer) {
                MPI_Recv(in.data(), int(n), MPI_BYTE, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                ok = check(in, 0, peer, "pingpong") && ok;
                fill(out, peer, 0);
                MPI_Send(out.data(), int(n), MPI_BYTE, 0, 2, MPI_COMM_WORLD);
            }
        }
    }
    return ok;
}

bool anysource()
{
    const int per = 20;
    bool ok = true;
    if (g_rank != 0) {
        for (int i = 0; i < per; ++i) {
            int msg[2] = {g_rank, 100 + i};
            MPI_Send(msg, 2, MPI_INT, 0, 100 + i, MPI_COMM_WORLD);
        }
        return ok;
    }
    std::vector<int> next(g_size, 100);
    for (int k = 0; k < per * (g_size - 1); ++k) {
        int msg[2];
        MPI_Status st;
        MPI_Recv(msg, 2, MPI_INT, MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
        if (st.MPI_SOURCE != msg[0] || st.MPI_TAG != msg[1] || msg[1] != next[msg[0]]) {
            printf("FAIL anysource: source %d tag %d, message says %d/%d, expected tag %d\n", st.MPI_SOURCE,
                   st.MPI_TAG, msg[0], msg[1], next[msg[0]]);
            ok = false;
        }
        next[msg[0]] = msg[1] + 1; /* messages of one sender arrive in order */
    }
    return ok;
}

bool tags()
{
    bool ok = true;
    const int n = 100;
    if (g_rank == 1) {
        for (int t = 5; t <= 7; ++t) {
            int v = t * 10;
            MPI_Send(&v, 1, MPI_INT, 0, t, MPI_COMM_WORLD);
        }
        for (int i = 0; i < n; ++i)
            MPI_Send(&i, 1, MPI_INT, 0, 42, MPI_COMM_WORLD);
    } else if (g_rank == 0) {
        for (int t = 7; t >= 5; --t) {
            int v = -1;
            MPI_Recv(&v, 1, MPI_INT, 1, t, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            if (v != t * 10) {
                printf("FAIL tags: tag %d carried %d\n", t, v);
                ok = false;
            }
        }
        for (int i = 0; i < n; ++i) {
            int v = -1;
            MPI_Recv(&v, 1, MPI_INT, 1, 42, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            if (v != i) {
                printf("FAIL tags: message %d of one tag arrived as %d (order)\n", i, v);
                ok = false;
            }
        }
    }
    return ok;
}

bool probe()
{
    bool ok = true;
    const int last = g_size - 1; /* in the 4-rank placement: another guest */
    const size_t sizes[] = {0, 17, 5000, 300000};
    for (size_t n : sizes) {
        if (g_rank == last) {
            std::vector<unsigned char> out(n);
            fill(out, last, 0);
            MPI_Send(out.data(), int(n), MPI_BYTE, 0, 9, MPI_COMM_WORLD);
            MPI_Send(out.data(), int(n), MPI_BYTE, 0, 10, MPI_COMM_WORLD);
            MPI_Send(out.data(), int(n), MPI_BYTE, 0, 11, MPI_COMM_WORLD);
        } else if (g_rank == 0) {
            MPI_Status st;
            int count = -1;
            MPI_Probe(MPI_ANY_SOURCE, 9, MPI_COMM_WORLD, &st);
            MPI_Get_count(&st, MPI_BYTE, &count);
            if (st.MPI_SOURCE != last || size_t(count) != n) {
                printf("FAIL probe: source %d count %d, want %d/%zu\n", st.MPI_SOURCE, count, last, n);
                ok = false;
            }
            std::vector<unsigned char> in(n);
            MPI_Recv(in.data(), int(n), MPI_BYTE, last, 9, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            ok = check(in, last, 0, "probe") && ok;
            int flag = 0;
            while (!flag)
                MPI_Iprobe(last, 10, MPI_COMM_WORLD, &flag, &st);
            MPI_Recv(in.data(), int(n), MPI_BYTE, last, 10, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            ok = check(in, last, 0, "iprobe") && ok;
            MPI_Message m;
            MPI_Mprobe(last, 11, MPI_COMM_WORLD, &m, &st);
            MPI_Get_count(&st, MPI_BYTE, &count);
            std::vector<unsigned char> in2(static_cast<size_t>(count));
            MPI_Mrecv(in2.data(), count, MPI_BYTE, &m, MPI_STATUS_IGNORE);
            ok = check(in2, last, 0, "mprobe") && size_t(count) == n && ok;
        }
    }
    return ok;
}

bool nonblocking()
{
    const size_t n = 65536 + 11;
    std::vector<std::vector<unsigned char>> out(g_size, std::vector<unsigned char>(n)),
        in(g_size, std::vector<unsigned char>(n));
    std::vector<MPI_Request> reqs;
    for (int p = 0; p < g_size; ++p) {
        if (p == g_rank)
            continue;
        fill(out[p], g_rank, p);
        MPI_Request r;
        MPI_Irecv(in[p].data(), int(n), MPI_BYTE, p, 3, MPI_COMM_WORLD, &r);
        reqs.push_back(r);
        MPI_Isend(out[p].data(), int(n), MPI_BYTE, p, 3, MPI_COMM_WORLD, &r);
        reqs.push_back(r);
    }
    MPI_Waitall(int(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE);
    bool ok = true;
    for (int p = 0; p < g_size; ++p)
        if (p != g_rank)
            ok = check(in[p], p, g_rank, "nonblocking") && ok;
    return ok;
}

bool persistent()
{
    const int right = (g_rank + 1) % g_size, left = (g_rank + g_size - 1) % g_size;
    std::vector<unsigned char> out(3000), in(3000);
    fill(out, g_rank, right);
    MPI_Request r[2];
    MPI_Recv_init(in.data(), int(in.size()), MPI_BYTE, left, 4, MPI_COMM_WORLD, &r[0]);
    MPI_Send_init(out.data(), int(out.size()), MPI_BYTE, right, 4, MPI_COMM_WORLD, &r[1]);
    bool ok = true;
    for (int i = 0; i < 10; ++i) {
        std::fill(in.begin(), in.end(), 0);
        MPI_Startall(2, r);
        MPI_Waitall(2, r, MPI_STATUSES_IGNORE);
        ok = check(in, left, g_rank, "persistent") && ok;
    }
    MPI_Request_free(&r[0]);
    MPI_Request_free(&r[1]);
    return ok;
}

bool collectives()
{
    bool ok = true;
    MPI_Barrier(MPI_COMM_WORLD);
    std::vector<unsigned char> b(1 << 20);
    if (g_rank == 0)
        fill(b, 0, 0);
    MPI_Bcast(b.data(), int(b.size()), MPI_BYTE, 0, MPI_COMM_WORLD);
    ok = check(b, 0, 0, "bcast") && ok;
    for (int n : {1, 100000}) {
        std::vector<double> x(static_cast<size_t>(n)), y(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i)
            x[size_t(i)] = g_rank + i * 0.5;
        MPI_Allreduce(x.data(), y.data(), n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        for (int i = 0; i < n; ++i) {
            const double want = g_size * (g_size - 1) / 2.0 + g_size * i * 0.5;
            if (y[size_t(i)] != want) {
                printf("FAIL allreduce: [%d] = %g, want %g\n", i, y[size_t(i)], want);
                ok = false;
                break;
            }
        }
    }
    const size_t np = static_cast<size_t>(g_size);
    std::vector<int> all(np, -1), mine(np), got(np, -1);
    MPI_Allgather(&g_rank, 1, MPI_INT, all.data(), 1, MPI_INT, MPI_COMM_WORLD);
    for (int p = 0; p < g_size; ++p) {
        ok = ok && all[size_t(p)] == p;
        mine[size_t(p)] = g_rank * 1000 + p;
    }
    MPI_Alltoall(mine.data(), 1, MPI_INT, got.data(), 1, MPI_INT, MPI_COMM_WORLD);
    for (int p = 0; p < g_size; ++p)
        if (got[size_t(p)] != p * 1000 + g_rank) {
            printf("FAIL alltoall: from %d got %d\n", p, got[size_t(p)]);
            ok = false;
        }
    return ok;
}

bool threads()
{
    const int last = g_size - 1, nthreads = 4, rounds = 200;
    if (g_rank != 0 && g_rank != last)
        return true;
    const int peer = g_rank == 0 ? last : 0;
    std::vector<int> bad(nthreads, 0);
    std::vector<std::thread> th;
    for (int t = 0; t < nthreads; ++t)
        th.emplace_back([&, t] {
            for (int i = 0; i < rounds; ++i) {
                const size_t n = size_t((i * 97 + t * 31) % 70000); /* fast box, fragment and pipeline sizes */
                std::vector<unsigned char> out(n), in(n);
                fill(out, g_rank, peer);
                MPI_Sendrecv(out.data(), int(n), MPI_BYTE, peer, 1000 + t, in.data(), int(n), MPI_BYTE, peer,
                             1000 + t, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                if (!check(in, peer, g_rank, "threads"))
                    bad[size_t(t)] = 1;
            }
        });
    for (auto &x : th)
        x.join();
    for (int b : bad)
        if (b)
            return false;
    return true;
}

bool many_large()
{
    const int count = 32, last = g_size - 1;
    const size_t base = (256u << 10) + 5;
    if (g_rank != 0 && g_rank != last)
        return true;
    std::vector<std::vector<unsigned char>> b(count);
    std::vector<MPI_Request> reqs(count);
    for (int i = 0; i < count; ++i) {
        b[size_t(i)].resize(base + size_t(i) * 8); /* sizes differ: a message in the wrong buffer shows */
        if (g_rank == 0) {
            fill(b[size_t(i)], 0, last);
            MPI_Isend(b[size_t(i)].data(), int(b[size_t(i)].size()), MPI_BYTE, last, 6, MPI_COMM_WORLD, &reqs[size_t(i)]);
        } else {
            MPI_Irecv(b[size_t(i)].data(), int(b[size_t(i)].size()), MPI_BYTE, i % 2 ? MPI_ANY_SOURCE : 0, 6,
                      MPI_COMM_WORLD, &reqs[size_t(i)]);
        }
    }
    MPI_Waitall(count, reqs.data(), MPI_STATUSES_IGNORE);
    bool ok = true;
    if (g_rank == last)
        for (int i = 0; i < count; ++i)
            ok = check(b[size_t(i)], 0, last, "many_large") && ok;
    return ok;
}

struct test_case {
    const char *name;
    bool (*run)();
};

} // namespace

int main(int argc, char **argv)
{
    int provided = MPI_THREAD_SINGLE;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    const test_case cases[] = {{"pingpong", pingpong},       {"anysource", anysource},     {"tags", tags},
                               {"probe", probe},             {"nonblocking", nonblocking}, {"persistent", persistent},
                               {"collectives", collectives}, {"threads", threads},         {"many_large", many_large}};
    std::string only; /* ",a,b," or "" for all */
    for (int i = 1; i < argc; ++i) {
        char *end = nullptr;
        bool ok = i + 1 < argc;
        if (ok && strcmp(argv[i], "--cases") == 0) {
            only = std::string(",") + argv[++i] + ",";
        } else if (ok && strcmp(argv[i], "--max-size") == 0) {
            g_max_size = strtoull(argv[++i], &end, 10);
            ok = *argv[i] >= '0' && *argv[i] <= '9' && *end == '\0';
        } else {
            ok = false;
        }
        if (!ok) {
            if (g_rank == 0)
                printf("usage: pt2pt_test [--cases NAME,NAME...] [--max-size BYTES]\n");
            MPI_Finalize();
            return 2;
        }
    }
    /* every name in --cases must be a case: a typo must not pass by running nothing */
    for (size_t pos = 1; pos < only.size(); pos = only.find(',', pos) + 1) {
        const std::string name = only.substr(pos, only.find(',', pos) - pos);
        if (std::none_of(std::begin(cases), std::end(cases), [&](const auto &c) { return name == c.name; })) {
            if (g_rank == 0)
                printf("pt2pt_test: unknown case '%s' in --cases\n", name.c_str());
            MPI_Finalize();
            return 2;
        }
    }
    if (g_size < 2) {
        if (g_rank == 0)
            printf("FAIL pt2pt_test needs at least 2 ranks\n");
        MPI_Finalize();
        return 1;
    }
    for (const auto &c : cases) {
        if (!only.empty() && only.find(std::string(",") + c.name + ",") == std::string::npos)
            continue;
        if (c.run == threads && provided != MPI_THREAD_MULTIPLE) {
            if (g_rank == 0)
                printf("skip threads: the library provides thread level %d, not MPI_THREAD_MULTIPLE\n", provided);
            continue;
        }
        report(c.name, c.run());
    }
    if (g_rank == 0)
        printf("pt2pt_test: %d passed, %d failed\n", g_passed, g_failed);
    MPI_Finalize();
    return g_failed == 0 ? 0 : 1;
}
