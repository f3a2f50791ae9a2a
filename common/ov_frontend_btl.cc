/*
 * ov_frontend_btl.cc — BTL_SEGMENT on the frontend side.  Contract:
 * ov_frontend_btl.h.
 */
#include "ov_frontend_btl.h"

#include "ov_frontend_impl.h"

extern "C" ov_status_t ov_fe_btl_segment(ov_fe_t *fe, uint32_t nranks, ov_fe_btl_seg_t *out) noexcept
{
    if (fe->params.role != OV_ROLE_BTL || fe->btl_segment.data() != nullptr)
        return ov_fe_fail(fe, OV_ERR_STATE, "btl segment: not a BTL connection, or already mapped");
    ov_btl_segment_req req{nranks, 0, 0};
    ov_btl_segment_rep rep{};
    ov_fd fds[OV_MSG_MAX_FDS];
    int nfds = 0;
    ov_status_t s = ov_fe_call(fe, OV_MSG_BTL_SEGMENT, &req, sizeof(req), &rep, sizeof(rep), fds, &nfds);
    if (s == OV_ERR_NO_FD_TRANSPORT)
        return ov_fe_fail(fe, s, "btl segment over %s: guest '%s' is not declared as a VM (--vm)", fe->uri.c_str(),
                          fe->guest.c_str());
    if (s != OV_OK)
        return s;
    if (!ov_comm_can_pass_fds(fe->kind)) /* vm mode: a device the backend plugged, not a descriptor */
        return nfds == 0 && rep.nranks == nranks
                   ? ov_fe_btl_map_bar(fe, rep, nranks, out)
                   : ov_fe_fail(fe, OV_ERR_PROTO, "vm-mode btl segment reply with a descriptor or for %u ranks",
                                rep.nranks);
    if (nfds < 1 || !fds[0].valid() || rep.nranks != nranks)
        return ov_fe_fail(fe, OV_ERR_PROTO, "btl segment reply without a descriptor or for %u ranks", rep.nranks);
    ov_mapping m;
    if (!m.map(fds[0].get(), size_t(rep.segment_size)))
        return ov_fe_fail(fe, OV_ERR_SYS, "mmap of the btl segment (%llu bytes)", (unsigned long long) rep.segment_size);
    ov_bseg_geom g;
    s = ov_bseg_check(m.data(), rep.segment_size, nranks, &g);
    if (s != OV_OK)
        return ov_fe_fail(fe, s, "btl segment header is not layout %u for %u ranks", OV_BSEG_LAYOUT_VERSION, nranks);
    const auto *h = reinterpret_cast<const ov_bseg_hdr *>(m.data());
    if (h->segment_id != rep.segment_id || h->backend_instance != fe->backend_instance)
        return ov_fe_fail(fe, OV_ERR_LAYOUT, "btl segment header names another segment or backend");
    return ov_fe_btl_adopt(fe, std::move(m), g, rep.segment_id, out);
}

ov_status_t ov_fe_btl_adopt(ov_fe *fe, ov_mapping &&m, const ov_bseg_geom &g, uint64_t segment_id,
                            ov_fe_btl_seg *out) noexcept
{
    out->base = m.data();
    out->geom = g;
    out->segment_id = segment_id;
    out->backend_instance = fe->backend_instance;
    fe->btl_segment = std::move(m);
    return OV_OK;
}

extern "C" ov_status_t ov_fe_btl_alive(ov_fe_t *fe) noexcept
{
    if (fe->gone)
        return OV_ERR_BACKEND_GONE;
    const auto *h = reinterpret_cast<const ov_bseg_hdr *>(fe->btl_segment.data());
    if (h != nullptr && h->state.load(std::memory_order_acquire) != OV_BSEG_LIVE) {
        fe->gone = true;
        return ov_fe_fail(fe, OV_ERR_BACKEND_GONE, "btl segment shut down by its backend");
    }
    return ov_fe_check_alive(fe); /* the control socket: a killed backend */
}
