/*
 * ov_frontend_fabric.cc — FABRIC_* requests.  Contract: ov_frontend_fabric.h.
 */
#include "ov_frontend_fabric.h"

#include <cstring>
#include <new>
#include <vector>

#include "ov_frontend_impl.h"

static ov_status_t with_blob(ov_fe *fe, uint16_t type, uint32_t word, const void *blob, uint32_t len) noexcept
{
    if (!(fe->features & OV_FEAT_FABRIC))
        return ov_fe_fail(fe, OV_ERR_NOT_SUPPORTED, "backend offers no fabric mappings");
    if (blob == nullptr || len == 0 || len > OV_FABRIC_BLOB_MAX)
        return ov_fe_fail(fe, OV_ERR_BAD_ARG, "fabric blob of %u bytes", len);
    uint8_t req[sizeof(ov_fabric_send_req) + OV_FABRIC_BLOB_MAX];
    ov_fabric_send_req r{word, len, 0}; /* publish has the same layout: {epoch, len, reserved} */
    static_assert(sizeof(ov_fabric_send_req) == sizeof(ov_fabric_publish_req), "same layout");
    std::memcpy(req, &r, sizeof(r));
    std::memcpy(req + sizeof(r), blob, len);
    ov_simple_rep rep;
    return ov_fe_call(fe, type, req, uint32_t(sizeof(r) + len), &rep, sizeof(rep));
}

extern "C" ov_status_t ov_fe_fabric_publish(ov_fe_t *fe, uint32_t epoch, const void *blob, uint32_t len) noexcept
{
    return with_blob(fe, OV_MSG_FABRIC_PUBLISH, epoch, blob, len);
}

extern "C" ov_status_t ov_fe_fabric_send(ov_fe_t *fe, uint32_t dest, const void *blob, uint32_t len) noexcept
{
    return with_blob(fe, OV_MSG_FABRIC_SEND, dest, blob, len);
}

extern "C" ov_status_t ov_fe_fabric_take(ov_fe_t *fe, ov_fe_fabric_fn fn, void *ctx, int *more) noexcept
try {
    if (!(fe->features & OV_FEAT_FABRIC))
        return ov_fe_fail(fe, OV_ERR_NOT_SUPPORTED, "backend offers no fabric mappings");
    std::vector<uint8_t> rep(sizeof(ov_fabric_take_rep) + OV_FABRIC_TAKE_MAX);
    ov_fabric_take_req q{0, 0};
    uint32_t got = 0;
    ov_status_t s = ov_fe_call(fe, OV_MSG_FABRIC_TAKE, &q, sizeof(q), rep.data(), uint32_t(rep.size()), nullptr,
                               nullptr, &got);
    if (s != OV_OK)
        return s;
    ov_fabric_take_rep h;
    if (got < sizeof(h))
        return ov_fe_fail(fe, OV_ERR_PROTO, "short FABRIC_TAKE reply");
    std::memcpy(&h, rep.data(), sizeof(h));
    /* check every entry before handing any out */
    size_t off = sizeof(h);
    for (uint32_t i = 0; i < h.count; i++) {
        ov_fabric_entry e;
        if (got - off < sizeof(e))
            return ov_fe_fail(fe, OV_ERR_PROTO, "FABRIC_TAKE reply truncated");
        std::memcpy(&e, rep.data() + off, sizeof(e));
        const size_t sz = sizeof(e) + ((size_t(e.len) + 7) & ~size_t(7));
        if (e.len == 0 || e.len > OV_FABRIC_BLOB_MAX || got - off < sz)
            return ov_fe_fail(fe, OV_ERR_PROTO, "FABRIC_TAKE entry out of bounds");
        off += sz;
    }
    off = sizeof(h);
    for (uint32_t i = 0; i < h.count; i++) {
        ov_fabric_entry e;
        std::memcpy(&e, rep.data() + off, sizeof(e));
        fn(ctx, e.from, rep.data() + off + sizeof(e), e.len);
        off += sizeof(e) + ((size_t(e.len) + 7) & ~size_t(7));
    }
    if (more)
        *more = h.more != 0;
    return OV_OK;
} catch (const std::bad_alloc &) {
    return ov_fe_fail(fe, OV_ERR_NOMEM, "FABRIC_TAKE buffer");
}

extern "C" ov_status_t ov_fe_fabric_lookup(ov_fe_t *fe, uint32_t vid, void *buf, uint32_t *len, uint32_t *epoch,
                                           int *remote) noexcept
{
    if (!(fe->features & OV_FEAT_FABRIC))
        return ov_fe_fail(fe, OV_ERR_NOT_SUPPORTED, "backend offers no fabric mappings");
    uint8_t rep[sizeof(ov_fabric_lookup_rep) + OV_FABRIC_BLOB_MAX];
    ov_fabric_lookup_req q{vid, 0};
    uint32_t got = 0;
    ov_status_t s = ov_fe_call(fe, OV_MSG_FABRIC_LOOKUP, &q, sizeof(q), rep, sizeof(rep), nullptr, nullptr, &got);
    if (s != OV_OK)
        return s;
    ov_fabric_lookup_rep h;
    if (got < sizeof(h))
        return ov_fe_fail(fe, OV_ERR_PROTO, "short FABRIC_LOOKUP reply");
    std::memcpy(&h, rep, sizeof(h));
    if (h.len == 0 || h.len != got - sizeof(h))
        return ov_fe_fail(fe, OV_ERR_PROTO, "FABRIC_LOOKUP reply length");
    if (h.len > *len)
        return ov_fe_fail(fe, OV_ERR_BAD_ARG, "mapping of %u bytes does not fit %u", h.len, *len);
    std::memcpy(buf, rep + sizeof(h), h.len);
    *len = h.len;
    *epoch = h.epoch;
    *remote = int(h.remote);
    return OV_OK;
}
