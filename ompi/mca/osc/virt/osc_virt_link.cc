/*
 * osc_virt_link.cc — the process's backend connection (contract: osc_virt_link.h).
 */
#include "osc_virt.h"
#include "osc_virt_link.h"
#include "ov_entry.h"

#include "ompi/mca/rte/rte.h"
#include "ov_clock.h"
#include "ov_job_id.h"
#include "mpi.h"
#include "ompi/mca/pml/base/base.h"
#include "ompi/runtime/mpiruntime.h"
#include "opal/mca/base/mca_base_var.h"
#include "opal/mca/btl/base/base.h"
#include "opal/runtime/opal_progress.h"
#include "opal/util/show_help.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <new>

namespace ov::osc {

namespace {

/* The nap of osc_virt_idle_nap_us -1 where every transport wakes the rank:
 * it starts at 50 us (with the kernel's 50 us timer slack a wake-up about
 * every 100 us), so traffic without an event (a timer inside libevent)
 * soon after activity waits at most that long, and doubles while nothing
 * happens up to 10 ms.  At 1 ms its wake-ups cost 3-4% of a core instead
 * of 17-19% (osc_virt_idle.h), but each still took a core from the backend
 * or the origin for ~20 us: an 8-byte put/flush loop beside an idle target
 * lost 9% of its time in iterations over 1 us, 7% with 10 ms naps
 * (2026-11-22, per-iteration histogram of osu_put_latency -m 8:8: mean
 * 219 -> 212 ns, 10 runs each, alternated). */
constexpr int kAutoIdleNapUs = 50;
constexpr int64_t kAutoIdleNapMaxNs = 10 * 1000 * 1000;
/* How long a rank polls after a message ended its nap, before the idle
 * period (1 ms) counts again. */
constexpr int64_t kTrafficHoldNs = 10 * 1000 * 1000;
/* How often a napping rank rereads its descriptors (about 50 us of work). */
constexpr int64_t kWakerRescanNs = 10 * 1000 * 1000;

/* The calling thread's CPU time: what tells a preempted spinning rank
 * from a computing one (osc_virt_idle.h). */
int64_t thread_cpu_ns()
{
    struct timespec ts;
    if (0 != clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)) {
        return IdleNap::kNoCpu;
    }
    return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

BackendLink *g_link = nullptr;
bool g_tried = false;
std::mutex g_link_mu;
std::string g_reason;

uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; ++s) {
        h = (h ^ static_cast<unsigned char>(*s)) * 1099511628211ull;
    }
    return h;
}

/* Registered with opal_progress while the link exists: retires completions
 * for callers blocked in MPI_Wait on an rput/rget/... request.  try_lock,
 * because the link's own waits never call opal_progress while holding it
 * and another thread holding it is making progress anyway. */
int progress_callback()
{
    BackendLink *link = g_link;
    if (nullptr == link || !link->mutex().try_lock()) {
        return 0;
    }
    const uint64_t before = link->requests_retired();
    /* A rank blocked elsewhere (a receive, a barrier) may be waited for by
     * a peer that reads what it put: its open batch goes now. */
    (void) link->seal_batch();
    (void) link->progress();
    const int events = static_cast<int>(link->requests_retired() - before);
    const BackendLink::IdlePass pass = link->idle_pass(events);
    link->mutex().unlock();
    /* Without our lock: another thread's request need not wait for it. */
    bool woken = false;
    if (pass.nap_ns > 0) {
        woken = link->waker().sleep(pass.nap_ns);
    } else if (pass.yield) {
        sched_yield();
    }
    if (pass.timed) {
        link->pass_ended(pass, woken);
    }
    return events;
}

/* What this rank's pt2pt traffic travels on (osc_virt_wake.h). */
TransportFacts transport_facts()
{
    TransportFacts f;
    f.pml = mca_pml_base_selected_component.pmlm_version.mca_component_name;
    mca_btl_base_selected_module_t *sm;
    OPAL_LIST_FOREACH (sm, &mca_btl_base_modules_initialized, mca_btl_base_selected_module_t) {
        f.btls.emplace_back(sm->btl_component->btl_version.mca_component_name);
    }
    f.same_node_peers = static_cast<int>(ompi_process_info.num_local_peers);
    const int idx = mca_base_var_find("opal", "btl", "tcp", "progress_thread");
    const int *value = nullptr; /* points at the variable's storage */
    if (idx >= 0 && OPAL_SUCCESS == mca_base_var_get_value(idx, &value, nullptr, nullptr) &&
        nullptr != value) {
        f.tcp_progress_thread = 0 != *value;
    }
    return f;
}

} // namespace

int ompi_error_from_ov(int s)
{
    switch (s) {
    case OV_OK: return OMPI_SUCCESS;
    case OV_ERR_NOMEM: return MPI_ERR_NO_MEM; /* an MPI class passes through unchanged */
    case OV_ERR_QUOTA: return OMPI_ERR_OUT_OF_RESOURCE; /* the backend's limit: ov_fe_last_error names it */
    case OV_ERR_BAD_OP: return MPI_ERR_OP; /* MPI classes pass through unchanged */
    case OV_ERR_BAD_DTYPE: return MPI_ERR_TYPE;
    case OV_ERR_BAD_FLAGS: return OMPI_ERR_BAD_PARAM;
    case OV_ERR_BOUNDS: return OMPI_ERR_RMA_RANGE;
    case OV_ERR_LOCK_STATE: return OMPI_ERR_RMA_SYNC;
    case OV_ERR_PERM:
    case OV_ERR_NO_GRANT:
    case OV_ERR_NO_WINDOW:
    case OV_ERR_STALE_WINDOW: return OMPI_ERR_WIN;
    case OV_ERR_LOCAL_ACCESS: return OMPI_ERR_BUFFER;
    default: return OMPI_ERROR;
    }
}

const std::string &BackendLink::unavailable_reason() { return g_reason; }

BackendLink *BackendLink::get()
{
    std::lock_guard<std::mutex> guard(g_link_mu);
    if (g_tried) {
        return g_link;
    }
    g_tried = true;
    auto *link = new (std::nothrow) BackendLink();
    if (nullptr == link) {
        g_reason = "out of memory";
        return nullptr;
    }
    if (OMPI_SUCCESS != link->connect()) {
        delete link;
        return nullptr;
    }
    g_link = link;
    opal_progress_register(OV_ENTRY(progress_callback));
    return g_link;
}

void BackendLink::release()
{
    std::lock_guard<std::mutex> guard(g_link_mu);
    if (nullptr != g_link) {
        opal_progress_unregister(OV_ENTRY(progress_callback));
        if (g_link->nap_.enabled()) {
            OSC_VIRT_VERBOSE(10, "idle naps: %llu, %llu of them ended early by a socket",
                             static_cast<unsigned long long>(g_link->naps_),
                             static_cast<unsigned long long>(g_link->naps_woken_));
        }
        if (nullptr != g_link->fe_) {
            if (0 != g_link->staging_.id) {
                (void) ov_fe_win_free(g_link->fe_, &g_link->staging_);
            }
            ov_fe_close(g_link->fe_);
        }
        delete g_link;
        g_link = nullptr;
    }
    g_tried = false;
    g_reason.clear();
}

int BackendLink::connect()
{
    const ompi_osc_virt_component_t &c = mca_osc_virt_component;
    ov_fe_params_t p;
    ov_fe_params_default(&p);
    mu_.set_threaded(c.enable_mpi_threads); /* before anybody can lock */
    /* One job: its secret (Open MPI's per-job random key, ov_job_id.h) is
     * the same on every rank of this mpirun and unknown to any other job. */
    ov_job_secret secret;
    if (OV_OK != ov_job_secret_from_env(&secret)) {
        g_reason = "no job secret in the environment";
        opal_show_help("help-osc-virt.txt", "no job secret", true, ompi_process_info.nodename);
        return OMPI_ERR_NOT_SUPPORTED;
    }
    static_assert(sizeof(p.job_secret) == sizeof(secret.b), "one secret");
    memcpy(p.job_secret, secret.b, sizeof(p.job_secret));
    job_key_ = ov_job_public_key(secret);
    rank_ = OMPI_PROC_MY_NAME->vpid;
    p.rank = rank_;
    p.uri = (nullptr != c.backend_uri && '\0' != c.backend_uri[0]) ? c.backend_uri : nullptr;
    p.timeout_ms = static_cast<uint32_t>(c.timeout_ms);
    ov_fe_t *fe = nullptr;
    ov_status_t s = ov_fe_connect(&p, &fe);
    if (OV_OK != s) {
        char uri[512] = "";
        (void) ov_fe_default_uri(uri, sizeof uri);
        g_reason = std::string(nullptr != fe ? ov_fe_last_error(fe) : ov_strerror(s));
        opal_show_help("help-osc-virt.txt", "no backend", true, ompi_process_info.nodename,
                       p.uri ? p.uri : uri, g_reason.c_str());
        ov_fe_close(fe);
        return OMPI_ERR_UNREACH;
    }
    fe_ = fe;
    instance_ = ov_fe_backend_instance(fe);
    guest_hash_ = fnv1a(ov_fe_guest(fe));

    const char *mode = c.guest_mode;
    const bool offered = 0 != (ov_fe_features(fe) & OV_FEAT_SINGLE_COPY);
    if (0 == strcmp(mode, "vm")) {
        single_copy_ = false;
    } else if (0 == strcmp(mode, "container")) {
        if (!offered) {
            g_reason = "osc_virt_guest_mode is \"container\" but the backend offers no single "
                       "copy to this process (backend started with --single-copy off, or "
                       "connected over tcp)";
            opal_show_help("help-osc-virt.txt", "no single copy", true,
                           ompi_process_info.nodename);
            return OMPI_ERR_NOT_SUPPORTED;
        }
        single_copy_ = true;
    } else {
        single_copy_ = offered;
    }
    user_windows_ = single_copy_ && 0 != (ov_fe_features(fe) & OV_FEAT_USER_WINDOWS);
    single_copy_min_ = static_cast<uint64_t>(c.single_copy_min);
    stream_min_ = c.stream_min > 0 ? static_cast<uint64_t>(c.stream_min) : 0;
    stream_put_ = 0 != (ov_fe_features(fe) & OV_FEAT_STREAM);
    inline_ = 0 != (ov_fe_features(fe) & OV_FEAT_INLINE);
    quiet_ = inline_ && 0 != (ov_fe_features(fe) & OV_FEAT_QUIET) && c.quiet;
    batch_on_ = inline_ && 0 != (ov_fe_features(fe) & OV_FEAT_BATCH) && c.batch;
    batch_entries_ = static_cast<uint32_t>(std::clamp(c.batch_entries, 1, int{OV_BATCH_ENTRIES_MAX}));
    uint64_t staging_bytes = static_cast<uint64_t>(c.staging_kb) * 1024;
    chunk_ = staging_bytes / 4;
    s = ov_fe_win_create(fe, staging_bytes, &staging_);
    if (OV_OK != s) {
        g_reason = std::string("staging area: ") + ov_fe_last_error(fe);
        opal_show_help("help-osc-virt.txt", "no backend", true, ompi_process_info.nodename,
                       "(attached)", g_reason.c_str());
        return OMPI_ERR_OUT_OF_RESOURCE;
    }
    OSC_VIRT_VERBOSE(10, "backend instance %016llx, guest %s, %s mode, staging %llu KiB, "
                     "MPI_Win_create windows via %s",
                     static_cast<unsigned long long>(instance_), ov_fe_guest(fe),
                     single_copy_ ? "container (single copy)" : "vm (staged)",
                     static_cast<unsigned long long>(staging_bytes / 1024),
                     user_windows_ ? "the backend (user memory)" : "the fallback");
    return OMPI_SUCCESS;
}

int64_t BackendLink::stage(uint64_t len)
{
    /* Staging is freed in request order: an open batch's block, reserved
     * earlier, must be published before anything reserved after it. */
    if (const int sealed = seal_batch(); OMPI_SUCCESS != sealed) {
        return sealed;
    }
    const uint64_t cap = staging_.size;
    len = (len + 63) & ~uint64_t{63};
    if (len == 0) {
        return static_cast<int64_t>(head_);
    }
    if (len > cap / 2) {
        return OMPI_ERR_BAD_PARAM;
    }
    for (;;) {
        if (used_ == 0) {
            head_ = tail_ = 0;
        }
        const uint64_t free_bytes = cap - used_;
        if (head_ >= tail_) {
            /* free: [head_, cap) and [0, tail_) */
            if (cap - head_ >= len && free_bytes > len) {
                uint64_t off = head_;
                head_ = (head_ + len) % cap;
                used_ += len;
                return static_cast<int64_t>(off);
            }
            if (tail_ > len && free_bytes > (cap - head_) + len) {
                used_ += (cap - head_) + len; /* the skipped end goes with this reservation */
                head_ = len;
                return 0;
            }
        } else if (tail_ - head_ > len) {
            uint64_t off = head_;
            head_ += len;
            used_ += len;
            return static_cast<int64_t>(off);
        }
        int ret = wait_one();
        if (OMPI_SUCCESS != ret) {
            return ret;
        }
    }
}

int BackendLink::push(ov_req_desc &d)
{
    if (dead_) {
        return OMPI_ERR_UNREACH;
    }
    /* Program order: the open batch's operations came before d. */
    if (const int sealed = seal_batch(); OMPI_SUCCESS != sealed) {
        return sealed;
    }
    for (;;) {
        ov_status_t s = ov_fe_submit(fe_, &d);
        if (OV_OK == s) {
            ++sent_;
            return OMPI_SUCCESS;
        }
        if (OV_ERR_AGAIN != s) {
            return lost(ov_fe_last_error(fe_));
        }
        /* A completion frees a slot; with only quiet requests in flight
         * none will come, so wait for the backend to take one instead. */
        int ret = inflight_.empty() ? wait_room() : wait_one();
        if (OMPI_SUCCESS != ret) {
            return ret;
        }
    }
}

int BackendLink::wait_room()
{
    const int64_t deadline = ov_now_ns() + int64_t{mca_osc_virt_component.timeout_ms} * 1000000;
    for (uint32_t i = 0;; ++i) {
        int ret = progress(); /* error completions of quiet requests, if any */
        if (OMPI_SUCCESS != ret) {
            return ret;
        }
        const int64_t room = ov_fe_room(fe_);
        if (room < 0) {
            return lost(ov_fe_last_error(fe_));
        }
        if (room > 0) {
            return OMPI_SUCCESS;
        }
        if (0 == (i & 255)) {
            if (OV_OK != ov_fe_check_alive(fe_)) {
                return lost(ov_fe_last_error(fe_));
            }
            if (ov_now_ns() > deadline) {
                return lost("the request ring stayed full for osc_virt_timeout_ms");
            }
            if (yield_) {
                sched_yield(); /* the backend may be waiting for our core */
            }
        }
    }
}

int BackendLink::submit_quiet(ov_req_desc &d, Tracker &tr, int t)
{
    /* Every kQuietEvery-th asks for its completion after all: a burst
     * longer than the ring then finds one to wait for when the ring is full
     * (wait_one: spin, then sleep on the futex, leaving the core to the
     * backend), not only ring room to poll for. */
    if (0 == ++quiet_run_ % kQuietEvery) {
        Completion c;
        c.tracker = &tr;
        c.target = t;
        return submit(d, c);
    }
    if (0 == tr.quiet_id) {
        if (!quiet_ids_.empty()) {
            tr.quiet_id = quiet_ids_.back();
            quiet_ids_.pop_back();
        } else {
            tr.quiet_id = static_cast<uint32_t>(quiet_trackers_.size());
            quiet_trackers_.push_back(nullptr);
        }
        quiet_trackers_[tr.quiet_id] = &tr;
    }
    d.flags |= OV_REQ_QUIET;
    d.cookie = kQuietBit | tr.quiet_id << 20 | static_cast<uint32_t>(t);
    int ret = push(d);
    if (OMPI_SUCCESS == ret) {
        tr.quiet_seq[t] = tr.quiet_last = sent_;
    }
    return ret;
}

int BackendLink::settle(uint64_t seq)
{
    if (seq <= completed_) {
        return dead_ ? OMPI_ERR_UNREACH : OMPI_SUCCESS;
    }
    if (inflight_.empty() || inflight_.back().seq < seq) {
        ov_req_desc nop{}; /* its completion says every request before it is done */
        int ret = submit(nop, Completion{});
        if (OMPI_SUCCESS != ret) {
            return ret;
        }
    }
    return wait_until([&] { return completed_ >= seq; });
}

void BackendLink::forget(Tracker &tr)
{
    if (batch_.tracker == &tr) {
        (void) seal_batch(); /* not reached: the window drained before */
    }
    if (0 != tr.quiet_id) {
        quiet_trackers_[tr.quiet_id] = nullptr;
        quiet_ids_.push_back(tr.quiet_id);
        tr.quiet_id = 0;
    }
}

int BackendLink::submit(ov_req_desc &d, const Completion &c)
{
    d.cookie = next_cookie_++ & ~kQuietBit;
    int ret = push(d);
    if (OMPI_SUCCESS != ret) {
        return ret;
    }
    inflight_.push_back(c);
    Completion &mine = inflight_.back();
    mine.seq = sent_;
    mine.staging_end = head_;
    if (nullptr != c.tracker) {
        c.tracker->outstanding[c.target]++;
        c.tracker->total++;
    }
    if (nullptr != c.finisher) {
        c.finisher->parts++;
    }
    return OMPI_SUCCESS;
}

int BackendLink::lost(const char *why)
{
    if (!dead_) {
        dead_ = true;
        opal_show_help("help-osc-virt.txt", "backend lost", true, ompi_process_info.nodename, why);
    }
    return OMPI_ERR_UNREACH;
}

int BackendLink::retire(const ov_completion &cpl)
{
    if (0 != (cpl.cookie & kQuietBit)) {
        /* A quiet request failed (they complete only then): charge its window. */
        const uint32_t id = (cpl.cookie & ~kQuietBit) >> 20;
        Tracker *tr = id < quiet_trackers_.size() ? quiet_trackers_[id] : nullptr;
        if (OV_OK == cpl.status || nullptr == tr) {
            return lost("a completion nobody asked for"); /* the backend is broken */
        }
        retired_++;
        if (OMPI_SUCCESS == tr->first_error) {
            tr->first_error = ompi_error_from_ov(cpl.status);
        }
        OSC_VIRT_VERBOSE(10, "request to target %u failed in the backend: %s", cpl.cookie & 0xfffffu,
                         ov_strerror(static_cast<ov_status_t>(cpl.status)));
        return OMPI_SUCCESS;
    }
    if (inflight_.empty()) {
        return lost("a completion nobody asked for"); /* the backend is broken */
    }
    /* A reference, not a copy of the record: its slot stays intact until
     * the next push_back (osc_virt_fifo.h), and the only call below that may
     * push is finish(), after the last read of c. */
    const Completion &c = inflight_.front();
    inflight_.pop_front();
    retired_++;
    completed_ = c.seq;
    if (OV_OK == cpl.status && nullptr != c.copy_to && 0 != c.copy_len) {
        if (c.copy_inline) {
            memcpy(c.copy_to, &cpl.inline_result, c.copy_len);
        } else if (ov_stream_worth(c.copy_len, stream_min_)) {
            ov_stream_copy(c.copy_to, staging_ptr(c.copy_from), c.copy_len);
        } else {
            memcpy(c.copy_to, staging_ptr(c.copy_from), c.copy_len);
        }
    }
    /* An inline or single-copy request staged nothing: skip the division
     * (a small request's retire is on its round trip). */
    if (c.staging_end != tail_) {
        const uint64_t cap = staging_.size;
        used_ -= (c.staging_end + cap - tail_) % cap;
        tail_ = c.staging_end;
    }
    const int err = OV_OK == cpl.status ? OMPI_SUCCESS : ompi_error_from_ov(cpl.status);
    if (nullptr != c.status_out) {
        *c.status_out = cpl.status;
    }
    if (nullptr != c.tracker) {
        c.tracker->outstanding[c.target]--;
        c.tracker->total--;
        if (OMPI_SUCCESS != err && OMPI_SUCCESS == c.tracker->first_error) {
            c.tracker->first_error = err;
        }
        if (OV_OK != cpl.status) {
            OSC_VIRT_VERBOSE(10, "request to target %d failed in the backend: %s", c.target,
                             ov_strerror(static_cast<ov_status_t>(cpl.status)));
        }
    }
    if (nullptr != c.finisher) {
        Finisher *f = c.finisher;
        if (OMPI_SUCCESS != err && OMPI_SUCCESS == f->status) {
            f->status = err;
        }
        if (0 == --f->parts) {
            f->finish(f->status);
            delete f;
        }
    }
    return OMPI_SUCCESS;
}

int BackendLink::progress()
{
    if (dead_) {
        return OMPI_ERR_UNREACH;
    }
    ov_completion cpl;
    for (;;) {
        ov_status_t s = ov_fe_poll(fe_, &cpl);
        if (OV_ERR_AGAIN == s) {
            return OMPI_SUCCESS;
        }
        if (OV_OK != s) {
            return lost(ov_fe_last_error(fe_));
        }
        int ret = retire(cpl);
        if (OMPI_SUCCESS != ret) {
            return ret;
        }
    }
}

void BackendLink::note_colocated(int ranks)
{
    const int mode = mca_osc_virt_component.yield;
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    const bool want = mode > 0 || (mode < 0 && cores > 0 && ranks + 1 > cores);
    if (!want || yield_) {
        return;
    }
    yield_ = true;
    OSC_VIRT_VERBOSE(10, "%d ranks on this backend + its thread > %ld cores: waits yield "
                     "the CPU (osc_virt_yield)", ranks, cores);
    const int nap_us = choose_idle_nap_us();
    if (nap_us > 0) {
        /* Our progress callback yields (or naps) itself: it must time the
         * gap between passes without the yield in it (osc_virt_idle.h). */
        const bool grows = mca_osc_virt_component.idle_nap_us < 0;
        nap_ = IdleNap(IdleNap::kDefaultIdleNs, int64_t{nap_us} * 1000, IdleNap::kDefaultSpinGapNs,
                       grows ? kAutoIdleNapMaxNs : 0);
    } else {
        /* The backend thread needs a core to serve anybody: an idle rank
         * spinning in MPI_Barrier must not keep it from running. */
        (void) opal_progress_set_yield_when_idle(true);
    }
}

int BackendLink::choose_idle_nap_us()
{
    const int param = mca_osc_virt_component.idle_nap_us;
    if (0 == param) {
        return 0;
    }
    /* -1 asks about the transports first: /proc/self/fd is read only for a
     * rank that will nap. */
    std::string why = param < 0 ? idle_wake_obstacle(transport_facts()) : std::string();
    const bool have_sockets = why.empty() && waker_.open();
    waker_scanned_ns_ = ov_now_ns();
    if (param > 0) {
        OSC_VIRT_VERBOSE(10, "spinning idle for 1 ms, progress passes sleep %d us "
                         "(osc_virt_idle_nap_us), woken by %zu sockets",
                         param, waker_.fds().size());
        return param;
    }
    if (why.empty() && !have_sockets) {
        why = "no socket in /proc/self/fd to wake it";
    }
    if (!why.empty()) {
        OSC_VIRT_VERBOSE(10, "no idle nap (osc_virt_idle_nap_us -1): %s", why.c_str());
        return 0;
    }
    OSC_VIRT_VERBOSE(10, "spinning idle for 1 ms, progress passes sleep %d us (doubling "
                     "up to %lld us while nothing happens) until one of %zu sockets is "
                     "ready (osc_virt_idle_nap_us -1)",
                     kAutoIdleNapUs, static_cast<long long>(kAutoIdleNapMaxNs / 1000),
                     waker_.fds().size());
    return kAutoIdleNapUs;
}

BackendLink::IdlePass BackendLink::idle_pass(int events)
{
    IdlePass pass;
    if (!nap_.enabled()) {
        return pass;
    }
    pass.timed = true;
    const int64_t now = ov_now_ns();
    /* Busy: requests in flight, or any retired since the last pass (this
     * one's, or a wait of ours that never went through opal_progress), so
     * submit() needs no clock read of its own. */
    if (!inflight_.empty() || retired_ != nap_seen_retired_) {
        nap_seen_retired_ = retired_;
        nap_.busy(now);
        pass.yield = 0 == events;
        return pass;
    }
    pass.idle = true;
    if (nap_.due(now, nap_.long_gap(now) ? thread_cpu_ns() : IdleNap::kNoCpu)) {
        pass.nap_ns = nap_.nap_ns();
        /* Connections the tcp btl opened since the last look; with threads
         * another thread may be asleep on the list, so it stays as it was
         * at window creation (osc_virt_wake.h). */
        if (!ompi_mpi_thread_multiple && now - waker_scanned_ns_ >= kWakerRescanNs) {
            (void) waker_.open();
            waker_scanned_ns_ = now;
        }
    } else {
        pass.yield = true;
    }
    return pass;
}

void BackendLink::pass_ended(const IdlePass &pass, bool woken)
{
    if (mu_.try_lock()) {
        const int64_t now = ov_now_ns();
        /* A system call, but an idle pass has just made one (its yield or
         * nap); a busy pass's end needs no CPU time (osc_virt_idle.h). */
        const int64_t cpu = pass.idle ? thread_cpu_ns() : IdleNap::kNoCpu;
        naps_ += pass.nap_ns > 0; /* counted here, under our lock */
        if (woken) {
            ++naps_woken_;
            /* A message came: more may follow (a ping-pong), and waking a
             * sleeper costs about 20 us more in a VM than finding the
             * message by polling, so poll through the burst. */
            nap_.hold(now + kTrafficHoldNs);
        } else if (pass.nap_ns > 0) {
            nap_.napped();
        }
        nap_.pass_end(now, cpu);
        mu_.unlock();
    }
}

namespace {
/* About 1-2 us of polling: a small request's round trip (0.5 us) fits in it. */
constexpr int kPollsBeforeYield = 256;
/* How long descriptors of ours may sit untaken before a wait stops spinning
 * (wait_one): well above a sleeping backend's wake-up by the doorbell,
 * well below the ~350 us the spin and sched_yield() loop lasted. */
constexpr int64_t kStarvedNs = 30 * 1000;
/* How long a wait polls before it yields, once the backend has taken every
 * descriptor of ours (a batch of 32-128 entries runs in about 1 us: longer
 * means the backend shares our core or lost it), and while one of ours is
 * still untaken (the backend may be finishing an earlier request of ours,
 * about 1 us; longer, it may need our core). */
constexpr int64_t kTakenSpinNs = 20 * 1000;
constexpr int64_t kUntakenSpinNs = 5 * 1000;
} // namespace

int BackendLink::wait_one()
{
    if (dead_) {
        return OMPI_ERR_UNREACH;
    }
    if (inflight_.empty()) {
        /* Nothing can complete: the caller waits for something that will
         * never come (a bug, not a backend problem). */
        return OMPI_ERR_BAD_PARAM;
    }
    ov_completion cpl;
    /* Spin first: a flush usually waits well under a microsecond.  Yielding
     * from the first poll cost a context switch into whatever else shares
     * our core (a rank idling in MPI_Barrier) on nearly every small flush. */
    bool starved = false;
    int64_t unserved = -2, unserved_since = 0; /* descriptors of ours untaken, since when */
    for (int i = 0; i < 4096; ++i) {
        ov_status_t s = ov_fe_poll(fe_, &cpl);
        if (OV_OK == s) {
            return retire(cpl);
        }
        if (OV_ERR_AGAIN != s) {
            break;
        }
        if (!yield_ || i < kPollsBeforeYield || 0 != (i & 15)) {
            continue;
        }
        /* Whether to give our core away (osc_virt_yield: more busy threads
         * than cores) depends on whether the backend is running: */
        const int64_t now = ov_now_ns(), left = ov_fe_unserved(fe_);
        if (left != unserved) {
            unserved = left;
            unserved_since = now;
        }
        if (left > 0 && now - unserved_since >= kStarvedNs) {
            /* Descriptors of ours left in the request ring, none taken
             * for kStarvedNs: the backend is not running (a backend woken
             * by our doorbell takes a few us to come; one that is runnable
             * but finds no core may not come at all while we spin).
             * sched_yield() gives our core only to threads of our own
             * scheduling class and priority (not to the backend when ranks
             * run real-time, nor reliably under load), and the rest of this
             * loop plus ov_fe_wait's spin held it for ~350 us per flush
             * (docs/osc-virt.md, "Where a batched 8-byte put's time goes"):
             * sleep now, so the kernel can run the backend here. */
            starved = true;
            break;
        }
        /* It took everything of ours: it runs, on another core unless we
         * preempted it, and the completion is about a microsecond away.
         * Something of ours untaken for a few us: it may be waiting for
         * our core.  Yielding earlier than that handed our core to
         * whatever shares it (a rank polling in MPI_Barrier, ~10 us a
         * turn) in 1% of the flushes of a burst of small puts
         * (docs/osc-virt.md, "OSU's window of 64 on an idle machine"). */
        if (now - unserved_since < (0 == left ? kTakenSpinNs : kUntakenSpinNs)) {
            continue;
        }
        sched_yield(); /* the backend may be waiting for our core */
    }
    ov_status_t s = starved ? ov_fe_block(fe_, &cpl, 0) : ov_fe_wait(fe_, &cpl, 0);
    if (OV_OK == s) {
        return retire(cpl);
    }
    return lost(ov_fe_last_error(fe_));
}

int BackendLink::run(const ov_req_desc &d, int *status)
{
    int done = 0x7fffffff;
    Completion c;
    c.status_out = &done;
    ov_req_desc mine = d;
    int ret = submit(mine, c);
    if (OMPI_SUCCESS != ret) {
        return ret;
    }
    ret = wait_until([&] { return 0x7fffffff != done; });
    *status = done;
    return ret;
}

} // namespace ov::osc
