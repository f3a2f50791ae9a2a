/*
 * single_copy.h — the backend's access to a requesting process's own memory
 * (OV_REQ_LOCAL_VA: container guests, single copy), with process_vm_readv /
 * process_vm_writev on the pid SO_PEERCRED reported for its unix socket.
 *
 * What may be reached: only the image (address space) the process had when
 * it was bound (HELLO), with the credentials it had then.  A client that
 * forks, keeps its socket and rings in the child and execs a setuid program
 * in the registered process must not get the backend to read or write that
 * program.  Three checks, each covering what the others cannot:
 *
 *   1 At open(), the process's real, effective, saved and filesystem uids
 *     are all equal, and so are its gids, and it is dumpable (its /proc
 *     files belong to it): a setuid/setgid image, or one that made itself
 *     undumpable, is never bound (OV_ERR_DENIED).  The checks run after the
 *     image is pinned (2), so an exec between them cannot slip through.
 *   2 open() holds /proc/PID/mem, which the kernel ties to the address space
 *     it was opened on.  Every access first reads one byte of it (at the
 *     process's initial stack address, always mapped): once the process has
 *     exec'd or exited that address space is gone and the read finds
 *     nothing, so the access is refused.  This replaces the pidfd check of a
 *     recycled pid (an exited process's address space is gone too).
 *   3 Each process_vm_* call is made by a thread acting with the bound uid
 *     and gid (thread_creds.h), so the kernel's ptrace check at the moment
 *     of access refuses any image the client itself could not ptrace: a
 *     setuid image or another user's process is refused even in the
 *     instant between 2 and the access, or if the address space of 2 is
 *     shared with another process (clone(CLONE_VM)).
 *   Page protections hold as for the client (no FOLL_FORCE: a write to
 *   read-only memory is EFAULT).
 *
 * Any refusal is OV_ERR_LOCAL_ACCESS for that request; nothing here can fault
 * the backend itself.  Transfers loop over partial results (the kernel stops
 * at the first page it cannot reach and returns the bytes done); `*done`
 * says how far it got.
 *
 * Threading: read/write may run on several threads at once (copy crew);
 * open() only on one thread while no transfer runs.
 */
#ifndef OMPI_VIRT_BACKEND_SINGLE_COPY_H
#define OMPI_VIRT_BACKEND_SINGLE_COPY_H

#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>

#include "ov_fd.h"
#include "ov_protocol.h"

class ov_peer_mem {
public:
    /* Bind to `pid`'s current image.  OV_OK: reads/writes may work.
     * OV_ERR_DENIED: the backend may not open its memory, its ids are
     * mixed (setuid/setgid) or it is not dumpable, or this backend cannot
     * act as its uid/gid (thread_creds.h).  OV_ERR_NOT_SUPPORTED: pid 0 or
     * no /proc.  OV_ERR_SYS: the process is gone. */
    ov_status_t open(pid_t pid) noexcept;
    bool usable() const noexcept { return mem_.valid(); }
    /* false once the bound image is gone: the process exited or exec'd
     * (or was never bound) */
    bool alive() const noexcept;
    pid_t pid() const noexcept { return pid_; }
    uid_t uid() const noexcept { return uid_; }
    gid_t gid() const noexcept { return gid_; }

    /* peer [addr, +len) -> dst.  OV_OK, or OV_ERR_LOCAL_ACCESS. */
    ov_status_t read(uint64_t addr, void *dst, uint64_t len, uint64_t *done = nullptr) const noexcept;
    /* src -> peer [addr, +len).  OV_OK, or OV_ERR_LOCAL_ACCESS. */
    ov_status_t write(uint64_t addr, const void *src, uint64_t len, uint64_t *done = nullptr) const noexcept;
    /* n small writes at once: local[i] -> peer remote[i] (same lengths, in
     * order: a later one to the same bytes wins), one process_vm_writev for
     * all (n <= 1024, IOV_MAX).  *done: how many were written whole, from
     * the first.  OV_OK if all were; else OV_ERR_LOCAL_ACCESS, and the caller
     * redoes the rest one by one with write() for their own results. */
    ov_status_t write_many(const struct iovec *local, const struct iovec *remote, unsigned n,
                           unsigned *done) const noexcept;
    /* n small reads at once: peer remote[i] -> local[i], the same way
     * (one process_vm_readv; *done: how many were read whole, from the
     * first). */
    ov_status_t read_many(const struct iovec *local, const struct iovec *remote, unsigned n,
                          unsigned *done) const noexcept;

private:
    ov_status_t xfer(bool to_peer, uint64_t addr, char *local, uint64_t len, uint64_t *done) const noexcept;
    ov_status_t xfer_many(bool to_peer, const struct iovec *local, const struct iovec *remote, unsigned n,
                          unsigned *done) const noexcept;
    pid_t pid_ = 0;
    uid_t uid_ = 0;
    gid_t gid_ = 0;
    uint64_t anchor_ = 0; /* an address mapped in the bound image (its initial stack) */
    ov_fd mem_;           /* /proc/PID/mem of the bound image */
};

#endif
