/*
 * btl_vmshm_send.cc — btl vmshm's data path: alloc/free/prepare_src/send/
 * sendi and progress, over vmshm_channel.  Contract: btl_vmshm.h.  None of
 * these throws or makes a system call, except progress's idle nap
 * (vmshm_idle.h) and its liveness check every 2^16 passes.
 */
#include "btl_vmshm_impl.h"
#include "btl_vmshm_rdma.h"
#include "ov_clock.h"
#include "ov_entry.h"

#include "opal/datatype/opal_convertor.h"
#include "opal/util/output.h"
#include "opal/util/proc.h"

#include <sys/uio.h>
#include <time.h>

#include <cstdio>

namespace {

vmshm_frag *take_frag(mca_btl_base_endpoint_t *ep, uint8_t order, uint32_t flags)
{
    const int i = vmshm_g->ch.alloc();
    if (i < 0) {
        return nullptr;
    }
    vmshm_frag &f = vmshm_g->frags[static_cast<uint32_t>(i)];
    f.state = vmshm_frag::HELD;
    f.owner_freed = false;
    f.ep = ep;
    f.base.des_flags = flags;
    f.base.order = MCA_BTL_NO_ORDER;
    (void) order;
    f.base.des_cbfunc = nullptr;
    f.base.des_cbdata = nullptr;
    f.base.des_context = nullptr;
    return &f;
}

void give_back(vmshm_frag *f)
{
    f->state = vmshm_frag::FREE;
    vmshm_g->ch.release(f->index);
}

mca_btl_base_descriptor_t *vmshm_alloc(mca_btl_base_module_t *, mca_btl_base_endpoint_t *ep, uint8_t order,
                                       size_t size, uint32_t flags)
{
    if (size > OV_BSEG_FRAG_PAYLOAD || vmshm_g->failed) {
        return nullptr;
    }
    vmshm_guard l;
    vmshm_frag *f = take_frag(ep, order, flags);
    if (nullptr == f) {
        return nullptr;
    }
    f->seg.seg_len = size;
    return &f->base;
}

int vmshm_free(mca_btl_base_module_t *, mca_btl_base_descriptor_t *des)
{
    vmshm_guard l;
    auto *f = reinterpret_cast<vmshm_frag *>(des);
    if (f->state == vmshm_frag::FLYING) {
        f->owner_freed = true; /* reclaimed when the receiver hands it back */
    } else if (f->state == vmshm_frag::HELD) {
        give_back(f);
    }
    return OPAL_SUCCESS;
}

mca_btl_base_descriptor_t *vmshm_prepare_src(mca_btl_base_module_t *, mca_btl_base_endpoint_t *ep,
                                             opal_convertor_t *conv, uint8_t order, size_t reserve, size_t *size,
                                             uint32_t flags)
{
    if (reserve > OV_BSEG_FRAG_PAYLOAD || vmshm_g->failed) {
        return nullptr;
    }
    vmshm_guard l;
    vmshm_frag *f = take_frag(ep, order, flags);
    if (nullptr == f) {
        return nullptr;
    }
    char *payload = static_cast<char *>(f->seg.seg_addr.pval);
    size_t want = *size;
    if (want > OV_BSEG_FRAG_PAYLOAD - reserve) {
        want = OV_BSEG_FRAG_PAYLOAD - reserve;
    }
    iovec iov{payload + reserve, want};
    uint32_t count = 1;
    size_t packed = want;
    if (want > 0 && opal_convertor_pack(conv, &iov, &count, &packed) < 0) {
        give_back(f);
        return nullptr;
    }
    *size = packed;
    f->seg.seg_len = reserve + packed;
    return &f->base;
}

int vmshm_send(mca_btl_base_module_t *, mca_btl_base_endpoint_t *ep, mca_btl_base_descriptor_t *des,
               mca_btl_base_tag_t tag)
{
    vmshm_guard l;
    auto *f = reinterpret_cast<vmshm_frag *>(des);
    if (vmshm_g->failed || !vmshm_rdma_flush(vmshm_g)) {
        return OPAL_ERR_UNREACH;
    }
    if (!vmshm_g->ch.post(f->index, ep->rank, tag, static_cast<uint32_t>(f->seg.seg_len))) {
        return OPAL_ERROR; /* the peer's FIFO refused it: the segment is corrupt */
    }
    vmshm_g->idle.busy();
    f->state = vmshm_frag::FLYING;
    f->ep = ep;
    /* The data was copied into the fragment: ob1's buffer is free now.  A
     * descriptor ob1 keeps (no BTL ownership) or wants called back gets its
     * callback when the fragment returns; otherwise we say "done" (1). */
    if (0 == (des->des_flags & MCA_BTL_DES_FLAGS_BTL_OWNERSHIP) || nullptr != des->des_cbfunc) {
        des->des_flags |= MCA_BTL_DES_SEND_ALWAYS_CALLBACK;
    }
    return 0 != (des->des_flags & MCA_BTL_DES_SEND_ALWAYS_CALLBACK) ? OPAL_SUCCESS : 1;
}

/* header then the convertor's payload_size bytes, contiguously at dst. */
bool pack_inline(char *dst, opal_convertor_t *conv, const void *header, size_t header_size, size_t payload_size)
{
    memcpy(dst, header, header_size);
    if (0 == payload_size) {
        return true;
    }
    iovec iov{dst + header_size, payload_size};
    uint32_t count = 1;
    size_t packed = payload_size;
    return opal_convertor_pack(conv, &iov, &count, &packed) >= 0 && packed == payload_size;
}

int vmshm_sendi(mca_btl_base_module_t *, mca_btl_base_endpoint_t *ep, opal_convertor_t *conv, void *header,
                size_t header_size, size_t payload_size, uint8_t order, uint32_t flags, mca_btl_base_tag_t tag,
                mca_btl_base_descriptor_t **descriptor)
{
    if (nullptr != descriptor) {
        *descriptor = nullptr; /* ob1 allocates through its ordinary path */
    }
    const size_t total = header_size + payload_size;
    if (vmshm_g->failed || total > OV_BSEG_FRAG_PAYLOAD) {
        return OPAL_ERR_OUT_OF_RESOURCE;
    }
    vmshm_guard l;
    if (!vmshm_rdma_flush(vmshm_g)) {
        return OPAL_ERR_UNREACH;
    }
    vmshm_channel &ch = vmshm_g->ch;
    if (total <= static_cast<size_t>(mca_btl_vmshm_component.fbox_max)) {
        char *dst = ch.fbox_reserve(ep->rank, static_cast<uint32_t>(total));
        if (nullptr != dst) {
            if (!pack_inline(dst, conv, header, header_size, payload_size)) {
                return OPAL_ERROR;
            }
            ch.fbox_commit(ep->rank, tag, static_cast<uint32_t>(total));
            vmshm_g->idle.busy();
            return OPAL_SUCCESS;
        }
    }
    vmshm_frag *f = take_frag(ep, order, flags | MCA_BTL_DES_FLAGS_BTL_OWNERSHIP);
    if (nullptr == f) {
        return OPAL_ERR_OUT_OF_RESOURCE;
    }
    if (!pack_inline(static_cast<char *>(f->seg.seg_addr.pval), conv, header, header_size, payload_size)) {
        give_back(f);
        return OPAL_ERROR;
    }
    if (!ch.post(f->index, ep->rank, tag, static_cast<uint32_t>(total))) {
        give_back(f);
        return OPAL_ERROR;
    }
    f->state = vmshm_frag::FLYING; /* owned by us: freed when it comes back, no callback */
    vmshm_g->idle.busy();
    return OPAL_SUCCESS;
}

/* The backend went away: every peer's messages fail from now on. */
void fail_all()
{
    vmshm_g->failed = true;
    BTL_VMSHM_VERBOSE(1, "segment shut down: %s", ov_fe_last_error(vmshm_g->fe));
    vmshm_rdma_fail_all(vmshm_g);
    if (nullptr == vmshm_g->error_cb) {
        return;
    }
    /* What the user reads when ob1 aborts the job: name the backend and why. */
    char info[256];
    snprintf(info, sizeof(info), "btl vmshm: lost the ompi-virt backend, this job's segment is gone (%s)",
             ov_fe_last_error(vmshm_g->fe));
    for (mca_btl_base_endpoint_t *ep : vmshm_g->eps) {
        if (nullptr != ep) {
            vmshm_g->error_cb(&mca_btl_vmshm_module, MCA_BTL_ERROR_FLAGS_FATAL, ep->proc, info);
        }
    }
}

} // namespace

void vmshm_deliver(void *, uint32_t src, uint8_t tag, const char *data, uint32_t len)
{
    const mca_btl_active_message_callback_t &cb = mca_btl_base_active_message_trigger[tag];
    if (nullptr == cb.cbfunc) {
        BTL_VMSHM_VERBOSE(1, "dropped a message with unknown tag %u from rank %u", tag, src);
        return;
    }
    /* on the stack: a callback that ends up delivering again gets its own */
    mca_btl_base_segment_t seg{};
    seg.seg_addr.pval = const_cast<char *>(data);
    seg.seg_len = len;
    mca_btl_base_descriptor_t des{};
    des.des_segments = &seg;
    des.des_segment_count = 1;
    cb.cbfunc(&mca_btl_vmshm_module, tag, &des, cb.cbdata);
}

void vmshm_returned(void *, uint32_t index)
{
    vmshm_frag &f = vmshm_g->frags[index];
    f.state = vmshm_frag::HELD;
    const uint32_t flags = f.base.des_flags;
    if (0 != (flags & MCA_BTL_DES_SEND_ALWAYS_CALLBACK) && nullptr != f.base.des_cbfunc) {
        f.base.des_cbfunc(&mca_btl_vmshm_module, f.ep, &f.base, OPAL_SUCCESS); /* may free it */
    }
    if (f.state == vmshm_frag::HELD && (0 != (flags & MCA_BTL_DES_FLAGS_BTL_OWNERSHIP) || f.owner_freed)) {
        give_back(&f);
    }
}

int mca_btl_vmshm_progress(void)
{
    if (nullptr == vmshm_g || vmshm_g->failed) {
        return 0;
    }
    int64_t nap = 0;
    int n;
    {
        vmshm_guard l;
        if (0 == (++vmshm_g->passes & 0xffff) && OV_OK != ov_fe_btl_alive(vmshm_g->fe)) {
            fail_all();
            return 0;
        }
        n = vmshm_g->ch.poll();
        if (nullptr != vmshm_g->rdma) {
            n += vmshm_rdma_progress(vmshm_g);
        }
        if (n > 0) {
            vmshm_g->idle.busy();
        } else if (vmshm_g->idle.idle()) {
            nap = vmshm_g->idle.tick(ov_now_ns());
        }
    }
    if (nap > 0) { /* outside the lock: other threads keep sending and polling */
        const timespec ts{static_cast<time_t>(nap / 1000000000), static_cast<long>(nap % 1000000000)};
        nanosleep(&ts, nullptr);
        vmshm_guard l;
        vmshm_g->idle.napped(ov_now_ns());
        ++vmshm_g->naps;
    }
    return n;
}

void vmshm_init_data_ops(mca_btl_base_module_t *module)
{
    module->btl_alloc = OV_ENTRY(vmshm_alloc);
    module->btl_free = OV_ENTRY(vmshm_free);
    module->btl_prepare_src = OV_ENTRY(vmshm_prepare_src);
    module->btl_send = OV_ENTRY(vmshm_send);
    module->btl_sendi = OV_ENTRY(vmshm_sendi);
}
