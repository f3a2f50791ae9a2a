/*
 * backend.h — the host backend daemon (ompi-virt-backend), as a class so the
 * unit tests and the benchmark can run it in a child process on a temp dir.
 *
 * Lifecycle:
 *   ov_backend b(opts);
 *   b.start()   mkdir DIR (0755), take flock(DIR/backend.lock) (OV_ERR_BUSY if
 *               another backend holds it), remove a dead predecessor's stale
 *               socket, listen on unix:DIR/backend.sock (0666: guests connect
 *               through the bind mount) and optionally on opts.tcp, set up
 *               epoll + signalfd(SIGTERM, SIGINT).
 *   b.run()     serve until SIGTERM/SIGINT or stop(); returns OV_OK.
 *
 * Tenants (quota.h): every connection, process, window and region byte is
 * charged to its guest (kernel identity), its job and the backend, each
 * with a limit (opts.quota); over one, the request gets OV_ERR_QUOTA naming
 * it.  One guest cannot starve the others' data path either: a connection's
 * control messages are handled opts.ctl_per_pass at a time between ring
 * passes, a connection stalled mid-message for opts.stall_ms is closed,
 * a doorbell that brings no work buys no spin, and at the open-file limit
 * (EMFILE) pending connections are accepted and closed with a spare
 * descriptor and the listener rests (server.cc); a connection that would
 * leave fewer than ov_quota::kFdHeadroom descriptors free is refused
 * (OV_ERR_QUOTA naming OV_LIMIT_BACKEND_FDS), so the clients already
 * connected can still get their doorbells, and a HELLO, ATTACH or RINGS
 * that would leave fewer than ov_quota::kFdFloor gets the same answer: the
 * backend itself never runs out.
 *   ~ov_backend marks every region SHUTDOWN, closes every connection,
 *               removes backend.sock and backend.lock.
 *
 * Threading: one thread does everything (control sockets, doorbells, ring
 * polling), so there are no locks; the only other threads are the copy
 * crew's (copy_crew.h), which run parts of one large PUT or GET copy while
 * this thread waits inside that request.  It spins over all request rings while
 * there is work and for opts.spin_us after the last request, then sets
 * backend_sleeping in every process block, re-checks, and blocks in
 * epoll_wait(-1): an idle backend uses no CPU.  Fairness: each process
 * gets at most kPassBudget units of work per pass (a descriptor, plus its
 * bytes in kUnitBytes), the pass starting one process further each time;
 * copies are bounded by opts.max_request; a client that does not read its
 * replies is dropped.
 *
 * Faults: a closed connection (process died or detached), or for a unix
 * peer the exit of the process that connected (pidfd, even if a forked
 * child still holds the socket; Linux >= 5.3, else socket close only),
 * releases that process's windows (epoch bumped: peers get
 * OV_ERR_STALE_WINDOW/NO_WINDOW), the grants given to it, its locks and its ring block,
 * or (role BTL) its hold on the job's btl segment;
 * the region is freed with the last process of its (guest, job).  TCP
 * peers (VMs) have no pid: TCP keepalive closes a dead VM's connection.
 */
#ifndef OMPI_VIRT_BACKEND_BACKEND_H
#define OMPI_VIRT_BACKEND_BACKEND_H

#include <sys/uio.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "btl_registrations.h"
#include "btl_segments.h"
#include "reclaimer.h"
#include "copy_crew.h"
#include "core_share.h"
#include "exec.h"
#include "fabric_mappings.h"
#include "locks.h"
#include "ov_clock.h"
#include "ov_comm.h"
#include "ov_ring.h"
#include "quota.h"
#include "region.h"
#include "single_copy.h"
#include "validate.h"
#include "vm.h"
#include "wire.h"

struct ov_backend_options {
    std::string dir = "/run/ompi-virt";
    std::string tcp;                        /* "" or tcp:HOST:PORT (port 0: any) */
    uint64_t region_size = 0;               /* 0: memfd regions as large as the host's memory
                                               (sparse, ov_region::create), VM regions
                                               kVmRegionDefault; else bytes for both */
    uint32_t spin_us = 200;
    uint64_t max_request = uint64_t(16) << 20;
    ov_quota_limits quota;                  /* per guest, per job, backend-wide (quota.h) */
    uint32_t stall_ms = 5000;               /* close a connection stalled mid-message (or silent before HELLO) */
    uint32_t ctl_per_pass = 8;              /* control messages of one connection per event-loop pass */
    int bind_cpu = -1;                      /* hwloc: bind thread + region memory */
    bool handle_signals = true;             /* signalfd for SIGTERM/SIGINT */
    bool single_copy = true;                /* offer OV_FEAT_SINGLE_COPY to unix peers with a pid */
    int copy_threads = -1;                  /* helpers for large PUT/GET copies (copy_crew.h); -1: cores - 2, at most 3 */
    std::vector<ov_vm_decl> vms;            /* --vm: VM guests (vm.h); need tcp */
    ov_fabric_options fabric;               /* fabric mappings: links to other hosts' backends */
};

/* A VM's region when --region-mb is not given: its ivshmem BAR, whose size
 * QEMU's size= must match. */
constexpr uint64_t kVmRegionDefault = uint64_t(1024) << 20;

#define OV_BATCH 32

/* The backend work one process gets per pass over the rings (engine.cc):
 * a descriptor costs one unit, and one more per kUnitBytes it moved.  At
 * most OV_BATCH small requests, or one 2 MiB copy, before the next process
 * has its turn: a guest posting NOPs or 16 MiB copies as fast as it can
 * delays another guest's request by one budget, not by its whole ring. */
constexpr uint64_t kPassBudget = OV_BATCH;
constexpr uint64_t kUnitBytes = uint64_t(64) << 10;

/* epoll tags: kind << 32 | id */
enum : uint64_t {
    OV_EV_UNIX = 1, OV_EV_TCP, OV_EV_SIG, OV_EV_STOP, OV_EV_CONN, OV_EV_BELL, OV_EV_PID, OV_EV_RECLAIM, OV_EV_FABRIC
};

class ov_backend : private ov_win_lookup {
public:
    explicit ov_backend(const ov_backend_options &o);
    ~ov_backend() override;
    ov_status_t start();
    ov_status_t run();
    void stop(); /* async-signal-safe */
    uint16_t tcp_port() const { return tcp_port_; }
    uint16_t fabric_port() const { return fabric_ ? fabric_->listen_port() : 0; }

private:
    struct guest {
        std::string name;
        uint64_t job_key = 0;
        uint32_t handle = 0; /* region handle used in copy plans */
        std::unique_ptr<ov_region> region;
        uint32_t nprocs = 0, nwins = 0;
        uint64_t requests = 0, bytes = 0, errors = 0;
    };
    /* What the quick path (quick.cc) learned about one target window for one
     * process: valid while tables_gen_ == gen. */
    struct quick_window {
        uint64_t gen = 0; /* tables_gen_ starts at 1: a fresh entry never matches */
        uint32_t id = 0, epoch = 0;
        uint32_t perms = 0;   /* OV_PERM_* this process holds on it */
        char *base = nullptr; /* its first byte in our mapping of its region */
        uint64_t size = 0;
    };
    /* Inline PUTs of one process to registered windows of one owner, not
     * yet written (put_batch.cc): descriptors in ring order, their bytes
     * (local: inside d[i]) and where they go in the owner (remote). */
    struct put_batch {
        unsigned n = 0;
        uint32_t owner = 0; /* proc id of the windows' owner */
        ov_req_desc d[OV_BATCH];
        iovec local[OV_BATCH], remote[OV_BATCH];
    };
    struct conn {
        uint32_t id = 0;
        ov_fd fd;
        std::string tenant;     /* quota.h guest identity: "net:[inode]" or "tcp:ADDR" */
        bool counted = false;   /* admitted: holds one of tenant's connections */
        int64_t stalled_since = 0; /* ns: since when a partial message (or no HELLO) waits; 0: none */
        bool backlogged = false;   /* complete messages wait in `in`; EPOLLIN off meanwhile */
        bool parked = false;       /* its next message waits for memory the reclaimer frees (parked_) */
        ov_comm_kind kind = OV_COMM_UNIX;
        std::vector<uint8_t> in;
        int state = 0; /* 0 new, OV_FE_* values 1..3 */
        bool admin = false;
        uint32_t peer_pid = 0;
        ov_fd pidfd;            /* readable once peer_pid exits: released like a close */
        std::string ns_key;     /* peer's network namespace ("" over tcp) */
        std::string peer_addr;  /* tcp: peer's IPv4 source address (VM identity) */
        std::string guest_name; /* from HELLO */
        uint64_t ring_bytes = 0; /* region bytes of its ring block (charged to the quota) */
        uint64_t job_key = 0;
        uint32_t rank = 0, guest_pid = 0;
        uint32_t role = OV_ROLE_OSC; /* from HELLO */
        guest *g = nullptr;
        /* data plane, state 3 */
        uint64_t block_off = 0;
        ov_proc_ctl *ctl = nullptr;
        ov_ring_consumer<ov_req_desc> rq;
        ov_ring_producer<ov_completion> cq;
        ov_fd doorbell;
        bool cq_posted = false;
        uint32_t features = 0; /* OV_FEAT_* offered in the HELLO reply */
        ov_peer_mem peer_mem;  /* OV_FEAT_SINGLE_COPY: the peer process's memory */
        uint64_t requests = 0, bytes = 0, errors = 0;
        bool doomed = false;
        quick_window quick; /* quick.cc: the last target window of its inline put/get */
        put_batch puts;     /* put_batch.cc: empty outside serve_process */
    };
    /* A job (ov_job_id.h), while any of its processes is connected: named by
     * its public key, proven by its secret (kept only as a digest). */
    struct job {
        unsigned char digest[32] = {}; /* SHA-256 of the job's secret */
        uint32_t nprocs = 0;           /* connections past HELLO */
        std::map<uint32_t, std::string> rank_guest; /* each claimed rank's guest, for the job's life */
    };
    struct window {
        ov_win_info info{};
        bool live = false;
        std::map<uint32_t, uint32_t> grants; /* rank -> perms */
        std::string tenant;                  /* its owner's quota guest (charged for it) */
    };

    /* server.cc */
    ov_status_t take_lock();
    void accept_all(int lfd, ov_comm_kind kind);
    void close_conn(conn *c, const char *why);
    void watch_peer_pid(conn *c);
    ov_status_t open_vms();
    void reap_doomed();
    bool admit_conn(conn *c);         /* quota at accept; false: refused and closed */
    void accept_at_fd_limit(int lfd); /* EMFILE/ENFILE: spare fd, accept and close, rest */
    void refuse_at_fd_limit(int fd);  /* accepted fd would leave too few free: refuse it, rest */
    bool fds_free(int n) const;       /* n more descriptors can be opened now (n <= 16) */
    /* OV_OK, or OV_ERR_QUOTA naming OV_LIMIT_BACKEND_FDS (in *limit, logged
     * as `what`) if taking `taking` descriptors for c would leave fewer
     * than ov_quota::kFdFloor free */
    ov_status_t fds_for_client(conn *c, int taking, uint32_t *limit, const char *what);
    void rest_listeners();            /* out of the read set for kListenRestNs */
    void check_stalls(int64_t now);
    void set_stalled(conn *c, bool waiting); /* starts/stops c's stall clock; counts stalled_ */
    void resume_listeners(int64_t now);
    void fit_quota_to_fds();
    int sleep_timeout_ms() const;
    /* control.cc */
    void on_readable(conn *c);
    void handle_messages(conn *c);   /* at most opts_.ctl_per_pass, then backlog */
    void drain_backlog();
    void dispatch(conn *c, const ov_msg_hdr &h, const uint8_t *payload);
    bool reply(conn *c, const ov_msg_hdr &h, const void *p, uint32_t len, int fd = -1);
    ov_status_t do_hello(conn *c, const uint8_t *p, uint32_t len, ov_hello_rep *rep);
    ov_status_t check_job_claim(const conn *c, const ov_hello_req &r, uint64_t key, const unsigned char *digest);
    /* OV_ERR_QUOTA with *limit set, or OV_OK (charged) */
    ov_status_t quota_error(ov_limit l, uint32_t *limit, const conn *c, const char *what);
    bool offer_single_copy(conn *c);
    ov_status_t do_attach(conn *c, const uint8_t *p, uint32_t len, ov_attach_rep *rep);
    ov_status_t attach_vm(conn *c, ov_vm &vm, ov_attach_rep *rep); /* attach.cc */
    ov_status_t do_rings(conn *c, const uint8_t *p, uint32_t len, ov_rings_rep *rep, ov_fd *db);
    ov_status_t do_win_create(conn *c, const uint8_t *p, uint32_t len, ov_win_create_rep *rep);
    /* windows.cc: large freed windows are scrubbed by reclaimer_ (reclaimer.h) */
    bool scrub_later(const window &w, ov_region &reg, uint64_t bytes);
    bool park_for_scrub(conn *c); /* true: c's message waits for pending scrubs */
    void on_reclaimed();
    ov_status_t do_win_register(conn *c, const uint8_t *p, uint32_t len, ov_win_create_rep *rep);
    /* charges c's tenant and job one window (and `bytes` of region): OV_LIMIT_NONE,
     * or the limit it would pass (nothing charged, nothing logged; *what names it) */
    ov_limit admit_window(conn *c, uint64_t bytes, const char **what);
    window &new_window(conn *c); /* a live slot owned by c, fresh epoch, no grants */
    ov_status_t do_win_free(conn *c, const uint8_t *p, uint32_t len);
    ov_status_t do_grant(conn *c, const uint8_t *p, uint32_t len, bool grant);
    ov_status_t owned_window(conn *c, uint32_t id, uint32_t epoch, window **out);
    void release_process(conn *c);
    void free_window(window &w);
    guest *find_guest(const std::string &name, uint64_t job_key);
    /* engine.cc */
    int poll_rings();
    int serve_process(conn *c);
    void execute(conn *c, const ov_req_desc &d, ov_completion *cpl);
    static ov_requester requester(const conn &c) { return {c.id, c.job_key, c.rank, c.features}; }
    /* The job identity a BTL connection proved (the one place that decides
     * which job's segment it may hold). */
    static ov_btl_member btl_member(const conn &c) { return {c.job_key, c.rank, c.id}; }
    /* BTL_SEGMENT: the segment service's reply for c */
    ov_status_t do_btl_segment(conn *c, const uint8_t *p, uint32_t len, ov_btl_segment_rep *rep, int *fd);
    /* fabric_control.cc: FABRIC_* for the fabric mapping service */
    void do_fabric(conn *c, const ov_msg_hdr &h, const uint8_t *p);
    /* put_batch.cc: 1 if d (an inline PUT to a registered window) joined
     * c's batch, 0 if execute() must serve it, -1 if c's completion ring is
     * corrupt.  flush_puts writes the batch and posts its completions in
     * order: how many, or -1 (corrupt ring). */
    int batch_put(conn *c, const ov_req_desc &d);
    /* OV_REQ_QUIET: a request that succeeded posts no completion. */
    static bool quiet_success(const ov_req_desc &d, const ov_completion &cpl)
    {
        return (d.flags & OV_REQ_QUIET) && cpl.status == OV_OK;
    }
    int flush_puts(conn *c);
    /* btl_rdma.cc: BTL_REG / BTL_DEREG / BTL_RDMA (ov_btl_rdma_proto.h) */
    void dispatch_btl_rdma(conn *c, const ov_msg_hdr &h, const uint8_t *p);
    bool btl_rdma_run(conn *c, const ov_msg_hdr &h, const ov_btl_rdma_req &r, bool last_try);
    conn *btl_conn_of(uint64_t job_key, uint32_t rank);
    bool has_unread(conn *c);
    void retry_btl_deferred();
    /* op_batch.cc: an OV_REQ_BATCH descriptor (checks: op_batch.h); *cpl is
     * its one completion.  batch_block: where its block lies in our mapping
     * (a region window c owns), or nullptr with *why the error.
     * batch_target: the quick path's entry for its target window when c
     * holds the permission its op needs (every entry may then be a plain
     * copy once checked against its size), else nullptr.
     * batch_on_owner: entries to a registered window, the leading ones
     * that validate (as their own descriptor `one` would), in one
     * process_vm_writev/readv of the window's owner; returns how many ran
     * whole from the first (get results copied into the block), counted
     * in c's statistics and *moved. */
    void serve_batch(conn *c, const ov_req_desc &d, ov_completion *cpl);
    char *batch_block(const conn *c, const ov_req_desc &d, ov_status_t *why) const;
    const quick_window *batch_target(conn *c, const ov_req_desc &d);
    size_t batch_on_owner(conn *c, ov_req_desc one, ov_batch_entry *e, size_t n, char *block, uint64_t *moved);
    /* quick.cc */
    bool serve_quick(conn *c, const ov_req_desc &d, ov_completion *cpl);
    bool learn_quick(conn *c, const ov_req_desc &d);
    /* Windows, grants or regions changed: every quick_window is stale.  Called
     * by each change (new_window, do_grant, free_window, release_process). */
    void tables_changed() { ++tables_gen_; }
    void set_sleeping(uint32_t v);
    void yield_to_waiter_here(uint32_t fe_cpu);
    class exec_env; /* ov_exec_env over our regions and one requester */
    /* status.cc */
    void snapshot(ov_status_snapshot *s);
    /* ov_win_lookup */
    const ov_win_info *find(uint32_t id) const override;
    uint32_t grant(const ov_win_info &w, const ov_requester &who) const override;

    ov_backend_options opts_;
    ov_limits limits_;
    uint64_t instance_ = 0;
    int64_t start_ms_ = 0;
    ov_fd lock_fd_, unix_lfd_, tcp_lfd_, epfd_, sigfd_, stopfd_;
    std::string sock_path_, lock_path_;
    uint16_t tcp_port_ = 0;
    bool started_ = false, stopping_ = false;
    uint32_t next_conn_ = 1, next_region_ = 1;
    std::unordered_map<uint32_t, std::unique_ptr<conn>> conns_;
    size_t doomed_ = 0; /* conns closed since the last reap_doomed() */
    std::vector<conn *> ready_;                        /* processes with rings */
    size_t pass_start_ = 0;                            /* poll_rings' round robin: ready_ index served first */
    std::map<std::pair<std::string, uint64_t>, std::unique_ptr<guest>> guests_;
    std::unordered_map<uint32_t, guest *> regions_;    /* handle -> guest */
    std::map<std::string, std::pair<std::string, uint32_t>> ns_bind_; /* guest name -> (ns, refs) */
    std::unordered_map<uint64_t, job> jobs_;           /* public key -> job */
    /* A process as the quotas count it: its guest (kernel identity), the job
     * it proved, its rank and, for a unix peer, its pid (SO_PEERCRED; 0 over
     * tcp).  Its osc and btl vmshm (role BTL) connections share one charge. */
    using proc_identity = std::tuple<std::string, uint64_t, uint32_t, uint32_t>;
    std::map<proc_identity, uint32_t> proc_conns_;     /* -> connections past HELLO */
    std::vector<window> wins_;                         /* index = id; [0] unused */
    uint64_t tables_gen_ = 1;                          /* tables_changed() */
    std::vector<uint32_t> free_win_ids_;
    ov_lock_table locks_;     /* LOCK/UNLOCK state (locks.h) */
    ov_exec_scratch scratch_; /* executor staging buffers and crew (exec.h) */
    std::unique_ptr<ov_copy_crew> crew_;
    ov_core_dodger dodger_;           /* off a waiter's core (core_share.h) */
    uint64_t yields_to_waiter_ = 0;   /* times serve_process gave its core to a waiting frontend */
    ov_quota quota_{opts_.quota};
    std::vector<uint32_t> backlog_;   /* conns with control messages waiting (handle_messages) */
    ov_fd spare_fd_;                  /* closed to accept+close at EMFILE */
    int64_t listen_resume_ns_ = 0;    /* listeners rest until then after EMFILE; 0: listening */
    int64_t next_stall_check_ = 0;
    size_t stalled_ = 0;              /* conns whose stall clock runs */
    std::vector<ov_vm> vms_;                           /* declared VM guests */
    std::unique_ptr<ov_btl_segments> btl_segments_;    /* btl vmshm's per-job segments (btl_segments.h) */
    /* A freed window's block while reclaimer_ punches it: still allocated
     * in its region's heap and charged to its owner until then. */
    struct scrub {
        uint32_t region = 0;
        uint64_t off = 0, bytes = 0;
        std::string tenant;
        uint64_t job_key = 0;
    };
    std::unordered_map<uint64_t, scrub> scrubs_; /* reclaimer token -> block */
    uint64_t next_scrub_ = 1;
    std::vector<uint32_t> parked_;               /* conns waiting for scrubs (conn::parked) */
    ov_reclaimer reclaimer_;                     /* frees memory off this thread (reclaimer.h) */
    std::unique_ptr<ov_fabric_mappings> fabric_;       /* ib-virt's control path (fabric_mappings.h) */
    ov_btl_registrations btl_regs_;                    /* btl vmshm's single-copy grants (btl_registrations.h) */
    struct btl_deferred {                              /* BTL_RDMA naming a handle its owner may still be registering */
        uint32_t requester;
        ov_msg_hdr h;
        ov_btl_rdma_req req;
    };
    std::vector<btl_deferred> btl_deferred_;
    std::vector<char> btl_bounce_;                     /* btl_rdma.cc's staging between two processes */
};

#endif
