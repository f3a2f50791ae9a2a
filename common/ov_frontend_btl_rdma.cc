/*
 * ov_frontend_btl_rdma.cc — asynchronous BTL_REG/BTL_DEREG/BTL_RDMA.
 * Contract: ov_frontend_btl_rdma.h.
 */
#include "ov_frontend_btl_rdma.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "ov_frontend_impl.h"

namespace {

bool ours(uint16_t type)
{
    return type == OV_MSG_BTL_REG || type == OV_MSG_BTL_DEREG || type == OV_MSG_BTL_RDMA;
}

uint32_t reply_len(uint16_t type)
{
    return type == OV_MSG_BTL_RDMA ? sizeof(ov_btl_rdma_rep) : sizeof(ov_simple_rep);
}

} // namespace

bool ov_fe_btl_rdma_offered(const ov_fe_t *fe) noexcept
{
    return fe->params.role == OV_ROLE_BTL && (fe->features & OV_FEAT_BTL_RDMA) != 0;
}

ov_status_t ov_fe_btl_post(ov_fe_t *fe, ov_fe_btl_msg *msgs, size_t n) noexcept
{
    if (!ov_fe_btl_rdma_offered(fe))
        return ov_fe_fail(fe, OV_ERR_STATE, "btl single copy not offered on this connection");
    if (fe->gone)
        return OV_ERR_BACKEND_GONE;
    std::vector<uint8_t> out;
    try {
        for (size_t i = 0; i < n; i++) {
            if (!ours(msgs[i].type) || msgs[i].len > OV_MSG_MAX_PAYLOAD)
                return OV_ERR_BAD_ARG;
            msgs[i].seq = ++fe->seq;
            ov_msg_hdr h{OV_MSG_MAGIC, OV_PROTOCOL_VERSION, msgs[i].type, msgs[i].len, msgs[i].seq};
            const auto *hp = reinterpret_cast<const uint8_t *>(&h);
            const auto *rp = static_cast<const uint8_t *>(msgs[i].req);
            out.insert(out.end(), hp, hp + sizeof(h));
            out.insert(out.end(), rp, rp + msgs[i].len);
        }
    } catch (...) {
        return OV_ERR_NOMEM;
    }
    size_t sent = 0;
    while (sent < out.size()) { /* one send for all: a blocking socket, so only a dead peer stops it */
        ssize_t r = ::send(fe->ctl.get(), out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            fe->gone = true;
            return ov_fe_fail(fe, OV_ERR_BACKEND_GONE, "sending %zu btl message(s)", n);
        }
        sent += size_t(r);
    }
    return OV_OK;
}

int ov_fe_btl_parse_replies(std::vector<uint8_t> &in, ov_fe_btl_reply_fn fn, void *ctx) noexcept
{
    size_t off = 0;
    int n = 0;
    int result = 0;
    while (in.size() - off >= sizeof(ov_msg_hdr)) {
        ov_msg_hdr h;
        std::memcpy(&h, in.data() + off, sizeof(h));
        const uint16_t type = uint16_t(h.type & ~OV_MSG_REPLY);
        if (ov_msg_check_hdr(h, true) != OV_OK || !ours(type) || h.len != reply_len(type)) {
            result = OV_ERR_PROTO;
            break;
        }
        if (in.size() - off - sizeof(h) < h.len)
            break;
        ov_btl_rdma_rep rep{};
        std::memcpy(&rep, in.data() + off + sizeof(h), h.len); /* the simple reply is its prefix */
        off += sizeof(h) + h.len;
        fn(ctx, type, h.seq, rep);
        n++;
    }
    in.erase(in.begin(), in.begin() + long(off));
    return result != 0 ? result : n;
}

int ov_fe_btl_reap(ov_fe_t *fe, ov_fe_btl_reply_fn fn, void *ctx) noexcept
{
    if (fe->gone)
        return OV_ERR_BACKEND_GONE;
    try {
        uint8_t buf[4096];
        for (;;) {
            ssize_t r = ::recv(fe->ctl.get(), buf, sizeof(buf), MSG_DONTWAIT);
            if (r > 0) {
                fe->btl_in.insert(fe->btl_in.end(), buf, buf + r);
                if (size_t(r) < sizeof(buf))
                    break;
                continue;
            }
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            fe->gone = true; /* EOF or error: the backend is gone */
            return ov_fe_fail(fe, OV_ERR_BACKEND_GONE, "control connection closed");
        }
    } catch (...) {
        fe->gone = true;
        return ov_fe_fail(fe, OV_ERR_NOMEM, "btl reply buffer");
    }
    int n = ov_fe_btl_parse_replies(fe->btl_in, fn, ctx);
    if (n < 0) {
        fe->gone = true;
        return ov_fe_fail(fe, OV_ERR_PROTO, "unexpected reply on the btl connection");
    }
    return n;
}
