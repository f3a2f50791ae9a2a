/*
 * log.cc — timestamped stderr logging.
 */
#include "log.h"

#include <time.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdint>
#include <cstdio>

int ov_log_verbose = 0;

namespace {
constexpr int kLogBurst = 20;
constexpr int64_t kLogWindowMs = 10000;

struct log_site {
    const char *fmt = nullptr;
    int64_t window_start_ms = 0;
    int printed = 0;
    uint64_t suppressed = 0;
};

/* The site of fmt (format strings are literals: one address per call
 * site); a small table, the least recently started window is reused. */
log_site &site_of(const char *fmt, int64_t now_ms)
{
    static log_site table[64];
    log_site *oldest = &table[0];
    for (log_site &s : table) {
        if (s.fmt == fmt)
            return s;
        if (s.window_start_ms < oldest->window_start_ms)
            oldest = &s;
    }
    *oldest = log_site{};
    oldest->fmt = fmt;
    oldest->window_start_ms = now_ms;
    return *oldest;
}
} // namespace

void ov_log(int level, const char *fmt, ...)
{
    static const char *names[] = {"error", "warning", "info", "debug"};
    timespec mono;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    const int64_t now_ms = int64_t(mono.tv_sec) * 1000 + mono.tv_nsec / 1000000;
    log_site &site = site_of(fmt, now_ms);
    uint64_t suppressed = 0;
    if (now_ms - site.window_start_ms >= kLogWindowMs) {
        suppressed = site.suppressed;
        site.window_start_ms = now_ms;
        site.printed = 0;
        site.suppressed = 0;
    }
    if (site.printed == kLogBurst) {
        site.suppressed++;
        return;
    }
    site.printed++;
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    char line[1024];
    int n = snprintf(line, sizeof(line), "%02d:%02d:%02d.%03ld ompi-virt-backend[%d] %s: ", tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, int(getpid()), names[level & 3]);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && size_t(n) < sizeof(line))
        vsnprintf(line + n, sizeof(line) - size_t(n), fmt, ap);
    va_end(ap);
    if (suppressed)
        fprintf(stderr, "%s (%llu similar lines suppressed)\n", line, (unsigned long long) suppressed);
    else
        fprintf(stderr, "%s\n", line);
}
