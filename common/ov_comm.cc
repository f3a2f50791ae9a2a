/*
 * ov_comm.cc — unix and TCP stream transports and message framing.
 */
#include "ov_comm.h"
#include "ov_clock.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

ov_status_t ov_comm_parse_uri(const char *uri, ov_comm_uri *out) noexcept
{
    if (!uri)
        return OV_ERR_BAD_ARG;
    try {
        std::string s(uri);
        ov_comm_uri u{};
        if (s.rfind("unix:", 0) == 0) {
            u.kind = OV_COMM_UNIX;
            u.path = s.substr(5);
            if (u.path.empty() || u.path.size() >= sizeof(sockaddr_un{}.sun_path))
                return OV_ERR_BAD_ARG;
        } else if (s.rfind("tcp:", 0) == 0) {
            u.kind = OV_COMM_TCP;
            std::string hp = s.substr(4);
            size_t colon = hp.rfind(':');
            if (colon == std::string::npos || colon == 0 || colon + 1 == hp.size())
                return OV_ERR_BAD_ARG;
            u.host = hp.substr(0, colon);
            if (u.host == "localhost")
                u.host = "127.0.0.1";
            char *end = nullptr;
            errno = 0;
            unsigned long p = std::strtoul(hp.c_str() + colon + 1, &end, 10);
            if (errno || *end || p > 65535)
                return OV_ERR_BAD_ARG;
            in_addr a;
            if (inet_pton(AF_INET, u.host.c_str(), &a) != 1)
                return OV_ERR_BAD_ARG;
            u.port = uint16_t(p);
        } else {
            return OV_ERR_BAD_ARG;
        }
        *out = std::move(u);
        return OV_OK;
    } catch (...) {
        return OV_ERR_NOMEM;
    }
}

static socklen_t make_addr(const ov_comm_uri &u, sockaddr_storage *ss)
{
    std::memset(ss, 0, sizeof(*ss));
    if (u.kind == OV_COMM_UNIX) {
        auto *sa = reinterpret_cast<sockaddr_un *>(ss);
        sa->sun_family = AF_UNIX;
        std::memcpy(sa->sun_path, u.path.c_str(), u.path.size() + 1);
        return sizeof(sockaddr_un);
    }
    auto *sa = reinterpret_cast<sockaddr_in *>(ss);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(u.port);
    inet_pton(AF_INET, u.host.c_str(), &sa->sin_addr);
    return sizeof(sockaddr_in);
}

ov_status_t ov_comm_listen(const ov_comm_uri &u, ov_fd *out) noexcept
{
    int dom = u.kind == OV_COMM_UNIX ? AF_UNIX : AF_INET;
    ov_fd s(::socket(dom, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!s.valid())
        return OV_ERR_SYS;
    if (dom == AF_INET) {
        int one = 1;
        setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    }
    sockaddr_storage ss;
    socklen_t sl = make_addr(u, &ss);
    if (::bind(s.get(), reinterpret_cast<sockaddr *>(&ss), sl) != 0 || ::listen(s.get(), 128) != 0)
        return OV_ERR_SYS;
    *out = std::move(s);
    return OV_OK;
}

ov_status_t ov_comm_connect(const ov_comm_uri &u, ov_fd *out) noexcept
{
    int dom = u.kind == OV_COMM_UNIX ? AF_UNIX : AF_INET;
    ov_fd s(::socket(dom, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!s.valid())
        return OV_ERR_SYS;
    sockaddr_storage ss;
    socklen_t sl = make_addr(u, &ss);
    int r;
    do {
        r = ::connect(s.get(), reinterpret_cast<sockaddr *>(&ss), sl);
    } while (r != 0 && errno == EINTR);
    if (r != 0)
        return OV_ERR_SYS;
    if (dom == AF_INET) {
        int one = 1;
        setsockopt(s.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    *out = std::move(s);
    return OV_OK;
}

uint16_t ov_comm_local_port(int fd) noexcept
{
    sockaddr_in sa{};
    socklen_t sl = sizeof(sa);
    if (getsockname(fd, reinterpret_cast<sockaddr *>(&sa), &sl) != 0 || sa.sin_family != AF_INET)
        return 0;
    return ntohs(sa.sin_port);
}

ov_status_t ov_msg_check_hdr(const ov_msg_hdr &h, bool is_reply) noexcept
{
    if (h.magic != OV_MSG_MAGIC)
        return OV_ERR_PROTO;
    if (h.version != OV_PROTOCOL_VERSION)
        return OV_ERR_VERSION;
    if (h.len > OV_MSG_MAX_PAYLOAD)
        return OV_ERR_PROTO;
    bool reply = (h.type & OV_MSG_REPLY) != 0;
    uint16_t t = h.type & uint16_t(~OV_MSG_REPLY);
    if (reply != is_reply || t == 0 || t >= OV_MSG_TYPE_MAX)
        return OV_ERR_PROTO;
    return OV_OK;
}

ov_status_t ov_msg_send(int fd, uint16_t type, uint32_t seq, const void *payload, uint32_t len,
                        const int *fds, int nfds, bool nonblock) noexcept
{
    ov_msg_hdr h{OV_MSG_MAGIC, OV_PROTOCOL_VERSION, type, len, seq};
    iovec iov[2] = {{&h, sizeof(h)}, {const_cast<void *>(payload), len}};
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * OV_MSG_MAX_FDS)];
    msghdr m{};
    m.msg_iov = iov;
    m.msg_iovlen = len ? 2 : 1;
    if (nfds > 0) {
        if (nfds > OV_MSG_MAX_FDS)
            return OV_ERR_BAD_ARG;
        std::memset(cbuf, 0, sizeof(cbuf));
        m.msg_control = cbuf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    size_t total = sizeof(h) + len, sent = 0;
    int flags = MSG_NOSIGNAL | (nonblock ? MSG_DONTWAIT : 0);
    while (sent < total) {
        ssize_t r = ::sendmsg(fd, &m, flags);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return OV_ERR_AGAIN;
            if (errno == EPIPE || errno == ECONNRESET)
                return OV_ERR_BACKEND_GONE;
            return OV_ERR_SYS;
        }
        sent += size_t(r);
        m.msg_control = nullptr; /* fds go with the first chunk only */
        m.msg_controllen = 0;
        /* advance the iovecs */
        size_t skip = size_t(r);
        while (m.msg_iovlen && skip >= m.msg_iov[0].iov_len) {
            skip -= m.msg_iov[0].iov_len;
            m.msg_iov++;
            m.msg_iovlen--;
        }
        if (m.msg_iovlen) {
            m.msg_iov[0].iov_base = static_cast<char *>(m.msg_iov[0].iov_base) + skip;
            m.msg_iov[0].iov_len -= skip;
        }
    }
    return OV_OK;
}

static int64_t now_ms() { return ov_now_ns() / 1000000; }

ssize_t ov_recv_keep_fds(int fd, void *buf, size_t len, ov_fd *fds, int *nfds, int cap) noexcept
{
    iovec iov{buf, len};
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 8)];
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = cbuf;
    m.msg_controllen = sizeof(cbuf);
    ssize_t r = ::recvmsg(fd, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (r < 0)
        return r;
    const int saved_errno = errno;
    for (cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int f;
            std::memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (*nfds < cap)
                fds[(*nfds)++].reset(f);
            else
                ::close(f);
        }
    }
    errno = saved_errno;
    return r;
}

/* Read exactly len bytes before the deadline; collect fds from any chunk. */
static ov_status_t read_full(int fd, void *buf, size_t len, int64_t deadline, ov_fd *fds,
                             int *nfds)
{
    size_t got = 0;
    while (got < len) {
        int left = int(deadline - now_ms());
        if (left <= 0)
            return OV_ERR_TIMEOUT;
        pollfd p{fd, POLLIN, 0};
        int pr = ::poll(&p, 1, left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            return OV_ERR_SYS;
        if (pr == 0)
            return OV_ERR_TIMEOUT;
        ssize_t r = ov_recv_keep_fds(fd, static_cast<char *>(buf) + got, len - got, fds, nfds,
                                     fds ? OV_MSG_MAX_FDS : 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0)
            return errno == ECONNRESET ? OV_ERR_BACKEND_GONE : OV_ERR_SYS;
        if (r == 0)
            return OV_ERR_BACKEND_GONE;
        got += size_t(r);
    }
    return OV_OK;
}

ov_status_t ov_msg_recv(int fd, ov_msg_hdr *hdr, void *payload, uint32_t cap, ov_fd *fds,
                        int *nfds, int timeout_ms) noexcept
{
    int dummy = 0;
    if (!nfds)
        nfds = &dummy;
    *nfds = 0;
    int64_t deadline = now_ms() + timeout_ms;
    ov_status_t s = read_full(fd, hdr, sizeof(*hdr), deadline, fds, nfds);
    if (s != OV_OK)
        return s;
    s = ov_msg_check_hdr(*hdr, true);
    if (s != OV_OK)
        return s;
    if (hdr->len > cap)
        return OV_ERR_PROTO;
    return read_full(fd, payload, hdr->len, deadline, fds, nfds);
}
