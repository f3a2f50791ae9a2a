/*
 * ov_frontend.h — frontend library (libompi_virt_frontend.la): what osc virt
 * and btl vmshm call to reach the host backend.  MPI-free.  Every entry point
 * is extern "C" and noexcept: it returns an ov_status_t and never throws.
 *
 * Lifecycle (one handle per MPI process; a handle is NOT thread-safe: the
 * caller serialises calls, e.g. under its module lock):
 *
 *   ov_fe_params_default(&p); p.job_secret = ... (ov_job_id.h); p.rank = ...;
 *   ov_fe_open(&p, &fe)      connect (p.uri, else $OMPI_VIRT_URI, else
 *                            unix:$OMPI_VIRT_DIR/backend.sock, default dir
 *                            /run/ompi-virt) and HELLO
 *   ov_fe_attach(fe)         map this guest's region (unix: the memfd it is
 *                            sent; tcp, VM guest: its ivshmem BAR, see
 *                            ov_protocol.h "transports"; $OMPI_VIRT_IVSHMEM_PATH
 *                            names the file instead of scanning
 *                            $OMPI_VIRT_SYSFS_PCI or /sys/bus/pci/devices);
 *                            checks magic/version/instance/job
 *   ov_fe_rings(fe)          get this process's request/completion rings
 *   (ov_fe_connect(&p, &fe) does the three steps)
 *   ov_fe_win_create / ov_fe_win_register / ov_fe_grant / ov_fe_revoke / ov_fe_win_free
 *   ov_fe_submit + ov_fe_poll / ov_fe_wait  (data plane)
 *   ov_fe_close(fe)          DETACH, unmap, close; always frees fe
 *
 * Errors (see ov_protocol.h for every code): on failure output arguments are
 * untouched and ov_fe_last_error(fe) holds a one-line explanation (with the
 * system error when there is one).  Once a call returned OV_ERR_BACKEND_GONE
 * every later call on the handle returns it too: close the handle; a new
 * ov_fe_open succeeds once a backend runs again.
 *
 * Waits are bounded: control calls and ov_fe_wait give up after the timeout
 * (OV_ERR_TIMEOUT), and they notice a dead backend (control socket EOF or
 * region state SHUTDOWN) within OV_FE_LIVENESS_MS.
 */
#ifndef OMPI_VIRT_COMMON_OV_FRONTEND_H
#define OMPI_VIRT_COMMON_OV_FRONTEND_H

#include <cstddef>
#include <cstdint>

#include "ov_protocol.h"

#define OV_DEFAULT_DIR "/run/ompi-virt"
#define OV_SOCKET_NAME "backend.sock"
#define OV_FE_LIVENESS_MS 50

extern "C" {

typedef struct ov_fe ov_fe_t;

typedef struct ov_fe_params {
    const char *uri;     /* NULL: $OMPI_VIRT_URI, else unix:$OMPI_VIRT_DIR/backend.sock */
    unsigned char job_secret[OV_JOB_SECRET_BYTES]; /* the job's identity, same on every rank of the
                                                    * job (ov_job_id.h: ov_job_secret_from_env) */
    uint32_t rank;       /* rank in the job */
    const char *guest;   /* NULL: $OMPI_VIRT_GUEST, else the hostname (per-UTS-namespace) */
    uint32_t rq_slots;   /* request ring slots (power of two), default 256 */
    uint32_t cq_slots;   /* completion ring slots (power of two, >= rq_slots), default 256 */
    uint32_t timeout_ms; /* bound of every control call and default for waits, default 10000 */
    uint32_t spin_us;    /* ov_fe_wait spins this long before blocking, default 20 */
    uint32_t role;       /* ov_hello_role: OV_ROLE_OSC (default) or OV_ROLE_BTL (ov_frontend_btl.h) */
} ov_fe_params_t;

/* A window as the owner sees it.  Pass id/epoch to peers out of band. */
typedef struct ov_win {
    uint32_t id;     /* backend window id */
    uint32_t epoch;  /* generation */
    uint64_t offset; /* region offset (0: a registered window, not in the region) */
    uint64_t size;   /* bytes */
    void *base;      /* address in this process (region base + offset, or the registered memory) */
} ov_win_t;

void ov_fe_params_default(ov_fe_params_t *p) noexcept;

/* Resolve the control URI the way ov_fe_open does.  OV_ERR_BAD_ARG if buf is too small. */
ov_status_t ov_fe_default_uri(char *buf, size_t len) noexcept;

/* OV_OK; OV_ERR_SYS (no backend socket: connect failed); OV_ERR_BAD_ARG
 * (uri/guest malformed); OV_ERR_VERSION; OV_ERR_DENIED; OV_ERR_EXISTS;
 * OV_ERR_TIMEOUT; OV_ERR_BACKEND_GONE.  On failure *out is NULL except
 * when it is set to a handle holding the error text: always call
 * ov_fe_close(*out) if *out != NULL. */
ov_status_t ov_fe_open(const ov_fe_params_t *p, ov_fe_t **out) noexcept;
/* OV_OK; OV_ERR_NO_FD_TRANSPORT (tcp, guest not declared as a VM);
 * OV_ERR_DENIED (VM claimed from the wrong address, or a VM's name over
 * unix); OV_ERR_BUSY (the VM's region serves another job);
 * OV_ERR_LAYOUT/OV_ERR_VERSION (bad region header, or no ivshmem BAR of the
 * right size holding this job's header); OV_ERR_NOT_SUPPORTED (VM mode but no
 * ivshmem-plain device); OV_ERR_STATE. */
ov_status_t ov_fe_attach(ov_fe_t *fe) noexcept;
/* OV_OK; OV_ERR_NOMEM (region full); OV_ERR_STATE; OV_ERR_BAD_ARG (slots). */
ov_status_t ov_fe_rings(ov_fe_t *fe) noexcept;
/* open + attach + rings. */
ov_status_t ov_fe_connect(const ov_fe_params_t *p, ov_fe_t **out) noexcept;
/* Best-effort DETACH, then release everything.  fe may be NULL. */
void ov_fe_close(ov_fe_t *fe) noexcept;

const char *ov_fe_last_error(const ov_fe_t *fe) noexcept;
uint32_t ov_fe_proc_id(const ov_fe_t *fe) noexcept;
void *ov_fe_region_base(const ov_fe_t *fe) noexcept;
uint64_t ov_fe_region_size(const ov_fe_t *fe) noexcept;
uint64_t ov_fe_backend_instance(const ov_fe_t *fe) noexcept;
/* OV_FEAT_* the backend offers this handle (valid after ov_fe_open). */
uint32_t ov_fe_features(const ov_fe_t *fe) noexcept;
/* The guest name this handle claimed in HELLO. */
const char *ov_fe_guest(const ov_fe_t *fe) noexcept;

/* Window memory comes from this guest's region.  OV_ERR_NOMEM, OV_ERR_BAD_ARG. */
ov_status_t ov_fe_win_create(ov_fe_t *fe, uint64_t size, ov_win_t *out) noexcept;
/* A window over [base, +size) of this process's own memory instead of the
 * region (WIN_REGISTER in ov_protocol.h): peers with a grant, and this
 * process as target or local buffer, reach it through the backend.  Only
 * when ov_fe_features() has OV_FEAT_USER_WINDOWS (container guests with a
 * single-copy backend), else OV_ERR_NOT_SUPPORTED without asking.
 * OV_ERR_BAD_ARG: size 0, NULL base, or memory the backend cannot read.  The
 * memory must stay mapped until ov_fe_win_free.  out->offset is 0. */
ov_status_t ov_fe_win_register(ov_fe_t *fe, void *base, uint64_t size, ov_win_t *out) noexcept;
/* OV_ERR_NO_WINDOW / OV_ERR_STALE_WINDOW / OV_ERR_DENIED (not the owner). */
ov_status_t ov_fe_win_free(ov_fe_t *fe, const ov_win_t *w) noexcept;
/* Grant rank `grantee` of the same job OV_PERM_READ|OV_PERM_WRITE on w. */
ov_status_t ov_fe_grant(ov_fe_t *fe, const ov_win_t *w, uint32_t grantee, uint32_t perms) noexcept;
ov_status_t ov_fe_revoke(ov_fe_t *fe, const ov_win_t *w, uint32_t grantee) noexcept;

/* Publish one descriptor.  OV_OK; OV_ERR_AGAIN (ring full: reap completions
 * first); OV_ERR_BACKEND_GONE; OV_ERR_STATE (no rings). */
ov_status_t ov_fe_submit(ov_fe_t *fe, const ov_req_desc *d) noexcept;
/* Free request-ring slots, re-reading the backend's index only when the
 * ring looks full (no system call); wakes a sleeping backend when there is
 * none, since a full ring means work waits for it.  -1 if the ring is
 * corrupt or the backend gone. */
int64_t ov_fe_room(ov_fe_t *fe) noexcept;
/* Descriptors published and not yet taken by the backend (re-reads the
 * backend's index: one shared cache line).  Left there for longer than a
 * pass of the backend takes, they say it is not running: its core is busy
 * with threads the scheduler prefers (ov_fe_block).  -1 if the ring is
 * corrupt or the backend gone. */
int64_t ov_fe_unserved(ov_fe_t *fe) noexcept;
/* Take one completion if there is one.  OV_OK; OV_ERR_AGAIN; OV_ERR_BACKEND_GONE.
 * The completion's own status field carries the request's result. */
ov_status_t ov_fe_poll(ov_fe_t *fe, ov_completion *out) noexcept;
/* Spin spin_us, then block until a completion arrives, the backend dies
 * (OV_ERR_BACKEND_GONE) or timeout_ms passes (OV_ERR_TIMEOUT; 0 means the
 * handle's timeout_ms).  Blocking is a futex wait on unix; in a VM (no futex
 * shared with the host) sleeps doubling from 50 us to 1 ms. */
ov_status_t ov_fe_wait(ov_fe_t *fe, ov_completion *out, uint32_t timeout_ms) noexcept;
/* ov_fe_wait without the spin: block at once.  For a caller that has spun
 * already and saw the backend not running (ov_fe_unserved): a sleeping
 * caller is what lets the kernel run the backend on its core. */
ov_status_t ov_fe_block(ov_fe_t *fe, ov_completion *out, uint32_t timeout_ms) noexcept;
/* OV_OK if the backend is alive, else OV_ERR_BACKEND_GONE. Non-blocking. */
ov_status_t ov_fe_check_alive(ov_fe_t *fe) noexcept;

} /* extern "C" */

#endif
