/*
 * single_copy.cc — process_vm_readv/writev on a requester's bound image
 * (contract in single_copy.h).
 */
#include "single_copy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "thread_creds.h"

namespace {

/* Uid: and Gid: lines of /proc/PID/status (real, effective, saved, fs):
 * true if each set is uniform. */
bool uniform_ids(pid_t pid, uid_t *uid, gid_t *gid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", int(pid));
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    char line[256];
    unsigned u[4], g[4];
    int found = 0;
    while (found < 2 && fgets(line, sizeof(line), f)) {
        if (sscanf(line, "Uid: %u %u %u %u", &u[0], &u[1], &u[2], &u[3]) == 4)
            found++;
        else if (sscanf(line, "Gid: %u %u %u %u", &g[0], &g[1], &g[2], &g[3]) == 4)
            found++;
    }
    fclose(f);
    if (found != 2)
        return false;
    for (int i = 1; i < 4; i++)
        if (u[i] != u[0] || g[i] != g[0])
            return false;
    *uid = u[0];
    *gid = g[0];
    return true;
}

/* The kernel gives an undumpable process's /proc files to root. */
bool dumpable_as(pid_t pid, uid_t uid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", int(pid));
    struct stat st;
    return stat(path, &st) == 0 && st.st_uid == uid;
}

/* Field 28 of /proc/PID/stat: the start of the stack, mapped for the life
 * of the image.  0 if unreadable. */
uint64_t stack_start(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", int(pid));
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
    ::close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p)
        return 0;
    unsigned long long v = 0;
    /* after ")": field 3 (state) .. field 28 (startstack) */
    for (int field = 3; field <= 28 && p; field++) {
        p = strchr(p + 1, ' ');
        if (p && field == 28)
            v = strtoull(p + 1, nullptr, 10);
    }
    return v;
}

} // namespace

ov_status_t ov_peer_mem::open(pid_t pid) noexcept
{
    mem_.reset();
    pid_ = 0;
    if (pid <= 0)
        return OV_ERR_NOT_SUPPORTED;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/mem", int(pid));
    /* First pin the image; everything checked after this is about it or a
     * later one (then its address space is gone and the probe fails). */
    ov_fd mem(::open(path, O_RDWR | O_CLOEXEC));
    if (!mem.valid())
        return errno == ENOENT || errno == ESRCH ? OV_ERR_SYS : errno == EACCES || errno == EPERM ? OV_ERR_DENIED
                                                                                             : OV_ERR_NOT_SUPPORTED;
    uid_t uid;
    gid_t gid;
    if (!uniform_ids(pid, &uid, &gid) || !dumpable_as(pid, uid) || !ov_creds_can_act_as(uid, gid))
        return OV_ERR_DENIED;
    const uint64_t anchor = stack_start(pid);
    char b;
    if (anchor == 0 || pread(mem.get(), &b, 1, off_t(anchor)) != 1)
        return OV_ERR_SYS;
    pid_ = pid;
    uid_ = uid;
    gid_ = gid;
    anchor_ = anchor;
    mem_ = std::move(mem);
    return OV_OK;
}

/* One byte of the bound address space: none once it is gone (exit, exec). */
bool ov_peer_mem::alive() const noexcept
{
    if (!usable())
        return false;
    char b;
    ssize_t r;
    do
        r = pread(mem_.get(), &b, 1, off_t(anchor_));
    while (r < 0 && errno == EINTR);
    return r == 1;
}

ov_status_t ov_peer_mem::xfer(bool to_peer, uint64_t addr, char *local, uint64_t len, uint64_t *done) const noexcept
{
    uint64_t d = 0;
    if (len != 0 && alive() && ov_creds_become(uid_, gid_)) {
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

ov_status_t ov_peer_mem::write_many(const iovec *local, const iovec *remote, unsigned n,
                                    unsigned *done) const noexcept
{
    return xfer_many(true, local, remote, n, done);
}

ov_status_t ov_peer_mem::read_many(const iovec *local, const iovec *remote, unsigned n,
                                   unsigned *done) const noexcept
{
    return xfer_many(false, local, remote, n, done);
}

ov_status_t ov_peer_mem::xfer_many(bool to_peer, const iovec *local, const iovec *remote, unsigned n,
                                   unsigned *done) const noexcept
{
    unsigned whole = 0;
    if (n != 0 && n <= 1024 && alive() && ov_creds_become(uid_, gid_)) {
        ssize_t got;
        do
            got = to_peer ? process_vm_writev(pid_, local, n, remote, n, 0)
                          : process_vm_readv(pid_, local, n, remote, n, 0);
        while (got < 0 && errno == EINTR);
        /* the kernel stops at the first page it cannot reach: the
         * transfers wholly inside the bytes it reports are done */
        for (uint64_t sum = 0; got > 0 && whole < n && sum + local[whole].iov_len <= uint64_t(got); whole++)
            sum += local[whole].iov_len;
    }
    *done = whole;
    return whole == n ? OV_OK : OV_ERR_LOCAL_ACCESS;
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
