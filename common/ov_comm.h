/*
 * ov_comm.h — control-plane communicator: framed messages (ov_protocol.h) over
 * a stream socket chosen by URI.  Both sides; MPI-free; never throws.
 *
 *   unix:PATH        AF_UNIX stream; can pass fds (SCM_RIGHTS)
 *   tcp:HOST:PORT    AF_INET stream (numeric IPv4 or "localhost"); no fds.
 *                    Port 0 on listen picks a free port (ov_comm_local_port).
 *
 * Room for vsock: add a scheme in ov_comm_parse_uri and a case in
 * listen/connect; nothing above this file knows the transport except through
 * ov_comm_transport::can_pass_fds.
 */
#ifndef OMPI_VIRT_COMMON_OV_COMM_H
#define OMPI_VIRT_COMMON_OV_COMM_H

#include <cstdint>
#include <string>

#include "ov_fd.h"
#include "ov_protocol.h"

enum ov_comm_kind { OV_COMM_UNIX = 1, OV_COMM_TCP = 2 };

struct ov_comm_uri {
    ov_comm_kind kind;
    std::string path; /* unix */
    std::string host; /* tcp */
    uint16_t port;    /* tcp */
};

/* OV_OK or OV_ERR_BAD_ARG (unknown scheme, empty path, bad port). */
ov_status_t ov_comm_parse_uri(const char *uri, ov_comm_uri *out) noexcept;
inline bool ov_comm_can_pass_fds(ov_comm_kind k) { return k == OV_COMM_UNIX; }

/* Listening socket, non-blocking, CLOEXEC.  For unix the caller has removed
 * any stale socket file first.  OV_ERR_SYS with errno set on failure. */
ov_status_t ov_comm_listen(const ov_comm_uri &u, ov_fd *out) noexcept;
/* Blocking connected socket, CLOEXEC.  OV_ERR_SYS with errno set. */
ov_status_t ov_comm_connect(const ov_comm_uri &u, ov_fd *out) noexcept;
/* TCP only: the bound port of a listening socket (0 on error). */
uint16_t ov_comm_local_port(int fd) noexcept;

#define OV_MSG_MAX_FDS 2

/* Send header + payload (+ fds on the first byte).  Loops over short writes;
 * with nonblock a full socket gives OV_ERR_AGAIN (backend: drop the peer).
 * OV_ERR_BACKEND_GONE if the peer closed (EPIPE/ECONNRESET), OV_ERR_SYS else. */
ov_status_t ov_msg_send(int fd, uint16_t type, uint32_t seq, const void *payload, uint32_t len,
                        const int *fds, int nfds, bool nonblock) noexcept;

/* Blocking receive of one message within timeout_ms (frontend).  The payload
 * must fit `cap` (else OV_ERR_PROTO).  Received fds are stored in fds[] (up to
 * OV_MSG_MAX_FDS, the rest closed); *nfds set.  OV_ERR_TIMEOUT,
 * OV_ERR_BACKEND_GONE (EOF), OV_ERR_PROTO (bad header), OV_ERR_SYS. */
ov_status_t ov_msg_recv(int fd, ov_msg_hdr *hdr, void *payload, uint32_t cap, ov_fd *fds,
                        int *nfds, int timeout_ms) noexcept;

/* One non-blocking recvmsg of up to len bytes, shared by both receivers.
 * File descriptors passed with the bytes are kept in fds[] while *nfds < cap
 * (cap 0: keep none) and closed otherwise, so none ever leaks.  Returns what
 * recvmsg returned, errno intact for the caller. */
ssize_t ov_recv_keep_fds(int fd, void *buf, size_t len, ov_fd *fds, int *nfds, int cap) noexcept;

/* Header check used by both receivers (and fuzzed).  is_reply: expect the
 * OV_MSG_REPLY bit.  OV_OK or OV_ERR_PROTO / OV_ERR_VERSION. */
ov_status_t ov_msg_check_hdr(const ov_msg_hdr &h, bool is_reply) noexcept;

#endif
