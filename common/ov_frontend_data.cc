/*
 * ov_frontend_data.cc — frontend data plane: submit, poll, wait, liveness.
 */
#include "ov_frontend_impl.h"
#include "ov_clock.h"

#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "ov_futex.h"

/* VM frontends wait for completions by polling with sleeps that double
 * between these bounds: a completion is seen at most one sleep late (so at
 * most ~2x the time already waited, and never more than 1 ms late), and a
 * long wait costs at most ~1000 wake-ups a second in the guest. */
#define OV_FE_BACKOFF_MIN_NS 50000
#define OV_FE_BACKOFF_MAX_NS 1000000

ov_status_t ov_fe_wake_backend(ov_fe *fe) noexcept
{
    if (fe->doorbell.valid()) {
        uint64_t one = 1;
        if (::write(fe->doorbell.get(), &one, sizeof(one)) < 0 && errno != EAGAIN)
            return ov_fe_fail(fe, OV_ERR_SYS, "doorbell");
        return OV_OK;
    }
    /* KICK.  Unread bytes already in the socket wake the backend, so a socket
     * without room needs no KICK; with room (POLLOUT: a third of the buffer
     * free) the 16 bytes go out whole, never leaving a partial frame. */
    pollfd p{fe->ctl.get(), POLLOUT, 0};
    int pr = ::poll(&p, 1, 0);
    if (pr > 0 && (p.revents & (POLLERR | POLLHUP)))
        return ov_fe_fail(fe, OV_ERR_BACKEND_GONE, "kick: control connection closed");
    if (pr <= 0 || !(p.revents & POLLOUT))
        return OV_OK;
    ov_status_t s = ov_msg_send(fe->ctl.get(), OV_MSG_KICK, 0, nullptr, 0, nullptr, 0, false);
    if (s != OV_OK)
        return ov_fe_fail(fe, OV_ERR_BACKEND_GONE, "kick");
    return OV_OK;
}

extern "C" ov_status_t ov_fe_check_alive(ov_fe_t *fe) noexcept
{
    if (fe->gone)
        return OV_ERR_BACKEND_GONE;
    if (fe->hdr && fe->hdr->state.load(std::memory_order_acquire) != OV_REGION_LIVE)
        return ov_fe_fail(fe, OV_ERR_BACKEND_GONE, "backend shut down");
    char c;
    ssize_t r = ::recv(fe->ctl.get(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        return ov_fe_fail(fe, OV_ERR_BACKEND_GONE, "control connection closed");
    return OV_OK;
}

extern "C" ov_status_t ov_fe_submit(ov_fe_t *fe, const ov_req_desc *d) noexcept
{
    if (fe->state != OV_FE_READY)
        return ov_fe_fail(fe, OV_ERR_STATE, "submit before rings");
    if (fe->gone)
        return OV_ERR_BACKEND_GONE;
    ov_ring_result r = fe->rq.push(*d);
    if (r == OV_RING_FULL)
        return OV_ERR_AGAIN;
    if (r != OV_RING_OK)
        return ov_fe_fail(fe, OV_ERR_RING_CORRUPT, "request ring");
    /* Where we will wait for the completion (ov_layout.h, fe_cpu): a vDSO
     * call, no syscall.  After the stamp, not before: everything between a
     * completion's arrival and the next descriptor's stamp is on a small
     * request's round trip, and the backend reads this hint only after
     * serving, by when the store is long visible (a stale value once makes
     * it skip or make one yield, nothing worse). */
    int cpu = sched_getcpu();
    const uint32_t hint = cpu >= 0 ? uint32_t(cpu) + 1 : 0;
    /* Stored only when it changed: the backend's core reads this line
     * after every pass that served us, so a store takes the line back
     * from it (~150 ns in a VM), on every batch of a burst of small puts. */
    if (fe->pctl->fe_cpu.load(std::memory_order_relaxed) != hint)
        fe->pctl->fe_cpu.store(hint, std::memory_order_relaxed);
    /* Dekker with the backend's sleep: publish (tail release) / fence / check flag. */
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (fe->pctl->backend_sleeping.load(std::memory_order_relaxed))
        return ov_fe_wake_backend(fe);
    return OV_OK;
}

extern "C" int64_t ov_fe_room(ov_fe_t *fe) noexcept
{
    if (fe->state != OV_FE_READY || fe->gone)
        return -1;
    const int64_t room = fe->rq.room();
    if (room == 0) {
        /* The backend sleeps only with every ring empty, or with our
         * completion ring full (we may have made room since). */
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (fe->pctl->backend_sleeping.load(std::memory_order_relaxed) && ov_fe_wake_backend(fe) != OV_OK)
            return -1;
    }
    return room;
}

extern "C" int64_t ov_fe_unserved(ov_fe_t *fe) noexcept
{
    if (fe->state != OV_FE_READY || fe->gone)
        return -1;
    const int64_t space = fe->rq.space();
    return space < 0 ? -1 : int64_t(fe->rq_slots) - space;
}

extern "C" ov_status_t ov_fe_poll(ov_fe_t *fe, ov_completion *out) noexcept
{
    if (fe->state != OV_FE_READY)
        return ov_fe_fail(fe, OV_ERR_STATE, "poll before rings");
    ov_ring_result r = fe->cq.pop(out);
    if (r == OV_RING_OK)
        return OV_OK;
    if (r == OV_RING_CORRUPT)
        return ov_fe_fail(fe, OV_ERR_RING_CORRUPT, "completion ring");
    if (fe->gone)
        return OV_ERR_BACKEND_GONE;
    return OV_ERR_AGAIN;
}

/* VM frontend: no futex shared with the host.  Sleep with backoff; if the
 * backend sleeps while our requests wait (it stopped because our completion
 * ring was full, and we have since made room), KICK it, at most once per
 * liveness period so a stopped backend is not flooded. */
static ov_status_t wait_vm(ov_fe *fe, ov_completion *out, int64_t deadline, uint32_t timeout_ms)
{
    int64_t sleep_ns = OV_FE_BACKOFF_MIN_NS, next_alive = ov_now_ns() + OV_FE_LIVENESS_MS * 1000000LL;
    for (;;) {
        ov_status_t s = ov_fe_poll(fe, out);
        if (s != OV_ERR_AGAIN)
            return s;
        int64_t now = ov_now_ns();
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (fe->pctl->backend_sleeping.load(std::memory_order_relaxed) &&
            fe->rq.space() < int64_t(fe->rq_slots) &&
            now - fe->last_kick_ns >= OV_FE_LIVENESS_MS * 1000000LL) {
            fe->last_kick_ns = now;
            s = ov_fe_wake_backend(fe);
            if (s != OV_OK)
                return s;
        }
        if (now >= next_alive) {
            s = ov_fe_check_alive(fe);
            if (s != OV_OK)
                return s;
            next_alive = now + OV_FE_LIVENESS_MS * 1000000LL;
        }
        if (now >= deadline)
            return ov_fe_fail(fe, OV_ERR_TIMEOUT, "no completion within %u ms",
                              timeout_ms ? timeout_ms : fe->params.timeout_ms);
        int64_t d = sleep_ns < deadline - now ? sleep_ns : deadline - now;
        timespec ts{time_t(d / 1000000000), long(d % 1000000000)};
        nanosleep(&ts, nullptr);
        sleep_ns = sleep_ns * 2 < OV_FE_BACKOFF_MAX_NS ? sleep_ns * 2 : OV_FE_BACKOFF_MAX_NS;
    }
}

static ov_status_t block_until(ov_fe *fe, ov_completion *out, int64_t deadline, uint32_t timeout_ms) noexcept;

/* ov_fe_wait and ov_fe_block: poll for spin_ns, then block until the
 * deadline their timeout sets. */
static ov_status_t spin_then_block(ov_fe *fe, ov_completion *out, uint32_t timeout_ms, int64_t spin_ns) noexcept
{
    ov_status_t s = ov_fe_poll(fe, out);
    if (s != OV_ERR_AGAIN)
        return s;
    int64_t start = ov_now_ns();
    int64_t spin_end = start + spin_ns;
    int64_t deadline = start + int64_t(timeout_ms ? timeout_ms : fe->params.timeout_ms) * 1000000;
    while (ov_now_ns() < spin_end) {
        s = ov_fe_poll(fe, out);
        if (s != OV_ERR_AGAIN)
            return s;
    }
    return block_until(fe, out, deadline, timeout_ms);
}

extern "C" ov_status_t ov_fe_wait(ov_fe_t *fe, ov_completion *out, uint32_t timeout_ms) noexcept
{
    return spin_then_block(fe, out, timeout_ms, int64_t(fe->params.spin_us) * 1000);
}

extern "C" ov_status_t ov_fe_block(ov_fe_t *fe, ov_completion *out, uint32_t timeout_ms) noexcept
{
    return spin_then_block(fe, out, timeout_ms, 0);
}

/* The blocking half of spin_then_block. */
static ov_status_t block_until(ov_fe *fe, ov_completion *out, int64_t deadline, uint32_t timeout_ms) noexcept
{
    ov_status_t s;
    if (fe->vm)
        return wait_vm(fe, out, deadline, timeout_ms);
    for (;;) {
        uint32_t seq = fe->pctl->cq_seq.load(std::memory_order_acquire);
        fe->pctl->fe_waiting.store(1, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        s = ov_fe_poll(fe, out);
        if (s != OV_ERR_AGAIN) {
            fe->pctl->fe_waiting.store(0, std::memory_order_relaxed);
            return s;
        }
        /* The backend may have gone to sleep with requests pending because our
         * completion ring was full; we just made room, so wake it before blocking. */
        if (fe->pctl->backend_sleeping.load(std::memory_order_relaxed)) {
            s = ov_fe_wake_backend(fe);
            if (s != OV_OK)
                return s;
        }
        int64_t left_ms = (deadline - ov_now_ns()) / 1000000;
        int slice = int(left_ms < OV_FE_LIVENESS_MS ? left_ms : OV_FE_LIVENESS_MS);
        if (slice > 0)
            ov_futex_wait(&fe->pctl->cq_seq, seq, slice);
        fe->pctl->fe_waiting.store(0, std::memory_order_relaxed);
        s = ov_fe_poll(fe, out);
        if (s != OV_ERR_AGAIN)
            return s;
        s = ov_fe_check_alive(fe);
        if (s != OV_OK)
            return s;
        if (ov_now_ns() >= deadline)
            return ov_fe_fail(fe, OV_ERR_TIMEOUT, "no completion within %u ms",
                              timeout_ms ? timeout_ms : fe->params.timeout_ms);
    }
}
