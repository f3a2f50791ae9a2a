/*
 * single_copy.h — the backend's access to a requesting process's own memory
 * (OV_REQ_LOCAL_VA: container guests, single copy), with process_vm_readv /
 * process_vm_writev on the pid SO_PEERCRED reported for its unix socket.
 *
 * Safety:
 *   - Only the caller's own process is ever accessed, and only at addresses
 *     it put in its own descriptor: it could touch that memory anyway.
 *   - The kernel checks ptrace access (PTRACE_MODE_ATTACH_REALCREDS: root,
 *     CAP_SYS_PTRACE, or same uid subject to Yama) and page protections
 *     (no FOLL_FORCE: a write to read-only memory is EFAULT).
 *   - A pid is a name that can be reused once its process is reaped.  open()
 *     takes a pidfd for the process, and every access first checks that it
 *     has not exited, so a recycled pid is never touched.
 *   - Any refusal (EFAULT, ESRCH, EPERM, ...) is OV_ERR_LOCAL_ACCESS for that
 *     request; nothing here can fault the backend itself.
 *
 * Transfers loop over partial results (the kernel stops at the first page it
 * cannot reach and returns the bytes done); `*done` says how far it got.
 */
#ifndef OMPI_VIRT_BACKEND_SINGLE_COPY_H
#define OMPI_VIRT_BACKEND_SINGLE_COPY_H

#include <sys/types.h>

#include <cstdint>

#include "ov_fd.h"
#include "ov_protocol.h"

class ov_peer_mem {
public:
    /* Bind to `pid`.  OV_OK: reads/writes may work.  OV_ERR_DENIED: no
     * ptrace permission (EPERM).  OV_ERR_NOT_SUPPORTED: no pidfd (Linux <
     * 5.3) or pid 0.  OV_ERR_SYS: the process is gone. */
    ov_status_t open(pid_t pid) noexcept;
    bool usable() const noexcept { return pidfd_.valid(); }
    /* false once the process has exited (or was never bound) */
    bool alive() const noexcept;
    pid_t pid() const noexcept { return pid_; }

    /* peer [addr, +len) -> dst.  OV_OK, or OV_ERR_LOCAL_ACCESS. */
    ov_status_t read(uint64_t addr, void *dst, uint64_t len, uint64_t *done = nullptr) const noexcept;
    /* src -> peer [addr, +len).  OV_OK, or OV_ERR_LOCAL_ACCESS. */
    ov_status_t write(uint64_t addr, const void *src, uint64_t len, uint64_t *done = nullptr) const noexcept;

private:
    ov_status_t xfer(bool to_peer, uint64_t addr, char *local, uint64_t len, uint64_t *done) const noexcept;
    pid_t pid_ = 0;
    ov_fd pidfd_;
};

#endif
