/*
 * ov_frontend.cc — frontend control plane: open/attach/rings/windows/grants/close.
 */
#include "ov_frontend_impl.h"
#include "ov_job_id.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

ov_status_t ov_fe_fail(ov_fe *fe, ov_status_t s, const char *fmt, ...) noexcept
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(fe->err, sizeof(fe->err), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if (size_t(n) < sizeof(fe->err))
        snprintf(fe->err + n, sizeof(fe->err) - size_t(n), ": %s%s%s", ov_strerror(s),
                 s == OV_ERR_SYS ? ": " : "", s == OV_ERR_SYS ? strerror(saved) : "");
    if (s == OV_ERR_BACKEND_GONE)
        fe->gone = true;
    return s;
}

extern "C" void ov_fe_params_default(ov_fe_params_t *p) noexcept
{
    *p = ov_fe_params_t{};
    p->rq_slots = 256;
    p->cq_slots = 256;
    p->timeout_ms = 10000;
    p->spin_us = 20;
}

extern "C" ov_status_t ov_fe_default_uri(char *buf, size_t len) noexcept
{
    const char *u = getenv("OMPI_VIRT_URI");
    int n;
    if (u && *u) {
        n = snprintf(buf, len, "%s", u);
    } else {
        const char *d = getenv("OMPI_VIRT_DIR");
        n = snprintf(buf, len, "unix:%s/%s", d && *d ? d : OV_DEFAULT_DIR, OV_SOCKET_NAME);
    }
    return n < 0 || size_t(n) >= len ? OV_ERR_BAD_ARG : OV_OK;
}

/* The unsolicited reply of a connection refused at accept (ov_protocol.h
 * "quotas"): the backend has closed the socket. */
static bool refused_at_accept(const ov_msg_hdr &h)
{
    return h.seq == 0 && h.type == (OV_MSG_HELLO | OV_MSG_REPLY) && h.len == sizeof(ov_simple_rep);
}

static ov_status_t refused(ov_fe *fe, const void *rep)
{
    ov_simple_rep refusal;
    std::memcpy(&refusal, rep, sizeof(refusal));
    fe->gone = true;
    return ov_fe_fail(fe, ov_status_t(refusal.status), "backend refused the connection (limit: %s)",
                      ov_limit_name(refusal.reserved));
}

ov_status_t ov_fe_call(ov_fe *fe, uint16_t type, const void *req, uint32_t reqlen, void *rep, uint32_t replen,
                       ov_fd *fds, int *nfds, uint32_t *got) noexcept
{
    if (fe->gone)
        return ov_fe_fail(fe, OV_ERR_BACKEND_GONE, "control call");
    uint32_t seq = ++fe->seq;
    ov_msg_hdr h;
    ov_status_t s = ov_msg_send(fe->ctl.get(), type, seq, req, reqlen, nullptr, 0, false);
    if (s != OV_OK) {
        /* Refused at accept, the socket may have closed before our message
         * went out: the refusal still waits to be read. */
        ov_simple_rep refusal{};
        if (ov_msg_recv(fe->ctl.get(), &h, &refusal, sizeof(refusal), nullptr, nullptr, 100) == OV_OK &&
            refused_at_accept(h))
            return refused(fe, &refusal);
        return ov_fe_fail(fe, s == OV_ERR_SYS ? OV_ERR_BACKEND_GONE : s, "sending message %u", type);
    }
    s = ov_msg_recv(fe->ctl.get(), &h, rep, replen, fds, nfds, int(fe->params.timeout_ms));
    if (s != OV_OK)
        return ov_fe_fail(fe, s, "waiting for the reply to message %u", type);
    if (refused_at_accept(h))
        return refused(fe, rep);
    const bool len_ok = got ? h.len >= sizeof(ov_simple_rep) && h.len <= replen : h.len == replen;
    if (got)
        *got = h.len;
    if (h.seq != seq || h.type != (type | OV_MSG_REPLY) || !len_ok)
        return ov_fe_fail(fe, OV_ERR_PROTO, "unexpected reply (type %u len %u) to message %u",
                          h.type, h.len, type);
    int32_t st;
    std::memcpy(&st, rep, sizeof(st));
    if (st == OV_ERR_QUOTA) {
        uint32_t limit; /* the word after the status names it */
        std::memcpy(&limit, static_cast<const char *>(rep) + sizeof(st), sizeof(limit));
        ov_fe_fail(fe, OV_ERR_QUOTA, "backend refused message %u (limit: %s)", type, ov_limit_name(limit));
    } else if (st != OV_OK) {
        ov_fe_fail(fe, ov_status_t(st), "backend refused message %u", type);
        if (st == OV_ERR_PROTO)
            fe->gone = true; /* the backend closed the connection */
    }
    return ov_status_t(st);
}

extern "C" ov_status_t ov_fe_open(const ov_fe_params_t *p, ov_fe_t **out) noexcept
{
    *out = nullptr;
    ov_fe *fe = new (std::nothrow) ov_fe;
    if (!fe)
        return OV_ERR_NOMEM;
    *out = fe;
    try {
        fe->params = *p;
        ov_job_secret js;
        std::memcpy(js.b, p->job_secret, sizeof(js.b));
        fe->job_key = ov_job_public_key(js);
        char buf[512];
        if (p->uri) {
            fe->uri = p->uri;
        } else if (ov_fe_default_uri(buf, sizeof(buf)) == OV_OK) {
            fe->uri = buf;
        } else {
            return ov_fe_fail(fe, OV_ERR_BAD_ARG, "control URI too long");
        }
        const char *g = p->guest ? p->guest : getenv("OMPI_VIRT_GUEST");
        if (g && *g) {
            fe->guest = g;
        } else {
            char hn[256] = "";
            gethostname(hn, sizeof(hn) - 1);
            fe->guest = hn;
        }
    } catch (...) {
        return ov_fe_fail(fe, OV_ERR_NOMEM, "open");
    }
    if (fe->guest.empty() || fe->guest.size() >= OV_GUEST_NAME_MAX)
        return ov_fe_fail(fe, OV_ERR_BAD_ARG, "guest name '%s' empty or too long", fe->guest.c_str());
    ov_comm_uri u;
    if (ov_comm_parse_uri(fe->uri.c_str(), &u) != OV_OK)
        return ov_fe_fail(fe, OV_ERR_BAD_ARG, "bad control URI '%s' (want unix:PATH or tcp:HOST:PORT)",
                          fe->uri.c_str());
    fe->kind = u.kind;
    if (ov_comm_connect(u, &fe->ctl) != OV_OK)
        return ov_fe_fail(fe, OV_ERR_SYS, "cannot reach the ompi-virt backend at %s (is ompi-virt-backend running?)",
                          fe->uri.c_str());
    ov_hello_req req{};
    std::memcpy(req.job_secret, p->job_secret, sizeof(req.job_secret));
    req.rank = p->rank;
    req.pid = uint32_t(getpid());
    req.role = p->role;
    std::memcpy(req.guest, fe->guest.c_str(), fe->guest.size() + 1);
    ov_hello_rep rep{};
    ov_status_t s = ov_fe_call(fe, OV_MSG_HELLO, &req, sizeof(req), &rep, sizeof(rep));
    if (s != OV_OK)
        return s;
    if (rep.layout_version != OV_LAYOUT_VERSION)
        return ov_fe_fail(fe, OV_ERR_VERSION, "backend layout version %u, library %u",
                          rep.layout_version, OV_LAYOUT_VERSION);
    fe->proc_id = rep.proc_id;
    fe->backend_instance = rep.backend_instance;
    fe->features = rep.features;
    fe->state = OV_FE_OPEN;
    return OV_OK;
}

/* Is the mapped header the one this backend made for this job?  (The
 * frontend trusts the backend, not a stale file or another device.) */
static ov_status_t header_is_ours(const ov_fe *fe, const ov_mapping &m, uint64_t size)
{
    auto *h = reinterpret_cast<const ov_region_hdr *>(m.data());
    ov_status_t s = ov_region_check(h, size);
    if (s == OV_OK && (h->backend_instance != fe->backend_instance || h->job_key != fe->job_key))
        s = OV_ERR_LAYOUT;
    return s;
}

/* One ivshmem candidate: a sysfs resource2 (size = BAR size) or a plain file
 * of exactly `size` bytes holding our header.  OV_OK and fe->region, or the
 * reason appended to *why. */
static ov_status_t try_ivshmem(ov_fe *fe, const std::string &path, uint64_t size, std::string *why)
{
    ov_fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    struct stat st;
    char buf[160];
    if (!fd.valid() || fstat(fd.get(), &st) != 0) {
        snprintf(buf, sizeof(buf), "; %s: %s", path.c_str(), strerror(errno));
        *why += buf;
        return OV_ERR_SYS;
    }
    if (uint64_t(st.st_size) != size) {
        snprintf(buf, sizeof(buf), "; %s: %llu bytes, region %llu", path.c_str(),
                 (unsigned long long) st.st_size, (unsigned long long) size);
        *why += buf;
        return OV_ERR_LAYOUT;
    }
    ov_mapping m;
    if (!m.map(fd.get(), size_t(size))) {
        snprintf(buf, sizeof(buf), "; %s: mmap: %s", path.c_str(), strerror(errno));
        *why += buf;
        return OV_ERR_SYS;
    }
    ov_status_t s = header_is_ours(fe, m, size);
    if (s != OV_OK) {
        snprintf(buf, sizeof(buf), "; %s: not this backend's region for this job", path.c_str());
        *why += buf;
        return s;
    }
    fe->region = std::move(m);
    return OV_OK;
}

std::vector<std::string> ov_fe_ivshmem_devices(const char *root)
{
    std::vector<std::string> out;
    DIR *d = opendir(root);
    if (!d)
        return out;
    auto read_hex = [](const std::string &path) {
        char buf[32] = "";
        FILE *f = fopen(path.c_str(), "re");
        if (!f)
            return -1L;
        bool ok = fgets(buf, sizeof(buf), f) != nullptr;
        fclose(f);
        return ok ? strtol(buf, nullptr, 16) : -1L;
    };
    while (dirent *e = readdir(d)) {
        if (e->d_name[0] == '.')
            continue;
        std::string dev = std::string(root) + "/" + e->d_name;
        if (read_hex(dev + "/vendor") == 0x1af4 && read_hex(dev + "/device") == 0x1110)
            out.push_back(dev + "/resource2");
    }
    closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

const char *ov_fe_pci_root() noexcept
{
    const char *root = getenv("OMPI_VIRT_SYSFS_PCI");
    return root && *root ? root : "/sys/bus/pci/devices";
}

/* VM guests: the region is the ivshmem BAR QEMU made of the backend's file.
 * $OMPI_VIRT_IVSHMEM_PATH names it directly (tests; hosts that see the file);
 * else every ivshmem-plain device is tried and the one whose size and header
 * match wins, so other ivshmem devices in the VM are left alone.
 * ($OMPI_VIRT_SYSFS_PCI replaces /sys/bus/pci/devices, for tests.) */
static ov_status_t map_ivshmem(ov_fe *fe, uint64_t size) noexcept
{
    try {
        std::vector<std::string> cands;
        const char *env = getenv("OMPI_VIRT_IVSHMEM_PATH");
        const char *root = ov_fe_pci_root();
        if (env && *env)
            cands.push_back(env);
        else
            cands = ov_fe_ivshmem_devices(root);
        if (cands.empty())
            return ov_fe_fail(fe, OV_ERR_NOT_SUPPORTED,
                              "no ivshmem-plain device (1af4:1110) under %s: start the VM with "
                              "-device ivshmem-plain,memdev=... on the backend's region file",
                              root);
        std::string why;
        ov_status_t last = OV_ERR_LAYOUT;
        for (const std::string &c : cands) {
            last = try_ivshmem(fe, c, size, &why);
            if (last == OV_OK)
                return OV_OK;
        }
        return ov_fe_fail(fe, last == OV_ERR_VERSION ? OV_ERR_VERSION : OV_ERR_LAYOUT,
                          "no ivshmem region of %llu bytes for this job%s", (unsigned long long) size,
                          why.c_str());
    } catch (...) {
        return ov_fe_fail(fe, OV_ERR_NOMEM, "ivshmem scan");
    }
}

/* The mapping seam: how the region reaches this process. */
static ov_status_t map_region(ov_fe *fe, uint32_t mode, ov_fd *fd, uint64_t size)
{
    switch (mode) {
    case OV_MAP_MEMFD: {
        struct stat st;
        if (!fd->valid() || fstat(fd->get(), &st) != 0 || uint64_t(st.st_size) != size)
            return ov_fe_fail(fe, OV_ERR_LAYOUT, "region fd missing or of the wrong size");
        if (!fe->region.map(fd->get(), size_t(size)))
            return ov_fe_fail(fe, OV_ERR_SYS, "mmap of the region (%llu bytes)",
                              (unsigned long long) size);
        return OV_OK;
    }
    case OV_MAP_IVSHMEM:
        if (fd->valid())
            return ov_fe_fail(fe, OV_ERR_PROTO, "ivshmem attach with a descriptor");
        return map_ivshmem(fe, size);
    default:
        return ov_fe_fail(fe, OV_ERR_PROTO, "unknown map mode %u", mode);
    }
}

extern "C" ov_status_t ov_fe_attach(ov_fe_t *fe) noexcept
{
    if (fe->state != OV_FE_OPEN)
        return ov_fe_fail(fe, OV_ERR_STATE, "attach");
    ov_attach_req req{};
    ov_attach_rep rep{};
    ov_fd fds[OV_MSG_MAX_FDS];
    int nfds = 0;
    ov_status_t s = ov_fe_call(fe, OV_MSG_ATTACH, &req, sizeof(req), &rep, sizeof(rep), fds, &nfds);
    if (s == OV_ERR_NO_FD_TRANSPORT)
        return ov_fe_fail(fe, s, "attach over %s: guest '%s' is not declared as a VM (--vm)",
                          fe->uri.c_str(), fe->guest.c_str());
    if (s != OV_OK)
        return s;
    s = map_region(fe, rep.map_mode, &fds[0], rep.region_size);
    if (s != OV_OK)
        return s;
    s = header_is_ours(fe, fe->region, rep.region_size);
    if (s != OV_OK) {
        fe->region.reset();
        return ov_fe_fail(fe, s, "region header check");
    }
    fe->hdr = reinterpret_cast<const ov_region_hdr *>(fe->region.data());
    fe->vm = rep.map_mode == OV_MAP_IVSHMEM;
    fe->state = OV_FE_ATTACHED;
    return OV_OK;
}

extern "C" ov_status_t ov_fe_rings(ov_fe_t *fe) noexcept
{
    if (fe->state != OV_FE_ATTACHED)
        return ov_fe_fail(fe, OV_ERR_STATE, "rings");
    ov_rings_req req{fe->params.rq_slots, fe->params.cq_slots};
    ov_rings_rep rep{};
    ov_fd fds[OV_MSG_MAX_FDS];
    int nfds = 0;
    ov_status_t s = ov_fe_call(fe, OV_MSG_RINGS, &req, sizeof(req), &rep, sizeof(rep), fds, &nfds);
    if (s != OV_OK)
        return s;
    uint64_t rsz = fe->region.size();
    auto blk = ov_proc_block(rep.rq_slots, rep.cq_slots);
    bool want_bell = ov_comm_can_pass_fds(fe->kind); /* tcp: KICK instead */
    if (want_bell && !fds[0].valid()) {
        /* The kernel drops a passed descriptor the receiver has no room for. */
        ov_fd probe(fcntl(fe->ctl.get(), F_DUPFD_CLOEXEC, 0));
        if (!probe.valid() && (errno == EMFILE || errno == ENFILE))
            return ov_fe_fail(fe, OV_ERR_SYS, "rings: no room for the doorbell descriptor: this process is at its "
                                              "open-file limit (RLIMIT_NOFILE, ulimit -n)");
    }
    if (want_bell != fds[0].valid() || rep.rq_off != rep.ctl_off + blk.rq_off ||
        rep.cq_off != rep.ctl_off + blk.cq_off || rep.ctl_off > rsz || blk.size > rsz - rep.ctl_off)
        return ov_fe_fail(fe, OV_ERR_PROTO, "rings reply inconsistent");
    char *b = fe->region.data();
    fe->pctl = reinterpret_cast<ov_proc_ctl *>(b + rep.ctl_off);
    auto *rqi = reinterpret_cast<ov_ring_idx *>(b + rep.rq_off);
    auto *cqi = reinterpret_cast<ov_ring_idx *>(b + rep.cq_off);
    fe->rq = ov_ring_producer<ov_req_desc>(rqi, reinterpret_cast<ov_req_desc *>(rqi + 1),
                                           rep.rq_slots, rqi->tail.load(std::memory_order_acquire));
    fe->cq = ov_ring_consumer<ov_completion>(cqi, reinterpret_cast<ov_completion *>(cqi + 1),
                                             rep.cq_slots, cqi->head.load(std::memory_order_acquire));
    fe->doorbell = std::move(fds[0]);
    fe->rq_slots = rep.rq_slots;
    fe->state = OV_FE_READY;
    return OV_OK;
}

extern "C" ov_status_t ov_fe_connect(const ov_fe_params_t *p, ov_fe_t **out) noexcept
{
    ov_status_t s = ov_fe_open(p, out);
    if (s == OV_OK)
        s = ov_fe_attach(*out);
    if (s == OV_OK)
        s = ov_fe_rings(*out);
    return s;
}

extern "C" void ov_fe_close(ov_fe_t *fe) noexcept
{
    if (!fe)
        return;
    if (fe->ctl.valid() && !fe->gone) {
        uint32_t saved = fe->params.timeout_ms;
        fe->params.timeout_ms = saved < 1000 ? saved : 1000;
        ov_detach_req req{};
        ov_simple_rep rep{};
        ov_fe_call(fe, OV_MSG_DETACH, &req, sizeof(req), &rep, sizeof(rep));
    }
    delete fe; /* members unmap and close in reverse order */
}

extern "C" ov_status_t ov_fe_win_create(ov_fe_t *fe, uint64_t size, ov_win_t *out) noexcept
{
    if (fe->state != OV_FE_READY)
        return ov_fe_fail(fe, OV_ERR_STATE, "win_create");
    ov_win_create_req req{size, 0};
    ov_win_create_rep rep{};
    ov_status_t s = ov_fe_call(fe, OV_MSG_WIN_CREATE, &req, sizeof(req), &rep, sizeof(rep));
    if (s != OV_OK)
        return s;
    if (rep.offset > fe->region.size() || rep.size > fe->region.size() - rep.offset)
        return ov_fe_fail(fe, OV_ERR_PROTO, "window outside the region");
    *out = ov_win_t{rep.win_id, rep.win_epoch, rep.offset, rep.size, fe->region.data() + rep.offset};
    return OV_OK;
}

extern "C" ov_status_t ov_fe_win_register(ov_fe_t *fe, void *base, uint64_t size, ov_win_t *out) noexcept
{
    if (fe->state != OV_FE_READY)
        return ov_fe_fail(fe, OV_ERR_STATE, "win_register");
    if (!(fe->features & OV_FEAT_USER_WINDOWS)) /* an older backend would drop us for it */
        return ov_fe_fail(fe, OV_ERR_NOT_SUPPORTED, "this backend offers no user-memory windows");
    if (!base || size == 0)
        return ov_fe_fail(fe, OV_ERR_BAD_ARG, "win_register: empty range");
    ov_win_register_req req{uint64_t(uintptr_t(base)), size};
    ov_win_create_rep rep{};
    ov_status_t s = ov_fe_call(fe, OV_MSG_WIN_REGISTER, &req, sizeof(req), &rep, sizeof(rep));
    if (s != OV_OK)
        return s;
    if (rep.size != size)
        return ov_fe_fail(fe, OV_ERR_PROTO, "registered window of another size");
    *out = ov_win_t{rep.win_id, rep.win_epoch, 0, size, base};
    return OV_OK;
}

extern "C" ov_status_t ov_fe_win_free(ov_fe_t *fe, const ov_win_t *w) noexcept
{
    ov_win_ref_req req{w->id, w->epoch};
    ov_simple_rep rep{};
    return ov_fe_call(fe, OV_MSG_WIN_FREE, &req, sizeof(req), &rep, sizeof(rep));
}

extern "C" ov_status_t ov_fe_grant(ov_fe_t *fe, const ov_win_t *w, uint32_t grantee, uint32_t perms) noexcept
{
    ov_grant_req req{w->id, w->epoch, grantee, perms};
    ov_simple_rep rep{};
    return ov_fe_call(fe, OV_MSG_GRANT, &req, sizeof(req), &rep, sizeof(rep));
}

extern "C" ov_status_t ov_fe_revoke(ov_fe_t *fe, const ov_win_t *w, uint32_t grantee) noexcept
{
    ov_grant_req req{w->id, w->epoch, grantee, 0};
    ov_simple_rep rep{};
    return ov_fe_call(fe, OV_MSG_REVOKE, &req, sizeof(req), &rep, sizeof(rep));
}

extern "C" const char *ov_fe_last_error(const ov_fe_t *fe) noexcept { return fe ? fe->err : "no handle"; }
extern "C" uint32_t ov_fe_proc_id(const ov_fe_t *fe) noexcept { return fe->proc_id; }
extern "C" void *ov_fe_region_base(const ov_fe_t *fe) noexcept { return fe->region.data(); }
extern "C" uint64_t ov_fe_region_size(const ov_fe_t *fe) noexcept { return fe->region.size(); }
extern "C" uint64_t ov_fe_backend_instance(const ov_fe_t *fe) noexcept { return fe->backend_instance; }
extern "C" uint32_t ov_fe_features(const ov_fe_t *fe) noexcept { return fe->features; }
extern "C" const char *ov_fe_guest(const ov_fe_t *fe) noexcept { return fe->guest.c_str(); }
