/*
 * fuzz_control.cc — libFuzzer target for the backend's control plane as it
 * runs: a real ov_backend (in a thread, on a temp dir) reads each input from
 * a unix socket and handles it exactly as it would a guest's bytes —
 * framing, header checks, every message type's decoder and handler, the
 * state machine, quotas, replies, STATUS pages.
 *
 * Input: byte 0 picks the state the connection is brought to first with
 * valid messages (0 new, 1 after HELLO, 2 after ATTACH, 3 after RINGS: so
 * WIN_CREATE, GRANT, ... are reached without the fuzzer having to find a
 * valid HELLO); the rest is written to the socket as is, followed by a
 * DETACH.  The target then reads until the backend closes the connection
 * (the DETACH, a protocol error, the stall timeout for a message left
 * incomplete, or EOF when the input swallowed the DETACH), so each input
 * is handled completely and released before the next.  A crash, sanitizer report or a backend that never closes (the
 * libFuzzer -timeout) is a finding.  Built by `make fuzz`.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <poll.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "backend.h"
#include "log.h"
#include "ov_job_id.h"

namespace {
ov_backend *g_backend;
std::string g_sock;

void start_backend()
{
    char dir[] = "/tmp/ov-fuzz-XXXXXX";
    if (!mkdtemp(dir))
        abort();
    ov_backend_options o;
    o.dir = dir;
    o.region_size = 4u << 20;
    o.handle_signals = false;
    o.single_copy = false; /* the backend would be reading this very process */
    o.copy_threads = 0;
    o.stall_ms = 20;
    o.quota.guest_windows = 64; /* reach the quota answers too */
    o.quota.guest_region_bytes = 2u << 20;
    g_backend = new ov_backend(o);
    if (g_backend->start() != OV_OK)
        abort();
    g_sock = std::string(dir) + "/backend.sock";
    std::thread([] { g_backend->run(); }).detach();
}

int connect_backend()
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    strncpy(a.sun_path, g_sock.c_str(), sizeof(a.sun_path) - 1);
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)) != 0)
        abort();
    return fd;
}

/* One valid request and its reply; false if the backend refused it. */
bool step(int fd, uint16_t type, const void *req, uint32_t len)
{
    static uint32_t seq;
    if (ov_msg_send(fd, type, ++seq, req, len, nullptr, 0, false) != OV_OK)
        return false;
    ov_msg_hdr h;
    uint8_t rep[256];
    ov_fd fds[OV_MSG_MAX_FDS]; /* region and doorbell: closed on return */
    int nfds = 0;
    int32_t st = -1;
    if (ov_msg_recv(fd, &h, rep, sizeof(rep), fds, &nfds, 2000) != OV_OK || h.len < 4)
        return false;
    std::memcpy(&st, rep, 4);
    return st == OV_OK;
}

void write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return; /* closed on a protocol error: fine */
        p += w;
        n -= size_t(w);
    }
}
} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    ov_log_verbose = 0;
    start_backend();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static uint32_t rank; /* a fresh (job, rank) each time: no OV_ERR_EXISTS from the last input */
    const int state = data[0] & 3;
    int fd = connect_backend();
    bool ok = true;
    if (state >= 1) {
        ov_hello_req h{};
        const ov_job_secret js = ov_job_secret_from_seed(42);
        std::memcpy(h.job_secret, js.b, sizeof(h.job_secret));
        h.rank = ++rank;
        std::strcpy(h.guest, "fuzz");
        ok = step(fd, OV_MSG_HELLO, &h, sizeof(h));
    }
    if (ok && state >= 2) {
        ov_attach_req a{};
        ok = step(fd, OV_MSG_ATTACH, &a, sizeof(a));
    }
    if (ok && state >= 3) {
        ov_rings_req r{16, 16};
        ok = step(fd, OV_MSG_RINGS, &r, sizeof(r));
    }
    write_all(fd, data + 1, size - 1);
    ov_detach_req d{};
    ov_msg_hdr dh{OV_MSG_MAGIC, OV_PROTOCOL_VERSION, OV_MSG_DETACH, sizeof(d), 0};
    write_all(fd, reinterpret_cast<const uint8_t *>(&dh), sizeof(dh));
    write_all(fd, reinterpret_cast<const uint8_t *>(&d), sizeof(d));
    /* Until the backend closes: every reply read, so it never blocks on us.
     * An input may end in a message whose length swallows the DETACH (a
     * RINGS with len 136 in state 3 does): the backend then rightly waits
     * for the next message of a client at rest, so after a quiet spell
     * the write side is shut and EOF must close it.  Only a backend that
     * ignores EOF as well is a hang. */
    uint8_t sink[65536];
    bool eof_sent = false;
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, eof_sent ? 10000 : 250) != 1) {
            if (eof_sent)
                abort(); /* neither answered nor closed 10 s after EOF: a hang */
            shutdown(fd, SHUT_WR);
            eof_sent = true;
            continue;
        }
        ssize_t n = recv(fd, sink, sizeof(sink), 0);
        if (n <= 0)
            break;
    }
    close(fd);
    return 0;
}
