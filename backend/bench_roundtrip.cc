/*
 * bench_roundtrip.cc — NOT a test.  Starts a backend in a child process on a
 * temporary directory, attaches one frontend and reports:
 *   - median / p99 round trip of an empty (NOP) request, frontend -> backend
 *     -> completion, both sides spinning (goal <= 2 us);
 *   - the same with the frontend blocking in ov_fe_wait (informational);
 *   - the backend's CPU use over N idle seconds from /proc/PID/stat (goal < 1%);
 *   - the floor under any round trip between two cores: two threads passing
 *     a counter back and forth through two cache lines, measured before the
 *     backend starts.  A request and its completion cross the same two ways,
 *     so the ring round trip can approach this figure (it is measured
 *     once, at another moment, so on a noisy host either may come out
 *     a little lower).
 *   - with --single-copy: the round trip of single-copy GETs (OV_REQ_LOCAL_VA,
 *     the backend writes the frontend's own memory with process_vm_writev)
 *     of 8 B to 1 MiB, and of an 8-byte GET from a registered window (the
 *     backend reads it with process_vm_readv): what the exec-safety checks
 *     of backend/single_copy.h cost (docs/backend.md).
 * Usage: bench_roundtrip [--iters N] [--idle-seconds S] [--spin-us US] [--single-copy 1]
 */
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "backend.h"
#include "log.h"
#include "ov_frontend.h"
#include "ov_job_id.h"

static bool cpu_ticks(pid_t pid, uint64_t *ticks)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", int(pid));
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* comm may contain spaces */
    if (!p)
        return false;
    unsigned long long ut = 0, st = 0;
    /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return false;
    *ticks = ut + st;
    return true;
}

static void report(const char *what, std::vector<double> &v)
{
    std::sort(v.begin(), v.end());
    printf("%-34s median %.3f us  p99 %.3f us  min %.3f us  (n=%zu)\n", what, v[v.size() / 2] / 1000,
           v[v.size() * 99 / 100] / 1000, v[0] / 1000, v.size());
}

/* Median round trip of a counter bounced between this thread and another
 * through two cache lines, in batches of 1000 (a timer read per round trip
 * would cost as much as the round trip). */
static std::vector<double> cache_line_round_trips(int iters)
{
    struct alignas(64) Line {
        std::atomic<int64_t> v{0};
    };
    static Line ping, pong;
    const int64_t n = iters;
    std::thread echo([n] {
        for (int64_t i = 1; i <= n; i++) {
            while (ping.v.load(std::memory_order_acquire) != i) {
            }
            pong.v.store(i, std::memory_order_release);
        }
    });
    std::vector<double> per_trip;
    int64_t t0 = ov_now_ns();
    for (int64_t i = 1; i <= n; i++) {
        ping.v.store(i, std::memory_order_release);
        while (pong.v.load(std::memory_order_acquire) != i) {
        }
        if (i % 1000 == 0) {
            int64_t t1 = ov_now_ns();
            per_trip.push_back(double(t1 - t0) / 1000);
            t0 = t1;
        }
    }
    echo.join();
    return per_trip;
}

/* One request, spinning for its completion: ns, or -1 on any failure. */
static double timed(ov_fe_t *fe, const ov_req_desc &d)
{
    ov_completion c;
    ov_status_t s;
    int64_t t0 = ov_now_ns();
    if (ov_fe_submit(fe, &d) != OV_OK)
        return -1;
    while ((s = ov_fe_poll(fe, &c)) == OV_ERR_AGAIN) {
    }
    int64_t t1 = ov_now_ns();
    return s == OV_OK && c.cookie == d.cookie && c.status == OV_OK ? double(t1 - t0) : -1;
}

/* n round trips of d (the first tenth not counted, fresh cookies) into
 * report(); false if one fails. */
static bool report_round_trips(ov_fe_t *fe, ov_req_desc d, int n, const char *what)
{
    std::vector<double> v;
    for (int i = 0; i < n + n / 10; i++) {
        d.cookie = uint32_t(i);
        double t = timed(fe, d);
        if (t < 0)
            return false;
        if (i >= n / 10)
            v.push_back(t);
    }
    report(what, v);
    return true;
}

/* Single-copy GETs into our own memory, and small GETs from a registered
 * window; false if the backend offers no single copy or a request fails. */
static bool single_copy_round_trips(ov_fe_t *fe, int iters)
{
    if (!(ov_fe_features(fe) & OV_FEAT_SINGLE_COPY)) {
        fprintf(stderr, "bench_roundtrip: the backend offers no single copy to this process\n");
        return false;
    }
    const uint64_t max = uint64_t(1) << 20;
    ov_win_t w{}, reg{};
    std::vector<char> mine(max), registered(4096, 7);
    if (ov_fe_win_create(fe, max, &w) != OV_OK || ov_fe_win_register(fe, registered.data(), 4096, &reg) != OV_OK)
        return false;
    printf("single copy (backend writes/reads this process with process_vm_*)\n");
    for (uint64_t len : {uint64_t(8), uint64_t(4096), uint64_t(65536), max}) {
        ov_req_desc d{};
        d.op = OV_OP_GET;
        d.flags = OV_REQ_LOCAL_VA;
        d.dtype_size = 1;
        d.target_win = w.id;
        d.target_epoch = w.epoch;
        d.local_off = uintptr_t(mine.data());
        d.length = len;
        const int n = len >= max ? iters / 100 : len >= 65536 ? iters / 10 : iters;
        char what[64];
        snprintf(what, sizeof(what), "GET %llu B into own memory:", (unsigned long long) len);
        if (!report_round_trips(fe, d, n, what))
            return false;
    }
    ov_req_desc d{};
    d.op = OV_OP_GET;
    d.dtype_size = 1;
    d.target_win = reg.id;
    d.target_epoch = reg.epoch;
    d.local_win = w.id;
    d.local_epoch = w.epoch;
    d.length = 8;
    return report_round_trips(fe, d, iters, "GET 8 B from a registered window:");
}

int main(int argc, char **argv)
{
    int iters = 200000, idle_s = 10;
    uint32_t spin_us = 200;
    bool single_copy = false;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--iters"))
            iters = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--idle-seconds"))
            idle_s = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--spin-us"))
            spin_us = uint32_t(atoi(argv[i + 1]));
        else if (!strcmp(argv[i], "--single-copy"))
            single_copy = atoi(argv[i + 1]) != 0;
    }
    if (iters < 1000)
        iters = 1000;
    std::vector<double> floor_trips = cache_line_round_trips(iters);
    char tmpl[] = "/tmp/ov-bench-XXXXXX";
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        return 1;
    }
    std::string dir = tmpl;
    pid_t child = fork();
    if (child == 0) {
        ov_backend_options o;
        o.dir = dir;
        o.spin_us = spin_us;
        o.region_size = 16u << 20;
        int rc;
        {
            ov_backend b(o);
            rc = b.start() == OV_OK && b.run() == OV_OK ? 0 : 3;
        } /* destructor: marks regions SHUTDOWN, removes the socket and lock */
        _exit(rc);
    }
    std::string uri = "unix:" + dir + "/backend.sock";
    ov_fe_params_t p;
    ov_fe_params_default(&p);
    p.uri = uri.c_str();
    p.guest = "bench";
    const ov_job_secret js = ov_job_secret_from_seed(1); /* a benchmark's job needs no secrecy */
    memcpy(p.job_secret, js.b, sizeof(p.job_secret));
    p.spin_us = 1000;
    ov_fe_t *fe = nullptr;
    ov_status_t s = OV_ERR_SYS;
    for (int t = 0; t < 500 && s != OV_OK; t++) {
        ov_fe_close(fe);
        fe = nullptr;
        s = ov_fe_connect(&p, &fe);
        if (s != OV_OK)
            usleep(10000);
    }
    int rc = 0;
    if (s != OV_OK) {
        fprintf(stderr, "bench_roundtrip: cannot attach: %s\n", ov_fe_last_error(fe));
        rc = 1;
    } else {
        ov_req_desc d{};
        d.op = OV_OP_NOP;
        ov_completion c;
        std::vector<double> spin, block;
        spin.reserve(size_t(iters));
        for (int i = 0; i < iters + 1000 && rc == 0; i++) {
            d.cookie = uint64_t(i);
            int64_t t0 = ov_now_ns();
            if (ov_fe_submit(fe, &d) != OV_OK) {
                rc = 1;
                break;
            }
            while ((s = ov_fe_poll(fe, &c)) == OV_ERR_AGAIN) {
            }
            int64_t t1 = ov_now_ns();
            if (s != OV_OK || c.cookie != d.cookie || c.status != OV_OK)
                rc = 1;
            if (i >= 1000)
                spin.push_back(double(t1 - t0));
        }
        for (int i = 0; i < 2000 && rc == 0; i++) {
            int64_t t0 = ov_now_ns();
            if (ov_fe_submit(fe, &d) != OV_OK || ov_fe_wait(fe, &c, 5000) != OV_OK)
                rc = 1;
            block.push_back(double(ov_now_ns() - t0));
        }
        if (rc == 0) {
            printf("backend round trip, empty request (backend spin window %u us)\n", spin_us);
            report("frontend spinning (ov_fe_poll):", spin);
            report("frontend ov_fe_wait:", block);
            report("floor: cache-line ping-pong:", floor_trips);
            if (single_copy && !single_copy_round_trips(fe, iters / 10))
                rc = 1;
            /* idle: let the backend's spin window expire, then measure */
            usleep(200000);
            uint64_t a = 0, b = 0;
            long hz = sysconf(_SC_CLK_TCK);
            if (!cpu_ticks(child, &a)) {
                rc = 1;
            } else {
                int64_t t0 = ov_now_ns();
                sleep(unsigned(idle_s));
                double secs = double(ov_now_ns() - t0) / 1e9;
                cpu_ticks(child, &b);
                double pct = 100.0 * double(b - a) / double(hz) / secs;
                printf("backend CPU while idle (attached, %d s): %.3f%% of a core (%llu ticks of 1/%ld s)\n",
                       idle_s, pct, (unsigned long long) (b - a), hz);
            }
        } else {
            fprintf(stderr, "bench_roundtrip: request failed: %s\n", ov_fe_last_error(fe));
        }
    }
    ov_fe_close(fe);
    kill(child, SIGTERM);
    int st = 0;
    waitpid(child, &st, 0);
    rmdir(dir.c_str());
    return rc;
}
