/*
 * fabric_mappings.h — the fabric mapping service: the control path of
 * ib-virt through the host backends (Xen-IB's split: set-up through the
 * host, data path straight from the guest; the data path never reaches this
 * service).  Guest messages FABRIC_* in ov_protocol.h ("fabric mappings");
 * backend-to-backend links in fabric_link.h.
 *
 * What it keeps, per job (named by its public key, authenticated by the
 * digest of its secret the backend verified at HELLO):
 *   records   rank -> {epoch, blob, location}: the job's processes' fabric
 *             mappings (ib-virt PUBLISH blobs, opaque here); location is a
 *             connection of this backend or one of the configured peers
 *   mailboxes per local connection: blobs other ranks sent it, in order
 *   links     one outgoing link to every configured peer backend (the
 *             peer accepts it only if it serves the job too)
 *
 * Lifecycle:
 *   ov_fabric_mappings f(opts, quota_limits);
 *   f.start()        epoll + timer, and (opts.listen) the link listener.
 *                    OV_ERR_SYS (errno) or OV_ERR_BAD_ARG (bad address).
 *   f.fd()           an epoll fd, readable when links or timers have work:
 *                    the backend watches it and then calls f.on_ready().
 *   f.publish/send/take/lookup   the FABRIC_* messages of one connection
 *                    (who: its proven job, rank and id).
 *   f.release(conn)  the connection is gone: its records are removed here
 *                    and withdrawn at the peers (UNMAP), its mailbox freed;
 *                    when the job has had no local connection for kLingerMs
 *                    its links close once flushed and its key and records
 *                    are forgotten (the linger keeps the links up while a
 *                    process moves away and back: a move is not slowed by
 *                    two link handshakes).
 *   ~ov_fabric_mappings  closes everything.
 *
 * Errors (returned to the guest as the reply status):
 *   publish  OV_ERR_EXISTS (another connection holds the rank here),
 *            OV_ERR_QUOTA (*limit = OV_LIMIT_JOB_FABRIC_MAPPINGS), OV_ERR_NOMEM
 *   send     OV_ERR_STATE (sender never published), OV_ERR_BAD_ARG (no record
 *            of dest: not yet known, or gone), OV_ERR_QUOTA
 *            (*limit = OV_LIMIT_JOB_FABRIC_QUEUE), OV_ERR_NOMEM
 *   take     OV_ERR_STATE (never published)
 *   lookup   OV_ERR_STATE (never published), OV_ERR_BAD_ARG (no record)
 *
 * Hostile input: guests are checked by the backend's decoders (wire.h) and
 * can name only their own rank; peer backends are authenticated per job and
 * every frame is MACed, and still validated (fabric_link.h): a peer that
 * sends a bad frame loses its link (logged), never the backend.  Bounds: at
 * most kMaxInLinks accepted links, each must finish its handshake within
 * kHandshakeMs, each link's unsent bytes are bounded (kMaxLinkBacklog:
 * closed beyond), records and undelivered bytes per job by the quota.
 * A link that fails loses the frames in flight; ib-virt's step bound turns a
 * lost handshake message into a dead peer, never a hang.
 *
 * Threading: the backend's one thread only.
 */
#ifndef OMPI_VIRT_BACKEND_FABRIC_MAPPINGS_H
#define OMPI_VIRT_BACKEND_FABRIC_MAPPINGS_H

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fabric_link.h"
#include "ov_fd.h"
#include "ov_protocol.h"
#include "quota.h"

struct ov_fabric_options {
    std::string listen;             /* "" (no links: records and delivery on this host only) or HOST:PORT */
    std::vector<std::string> peers; /* the other hosts' backends' listen addresses, HOST:PORT */
};

struct ov_fabric_member {
    uint64_t job_key; /* the job the connection proved */
    uint32_t rank;    /* its rank: its virtual id */
    uint32_t conn;    /* backend connection id */
};

class ov_fabric_mappings {
public:
    static constexpr size_t kMaxInLinks = 256;
    static constexpr int kHandshakeMs = 2000;
    static constexpr size_t kMaxLinkBacklog = 4u << 20;
    static constexpr int kLingerMs = 5000;

    ov_fabric_mappings(const ov_fabric_options &o, const ov_quota_limits &q);
    ~ov_fabric_mappings();
    ov_fabric_mappings(const ov_fabric_mappings &) = delete;
    ov_fabric_mappings &operator=(const ov_fabric_mappings &) = delete;

    ov_status_t start();
    int fd() const { return ep_.get(); }
    uint16_t listen_port() const { return listen_port_; }
    void on_ready();

    ov_status_t publish(const ov_fabric_member &who, const unsigned char job_digest[OV_SHA256_BYTES],
                        uint32_t epoch, const uint8_t *blob, uint32_t len, uint32_t *limit);
    ov_status_t send(const ov_fabric_member &who, uint32_t dest, const uint8_t *blob, uint32_t len,
                     uint32_t *limit);
    /* reply: ov_fabric_take_rep + entries (ov_protocol.h) */
    ov_status_t take(const ov_fabric_member &who, uint32_t max_bytes, std::vector<uint8_t> *reply);
    /* reply: ov_fabric_lookup_rep + blob */
    ov_status_t lookup(const ov_fabric_member &who, uint32_t vid, std::vector<uint8_t> *reply);
    void release(uint32_t conn);

    /* for status and tests */
    size_t records(uint64_t job_key) const;
    size_t links_up() const;

private:
    struct record {
        uint32_t epoch = 0;
        std::vector<uint8_t> blob;
        uint32_t conn = 0; /* local owner; 0: remote */
        int peer = -1;     /* remote: index into opts_.peers */
    };
    struct letter {
        uint32_t from;
        std::vector<uint8_t> blob;
    };
    struct endpoint {
        uint64_t job_key = 0;
        uint32_t rank = 0;
        std::deque<letter> mailbox;
    };
    struct link;
    struct job {
        unsigned char key[kLinkMac] = {}; /* link key K (fabric_link.h) */
        std::map<uint32_t, record> records;
        uint64_t queued = 0;              /* undelivered bytes: mailboxes + links not yet up */
        uint32_t local = 0;               /* local endpoints */
        int64_t linger_until = 0;         /* no local endpoint since: forgotten then (ns; 0: in use) */
        std::vector<uint32_t> out;        /* outgoing link id per peer */
    };

    job *find_job(uint64_t key);
    ov_status_t charge(job &j, size_t bytes, uint32_t *limit);
    void deliver_local(const record &to, uint32_t from, const uint8_t *blob, uint32_t len);
    /* fabric_links.cc: the links */
    void open_out(uint64_t job_key, int peer);
    void connect_out(link &l);
    void to_peers(uint64_t job_key, link_type t, const void *hdr, size_t hlen, const uint8_t *blob, size_t blen);
    void to_peer(uint64_t job_key, int peer, link_type t, const void *hdr, size_t hlen, const uint8_t *blob,
                 size_t blen);
    void link_send(link &l, link_type t, const void *hdr, size_t hlen, const uint8_t *blob, size_t blen);
    void link_up(link &l);
    void on_map(link &l, job &j, const uint8_t *p, size_t len);
    void accept_links();
    void on_link(uint32_t id, uint32_t events);
    void link_read(link &l);
    bool link_frame(link &l, const ov_link_hdr &h, const uint8_t *p);
    void link_flush(link &l);
    void link_close(link &l, const char *why);
    void link_watch(link &l);
    void on_timer();
    void arm_timer();
    void job_gone(uint64_t job_key);
    int peer_index(const char *addr) const;

    ov_fabric_options opts_;
    ov_quota_limits quota_;
    ov_fd ep_, listen_fd_, timer_fd_;
    uint16_t listen_port_ = 0;
    std::map<uint64_t, job> jobs_;
    std::map<uint32_t, endpoint> endpoints_; /* by conn */
    std::map<uint32_t, std::unique_ptr<link>> links_;
    uint32_t next_link_ = 2; /* epoll tags 0 (listener) and 1 (timer) are taken */
    size_t in_links_ = 0;
};

#endif
