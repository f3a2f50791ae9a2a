/*
 * vm_qmp.cc — a QMP session.  Contract: vm_qmp.h.
 */
#include "vm_qmp.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "ov_fd.h"
#include "ov_clock.h"

namespace {

/* One QMP line at a time from a socket, bounded by a deadline. */
struct qmp_reader {
    int fd;
    int64_t deadline_ns;
    std::string buf;

    /* next newline-terminated line; false on EOF, error or deadline */
    bool line(std::string *out)
    {
        for (;;) {
            size_t nl = buf.find('\n');
            if (nl != std::string::npos) {
                *out = buf.substr(0, nl);
                buf.erase(0, nl + 1);
                return true;
            }
            const int64_t left_ms = (deadline_ns - ov_now_ns()) / 1000000;
            pollfd p{fd, POLLIN, 0};
            if (left_ms <= 0 || poll(&p, 1, int(left_ms)) <= 0)
                return false;
            char chunk[4096];
            ssize_t n = read(fd, chunk, sizeof(chunk));
            if (n <= 0 || buf.size() > (1u << 20)) /* a monitor never says 1 MiB without a newline */
                return false;
            buf.append(chunk, size_t(n));
        }
    }
    /* the reply to the command just sent: skip events; "" = it returned */
    bool reply(std::string *error)
    {
        std::string l;
        while (line(&l)) {
            if (l.find("\"return\"") != std::string::npos) {
                error->clear();
                return true;
            }
            if (l.find("\"error\"") != std::string::npos) {
                size_t d = l.find("\"desc\"");
                *error = d == std::string::npos ? l : l.substr(d);
                return true;
            }
        }
        return false;
    }
};

} // namespace

std::string ov_json_escape(const std::string &s)
{
    std::string o;
    for (char c : s) {
        if (c == '"' || c == '\\') {
            o += '\\';
            o += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char u[8];
            snprintf(u, sizeof(u), "\\u%04x", c);
            o += u;
        } else {
            o += c;
        }
    }
    return o;
}

ov_status_t ov_qmp_run(const std::string &socket_path, const std::vector<std::string> &commands, int timeout_ms,
                       std::string *err) noexcept
{
    try {
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        if (socket_path.size() >= sizeof(a.sun_path)) {
            *err = "monitor socket path too long";
            return OV_ERR_SYS;
        }
        std::memcpy(a.sun_path, socket_path.c_str(), socket_path.size() + 1);
        ov_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (!fd.valid() || connect(fd.get(), reinterpret_cast<sockaddr *>(&a), sizeof(a)) != 0) {
            *err = "connect " + socket_path + ": " + strerror(errno);
            return OV_ERR_SYS;
        }
        qmp_reader r{fd.get(), ov_now_ns() + int64_t(timeout_ms) * 1000000, {}};
        std::string greeting, why;
        if (!r.line(&greeting) || greeting.find("\"QMP\"") == std::string::npos) {
            *err = "no QMP greeting on " + socket_path;
            return OV_ERR_SYS;
        }
        std::vector<std::string> all{"{\"execute\":\"qmp_capabilities\"}"};
        all.insert(all.end(), commands.begin(), commands.end());
        for (const std::string &c : all) {
            const std::string msg = c + "\n";
            if (send(fd.get(), msg.data(), msg.size(), MSG_NOSIGNAL) != ssize_t(msg.size())) {
                *err = "monitor closed while sending " + c;
                return OV_ERR_SYS;
            }
            if (!r.reply(&why)) {
                *err = "no answer to " + c;
                return OV_ERR_SYS;
            }
            if (!why.empty()) {
                *err = c + ": " + why;
                return OV_ERR_SYS;
            }
        }
        return OV_OK;
    } catch (...) {
        *err = "out of memory";
        return OV_ERR_SYS;
    }
}
