/*
 * ifaddr_netlink.cc — see ifaddr_netlink.h.
 */
#include "ifaddr_netlink.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace ibvirt_tools {

int ifaddr_find(const char *addr, IfAddr *out)
{
    in_addr want{};
    if (addr == nullptr || out == nullptr || inet_pton(AF_INET, addr, &want) != 1)
        return -EINVAL;
    ifaddrs *list = nullptr;
    if (getifaddrs(&list) != 0)
        return -errno;
    int rc = -ENOENT;
    for (ifaddrs *i = list; i != nullptr; i = i->ifa_next) {
        if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET || i->ifa_netmask == nullptr)
            continue;
        if (reinterpret_cast<const sockaddr_in *>(i->ifa_addr)->sin_addr.s_addr != want.s_addr)
            continue;
        const uint32_t mask = ntohl(reinterpret_cast<const sockaddr_in *>(i->ifa_netmask)->sin_addr.s_addr);
        out->index = int(if_nametoindex(i->ifa_name));
        out->addr = want.s_addr;
        out->prefixlen = uint8_t(__builtin_popcount(mask));
        rc = out->index > 0 ? 0 : -ENOENT;
        break;
    }
    freeifaddrs(list);
    return rc;
}

static void add_attr(nlmsghdr *n, uint16_t type, const void *data, uint16_t len)
{
    rtattr *a = reinterpret_cast<rtattr *>(reinterpret_cast<char *>(n) + NLMSG_ALIGN(n->nlmsg_len));
    a->rta_type = type;
    a->rta_len = uint16_t(RTA_LENGTH(len));
    std::memcpy(RTA_DATA(a), data, len);
    n->nlmsg_len = NLMSG_ALIGN(n->nlmsg_len) + RTA_ALIGN(a->rta_len);
}

static int fail(std::string *err, const char *what, int rc)
{
    if (err)
        *err = std::string(what) + ": " + std::strerror(-rc);
    return rc;
}

int ifaddr_delete(const IfAddr &a, int timeout_ms, std::string *err)
{
    struct {
        nlmsghdr n;
        ifaddrmsg i;
        char attrs[64];
    } req{};
    req.n.nlmsg_len = NLMSG_LENGTH(sizeof(ifaddrmsg));
    req.n.nlmsg_type = RTM_DELADDR;
    req.n.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    req.n.nlmsg_seq = uint32_t(time(nullptr));
    req.i.ifa_family = AF_INET;
    req.i.ifa_prefixlen = a.prefixlen;
    req.i.ifa_index = uint32_t(a.index);
    add_attr(&req.n, IFA_LOCAL, &a.addr, sizeof(a.addr));
    add_attr(&req.n, IFA_ADDRESS, &a.addr, sizeof(a.addr));

    const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return fail(err, "netlink socket", -errno);
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (sendto(fd, &req, req.n.nlmsg_len, 0, reinterpret_cast<sockaddr *>(&kernel), sizeof(kernel)) < 0) {
        const int rc = -errno;
        close(fd);
        return fail(err, "netlink send", rc);
    }
    /* The acknowledgement (an NLMSG_ERROR, error 0 on success) comes after
     * the kernel finished the deletion, promotion included. */
    char buf[4096];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        const int ready = poll(&p, 1, timeout_ms);
        if (ready <= 0) {
            close(fd);
            return fail(err, "netlink: no acknowledgement", ready == 0 ? -ETIMEDOUT : -errno);
        }
        const ssize_t got = recv(fd, buf, sizeof buf, 0);
        if (got < 0) {
            const int rc = -errno;
            close(fd);
            return fail(err, "netlink receive", rc);
        }
        int len = int(got);
        for (nlmsghdr *h = reinterpret_cast<nlmsghdr *>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_seq != req.n.nlmsg_seq || h->nlmsg_type != NLMSG_ERROR)
                continue;
            const int rc = static_cast<const nlmsgerr *>(NLMSG_DATA(h))->error;
            close(fd);
            return rc == 0 ? 0 : fail(err, "RTM_DELADDR", rc);
        }
    }
}

} // namespace ibvirt_tools
