/*
 * ov_clock.h — the one monotonic clock of the backend, the frontend library
 * and the tests: CLOCK_MONOTONIC in nanoseconds.  A vDSO call (no syscall),
 * yet several ring polls' worth: hot loops read it every few passes only.
 */
#ifndef OMPI_VIRT_COMMON_OV_CLOCK_H
#define OMPI_VIRT_COMMON_OV_CLOCK_H

#include <time.h>

#include <cstdint>

inline int64_t ov_now_ns()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

#endif
