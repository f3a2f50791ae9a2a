/*
 * log.h — backend logging to stderr (journald picks it up under systemd).
 * OV_LOG_ERR/WARN/INFO always; OV_LOG_DEBUG only with --verbose.
 *
 * Rate limit: a guest can make the backend repeat a message as often as it
 * likes (a refused connection, a bad header), and a log that grows without
 * bound is a disk-filling attack.  Each message (its format string, i.e.
 * its call site) prints at most kLogBurst lines per kLogWindowMs; the lines
 * it would have printed beyond are counted, and its next line after the
 * window says "(N similar lines suppressed)".
 */
#ifndef OMPI_VIRT_BACKEND_LOG_H
#define OMPI_VIRT_BACKEND_LOG_H

extern int ov_log_verbose;
void ov_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define OV_LOG_ERR(...) ov_log(0, __VA_ARGS__)
#define OV_LOG_WARN(...) ov_log(1, __VA_ARGS__)
#define OV_LOG_INFO(...) ov_log(2, __VA_ARGS__)
#define OV_LOG_DEBUG(...) \
    do { \
        if (ov_log_verbose) \
            ov_log(3, __VA_ARGS__); \
    } while (0)

#endif
