/*
 * ov_protocol.h — contract between a frontend (an MPI process inside a guest)
 * and the host backend (ompi-virt-backend).  MPI-free; included by both sides,
 * by the unit tests and by the fuzz target.
 *
 * ---------------------------------------------------------------- lifecycle
 *
 *   frontend                                   backend
 *   connect(uri)  ----------------------------> accept         conn state NEW
 *   HELLO {job_secret, rank, pid, guest} ----> identity check  -> HELLO
 *             <----- HELLO reply {proc_id, backend_instance, layout_version}
 *   ATTACH {} ---------------------------------> region of (guest, job) created
 *             <----- ATTACH reply {region_size, mode} + memfd  -> ATTACHED
 *                    (tcp, declared VM: mode IVSHMEM, no fd)
 *   (role BTL instead: BTL_SEGMENT {nranks} --> the job's btl segment + memfd)
 *   RINGS {rq_slots, cq_slots} ---------------> process block allocated
 *             <----- RINGS reply {offsets}  + doorbell eventfd -> READY
 *                    (tcp: no fd; the frontend KICKs instead)
 *   WIN_CREATE / WIN_REGISTER / WIN_FREE / GRANT / REVOKE  (READY only)
 *   data plane: descriptors on the request ring, completions on the
 *               completion ring (see "data plane" below)
 *   KICK (no payload, NO reply) ---------------> wakes a sleeping backend (tcp)
 *   DETACH {} ---------------------------------> releases everything -> closed
 *   (or: the socket closes, or -- unix peers -- the process that connected
 *   exits (pidfd, even if a forked child keeps the socket): same release)
 *
 *   STATUS may be sent in state NEW by an admin connection (peer in the
 *   backend's own network namespace); guests get OV_ERR_DENIED.
 *
 * Forbidden transitions get OV_ERR_STATE and the connection stays usable
 * (HELLO twice, ATTACH before HELLO, RINGS before ATTACH, RINGS twice,
 * WIN_* before RINGS).  A message that cannot be decoded (bad magic, version,
 * unknown type, wrong payload length, non-zero reserved bytes, unterminated
 * string) gets an OV_ERR_PROTO reply (OV_ERR_VERSION for a version
 * mismatch) that echoes the request's type and seq, whatever they were, and
 * then the backend closes the connection, which releases the process like a
 * death.
 *
 * ---------------------------------------------------------------- framing
 *
 * Every control message, in both directions, is an ov_msg_hdr followed by
 * exactly `len` payload bytes (len <= OV_MSG_MAX_PAYLOAD).  Every request but
 * KICK (and BTL_REG/BTL_DEREG that succeed) gets exactly one reply with the same `seq` and type | OV_MSG_REPLY; the payload
 * of every reply starts with an int32 ov_status_t.  File descriptors travel
 * as SCM_RIGHTS ancillary data on the reply header (unix transport only);
 * the backend closes any descriptor a frontend sends it.
 *
 * ---------------------------------------------------------------- identity
 *
 * A process is (job, rank) and lives in a guest, named by HELLO.guest.
 * A job is named by its secret (HELLO.job_secret, 256 bits every rank of the
 * job knows and no other tenant can learn: common/ov_job_id.h); the backend
 * keys the job by the whole secret and shows only the public key derived
 * from it (ov_job_public_key), never the secret.  Two secrets with the same
 * public key while the first job lives: the second gets OV_ERR_DENIED.
 * On the unix transport the backend binds a guest name to the kernel
 * identity of the first peer that claims it (network namespace inode via
 * SO_PEERCRED + /proc/PID/ns/net); a later claim from another namespace gets
 * OV_ERR_DENIED.  A rank of a job is bound to the guest of the first process
 * that claims it, for as long as any process of the job is connected: a
 * claim from another guest gets OV_ERR_DENIED, a second claim while the
 * first claimant lives OV_ERR_EXISTS; a job binds at most as many ranks as
 * the backend has process slots (OV_ERR_NOMEM beyond).  Each (guest, job) has its own region,
 * so no guest (and no other job in the same guest) can map another's
 * memory.  Cross-guest access exists only through GRANTs, only inside one
 * job.
 *
 * Over TCP there is no kernel identity but the source address.  A guest
 * name the backend declares as a VM (--vm NAME=FILE[,peer=IP]) may be
 * ATTACHed only over TCP and only from `peer` (without peer=: from the
 * address of the first claimer, while the VM's region lives); anything else
 * gets OV_ERR_DENIED.  An undeclared name can never ATTACH over TCP.
 *
 * ---------------------------------------------------------------- quotas
 *
 * Everything guests share is limited per guest (a guest is its kernel
 * identity: the peer's network namespace on the unix transport, the source
 * address over TCP), per job (job_key) and backend-wide: connections,
 * processes (HELLO), windows (WIN_CREATE, WIN_REGISTER) and region bytes
 * (WIN_CREATE, RINGS).  A request over a limit gets OV_ERR_QUOTA and the
 * 32 bits after the status in its reply (proc_id, map_mode, rq_slots,
 * win_id or reserved: every reply has them) hold the ov_limit it hit; the
 * connection stays usable.  A connection over its guest's or the
 * backend's connection limit is answered at accept, before it sent
 * anything, by one unsolicited reply (type HELLO | OV_MSG_REPLY, seq 0,
 * an ov_simple_rep {OV_ERR_QUOTA, limit}) and closed.  The backend's own
 * open files are such a limit too (OV_LIMIT_BACKEND_FDS): a connection that
 * would leave it fewer than a few free descriptors is refused at accept
 * the same way, and a RINGS whose doorbell it cannot make is answered
 * OV_ERR_QUOTA naming it.  A connection that
 * stops in the middle of a message, or sends no HELLO, for the backend's
 * stall timeout (--stall-ms) is closed.  `ompi-virt status` shows usage
 * against every limit.
 *
 * ---------------------------------------------------------------- transports
 *
 * unix:PATH   control + region fd (memfd, sealed against shrink/grow) +
 *             doorbell eventfd.  OV_MAP_MEMFD.
 * tcp:H:P     control only, no fds.  For a guest declared as a VM, ATTACH
 *             replies OV_MAP_IVSHMEM: the region is the host file the VM's
 *             QEMU maps as its ivshmem-plain BAR, and the frontend mmaps
 *             /sys/bus/pci/devices/D/resource2 (vendor 0x1af4, device 0x1110,
 *             resource2 of region_size bytes, header with the HELLO's
 *             backend_instance and the job's job_key; $OMPI_VIRT_IVSHMEM_PATH
 *             names the file instead).  One region per VM: a second job in
 *             the same VM gets OV_ERR_BUSY until the first is gone.  Any
 *             other guest: ATTACH replies OV_ERR_NO_FD_TRANSPORT.
 *
 * ---------------------------------------------------------------- data plane
 *
 * Request ring (frontend produces ov_req_desc, backend consumes) and
 * completion ring (backend produces ov_completion, frontend consumes), both in
 * the process block of the guest region (ov_layout.h, ov_ring.h).  Each
 * descriptor gets exactly one completion, in ring order.  The backend copies a
 * descriptor out of the ring ONCE, validates the copy (ov_validate in
 * backend/validate.h: reserved fields, op, datatype size, windows, epoch,
 * grant, bounds with overflow-safe arithmetic, length limit), then executes.
 * A bad descriptor gets an error completion; memory outside the granted
 * window range is never touched.  The backend consumes a descriptor only when
 * a completion slot is free, so a frontend that does not drain completions
 * only stalls itself.  Ring indices that are impossible (more entries than
 * slots) mark the process corrupt: the backend closes its connection.
 *
 * Notification: frontend sets ov_proc_ctl.fe_waiting, re-checks, futex-waits
 * on cq_seq; the backend bumps cq_seq and FUTEX_WAKEs after posting if
 * fe_waiting.  The backend spins, then sets backend_sleeping in every process
 * block, re-checks, and sleeps in epoll; a frontend that sees backend_sleeping
 * after publishing a descriptor writes 1 to its doorbell eventfd.  Both sides
 * use seq_cst fences between "publish" and "check the other's flag".
 *
 * VM frontends (tcp, IVSHMEM) have neither an eventfd nor a futex shared
 * with the host.  Instead of the doorbell they send KICK on the control
 * connection, under the same rule (only when backend_sleeping is seen after
 * publishing, so a busy backend gets none, and only if the socket has room:
 * a full socket already wakes the backend).  The backend's epoll sees the
 * readable socket and discards the KICK, so an idle backend still uses no
 * CPU.  For completions they never set fe_waiting; they spin, then poll the
 * completion ring with sleeps that double from 50 us to 1 ms.  KICK is
 * ignored in any state; a KICK with a payload is OV_ERR_PROTO.
 */
#ifndef OMPI_VIRT_COMMON_OV_PROTOCOL_H
#define OMPI_VIRT_COMMON_OV_PROTOCOL_H

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

/* ---------------------------------------------------------------- status codes
 * One status type everywhere (frontend API, control replies, completions).
 * "caller does" says what the frontend (osc virt / btl vmshm) should do. */
enum ov_status : int32_t {
    OV_OK = 0,
    /* -- local / control plane -- */
    OV_ERR_AGAIN = -1,           /* ring full or nothing completed yet: progress, retry */
    OV_ERR_TIMEOUT = -2,         /* bounded wait expired, backend alive but silent: fail the op (MPI_ERR_OTHER) */
    OV_ERR_BACKEND_GONE = -3,    /* control socket closed / backend shut down: fail, do not retry on this handle; reconnect later */
    OV_ERR_SYS = -4,             /* a system call failed (errno in ov_fe_last_error): fail */
    OV_ERR_PROTO = -5,           /* malformed control message: connection is closed; fail */
    OV_ERR_VERSION = -6,         /* protocol or layout version mismatch: disable the component */
    OV_ERR_STATE = -7,           /* message not allowed in this connection state: programming error */
    OV_ERR_DENIED = -8,          /* identity check failed (guest name bound to another namespace, rank bound to
                                  * another guest, job public key taken by another secret), or STATUS from a guest */
    OV_ERR_NOMEM = -9,           /* region heap or a backend table is full: fall back / MPI_ERR_NO_MEM */
    OV_ERR_NO_FD_TRANSPORT = -10,/* transport cannot pass the region (tcp): disable the shared-memory path */
    OV_ERR_BAD_ARG = -11,        /* invalid argument to a frontend call or control request */
    OV_ERR_RING_CORRUPT = -12,   /* impossible ring indices: peer is broken; connection closed */
    OV_ERR_BUSY = -13,           /* another backend holds the directory lock; or ATTACH: the VM's one
                                  * region serves another job now: fall back (osc pt2pt) */
    OV_ERR_LAYOUT = -14,         /* region header magic/version/size mismatch on attach: disable */
    OV_ERR_EXISTS = -15,         /* (job, rank) held by another live process */
    OV_ERR_NOT_SUPPORTED = -16,  /* mapping mode or feature not implemented */
    /* -- request validation: the status of an error completion -- */
    OV_ERR_BAD_OP = -20,         /* unknown op, or acc_op not valid for dtype_kind: MPI_ERR_OP */
    OV_ERR_BAD_FLAGS = -21,      /* unknown flag bits, flag not valid for the op, or a field that must be 0 is not: MPI_ERR_ARG */
    OV_ERR_BAD_DTYPE = -22,      /* unknown kind, size not valid for the kind, length not a multiple,
                                  * CAS length != dtype_size: MPI_ERR_TYPE */
    OV_ERR_NO_WINDOW = -23,      /* no live window with this id that the caller owns or holds a grant on (one
                                  * answer for "none" and "not yours", so ids cannot be mapped): MPI_ERR_WIN */
    OV_ERR_STALE_WINDOW = -24,   /* window epoch (generation) differs, told only to a holder of the window now
                                  * under that id; or its registered owner is gone: MPI_ERR_WIN */
    OV_ERR_NO_GRANT = -25,       /* no longer returned (folded into OV_ERR_NO_WINDOW); kept for old frontends */
    OV_ERR_PERM = -26,           /* grant lacks read (get) or write (put) permission: MPI_ERR_RMA_ATTACH */
    OV_ERR_BOUNDS = -27,         /* offset+length outside the target or local window, or target memory of
                                  * a registered window its owner no longer maps: MPI_ERR_RMA_RANGE */
    OV_ERR_TOO_LARGE = -28,      /* length above the backend's per-request limit: split and resubmit */
    OV_ERR_LOCAL_ACCESS = -29,   /* local window not owned by the caller, or stale; or a LOCAL_VA address the
                                  * kernel refused (EFAULT): MPI_ERR_BUFFER */
    OV_ERR_LOCK_BUSY = -30,      /* LOCK: held by another process in a conflicting mode: retry later */
    OV_ERR_LOCK_STATE = -31,     /* LOCK of a slot the caller already holds, UNLOCK of one it does not: MPI_ERR_RMA_SYNC */
    /* -- per-tenant limits -- */
    OV_ERR_QUOTA = -32,          /* a per-guest, per-job or backend-wide limit is reached (the reply names it,
                                  * see "quotas"): free something or ask the host admin to raise it;
                                  * MPI_ERR_NO_MEM (osc virt falls back where it can) */
};
typedef enum ov_status ov_status_t;

extern "C" const char *ov_strerror(ov_status_t s) noexcept;

/* ---------------------------------------------------------------- control messages */
#define OV_MSG_MAGIC 0x4f564d31u /* "OVM1" */
#define OV_PROTOCOL_VERSION 3u /* 3: HELLO carries the job's secret and a role; BTL_SEGMENT */
#define OV_MSG_MAX_PAYLOAD (1u << 20)
#define OV_MSG_REPLY 0x8000u
#define OV_GUEST_NAME_MAX 32 /* including the terminating NUL */
#define OV_JOB_SECRET_BYTES 32

/* The limit an OV_ERR_QUOTA reply names (ov_limit_name() gives its text). */
enum ov_limit : uint32_t {
    OV_LIMIT_NONE = 0, /* (a job's connections are its processes: no limit of their own) */
    OV_LIMIT_GUEST_CONNS, OV_LIMIT_GUEST_PROCS, OV_LIMIT_GUEST_WINDOWS, OV_LIMIT_GUEST_REGION_BYTES,
    OV_LIMIT_JOB_PROCS, OV_LIMIT_JOB_WINDOWS, OV_LIMIT_JOB_REGION_BYTES,
    OV_LIMIT_CONNS, OV_LIMIT_PROCS, OV_LIMIT_WINDOWS, OV_LIMIT_REGION_BYTES,
    OV_LIMIT_JOB_FABRIC_MAPPINGS = 32, OV_LIMIT_JOB_FABRIC_QUEUE, /* fabric mappings (backend/fabric_mappings.h) */
    OV_LIMIT_BACKEND_FDS = 40, /* the backend's open files (RLIMIT_NOFILE): a connection refused at accept,
                                  or RINGS whose doorbell could not be made (backend/server.cc) */
    OV_LIMIT_MAX,
};
extern "C" const char *ov_limit_name(uint32_t limit) noexcept;

enum ov_msg_type : uint16_t {
    OV_MSG_HELLO = 1,      /* ov_hello_req   -> ov_hello_rep */
    OV_MSG_ATTACH = 2,     /* ov_attach_req  -> ov_attach_rep + region fd */
    OV_MSG_RINGS = 3,      /* ov_rings_req   -> ov_rings_rep + doorbell eventfd */
    OV_MSG_WIN_CREATE = 4, /* ov_win_create_req -> ov_win_create_rep */
    OV_MSG_WIN_FREE = 5,   /* ov_win_ref_req -> ov_simple_rep */
    OV_MSG_GRANT = 6,      /* ov_grant_req   -> ov_simple_rep */
    OV_MSG_REVOKE = 7,     /* ov_grant_req (perms must be 0) -> ov_simple_rep */
    OV_MSG_STATUS = 8,     /* ov_status_req  -> one page of records (backend/wire.h) */
    OV_MSG_DETACH = 9,     /* ov_detach_req  -> ov_simple_rep, then the backend closes */
    OV_MSG_KICK = 10,      /* no payload, no reply: wake the backend (tcp frontends) */
    OV_MSG_WIN_REGISTER = 11, /* ov_win_register_req -> ov_win_create_rep (OV_FEAT_USER_WINDOWS) */
    OV_MSG_BTL_SEGMENT = 12,  /* ov_btl_segment_req -> ov_btl_segment_rep + segment fd (role BTL) */
    /* 20..22: btl vmshm's single copy (OV_FEAT_BTL_RDMA; common/ov_btl_rdma_proto.h) */
    OV_MSG_BTL_REG = 20,      /* ov_btl_reg_req   -> ov_simple_rep, only when refused */
    OV_MSG_BTL_DEREG = 21,    /* ov_btl_dereg_req -> ov_simple_rep, only when refused */
    OV_MSG_BTL_RDMA = 22,     /* ov_btl_rdma_req  -> ov_btl_rdma_rep */
    /* 30-39: fabric mappings (OV_FEAT_FABRIC; "fabric mappings" below) */
    OV_MSG_FABRIC_PUBLISH = 30, /* ov_fabric_publish_req + blob -> ov_simple_rep */
    OV_MSG_FABRIC_SEND = 31,    /* ov_fabric_send_req + blob -> ov_simple_rep */
    OV_MSG_FABRIC_TAKE = 32,    /* ov_fabric_take_req -> ov_fabric_take_rep + entries */
    OV_MSG_FABRIC_LOOKUP = 33,  /* ov_fabric_lookup_req -> ov_fabric_lookup_rep + blob */
    OV_MSG_TYPE_MAX = 34,      /* types between those above and this one are unused: OV_ERR_PROTO */
};

struct ov_msg_hdr {   /* written by the sender */
    uint32_t magic;   /* OV_MSG_MAGIC */
    uint16_t version; /* OV_PROTOCOL_VERSION */
    uint16_t type;    /* ov_msg_type, | OV_MSG_REPLY on replies */
    uint32_t len;     /* payload bytes following the header */
    uint32_t seq;     /* chosen by the requester, echoed in the reply */
};

struct ov_hello_req {                 /* frontend */
    unsigned char job_secret[OV_JOB_SECRET_BYTES]; /* the job's identity (ov_job_id.h): never logged */
    uint32_t rank;                    /* rank in the job */
    uint32_t pid;                     /* pid as the guest sees it (informational) */
    char guest[OV_GUEST_NAME_MAX];    /* NUL-terminated, [A-Za-z0-9._-], non-empty */
    uint32_t role;                    /* ov_hello_role */
    uint32_t reserved0;               /* must be 0 */
    uint64_t reserved[1];             /* must be 0 */
};
/* What a connection is for.  A process may hold one connection per role:
 * (job_key, rank, role) is unique among live connections.  A BTL connection
 * asks only for BTL_SEGMENT (ATTACH, RINGS, WIN_* get OV_ERR_STATE); an OSC
 * connection never gets a segment (OV_ERR_STATE). */
enum ov_hello_role : uint32_t {
    OV_ROLE_OSC = 0, /* osc virt: region, rings, windows */
    OV_ROLE_BTL = 1, /* btl vmshm: the job's segment */
    OV_ROLE_MAX = 2,
};
struct ov_hello_rep {
    int32_t status;
    uint32_t proc_id;                 /* backend's handle for this process */
    uint64_t backend_instance;        /* changes on every backend start */
    uint32_t layout_version;          /* OV_LAYOUT_VERSION of the backend */
    uint32_t features;                /* OV_FEAT_* this backend offers this connection */
};
#define OV_FEAT_SINGLE_COPY 0x1u /* OV_REQ_LOCAL_VA accepted (unix peer with a known pid,
                                  * backend started with single copy enabled, the peer's
                                  * uids and gids uniform and it dumpable, the backend able
                                  * to act as its uid: backend/single_copy.h).  Reaches only
                                  * the image the peer had at HELLO: after an exec (or
                                  * exit) every single-copy access fails */
#define OV_FEAT_USER_WINDOWS 0x2u /* WIN_REGISTER accepted (offered with SINGLE_COPY); a
                                   * frontend never sends it otherwise (an older backend
                                   * would take it for a malformed message) */
#define OV_FEAT_STREAM 0x4u /* OV_REQ_STREAM accepted (an older backend refuses the flag
                             * with OV_ERR_BAD_FLAGS, so a frontend sets it only if offered) */
#define OV_FEAT_FABRIC 0x10000u /* FABRIC_* accepted (below); a frontend sends them only if offered */
#define OV_FEAT_INLINE 0x8u /* OV_REQ_INLINE accepted (same: set it only if offered) */
#define OV_FEAT_QUIET 0x100000u /* OV_REQ_QUIET accepted (same: set it only if offered) */
#define OV_FEAT_BATCH 0x800000u /* OV_REQ_BATCH accepted (same: set it only if offered) */
#define OV_FEAT_BTL_RDMA 0x10u /* role BTL: BTL_REG/BTL_DEREG/BTL_RDMA accepted (the same
                                * conditions and image pinning as OV_FEAT_SINGLE_COPY);
                                * common/ov_btl_rdma_proto.h */
struct ov_attach_req { uint64_t reserved; /* must be 0 */ };
enum ov_map_mode : uint32_t { OV_MAP_MEMFD = 1, OV_MAP_IVSHMEM = 2 };
struct ov_attach_rep {
    int32_t status;
    uint32_t map_mode;                /* ov_map_mode; MEMFD: region fd attached */
    uint64_t region_size;             /* bytes to mmap */
};
struct ov_rings_req {
    uint32_t rq_slots;                /* power of two, OV_RING_MIN_SLOTS..OV_RING_MAX_SLOTS */
    uint32_t cq_slots;                /* power of two, >= rq_slots */
};
struct ov_rings_rep {
    int32_t status;
    uint32_t rq_slots, cq_slots;
    uint32_t reserved;
    uint64_t ctl_off;                 /* region offset of ov_proc_ctl */
    uint64_t rq_off;                  /* region offset of the request ring (ov_ring_idx + slots) */
    uint64_t cq_off;                  /* region offset of the completion ring */
};
struct ov_win_create_req { uint64_t size; /* 1..region heap size */ uint64_t reserved; };
struct ov_win_create_rep {
    int32_t status;
    uint32_t win_id;                  /* backend-wide window id, never 0 */
    uint32_t win_epoch;               /* generation; bumped when the id is freed */
    uint32_t reserved;
    uint64_t offset;                  /* region offset of the window memory (64-byte aligned) */
    uint64_t size;
};
/* WIN_REGISTER: a window over [addr, +size) of the registering process's
 * own memory instead of the region.  The backend reaches it with
 * process_vm_readv/writev on that process; every op works on it, as the
 * target (owner and grantees alike) and as the owner's local window.  size
 * 0, addr 0, a range that wraps, or memory whose first or last byte the
 * kernel refuses at registration: OV_ERR_BAD_ARG.  No OV_FEAT_USER_WINDOWS:
 * OV_ERR_NOT_SUPPORTED.  The reply's offset is 0 (not in the region).  The
 * memory must stay mapped until WIN_FREE: a request that finds it unmapped
 * completes OV_ERR_BOUNDS (like a detached dynamic-window range). */
struct ov_win_register_req { uint64_t addr, size; };
struct ov_win_ref_req { uint32_t win_id, win_epoch; };
#define OV_PERM_READ 1u
#define OV_PERM_WRITE 2u
struct ov_grant_req {
    uint32_t win_id, win_epoch;       /* window owned by the sender */
    uint32_t grantee_rank;            /* a rank of the sender's job */
    uint32_t perms;                   /* OV_PERM_* (GRANT: non-zero; REVOKE: 0) */
};
struct ov_detach_req { uint64_t reserved; };
/* BTL_SEGMENT (state HELLO, role BTL, unix transport): the one segment of the
 * sender's job on this backend (common/ov_btl_segment.h), created by the
 * first request of the job and laid out for `nranks` rank slots; later
 * requests of the job must name the same nranks.  The reply carries the
 * segment's memfd (sealed) and marks the sender's rank slot present until its
 * connection closes; the segment is freed with its last holder.
 * vm mode (tcp, the guest declared as a VM with --vm): no descriptor; the
 * backend plugs the segment into the VM as an ivshmem-plain device whose BAR
 * (ov_bseg_bar_size(segment_size) bytes) holds it, before it replies; the
 * frontend finds that device by its header (docs/btl-vmshm.md "vm mode").
 * Errors: OV_ERR_STATE (not HELLOed, role OSC, or asked twice);
 * OV_ERR_NO_FD_TRANSPORT (tcp, and the guest is not a declared VM);
 * OV_ERR_DENIED (a VM's name claimed from another address, or over unix);
 * OV_ERR_NOT_SUPPORTED (the VM has no way to receive a device: no pci= in
 * its declaration; or the job's segment is of the other kind, memfd for
 * containers / file for VMs); OV_ERR_BAD_ARG
 * (nranks 0, rank >= nranks, or nranks differs from the job's segment);
 * OV_ERR_TOO_LARGE (nranks > OV_BSEG_MAX_RANKS); OV_ERR_EXISTS (the rank's
 * slot is held by another connection); OV_ERR_NOMEM. */
struct ov_btl_segment_req { uint32_t nranks; uint32_t reserved0; uint64_t reserved; };
struct ov_btl_segment_rep {
    int32_t status;
    uint32_t nranks;                  /* rank slots of the segment */
    uint64_t segment_size;            /* bytes to mmap */
    uint64_t segment_id;              /* backend-wide id (also in the segment header) */
};
/* ---------------------------------------------------------------- fabric mappings
 * The control path of ib-virt (ib-virt/ib_virt.h) through the backends: a
 * process's fabric mapping (its ib-virt PUBLISH blob: virtual id -> physical
 * address and keys) and its migration handshake blobs travel guest ->
 * backend -> (other hosts' backends, backend/fabric_link.h) -> guest.  The
 * data path never touches a backend.  Any HELLOed connection; its virtual id
 * is its HELLO rank (the backend never takes one from the guest), its job
 * the job it proved.  Blobs are opaque to the backend, 1..OV_FABRIC_BLOB_MAX
 * bytes.  A process PUBLISHes before anything else (the backend learns its
 * job's link key then).
 *   FABRIC_PUBLISH  records (job, rank) -> {epoch, blob} here, makes this
 *                   connection the rank's location, and carries the record
 *                   to the backends of the other hosts that serve the job.
 *                   OV_ERR_EXISTS: another live connection here holds the rank.
 *   FABRIC_SEND     delivers blob to rank `dest` of the same job, wherever its
 *                   location is (here: its mailbox; another host: through the
 *                   link).  OV_ERR_BAD_ARG: dest unknown (no record yet: retry).
 *   FABRIC_TAKE     takes blobs from this connection's mailbox, oldest first,
 *                   at most max_bytes of entries (0: OV_FABRIC_TAKE_MAX):
 *                   count entries ov_fabric_entry + len bytes, each padded to 8.
 *   FABRIC_LOOKUP   the current record of rank vid of the job (OV_ERR_BAD_ARG
 *                   when there is none).
 *   Errors: OV_ERR_STATE (before HELLO, or TAKE/SEND/LOOKUP before PUBLISH),
 *   OV_ERR_PROTO (malformed: connection closed), OV_ERR_QUOTA with
 *   OV_LIMIT_JOB_FABRIC_MAPPINGS (records of the job) or
 *   OV_LIMIT_JOB_FABRIC_QUEUE (undelivered bytes of the job). */
#define OV_FABRIC_BLOB_MAX 4096u
#define OV_FABRIC_TAKE_MAX (32u << 10)
struct ov_fabric_publish_req { uint32_t epoch; uint32_t len; uint64_t reserved; /* + len blob bytes */ };
struct ov_fabric_send_req { uint32_t dest; uint32_t len; uint64_t reserved; /* + len blob bytes */ };
struct ov_fabric_take_req { uint32_t max_bytes; uint32_t reserved; };
struct ov_fabric_take_rep { int32_t status; uint32_t count; uint32_t more; uint32_t reserved; };
struct ov_fabric_entry { uint32_t from; uint32_t len; /* + len bytes, padded to 8 */ };
struct ov_fabric_lookup_req { uint32_t vid; uint32_t reserved; };
struct ov_fabric_lookup_rep {
    int32_t status;
    uint32_t epoch;
    uint32_t len;    /* blob bytes that follow */
    uint32_t remote; /* 1: the rank lives on another host */
};

struct ov_status_req {             /* pages: a reply holds at most OV_STATUS_PAGE bytes */
    uint32_t first;                   /* index of the first record wanted (0: from the start) */
    uint32_t reserved;                /* must be 0 */
};
#define OV_STATUS_PAGE (48u << 10) /* fits an empty socket buffer: sent without blocking */
struct ov_simple_rep { int32_t status; uint32_t reserved; };

/* ---------------------------------------------------------------- data plane */
enum ov_req_op : uint16_t {
    OV_OP_NOP = 0,     /* no memory access; completes with OV_OK */
    OV_OP_PUT = 1,     /* origin [local_off, +length) -> target [target_off, +length) */
    OV_OP_GET = 2,     /* target -> origin */
    OV_OP_ACC = 3,     /* per element: target[i] = acc_op(target[i], origin[i]);
                        * acc_op NO_OP changes nothing and reads no origin */
    OV_OP_GET_ACC = 4, /* per element: result[i] = target[i]; target[i] = acc_op(target[i], origin[i]);
                        * acc_op NO_OP leaves target alone and reads no origin (fetch only) */
    OV_OP_CAS = 5,     /* one element (length == dtype_size): result = target;
                        * if target == compare (bytewise) then target = origin.
                        * origin at local_off, compare at local_off + dtype_size */
    OV_OP_LOCK = 6,    /* acquire lock slot `target_off` of the target window, shared, or
                        * exclusive with OV_REQ_EXCLUSIVE.  Never waits: completes OV_OK
                        * (held) or OV_ERR_LOCK_BUSY (retry later); OV_ERR_NOMEM when the
                        * caller holds 65536 locks or the backend 2^21 (bounded state).
                        * length, dtype and local fields ignored. */
    OV_OP_UNLOCK = 7,  /* release the caller's lock on that slot; OV_ERR_LOCK_STATE if not held */
    OV_OP_MAX = 8,
};

/* Element arithmetic of OV_OP_ACC / OV_OP_GET_ACC.  The backend is the only
 * agent that executes accumulates on a window's memory and runs one
 * descriptor at a time, so every accumulate is atomic per element (and
 * per descriptor) with respect to every other backend request; requests of
 * one process are executed in ring order (MPI's default accumulate_ordering
 * rar,raw,war,waw holds).  Which acc_op is valid for which dtype_kind is
 * MPI's table (MPI-3.1 5.9.2), checked by ov_acc_valid() (ov_acc.h). */
enum ov_acc_op : uint8_t {
    OV_ACC_NONE = 0, /* PUT, GET, CAS, LOCK, UNLOCK, NOP: must be 0 */
    OV_ACC_SUM = 1, OV_ACC_PROD, OV_ACC_MIN, OV_ACC_MAX,
    OV_ACC_LAND, OV_ACC_LOR, OV_ACC_LXOR,
    OV_ACC_BAND, OV_ACC_BOR, OV_ACC_BXOR,
    OV_ACC_REPLACE, OV_ACC_NO_OP,
    OV_ACC_MAX_OP,
};

/* What an element is.  dtype_size says how wide:
 *   BYTES    any size in {1,2,4,8,16,32}: opaque (PUT/GET, REPLACE, NO_OP, BAND/BOR/BXOR, CAS)
 *   INT      signed two's complement, 1/2/4/8
 *   UINT     unsigned, 1/2/4/8
 *   FLOAT    IEEE float 4, double 8, x86 long double 16 (80-bit in 16 bytes)
 *   COMPLEX  pair of FLOAT: 8, 16, 32
 *   BOOL     C _Bool, 1 (0 false, else true; results are 0/1)
 *   LOGICAL  Fortran LOGICAL, 4 (0 false, else true; results are 0/1) */
enum ov_dtype_kind : uint8_t {
    OV_DT_BYTES = 0, OV_DT_INT, OV_DT_UINT, OV_DT_FLOAT, OV_DT_COMPLEX, OV_DT_BOOL, OV_DT_LOGICAL,
    OV_DT_KIND_MAX,
};

/* ov_req_desc.flags */
#define OV_REQ_LOCAL_VA 0x1u  /* local_off and result_off are virtual addresses in the
                               * caller's own process, the one that connected, as it was at
                               * HELLO (single copy,
                               * container guests only:
                               * the backend reads/writes them with process_vm_readv/writev).
                               * local_win/local_epoch must be 0.  OV_ERR_NOT_SUPPORTED unless
                               * HELLO reply features has OV_FEAT_SINGLE_COPY. */
#define OV_REQ_EXCLUSIVE 0x2u /* OV_OP_LOCK only */
#define OV_REQ_STREAM 0x4u    /* OV_OP_PUT only, a hint: the target bytes are written once and
                               * not read again soon (a large transfer), so the backend may
                               * write them with non-temporal stores instead of first reading
                               * every line into its cache.  Same result either way. */
#define OV_REQ_INLINE 0x8u    /* PUT, GET, ACC, GET_ACC, CAS: the caller's operands travel in
                               * the rings, not in a local window: the origin bytes (CAS:
                               * origin then compare) in the descriptor's 16 bytes from
                               * local_win on (ov_req_inline_origin), at most
                               * OV_INLINE_ORIGIN_MAX; the result bytes (GET, GET_ACC, CAS)
                               * in the completion's inline_result, at most
                               * OV_INLINE_RESULT_MAX (longer: OV_ERR_TOO_LARGE).  Not with
                               * LOCAL_VA; result_off must be 0.  Saves the origin's staging
                               * bookkeeping and one cache line crossing between the cores
                               * per small operation.  OV_ERR_NOT_SUPPORTED unless HELLO
                               * reply features has OV_FEAT_INLINE. */
#define OV_INLINE_ORIGIN_MAX 16u
#define OV_INLINE_RESULT_MAX 8u
#define OV_REQ_QUIET 0x8000u  /* PUT and ACC only: no completion when the request succeeds;
                               * one that fails still gets its error completion, in ring order
                               * as always.  The caller learns that a quiet request is done
                               * from the completion of any later request (ring order: a NOP
                               * will do), so many small operations before one flush cost the
                               * rings no completion each.  OV_ERR_NOT_SUPPORTED unless HELLO
                               * reply features has OV_FEAT_QUIET. */
#define OV_REQ_BATCH 0x0400u  /* PUT and GET only, no other flag set, to one target window:
                               * the descriptor carries up to OV_BATCH_ENTRIES_MAX small
                               * operations, not one.  Its local_win/local_epoch/local_off
                               * name a block of `length` bytes (a whole number of
                               * ov_batch_entry, at least one) in a region window the caller
                               * owns, not inside the target window; target_off must be 0;
                               * dtype OV_DT_BYTES of size 1, acc_op and result_off 0.  The
                               * backend copies the block out once and checks the copy whole
                               * (backend/op_batch.h): reserved bits, lengths (1 up to the
                               * inline limits) and, when the caller holds the target window,
                               * every entry's bounds in it.  A malformed or misplaced batch
                               * fails whole with that code and nothing runs.  Otherwise the
                               * entries run in order, each as the OV_REQ_INLINE PUT or GET
                               * of entry.length bytes at target_off of the target window
                               * would (same checks, same errors), until one fails; each GET
                               * entry's result bytes are written into its data[] in the
                               * block.  The one completion says OV_OK and the bytes moved,
                               * or the status of the entry that failed (the ones before it
                               * ran, the ones after it did not); result bytes are only
                               * meaningful with OV_OK.  So a burst of small operations costs
                               * one ring slot, one doorbell check and one completion.
                               * OV_ERR_NOT_SUPPORTED unless HELLO reply features has
                               * OV_FEAT_BATCH.  Not in OV_REQ_FLAGS_ALL: execute() takes a
                               * batch before the general validation sees it. */
#define OV_REQ_FLAGS_ALL (OV_REQ_LOCAL_VA | OV_REQ_EXCLUSIVE | OV_REQ_STREAM | OV_REQ_INLINE | OV_REQ_QUIET)

/* Lock slots per window: a window's owner decides what a slot means (osc virt:
 * the target rank whose part of the window it locks). */
#define OV_LOCK_SLOTS 65536u

struct ov_req_desc {      /* one request-ring slot; written by the frontend only */
    uint32_t stamp;       /* written by the ring (ov_ring.h): the slot is ready */
    uint32_t cookie;      /* opaque, echoed in the completion */
    uint16_t op;          /* ov_req_op */
    uint16_t flags;       /* OV_REQ_* */
    uint8_t acc_op;       /* ov_acc_op (ACC, GET_ACC); else 0 */
    uint8_t dtype_kind;   /* ov_dtype_kind */
    uint16_t dtype_size;  /* element bytes: 1, 2, 4, 8, 16, 32; length % dtype_size == 0 */
    uint32_t target_win;  /* target window id (any window the caller owns or holds a grant on) */
    uint32_t target_epoch;/* its generation as returned by WIN_CREATE */
    uint64_t target_off;  /* byte offset inside the target window (LOCK/UNLOCK: lock slot) */
    uint32_t local_win;   /* origin/result buffers: a window the caller owns (0 with OV_REQ_LOCAL_VA) */
    uint32_t local_epoch;
    uint64_t local_off;   /* origin operand: offset inside the local window (or address) */
    uint64_t length;      /* bytes; 0 is allowed (validated, copies nothing) */
    uint64_t result_off;  /* GET_ACC, CAS: where the old target bytes go, [result_off, +length)
                           * in the local window (or address); other ops: must be 0 */
};

struct ov_completion {    /* one completion-ring slot; written by the backend only */
    uint32_t stamp;       /* written by the ring (ov_ring.h): the slot is ready */
    uint32_t cookie;      /* from the descriptor */
    int32_t status;       /* OV_OK or a validation error */
    uint32_t op;          /* op of the descriptor (as copied) */
    uint64_t bytes;       /* bytes moved */
    uint64_t inline_result; /* OV_REQ_INLINE with a result: its first `length` bytes (memcpy
                             * them out; status OV_OK only); else 0 */
};

/* One operation of an OV_REQ_BATCH block (written by the frontend, read
 * once by the backend; GET: the backend writes data[] back). */
struct ov_batch_entry {
    uint64_t target_off;  /* byte offset inside the descriptor's target window */
    uint32_t length;      /* PUT: at most OV_INLINE_ORIGIN_MAX, GET: OV_INLINE_RESULT_MAX */
    uint32_t reserved;    /* must be 0 */
    unsigned char data[OV_INLINE_ORIGIN_MAX]; /* PUT: the origin bytes; GET: the result */
};
#define OV_BATCH_ENTRIES_MAX 128u

/* Copies an entry's n bytes (n <= OV_INLINE_ORIGIN_MAX) to or from its
 * data[]: the common 8 bytes as one constant-size copy, without a library
 * call (the origin writes, the backend runs and the origin scatters every
 * entry of a burst of small puts and gets). */
inline void ov_batch_copy(void *to, const void *from, uint32_t n)
{
    if (n == 8)
        std::memcpy(to, from, 8);
    else
        std::memcpy(to, from, n);
}

/* Where OV_REQ_INLINE's origin bytes live in a descriptor: the 16 bytes of
 * local_win, local_epoch and local_off. */
inline unsigned char *ov_req_inline_origin(ov_req_desc *d) { return reinterpret_cast<unsigned char *>(&d->local_win); }
inline const unsigned char *ov_req_inline_origin(const ov_req_desc *d)
{
    return reinterpret_cast<const unsigned char *>(&d->local_win);
}

static_assert(sizeof(ov_msg_hdr) == 16, "wire size");
static_assert(sizeof(ov_hello_req) == 88, "wire size");
static_assert(sizeof(ov_hello_rep) == 24, "wire size");
static_assert(sizeof(ov_attach_rep) == 16, "wire size");
static_assert(sizeof(ov_rings_req) == 8, "wire size");
static_assert(sizeof(ov_rings_rep) == 40, "wire size");
static_assert(sizeof(ov_win_create_req) == 16, "wire size");
static_assert(sizeof(ov_win_create_rep) == 32, "wire size");
static_assert(sizeof(ov_win_register_req) == 16, "wire size");
static_assert(sizeof(ov_grant_req) == 16, "wire size");
static_assert(sizeof(ov_simple_rep) == 8, "wire size");
static_assert(sizeof(ov_btl_segment_req) == 16 && sizeof(ov_btl_segment_rep) == 24, "wire size");
static_assert(sizeof(ov_req_desc) == 64, "one descriptor per cache line");
static_assert(offsetof(ov_req_desc, length) == 48, "wire offset");
static_assert(offsetof(ov_req_desc, result_off) == 56, "wire offset");
static_assert(offsetof(ov_req_desc, length) - offsetof(ov_req_desc, local_win) == OV_INLINE_ORIGIN_MAX,
              "inline origin bytes: local_win .. local_off");
static_assert(sizeof(ov_completion) == 32, "two completions per cache line");
static_assert(sizeof(ov_batch_entry) == 32 && std::is_trivially_copyable_v<ov_batch_entry>, "shm");
static_assert(offsetof(ov_req_desc, stamp) == 0 && offsetof(ov_completion, stamp) == 0,
              "ring stamps come first (ov_ring.h)");
static_assert(std::is_standard_layout_v<ov_req_desc> && std::is_trivially_copyable_v<ov_req_desc>, "shm");
static_assert(std::is_standard_layout_v<ov_completion> && std::is_trivially_copyable_v<ov_completion>, "shm");

#endif
