/*
 * ib_virt.h — virtual fabric NIC over libfabric: endpoints, peers and memory
 * keys with ids that stay the same for the life of the process, so that a
 * process can move to another host (its physical endpoint address and memory
 * keys change) without its peers noticing more than a pause.
 *
 * Callable from C and C++; no C++ exception crosses any function below.
 *
 * ------------------------------------------------------------------ terms
 *   virtual peer id (vid)  a small integer naming a process of the job, the
 *                          same on every process (an MPI rank fits). Peers,
 *                          including this process itself (attr.self), are
 *                          known by it everywhere. 0 <= vid < attr.max_peers.
 *   virtual key (vkey)     names a registered memory region of one process;
 *                          returned by ibvirt_mr_reg, kept across relocation.
 *                          Remote RMA names (peer vid, vkey, offset).
 *   physical               what the provider uses today: fi_addr_t for a
 *                          peer, the provider's MR key and base address.
 *                          ib-virt translates by an array index per post.
 *
 * ------------------------------------------------------------------ lifecycle
 *   ibvirt_open                 one NIC per process (a domain + RDM endpoint)
 *   ibvirt_mr_reg               register memory -> vkey
 *   ibvirt_mapping_export       blob: my address + my keys; the control path
 *   ibvirt_ctrl_deliver (peer)  carries it to every peer (out of band)
 *   ibvirt_tsend / trecv / write / read / atomic, ibvirt_poll
 *   migration, on the process that moves (p):
 *     ibvirt_migrate_begin      stop posting; new posts are queued; peers
 *                               are told (control messages)
 *     ibvirt_poll ...           until ibvirt_migrate_state() == READY
 *                               (in-flight ops drained, every peer acked)
 *     (ibvirt_relocate_prepare  optional, before ibvirt_migrate_begin: open
 *                               the new resources and register every region
 *                               on them while the old ones still serve, so
 *                               the relocation inside the stop only swaps)
 *     ibvirt_relocate           close the old fabric resources, open new ones
 *                               (another address), re-register every region
 *                               under the same vkey, re-post unmatched
 *                               receives; then say hello to each peer over
 *                               the fabric and, once that completed, publish
 *                               the new mapping to it (one connection exists
 *                               before either side replays)
 *     ibvirt_poll ...           until RUNNING (every peer acked the new
 *                               mapping; queued ops replayed in order)
 *   on every peer (q): nothing but carrying control messages both ways and
 *   calling ibvirt_poll; posts to p while p moves are queued and replayed.
 *   ibvirt_close
 *
 * ------------------------------------------------------------------ control path
 * ib-virt never talks to peers except through the fabric data path. Control
 * messages (suspend, acknowledge, publish a mapping) are opaque byte blobs the
 * caller carries (a host backend later; a test carries them by hand):
 * ibvirt_ctrl_take hands out what this NIC wants to send, ibvirt_ctrl_deliver
 * takes what a peer sent. A delivered blob is treated as hostile: it is copied,
 * validated and rejected with IBVIRT_ERR_INVAL when malformed.
 *
 * ------------------------------------------------------------------ threads
 * A NIC is used by one thread at a time (like FI_THREAD_DOMAIN); the caller
 * serializes. Different NICs are independent.
 *
 * ------------------------------------------------------------------ completions
 * ib-virt reserves tag bit 63 for its own hello message and bits 40..59 for
 * the sender's vid; user tags are 40 bits.
 *
 * Every data operation takes a user context and produces exactly one
 * completion (ibvirt_poll) carrying that context, the virtual peer id, the op
 * kind, the length and, for receives, the tag; status 0 or an ibvirt_status.
 * Also queued operations that are failed (peer died) complete, with status
 * IBVIRT_ERR_PEER_DEAD: nothing is dropped silently.
 *
 * ------------------------------------------------------------------ ordering
 * Per pair of peers and per kind the provider's order holds (tcp;ofi_rxm:
 * send-after-send, RMA write-after-write, ...); operations queued during a
 * migration are replayed in the order they were posted, before any later post
 * to the same peer.
 *
 * ------------------------------------------------------------------ tcp;ofi_rxm vs verbs;ofi_rxm
 * Same code. Writes and sends ask for FI_DELIVERY_COMPLETE: a completion means
 * the data is at the target, which the drain step relies on. The tcp provider
 * lets the caller choose MR keys (no FI_MR_PROV_KEY); ib-virt still chooses a
 * key that changes with every registration, so the translation is exercised.
 * verbs requires FI_MR_PROV_KEY | FI_MR_VIRT_ADDR; the table keeps the
 * provider's key and the region's base address for it.
 */
#ifndef IB_VIRT_H
#define IB_VIRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Return codes. 0 is success; every error is negative. */
typedef enum ibvirt_status {
    IBVIRT_OK = 0,
    IBVIRT_ERR_INVAL = -1,       /* bad argument or malformed control blob: fix the caller */
    IBVIRT_ERR_NODEV = -2,       /* the provider is not available here (no HCA, not built) */
    IBVIRT_ERR_NOMEM = -3,       /* allocation failed or a table is full (max_peers/keys/ops) */
    IBVIRT_ERR_AGAIN = -4,       /* resources busy: call ibvirt_poll, then post again */
    IBVIRT_ERR_FABRIC = -5,      /* libfabric returned an error (logged with fi_strerror) */
    IBVIRT_ERR_UNSUPPORTED = -6, /* the provider does not offer this (e.g. this atomic) */
    IBVIRT_ERR_NOPEER = -7,      /* vid has no mapping (never delivered, or removed) */
    IBVIRT_ERR_NOKEY = -8,       /* vkey unknown here or for that peer */
    IBVIRT_ERR_STATE = -9,       /* call not allowed in the current migration state */
    IBVIRT_ERR_PEER_DEAD = -10,  /* the peer died or missed a migration deadline */
    IBVIRT_ERR_TRUNC = -11       /* a received message was longer than the buffer */
} ibvirt_status;

/* Human-readable name of a status; never NULL. */
const char *ibvirt_strerror(int status);

typedef struct ibvirt_nic ibvirt_nic;

#define IBVIRT_ADDR_MAX 64        /* bytes of a physical endpoint address */
#define IBVIRT_TAG_BITS 40        /* user tag width; higher bits carry the source vid */
#define IBVIRT_MAX_PEERS (1u << 20)
#define IBVIRT_ANY_PEER UINT32_MAX

typedef struct ibvirt_open_attr {
    const char *provider;  /* libfabric provider name, "tcp;ofi_rxm" or "verbs;ofi_rxm" */
    const char *node;      /* address to bind (fi_getinfo node), e.g. "127.0.0.1"; NULL: any */
    const char *service;   /* port; NULL or "0": ephemeral */
    uint32_t self;         /* this process's vid (< max_peers) */
    uint32_t max_peers;    /* size of the peer table (<= IBVIRT_MAX_PEERS) */
    uint32_t max_keys;     /* size of the key tables, local and per peer */
    uint32_t max_ops;      /* outstanding + queued operations (0: 1024) */
    uint64_t step_bound_ns;/* bound on each migration step; a peer slower than this is
                              declared dead (0: 2 s) */
} ibvirt_open_attr;

/* Capabilities the opened provider offers (ibvirt_caps). */
#define IBVIRT_CAP_TAGGED     (1u << 0)
#define IBVIRT_CAP_RMA        (1u << 1)
#define IBVIRT_CAP_ATOMIC_SUM (1u << 2) /* fetch-and-add on uint64 */
#define IBVIRT_CAP_ATOMIC_CAS (1u << 3) /* compare-and-swap on uint64 */

/* Open a NIC. On success *out is set and owned by the caller (ibvirt_close).
 * Errors: INVAL (attr NULL, provider NULL, self >= max_peers, max_peers 0 or
 * too big, max_keys 0), NODEV (fi_getinfo found no such provider: no device,
 * the caller should skip), FABRIC (a later libfabric step failed), NOMEM. */
int ibvirt_open(const ibvirt_open_attr *attr, ibvirt_nic **out);

/* Close the NIC and every fabric resource; posted ops are dropped without
 * completions. NULL is allowed. */
void ibvirt_close(ibvirt_nic *nic);

/* IBVIRT_CAP_* bits of the opened provider. */
uint32_t ibvirt_caps(const ibvirt_nic *nic);
/* The provider's name as libfabric reports it (e.g. "tcp;ofi_rxm"). */
const char *ibvirt_provider(const ibvirt_nic *nic);
/* This NIC's current physical address (changes with ibvirt_relocate).
 * *len in: capacity of buf, out: bytes written. Errors: INVAL (too small). */
int ibvirt_local_addr(const ibvirt_nic *nic, void *buf, size_t *len);
/* Number of relocations done (0 after open): lets tests prove a move happened. */
uint32_t ibvirt_epoch(const ibvirt_nic *nic);

/* ------------------------------------------------------------------ memory */
#define IBVIRT_ACCESS_LOCAL  (1u << 0) /* used as a local buffer of my own ops */
#define IBVIRT_ACCESS_REMOTE (1u << 1) /* peers may write/read/atomic into it */

/* Register [buf, buf+len) and return its virtual key in *vkey (the lowest free
 * one). The region keeps that vkey until ibvirt_mr_dereg, also across
 * ibvirt_relocate. Publish it to peers with ibvirt_mapping_export.
 * Errors: INVAL (buf NULL, len 0, access 0), NOMEM (max_keys in use),
 * STATE (during relocation), FABRIC. */
int ibvirt_mr_reg(ibvirt_nic *nic, void *buf, size_t len, uint32_t access, uint32_t *vkey);
/* Errors: NOKEY. A peer still holding the vkey is not told: its next RMA to
 * it fails in the provider. Deregister only after the job agrees the region
 * is unused, and publish the mapping again. */
int ibvirt_mr_dereg(ibvirt_nic *nic, uint32_t vkey);

/* ------------------------------------------------------------------ mapping & control */
/* Write a PUBLISH control blob (my vid, epoch, address, every registered
 * remote-access key) into buf, *len in: capacity, out: bytes. The caller
 * carries it to every peer's ibvirt_ctrl_deliver. Errors: INVAL (too small;
 * ibvirt_ctrl_max_size() always suffices). */
int ibvirt_mapping_export(const ibvirt_nic *nic, void *buf, size_t *len);
/* Upper bound of any control blob this NIC produces. */
size_t ibvirt_ctrl_max_size(const ibvirt_nic *nic);

/* Take the next control blob this NIC wants sent: *dest is the peer's vid,
 * *len in: capacity, out: bytes. Returns 1 when a blob was written, 0 when
 * there is none, INVAL when buf is too small. */
int ibvirt_ctrl_take(ibvirt_nic *nic, uint32_t *dest, void *buf, size_t *len);

/* Hand this NIC a control blob a peer sent (hostile input: validated).
 * PUBLISH: inserts or replaces the peer's address (fi_av_remove of the old,
 * fi_av_insert of the new: its vid keeps naming it) and its keys; acknowledges
 * when it ended a suspension. Errors: INVAL (malformed, from == self, vid out
 * of range), FABRIC (address rejected by the provider). */
int ibvirt_ctrl_deliver(ibvirt_nic *nic, const void *buf, size_t len);
/* The same, for a control path that vouches for the sender (the host
 * backends: ov_frontend_fabric.h): INVAL also when the blob claims another
 * sender than `from`. */
int ibvirt_ctrl_deliver_from(ibvirt_nic *nic, uint32_t from, const void *buf, size_t len);

/* The control path learned that peer vid died: its queued ops complete with
 * PEER_DEAD, a migration stops waiting for it. Errors: INVAL. */
int ibvirt_peer_dead(ibvirt_nic *nic, uint32_t vid);

/* ------------------------------------------------------------------ data path
 * All posts: Errors: INVAL (len 0 where data is needed, NULL buffer), NOPEER,
 * NOKEY (local vkey not registered for ACCESS_LOCAL, or remote vkey unknown
 * for that peer / offset+len beyond its region), AGAIN (provider busy or no
 * free op record: poll and retry), PEER_DEAD, FABRIC. While this NIC or the
 * target peer migrates, a send/RMA/atomic post succeeds and is queued
 * (replayed later, in order). Receives are never held back: one posted on
 * the old endpoint is re-posted on the new one by ibvirt_relocate. */

/* Tagged send of buf (inside local region lkey) to peer with tag < 2^40. */
int ibvirt_tsend(ibvirt_nic *nic, uint32_t peer, const void *buf, size_t len,
                 uint32_t lkey, uint64_t tag, void *context);
/* Tagged receive from peer (or IBVIRT_ANY_PEER) matching tag under ~ignore.
 * The completion names the sender's vid and the tag sent. */
int ibvirt_trecv(ibvirt_nic *nic, uint32_t peer, void *buf, size_t len,
                 uint32_t lkey, uint64_t tag, uint64_t ignore, void *context);
/* RMA: write local buf to / read into local buf from (peer, rkey, offset). */
int ibvirt_write(ibvirt_nic *nic, uint32_t peer, const void *buf, size_t len,
                 uint32_t lkey, uint32_t rkey, uint64_t offset, void *context);
int ibvirt_read(ibvirt_nic *nic, uint32_t peer, void *buf, size_t len,
                uint32_t lkey, uint32_t rkey, uint64_t offset, void *context);

typedef enum ibvirt_atomic_op {
    IBVIRT_ATOMIC_FETCH_ADD = 1, /* *result = old; remote += operand */
    IBVIRT_ATOMIC_CSWAP = 2      /* *result = old; if old == compare: remote = operand */
} ibvirt_atomic_op;
/* 64-bit atomic on (peer, rkey, offset), offset 8-aligned; result (8 bytes in
 * region lkey) holds the old value at completion. UNSUPPORTED when
 * ibvirt_caps lacks the matching IBVIRT_CAP_ATOMIC_* bit. */
int ibvirt_atomic(ibvirt_nic *nic, uint32_t peer, ibvirt_atomic_op op,
                  uint64_t operand, uint64_t compare, uint64_t *result, uint32_t lkey,
                  uint32_t rkey, uint64_t offset, void *context);

typedef enum ibvirt_op_kind {
    IBVIRT_OP_SEND = 1, IBVIRT_OP_RECV, IBVIRT_OP_WRITE, IBVIRT_OP_READ, IBVIRT_OP_ATOMIC
} ibvirt_op_kind;

typedef struct ibvirt_completion {
    void *context;      /* as posted */
    uint32_t peer;      /* virtual peer id (for a receive: the sender's) */
    uint32_t kind;      /* ibvirt_op_kind */
    int32_t status;     /* 0 or an ibvirt_status */
    uint32_t pad;
    uint64_t len;       /* bytes transferred (receive: bytes received) */
    uint64_t tag;       /* receive: the tag sent (user bits only) */
} ibvirt_completion;

/* Progress the provider and the migration; return up to max completions in
 * out (>= 0: how many) or FABRIC. Call it often: rxm needs it to connect. */
int ibvirt_poll(ibvirt_nic *nic, ibvirt_completion *out, int max);

/* ------------------------------------------------------------------ migration */
typedef enum ibvirt_migrate_state {
    IBVIRT_MIG_RUNNING = 0,   /* normal operation */
    IBVIRT_MIG_DRAINING = 1,  /* suspended: waiting for in-flight ops and peers' acks */
    IBVIRT_MIG_READY = 2,     /* drained and acknowledged: call ibvirt_relocate */
    IBVIRT_MIG_PUBLISHING = 3 /* relocated: waiting for peers to take the new mapping */
} ibvirt_migrate_state;

/* Suspend this NIC to move it. Errors: STATE (not RUNNING). */
int ibvirt_migrate_begin(ibvirt_nic *nic);
ibvirt_migrate_state ibvirt_migrate_state_of(const ibvirt_nic *nic);
/* In READY: close the fabric resources, open new ones bound to node/service
 * (the new host's address), re-register every region under its vkey, re-insert
 * every peer, re-post recorded receives, queue a PUBLISH to each peer.
 * Errors: STATE (not READY), NODEV/FABRIC (the new resources could not be
 * opened: the NIC is unusable, close it). */
int ibvirt_relocate(ibvirt_nic *nic, const char *node, const char *service);

/* In any state (before ibvirt_migrate_begin, to keep it out of the stop):
 * open the fabric resources a later ibvirt_relocate(nic, node, service)
 * with the same node and service will use, and register every region on
 * them (regions registered or deregistered meanwhile follow). The current
 * resources keep serving; nothing is published. That relocation then only
 * closes the old resources and swaps these in; a relocation to another
 * node closes them and opens its own. Calling it again replaces them.
 * Errors: INVAL (nic NULL), NODEV/FABRIC/NOMEM (nothing prepared, the NIC
 * unchanged). */
int ibvirt_relocate_prepare(ibvirt_nic *nic, const char *node, const char *service);
/* Close what ibvirt_relocate_prepare opened (an abandoned move); nothing
 * when nothing is prepared. ibvirt_close does it too. */
void ibvirt_relocate_cancel(ibvirt_nic *nic);

#ifdef __cplusplus
}
#endif
#endif /* IB_VIRT_H */
