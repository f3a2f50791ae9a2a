/*
 * single_copy.cc — process_vm_readv/writev on a requester (contract in
 * single_copy.h).
 */
#include "single_copy.h"

#include <poll.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>

static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
    return int(syscall(SYS_pidfd_open, pid, 0)); /* close-on-exec by default */
#else
    errno = ENOSYS;
    return -1;
#endif
}

ov_status_t ov_peer_mem::open(pid_t pid) noexcept
{
    pidfd_.reset();
    pid_ = 0;
    if (pid <= 0)
        return OV_ERR_NOT_SUPPORTED;
    ov_fd fd(open_pidfd(pid));
    if (!fd.valid())
        return errno == ESRCH ? OV_ERR_SYS : OV_ERR_NOT_SUPPORTED;
    /* Probe the permission once: one byte at address 0.  The kernel checks
     * ptrace access before it looks at the address, so EFAULT (or, if page
     * 0 is mapped, success) means "allowed" and EPERM means "never". */
    char b;
    iovec l{&b, 1}, r{nullptr, 1};
    if (process_vm_readv(pid, &l, 1, &r, 1, 0) < 0) {
        if (errno == EPERM)
            return OV_ERR_DENIED;
        if (errno == ESRCH)
            return OV_ERR_SYS;
    }
    pid_ = pid;
    pidfd_ = std::move(fd);
    return OV_OK;
}

/* A pidfd polls readable once its process has exited (zombie or reaped):
 * from then on pid_ may name somebody else. */
bool ov_peer_mem::alive() const noexcept
{
    if (!usable())
        return false;
    pollfd p{pidfd_.get(), POLLIN, 0};
    int r;
    do
        r = poll(&p, 1, 0);
    while (r < 0 && errno == EINTR);
    return r == 0;
}

ov_status_t ov_peer_mem::xfer(bool to_peer, uint64_t addr, char *local, uint64_t len, uint64_t *done) const noexcept
{
    uint64_t d = 0;
    if (len != 0 && alive()) {
        const uint64_t max_chunk = uint64_t(1) << 30; /* below the kernel's MAX_RW_COUNT */
        while (d < len) {
            uint64_t n = len - d < max_chunk ? len - d : max_chunk;
            iovec l{local + d, size_t(n)}, r{reinterpret_cast<void *>(uintptr_t(addr + d)), size_t(n)};
            ssize_t got = to_peer ? process_vm_writev(pid_, &l, 1, &r, 1, 0)
                                  : process_vm_readv(pid_, &l, 1, &r, 1, 0);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0) /* refused, or no progress: never spin */
                break;
            d += uint64_t(got);
        }
    }
    if (done)
        *done = d;
    return d == len ? OV_OK : OV_ERR_LOCAL_ACCESS;
}

ov_status_t ov_peer_mem::read(uint64_t addr, void *dst, uint64_t len, uint64_t *done) const noexcept
{
    return xfer(false, addr, static_cast<char *>(dst), len, done);
}

ov_status_t ov_peer_mem::write(uint64_t addr, const void *src, uint64_t len, uint64_t *done) const noexcept
{
    /* process_vm_writev only reads the local side */
    return xfer(true, addr, const_cast<char *>(static_cast<const char *>(src)), len, done);
}
