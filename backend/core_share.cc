/*
 * core_share.cc — moving the data-plane thread off a waiter's core
 * (contract in core_share.h).
 */
#include "core_share.h"

#include "log.h"

void ov_core_dodger::init(bool enabled) noexcept
{
    enabled_ = enabled && sched_getaffinity(0, sizeof(saved_), &saved_) == 0 && CPU_COUNT(&saved_) > 1;
}

void ov_core_dodger::shared(int cpu, int64_t now_ns) noexcept
{
    if (!enabled_ || moved_ || cpu < 0 || cpu >= CPU_SETSIZE)
        return;
    if (++streak_ < threshold)
        return;
    streak_ = 0;
    cpu_set_t away = saved_;
    CPU_CLR(cpu, &away);
    if (CPU_COUNT(&away) == 0 || sched_setaffinity(0, sizeof(away), &away) != 0)
        return;
    moved_ = true;
    moved_at_ = now_ns;
    moves_++;
    OV_LOG_DEBUG("a waiting process shares cpu %d with the data-plane thread: moving off it for %lld ms", cpu,
                 (long long) (hold_ns / 1000000));
}

void ov_core_dodger::restore() noexcept
{
    moved_ = false;
    if (sched_setaffinity(0, sizeof(saved_), &saved_) != 0)
        enabled_ = false; /* the mask changed under us (taskset?): leave it alone from now on */
}
