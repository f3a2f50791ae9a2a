/*
 * ibvirt_wire.cc — encode/validate control blobs (see ibvirt_wire.h).
 */
#include "ibvirt_wire.h"

#include <cstring>

namespace ibvirt {

int decode_ctrl(const void *buf, size_t len, uint32_t self, uint32_t max_peers, uint32_t max_keys,
                Ctrl *out)
{
    if (buf == nullptr || len < sizeof(CtrlHeader))
        return IBVIRT_ERR_INVAL;
    CtrlHeader h;
    std::memcpy(&h, buf, sizeof h); /* copy once, then validate the copy */
    if (h.magic != kCtrlMagic || h.version != kCtrlVersion)
        return IBVIRT_ERR_INVAL;
    if (h.type < uint16_t(CtrlType::suspend) || h.type > uint16_t(CtrlType::publish_ack))
        return IBVIRT_ERR_INVAL;
    if (h.from >= max_peers || h.from == self || h.addrlen > IBVIRT_ADDR_MAX)
        return IBVIRT_ERR_INVAL;
    bool publish = h.type == uint16_t(CtrlType::publish);
    if (!publish && (h.nkeys != 0 || h.addrlen != 0))
        return IBVIRT_ERR_INVAL;
    if (publish && (h.addrlen == 0 || h.nkeys > max_keys))
        return IBVIRT_ERR_INVAL;
    if (len != sizeof(CtrlHeader) + size_t(h.nkeys) * sizeof(WireKey))
        return IBVIRT_ERR_INVAL;
    std::vector<WireKey> keys(h.nkeys);
    if (h.nkeys)
        std::memcpy(keys.data(), static_cast<const char *>(buf) + sizeof h, h.nkeys * sizeof(WireKey));
    for (const WireKey &k : keys)
        if (k.vkey >= max_keys || k.pad != 0 || k.len == 0)
            return IBVIRT_ERR_INVAL;
    out->h = h;
    out->keys = std::move(keys);
    return IBVIRT_OK;
}

void encode_ctrl(const Ctrl &c, std::vector<char> *out)
{
    CtrlHeader h = c.h;
    h.magic = kCtrlMagic;
    h.version = kCtrlVersion;
    h.nkeys = uint32_t(c.keys.size());
    size_t at = out->size();
    out->resize(at + sizeof h + c.keys.size() * sizeof(WireKey));
    std::memcpy(out->data() + at, &h, sizeof h);
    if (!c.keys.empty())
        std::memcpy(out->data() + at + sizeof h, c.keys.data(), c.keys.size() * sizeof(WireKey));
}

} // namespace ibvirt
