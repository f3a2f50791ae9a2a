/*
 * ifaddr_netlink.h — find and delete an IPv4 address of this network
 * namespace over rtnetlink, in the calling process (ib-virt-stress's live
 * move deletes its old fabric address itself inside the blackout: no
 * process to start or wake there).
 *
 * Why the deletion must finish before the new endpoint touches a socket:
 * the new address was added beside the old one in the same subnet, so it is
 * a secondary address; deleting the old (primary) one promotes it, and the
 * kernel removes the promoted address's routes and adds them back while it
 * does (net/ipv4/devinet.c, __inet_del_ifa). A bind() to the new address in
 * that window fails with EADDRNOTAVAIL although the address exists
 * (rxm binds every connection it opens: fi_tsend fails). ifaddr_delete
 * returns only after the kernel acknowledged the deletion, i.e. after the
 * promotion is complete.
 *
 * Needs CAP_NET_ADMIN in the namespace (root in an emulated guest).
 */
#ifndef IBVIRT_IFADDR_NETLINK_H
#define IBVIRT_IFADDR_NETLINK_H

#include <cstdint>
#include <string>

namespace ibvirt_tools {

/* An IPv4 address as the kernel holds it: interface index, address
 * (network byte order), prefix length. */
struct IfAddr {
    int index = 0;
    uint32_t addr = 0;
    uint8_t prefixlen = 0;
};

/* Look up dotted-quad `addr` among this namespace's addresses.
 * 0 and *out filled; -EINVAL (not an IPv4 address), -ENOENT (no interface
 * holds it), or -errno of getifaddrs. */
int ifaddr_find(const char *addr, IfAddr *out);

/* Delete `a` (RTM_DELADDR) and wait for the kernel's acknowledgement, at
 * most timeout_ms. 0 when deleted; -errno from the kernel (e.g.
 * -EADDRNOTAVAIL: not there any more, -EPERM), -ETIMEDOUT, or -errno of the
 * netlink socket. `err` (may be null) gets a one-line reason on failure. */
int ifaddr_delete(const IfAddr &a, int timeout_ms, std::string *err);

} // namespace ibvirt_tools
#endif
