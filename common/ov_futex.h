/*
 * ov_futex.h — futex wait/wake on a 32-bit word in a MAP_SHARED region
 * (shared futexes: the key is the page of the memfd, so the backend's and the
 * frontend's mappings at different addresses meet).
 */
#ifndef OMPI_VIRT_COMMON_OV_FUTEX_H
#define OMPI_VIRT_COMMON_OV_FUTEX_H

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdint>

/* Block while *w == expected, at most timeout_ms.  Spurious returns allowed. */
inline void ov_futex_wait(std::atomic<uint32_t> *w, uint32_t expected, int timeout_ms)
{
    timespec ts{timeout_ms / 1000, long(timeout_ms % 1000) * 1000000L};
    ::syscall(SYS_futex, reinterpret_cast<uint32_t *>(w), FUTEX_WAIT, expected, &ts, nullptr, 0);
}

inline void ov_futex_wake(std::atomic<uint32_t> *w)
{
    ::syscall(SYS_futex, reinterpret_cast<uint32_t *>(w), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

#endif
