// ompi-virt bench: ov_copy_pair — what this host gives one memcpy stream and
// two at once (no MPI).
//
// Why: a staged put or get through the backend is two copies running at the
// same time on two cores (origin into its staging area, backend out of it),
// while osc sm's put is one.  On the project's shared 2-core VM the host
// sometimes halves two concurrent streams (14 + 14 GB/s) while one alone
// still runs at 24-26 GB/s (bench/ov_copy_pair --seconds 3, 2026-11-21).  Run this before and after a
// benchmark to see which state the host was in.  (It was once taken for the
// cause of the 4 MiB put bandwidth swinging between ~9 and ~21 GB/s; that
// was the OSU programs' setup race, bench/README.md "Deviations from OSU".)
//
// Method: two threads pinned to CPUs 0 and 1 (when there are two), each
// copying a 4 MiB source into a 256 MiB destination ring, like osu_put_bw's
// window.  Phases of 200 ms alternate: thread 0 alone, then both; the first
// 20 ms of each phase are not counted.  Prints each phase's GB/s and the
// medians.
//
// Usage: ov_copy_pair [--seconds S] [--mib-src N] [--mib-dst N]
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

std::atomic<int> g_phase{0};  // even: thread 0 alone; odd: both
std::atomic<bool> g_stop{false};
std::atomic<long long> g_bytes[2];
size_t g_src_bytes = size_t(4) << 20, g_dst_bytes = size_t(256) << 20;

double now_s()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void copier(int id)
{
    if (std::thread::hardware_concurrency() >= 2) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(id, &set);
        (void) pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    }
    std::vector<char> src(g_src_bytes, 1), dst(g_dst_bytes, 0);
    const size_t slots = g_dst_bytes / g_src_bytes;
    for (size_t j = 0; !g_stop.load(std::memory_order_relaxed); ++j) {
        if (id == 1 && (g_phase.load(std::memory_order_relaxed) & 1) == 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
            continue;
        }
        std::memcpy(dst.data() + (j % slots) * g_src_bytes, src.data(), g_src_bytes);
        g_bytes[id].fetch_add(static_cast<long long>(g_src_bytes), std::memory_order_relaxed);
    }
}

double median(std::vector<double> v)
{
    if (v.empty()) {
        return 0;
    }
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

void usage(FILE *f)
{
    std::fprintf(f, "Usage: ov_copy_pair [--seconds S] [--mib-src N] [--mib-dst N]\n"
                    "  One memcpy stream, then two at once on CPUs 0 and 1, in alternating 200 ms\n"
                    "  phases; prints GB/s per phase and the medians (default 4 s, 4 MiB source,\n"
                    "  256 MiB destination ring).\n");
}

} // namespace

int main(int argc, char **argv)
{
    double seconds = 4;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-h" || a == "--help") {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            usage(stderr);
            return 2;
        }
        const double v = std::atof(argv[++i]);
        if (a == "--seconds" && v > 0) {
            seconds = v;
        } else if (a == "--mib-src" && v >= 1) {
            g_src_bytes = static_cast<size_t>(v) << 20;
        } else if (a == "--mib-dst" && v >= 1) {
            g_dst_bytes = static_cast<size_t>(v) << 20;
        } else {
            std::fprintf(stderr, "ov_copy_pair: bad option %s %s\n", a.c_str(), argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (g_dst_bytes < g_src_bytes) {
        std::fprintf(stderr, "ov_copy_pair: the destination ring must hold the source\n");
        return 2;
    }
    std::thread t0(copier, 0), t1(copier, 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(300)); // buffers touched
    std::vector<double> single, dual0, dual1;
    const double start = now_s();
    for (int p = 0; now_s() - start < seconds; ++p) {
        g_phase.store(p);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        const long long b0 = g_bytes[0].load(), b1 = g_bytes[1].load();
        const double ta = now_s();
        std::this_thread::sleep_for(std::chrono::milliseconds(180));
        const double el = now_s() - ta;
        const double r0 = double(g_bytes[0].load() - b0) / el / 1e9;
        const double r1 = double(g_bytes[1].load() - b1) / el / 1e9;
        if (p & 1) {
            dual0.push_back(r0);
            dual1.push_back(r1);
            std::printf("dual %.1f + %.1f GB/s\n", r0, r1);
        } else {
            single.push_back(r0);
            std::printf("single %.1f GB/s\n", r0);
        }
        std::fflush(stdout);
    }
    g_stop.store(true);
    t0.join();
    t1.join();
    std::printf("median: single %.1f GB/s, dual %.1f + %.1f GB/s (%u CPUs online)\n", median(single),
                median(dual0), median(dual1), std::thread::hardware_concurrency());
    return 0;
}
