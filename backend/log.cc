/*
 * log.cc — timestamped stderr logging.
 */
#include "log.h"

#include <time.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>

int ov_log_verbose = 0;

void ov_log(int level, const char *fmt, ...)
{
    static const char *names[] = {"error", "warning", "info", "debug"};
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
    fprintf(stderr, "%s\n", line);
}
