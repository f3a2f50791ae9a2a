/*
 * btl_vmshm_rdma.cc — put/get/register_mem/deregister_mem over the backend's
 * single copy.  Contract: btl_vmshm_rdma.h.  No system call but the control
 * socket's send/recv; no exception leaves an entry point.
 */
#include "btl_vmshm_rdma.h"

#include <sys/random.h>

#include <cstring>
#include <new>
#include <unordered_map>
#include <vector>

#include "btl_vmshm_impl.h"
#include "ov_clock.h"
#include "ov_entry.h"
#include "ov_frontend_btl_rdma.h"
#include "vmshm_rdma_backlog.h"

#include "opal/util/output.h"

/* What ob1 copies into its rkey (btl_registration_handle_size bytes). */
struct mca_btl_base_registration_handle_t {
    uint64_t key;
    uint32_t handle;
    uint32_t remote; /* 1: registered with the backend (peers may use it) */
};

struct vmshm_rdma {
    struct op {
        mca_btl_base_endpoint_t *ep;
        void *local_address;
        mca_btl_base_registration_handle_t *local_handle;
        mca_btl_base_rdma_completion_fn_t cb;
        void *cbcontext, *cbdata;
        bool get;
        ov_btl_rdma_req req;
    };
    std::unordered_map<uint32_t, op> ops; /* by seq of the BTL_RDMA: each owes one reply */
    /* Slots for ops (at most VMSHM_RDMA_MAX_OPS posted) and the ops that
     * wait for one: ob1's put/gets are never refused for room. */
    vmshm_rdma_backlog<op> backlog{VMSHM_RDMA_MAX_OPS};
    /* Registrations not yet written to the backend, and deregistrations of
     * written ones: flushed before anything leaves this process (a peer
     * can learn a handle only from a message we send), so a handle ob1
     * registers and drops again without sending it (no free fragment for
     * its RGET) costs no message at all. */
    std::vector<ov_btl_reg_req> reg_q;
    std::vector<ov_btl_dereg_req> dereg_q;
    uint32_t passes = 0;
    uint32_t next_handle = 0;
    uint64_t pool[64];                    /* random keys */
    unsigned pool_left = 0;
    uint64_t refused = 0;                 /* registrations the backend refused */
    uint64_t gets = 0, puts = 0, bytes = 0, failed = 0; /* completed ops (btl_vmshm_stats) */
};

namespace {

bool random_key(vmshm_rdma *r, uint64_t *out)
{
    if (r->pool_left == 0) {
        ssize_t n = getrandom(r->pool, sizeof(r->pool), 0);
        if (n != ssize_t(sizeof(r->pool)))
            return false;
        r->pool_left = 64;
    }
    *out = r->pool[--r->pool_left];
    return true;
}

uint32_t access_of(uint32_t flags)
{
    uint32_t a = 0;
    if (flags & (MCA_BTL_REG_FLAG_REMOTE_READ | MCA_BTL_REG_FLAG_REMOTE_ATOMIC))
        a |= OV_BTL_ACCESS_READ;
    if (flags & (MCA_BTL_REG_FLAG_REMOTE_WRITE | MCA_BTL_REG_FLAG_REMOTE_ATOMIC))
        a |= OV_BTL_ACCESS_WRITE;
    return a;
}

mca_btl_base_registration_handle_t *vmshm_register_mem(mca_btl_base_module_t *, mca_btl_base_endpoint_t *,
                                                       void *base, size_t size, uint32_t flags)
{
    if (nullptr == vmshm_g || nullptr == vmshm_g->rdma || vmshm_g->failed || 0 == size ||
        size < mca_btl_vmshm_component.rdma_min)
        return nullptr; /* ob1 falls back to fragments (btl_vmshm_rdma.h) */
    vmshm_guard l;
    vmshm_rdma *r = vmshm_g->rdma;
    auto *h = new (std::nothrow) mca_btl_base_registration_handle_t{};
    if (nullptr == h || !random_key(r, &h->key)) {
        delete h;
        return nullptr;
    }
    if (0 == ++r->next_handle)
        ++r->next_handle;
    h->handle = r->next_handle;
    const uint32_t access = access_of(flags);
    if (0 == access)
        return h; /* only this process touches it: nothing to grant */
    try {
        r->reg_q.push_back(ov_btl_reg_req{reinterpret_cast<uintptr_t>(base), size, h->key, h->handle, access});
    } catch (...) {
        delete h;
        return nullptr;
    }
    h->remote = 1;
    return h;
}

int vmshm_deregister_mem(mca_btl_base_module_t *, mca_btl_base_registration_handle_t *h)
{
    if (nullptr == vmshm_g || nullptr == vmshm_g->rdma) {
        delete h;
        return OPAL_SUCCESS;
    }
    vmshm_guard l;
    vmshm_rdma *r = vmshm_g->rdma;
    if (h->remote && !vmshm_g->failed) {
        bool cancelled = false; /* never written: forget it here */
        for (size_t i = 0; i < r->reg_q.size() && !cancelled; i++) {
            if (r->reg_q[i].handle == h->handle) {
                r->reg_q.erase(r->reg_q.begin() + long(i));
                cancelled = true;
            }
        }
        if (!cancelled) {
            try {
                r->dereg_q.push_back(ov_btl_dereg_req{h->handle, 0, h->key});
            } catch (...) { /* the backend forgets it when this connection closes */
            }
        }
    }
    delete h;
    return OPAL_SUCCESS;
}

/* Writes the queued (de)registrations and, if rdma, one BTL_RDMA after them,
 * with one send.  false: the connection failed. */
bool flush(vmshm_rdma *r, const ov_btl_rdma_req *rdma, uint32_t *rdma_seq)
{
    const size_t n = r->reg_q.size() + r->dereg_q.size() + (rdma ? 1 : 0);
    if (0 == n)
        return true;
    std::vector<ov_fe_btl_msg> m;
    m.reserve(n);
    for (const ov_btl_reg_req &q : r->reg_q)
        m.push_back({OV_MSG_BTL_REG, &q, sizeof(q), 0});
    for (const ov_btl_dereg_req &q : r->dereg_q)
        m.push_back({OV_MSG_BTL_DEREG, &q, sizeof(q), 0});
    if (rdma)
        m.push_back({OV_MSG_BTL_RDMA, rdma, sizeof(*rdma), 0});
    if (OV_OK != ov_fe_btl_post(vmshm_g->fe, m.data(), m.size()))
        return false;
    r->reg_q.clear();
    r->dereg_q.clear();
    if (rdma)
        *rdma_seq = m.back().seq;
    return true;
}

/* Sends o's BTL_RDMA (after the queued registrations); o holds a backlog
 * slot.  false: not sent (connection failed or no memory). */
bool post_op(vmshm_rdma *r, const vmshm_rdma::op &o)
{
    uint32_t seq = 0;
    try {
        r->ops.reserve(r->ops.size() + 1); /* no failure after the request is out */
        if (!flush(r, &o.req, &seq))
            return false;
    } catch (...) {
        return false;
    }
    r->ops.emplace(seq, o);
    return true;
}

void complete(const vmshm_rdma::op &o, int status)
{
    o.cb(&mca_btl_vmshm_module, o.ep, o.local_address, o.local_handle, o.cbcontext, o.cbdata, status);
}

/* Posts the waiting ops that have a slot now, oldest first. */
void post_waiting(vmshm_state *g)
{
    vmshm_rdma *r = g->rdma;
    vmshm_rdma::op o{};
    while (!g->failed && r->backlog.next(&o)) {
        if (!post_op(r, o)) {
            r->backlog.done();
            BTL_VMSHM_VERBOSE(1, "posting a put/get: %s", ov_fe_last_error(g->fe));
            complete(o, OPAL_ERR_UNREACH);
            vmshm_rdma_fail_all(g);
            return;
        }
    }
}

int post_rdma(uint32_t op, mca_btl_base_module_t *btl, mca_btl_base_endpoint_t *ep, void *local_address,
              uint64_t remote_address, mca_btl_base_registration_handle_t *local_handle,
              mca_btl_base_registration_handle_t *remote_handle, size_t size,
              mca_btl_base_rdma_completion_fn_t cb, void *cbcontext, void *cbdata)
{
    if (nullptr == vmshm_g || nullptr == vmshm_g->rdma)
        return OPAL_ERR_NOT_AVAILABLE;
    if (size > (op == OV_BTL_GET ? btl->btl_get_limit : btl->btl_put_limit))
        return OPAL_ERR_BAD_PARAM;
    vmshm_guard l;
    vmshm_rdma *r = vmshm_g->rdma;
    if (vmshm_g->failed)
        return OPAL_ERR_UNREACH;
    const vmshm_rdma::op o{ep, local_address, local_handle, cb, cbcontext, cbdata, op == OV_BTL_GET,
                           ov_btl_rdma_req{op, ep->rank, remote_handle->handle, 0, remote_handle->key,
                                           remote_address, reinterpret_cast<uintptr_t>(local_address), size}};
    try {
        if (!r->backlog.admit(o))
            return OPAL_SUCCESS; /* waits for a slot: posted by vmshm_rdma_progress */
    } catch (...) {
        return OPAL_ERR_OUT_OF_RESOURCE;
    }
    if (!post_op(r, o)) {
        r->backlog.done();
        return OPAL_ERR_UNREACH;
    }
    return OPAL_SUCCESS;
}

int vmshm_get(mca_btl_base_module_t *btl, mca_btl_base_endpoint_t *ep, void *local_address, uint64_t remote_address,
              mca_btl_base_registration_handle_t *local_handle, mca_btl_base_registration_handle_t *remote_handle,
              size_t size, int, int, mca_btl_base_rdma_completion_fn_t cb, void *cbcontext, void *cbdata)
{
    return post_rdma(OV_BTL_GET, btl, ep, local_address, remote_address, local_handle, remote_handle, size, cb,
                     cbcontext, cbdata);
}

int vmshm_put(mca_btl_base_module_t *btl, mca_btl_base_endpoint_t *ep, void *local_address, uint64_t remote_address,
              mca_btl_base_registration_handle_t *local_handle, mca_btl_base_registration_handle_t *remote_handle,
              size_t size, int, int, mca_btl_base_rdma_completion_fn_t cb, void *cbcontext, void *cbdata)
{
    return post_rdma(OV_BTL_PUT, btl, ep, local_address, remote_address, local_handle, remote_handle, size, cb,
                     cbcontext, cbdata);
}

/* One reply from the backend (ov_fe_btl_reap). */
void on_reply(void *ctx, uint16_t type, uint32_t seq, const ov_btl_rdma_rep &rep)
{
    auto *n = static_cast<int *>(ctx);
    vmshm_rdma *r = vmshm_g->rdma;
    if (type != OV_MSG_BTL_RDMA) {
        if (OV_OK != rep.status) {
            r->refused++;
            BTL_VMSHM_VERBOSE(1, "the backend refused a %s: %s", type == OV_MSG_BTL_REG ? "registration"
                              : "deregistration", ov_strerror(ov_status_t(rep.status)));
        }
        return;
    }
    auto it = r->ops.find(seq);
    if (it == r->ops.end()) {
        BTL_VMSHM_VERBOSE(1, "reply to no outstanding put/get (seq %u)", seq);
        return;
    }
    const vmshm_rdma::op o = it->second;
    r->ops.erase(it);
    r->backlog.done();
    if (OV_OK != rep.status) {
        r->failed++;
        BTL_VMSHM_VERBOSE(1, "single copy with rank %u failed: %s", o.ep->rank, ov_strerror(ov_status_t(rep.status)));
    } else {
        (o.get ? r->gets : r->puts)++;
        r->bytes += rep.moved;
    }
    complete(o, OV_OK == rep.status ? OPAL_SUCCESS : OPAL_ERROR);
    ++*n;
}

} // namespace

bool vmshm_rdma_open(vmshm_state *g)
{
    if (!ov_fe_btl_rdma_offered(g->fe))
        return false;
    g->rdma = new (std::nothrow) vmshm_rdma;
    return nullptr != g->rdma;
}

bool vmshm_rdma_flush(vmshm_state *g)
{
    if (nullptr == g->rdma || g->failed)
        return true;
    try {
        return flush(g->rdma, nullptr, nullptr);
    } catch (...) {
        return false;
    }
}

int vmshm_rdma_progress(vmshm_state *g)
{
    vmshm_rdma *r = g->rdma;
    if (nullptr == r)
        return 0;
    if (!vmshm_rdma_flush(g)) {
        vmshm_rdma_fail_all(g);
        return 0;
    }
    /* Replies: one per put/get; refusals of (de)registrations now and then */
    if (r->ops.empty() && 0 != (++r->passes & 0x3ff))
        return 0;
    int n = 0;
    if (ov_fe_btl_reap(g->fe, on_reply, &n) < 0) {
        BTL_VMSHM_VERBOSE(1, "put/get replies: %s", ov_fe_last_error(g->fe));
        vmshm_rdma_fail_all(g);
        return n;
    }
    post_waiting(g);
    return n;
}

void vmshm_rdma_fail_all(vmshm_state *g)
{
    if (nullptr == g->rdma)
        return;
    vmshm_rdma *r = g->rdma;
    while (!r->ops.empty()) { /* a callback may post again: it gets OPAL_ERR_UNREACH (failed is set) */
        auto it = r->ops.begin();
        const vmshm_rdma::op o = it->second;
        r->ops.erase(it);
        r->backlog.done();
        complete(o, OPAL_ERR_UNREACH);
    }
    r->backlog.drain([](const vmshm_rdma::op &o) { complete(o, OPAL_ERR_UNREACH); });
    r->reg_q.clear();
    r->dereg_q.clear();
}

void vmshm_rdma_close(vmshm_state *g)
{
    if (nullptr == g->rdma)
        return;
    /* Put/get replies still owed (none, if ob1 waited for its operations):
     * read them so their callbacks run; bounded. */
    const int64_t deadline = ov_now_ns() + 1000 * 1000 * 1000LL;
    while (!g->rdma->ops.empty() && !g->failed && ov_now_ns() < deadline) {
        int n = 0;
        if (ov_fe_btl_reap(g->fe, on_reply, &n) < 0)
            break;
        post_waiting(g);
    }
    if (!g->rdma->ops.empty() || 0 != g->rdma->backlog.waiting())
        vmshm_rdma_fail_all(g);
    if (0 != mca_btl_vmshm_component.stats) {
        const vmshm_rdma &r = *g->rdma;
        opal_output(0, "btl vmshm: rank %u rdma: gets %llu puts %llu bytes %llu failed %llu refused %llu", g->me,
                    (unsigned long long) r.gets, (unsigned long long) r.puts, (unsigned long long) r.bytes,
                    (unsigned long long) r.failed, (unsigned long long) r.refused);
    }
    delete g->rdma;
    g->rdma = nullptr;
}

void vmshm_init_rdma_ops(mca_btl_base_module_t *module)
{
    module->btl_put = OV_ENTRY(vmshm_put);
    module->btl_get = OV_ENTRY(vmshm_get);
    module->btl_register_mem = OV_ENTRY(vmshm_register_mem);
    module->btl_deregister_mem = OV_ENTRY(vmshm_deregister_mem);
    module->btl_registration_handle_size = sizeof(mca_btl_base_registration_handle_t);
}

void vmshm_rdma_disable(mca_btl_base_module_t *module)
{
    module->btl_flags &= ~(MCA_BTL_FLAGS_PUT | MCA_BTL_FLAGS_GET);
    module->btl_put = nullptr;
    module->btl_get = nullptr;
    module->btl_register_mem = nullptr;
    module->btl_deregister_mem = nullptr;
    module->btl_registration_handle_size = 0;
}
