/*
 * fabric_control.cc — the FABRIC_* messages (ov_protocol.h "fabric
 * mappings"): decode the guest's request (hostile: wire.h), name the
 * connection's proven identity, let the fabric mapping service decide
 * (fabric_mappings.h), reply.
 */
#include <cstring>

#include "backend.h"
#include "log.h"

void ov_backend::do_fabric(conn *c, const ov_msg_hdr &h, const uint8_t *p)
{
    ov_simple_rep simple{OV_OK, 0};
    std::vector<uint8_t> big; /* TAKE, LOOKUP: reply with a payload */
    ov_status_t s = OV_OK;
    const ov_fabric_member who{c->job_key, c->rank, c->id};
    const uint8_t *blob = nullptr;
    switch (h.type) {
    case OV_MSG_FABRIC_PUBLISH: {
        ov_fabric_publish_req r;
        if ((s = ov_decode_fabric_publish(p, h.len, &r, &blob)) == OV_OK && c->state >= 1) {
            auto j = jobs_.find(c->job_key); /* the digest of the secret c proved at HELLO */
            s = j == jobs_.end() ? OV_ERR_STATE
                                 : fabric_->publish(who, j->second.digest, r.epoch, blob, r.len, &simple.reserved);
        }
        break;
    }
    case OV_MSG_FABRIC_SEND: {
        ov_fabric_send_req r;
        if ((s = ov_decode_fabric_send(p, h.len, &r, &blob)) == OV_OK && c->state >= 1)
            s = fabric_->send(who, r.dest, blob, r.len, &simple.reserved);
        break;
    }
    case OV_MSG_FABRIC_TAKE: {
        ov_fabric_take_req r;
        if ((s = ov_decode_fabric_take(p, h.len, &r)) == OV_OK && c->state >= 1)
            s = fabric_->take(who, r.max_bytes, &big);
        break;
    }
    case OV_MSG_FABRIC_LOOKUP: {
        ov_fabric_lookup_req r;
        if ((s = ov_decode_fabric_lookup(p, h.len, &r)) == OV_OK && c->state >= 1)
            s = fabric_->lookup(who, r.vid, &big);
        break;
    }
    }
    if (s == OV_OK && c->state < 1)
        s = OV_ERR_STATE;
    if (s == OV_OK && !big.empty()) {
        reply(c, h, big.data(), uint32_t(big.size()));
        return;
    }
    simple.status = s;
    if (s != OV_ERR_QUOTA)
        simple.reserved = 0;
    if (reply(c, h, &simple, sizeof(simple)) && s == OV_ERR_PROTO) {
        OV_LOG_WARN("conn %u (pid %u): malformed message type %u", c->id, c->peer_pid, h.type);
        close_conn(c, "protocol error");
    }
}
