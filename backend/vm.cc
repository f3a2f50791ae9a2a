/*
 * vm.cc — VM guest declarations and their region files.
 */
#include "vm.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "log.h"
#include "ov_layout.h"
#include "wire.h"

ov_status_t ov_vm_parse(const char *arg, ov_vm_decl *out, std::string *err) noexcept
{
    try {
        std::string s(arg ? arg : "");
        size_t eq = s.find('=');
        if (eq == std::string::npos) {
            *err = "want NAME=FILE[,peer=IP][,pci=DIR][,qmp=SOCKET]";
            return OV_ERR_BAD_ARG;
        }
        ov_vm_decl d;
        d.name = s.substr(0, eq);
        char field[OV_GUEST_NAME_MAX] = {};
        if (d.name.size() >= sizeof(field)) {
            *err = "guest name longer than " + std::to_string(OV_GUEST_NAME_MAX - 1) + " characters";
            return OV_ERR_BAD_ARG;
        }
        std::memcpy(field, d.name.data(), d.name.size());
        if (!ov_guest_name_ok(field, sizeof(field))) {
            *err = "guest name '" + d.name + "' must be non-empty [A-Za-z0-9._-]";
            return OV_ERR_BAD_ARG;
        }
        std::string rest = s.substr(eq + 1);
        size_t comma = rest.find(',');
        d.path = rest.substr(0, comma);
        if (d.path.empty() || d.path[0] != '/') {
            *err = "region file '" + d.path + "' must be an absolute path";
            return OV_ERR_BAD_ARG;
        }
        while (comma != std::string::npos) {
            rest = rest.substr(comma + 1);
            comma = rest.find(',');
            std::string opt = rest.substr(0, comma);
            std::string *path = opt.rfind("pci=", 0) == 0 ? &d.pci : opt.rfind("qmp=", 0) == 0 ? &d.qmp : nullptr;
            if (path) {
                *path = opt.substr(4);
                if (path->empty() || (*path)[0] != '/') {
                    *err = "'" + opt + "' must name an absolute path";
                    return OV_ERR_BAD_ARG;
                }
                continue;
            }
            if (opt.rfind("peer=", 0) != 0) {
                *err = "unknown option '" + opt + "' (want peer=IP, pci=DIR or qmp=SOCKET)";
                return OV_ERR_BAD_ARG;
            }
            in_addr a;
            char canon[INET_ADDRSTRLEN];
            std::string ip = opt.substr(5);
            if (ip == "localhost")
                ip = "127.0.0.1";
            if (inet_pton(AF_INET, ip.c_str(), &a) != 1 ||
                !inet_ntop(AF_INET, &a, canon, sizeof(canon))) {
                *err = "peer '" + ip + "' is not a numeric IPv4 address";
                return OV_ERR_BAD_ARG;
            }
            d.peer = canon;
        }
        *out = std::move(d);
        return OV_OK;
    } catch (...) {
        return OV_ERR_NOMEM;
    }
}

ov_status_t ov_vm_open_file(const ov_vm_decl &d, uint64_t size, ov_fd *out) noexcept
{
    if (!ov_is_pow2(size) || size <= OV_REGION_HDR_SIZE) {
        OV_LOG_ERR("VM %s: region size %llu is not a power of two (an ivshmem BAR must be)",
                   d.name.c_str(), (unsigned long long) size);
        return OV_ERR_BAD_ARG;
    }
    /* 0600: only the backend's user and whoever the admin lets run QEMU
     * (chown/chmod, or pre-create the file with the owner QEMU needs). */
    ov_fd fd(open(d.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    struct stat st;
    if (!fd.valid() || fstat(fd.get(), &st) != 0) {
        OV_LOG_ERR("VM %s: cannot open region file %s: %s", d.name.c_str(), d.path.c_str(),
                   strerror(errno));
        return OV_ERR_SYS;
    }
    if (!S_ISREG(st.st_mode)) {
        OV_LOG_ERR("VM %s: %s is not a regular file", d.name.c_str(), d.path.c_str());
        return OV_ERR_BAD_ARG;
    }
    if (st.st_size == 0 && ftruncate(fd.get(), off_t(size)) != 0) {
        OV_LOG_ERR("VM %s: cannot size %s to %llu bytes: %s", d.name.c_str(), d.path.c_str(),
                   (unsigned long long) size, strerror(errno));
        return OV_ERR_SYS;
    }
    if (st.st_size != 0 && uint64_t(st.st_size) != size) {
        OV_LOG_ERR("VM %s: %s has %llu bytes, regions have %llu (--region-mb); QEMU's "
                   "memory-backend-file size= must be the same",
                   d.name.c_str(), d.path.c_str(), (unsigned long long) st.st_size,
                   (unsigned long long) size);
        return OV_ERR_BAD_ARG;
    }
    *out = std::move(fd);
    return OV_OK;
}

std::string ov_tcp_peer_addr(int fd)
{
    sockaddr_in sa{};
    socklen_t sl = sizeof(sa);
    char buf[INET_ADDRSTRLEN];
    if (getpeername(fd, reinterpret_cast<sockaddr *>(&sa), &sl) != 0 || sa.sin_family != AF_INET ||
        !inet_ntop(AF_INET, &sa.sin_addr, buf, sizeof(buf)))
        return "";
    return buf;
}
