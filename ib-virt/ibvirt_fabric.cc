/*
 * ibvirt_fabric.cc — the physical side: open/close libfabric resources,
 * register memory, insert peer addresses (see ibvirt_nic.h).
 */
#include "ibvirt_nic.h"

#include <rdma/fi_atomic.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>

#include <cstdio>
#include <cstring>
#include <ctime>

namespace ibvirt {

uint64_t now_ns()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

static int fail(const char *what, int rc)
{
    std::fprintf(stderr, "ib-virt: %s: %s\n", what, fi_strerror(-rc));
    return IBVIRT_ERR_FABRIC;
}

fi_info *rdm_hints(const char *provider)
{
    fi_info *hints = fi_allocinfo();
    if (hints == nullptr)
        return nullptr;
    hints->ep_attr->type = FI_EP_RDM;
    hints->caps = FI_TAGGED | FI_RMA | FI_ATOMIC;
    hints->mode = FI_CONTEXT | FI_CONTEXT2;
    /* What verbs needs; tcp asks for none of it. FI_MR_LOCAL is left to rxm. */
    hints->domain_attr->mr_mode = FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY;
    hints->domain_attr->threading = FI_THREAD_DOMAIN;
    hints->domain_attr->av_type = FI_AV_TABLE;
    hints->tx_attr->op_flags = FI_DELIVERY_COMPLETE;
    hints->fabric_attr->prov_name = strdup(provider);
    return hints;
}

/* fi_getinfo with rdm_hints(), bound to node/service. */
static int get_info(const char *provider, const char *node, const char *service, fi_info **out)
{
    fi_info *hints = rdm_hints(provider);
    if (hints == nullptr)
        return IBVIRT_ERR_NOMEM;
    uint64_t flags = node ? FI_SOURCE : 0;
    int rc = fi_getinfo(FI_VERSION(1, 17), node, service, flags, hints, out);
    if (rc == -FI_ENODATA) { /* some providers list FI_ATOMIC only when not asked for it */
        hints->caps &= ~FI_ATOMIC;
        rc = fi_getinfo(FI_VERSION(1, 17), node, service, flags, hints, out);
    }
    fi_freeinfo(hints);
    if (rc == -FI_ENODATA) {
        std::fprintf(stderr, "ib-virt: provider %s: no device offers it here\n", provider);
        return IBVIRT_ERR_NODEV;
    }
    return rc ? fail("fi_getinfo", rc) : IBVIRT_OK;
}

static uint32_t query_caps(fid_domain *domain, uint64_t info_caps)
{
    uint32_t caps = 0;
    if (info_caps & FI_TAGGED)
        caps |= IBVIRT_CAP_TAGGED;
    if (info_caps & FI_RMA)
        caps |= IBVIRT_CAP_RMA;
    if (info_caps & FI_ATOMIC) {
        fi_atomic_attr a;
        if (fi_query_atomic(domain, FI_UINT64, FI_SUM, &a, FI_FETCH_ATOMIC) == 0)
            caps |= IBVIRT_CAP_ATOMIC_SUM;
        if (fi_query_atomic(domain, FI_UINT64, FI_CSWAP, &a, FI_COMPARE_ATOMIC) == 0)
            caps |= IBVIRT_CAP_ATOMIC_CAS;
    }
    return caps;
}

int fabric_open(ibvirt_nic *nic, const char *node, const char *service, Fabric *out)
{
    Fabric f;
    int rc = get_info(nic->provider.c_str(), node, service, &f.info);
    if (rc)
        return rc;
    fi_cq_attr cq_attr{};
    cq_attr.format = FI_CQ_FORMAT_TAGGED;
    cq_attr.size = nic->ops.size() * 2;
    fi_av_attr av_attr{};
    av_attr.type = FI_AV_TABLE;
    av_attr.count = size_t(nic->attr.max_peers) * 2; /* room for a peer's old and new address */
    const char *step = "";
    auto ok = [&](const char *what, int r) { step = what; rc = r; return r == 0; };
    if (!(ok("fi_fabric", fi_fabric(f.info->fabric_attr, &f.fabric, nullptr)) &&
          ok("fi_domain", fi_domain(f.fabric, f.info, &f.domain, nullptr)) &&
          ok("fi_cq_open", fi_cq_open(f.domain, &cq_attr, &f.cq, nullptr)) &&
          ok("fi_av_open", fi_av_open(f.domain, &av_attr, &f.av, nullptr)) &&
          ok("fi_endpoint", fi_endpoint(f.domain, f.info, &f.ep, nullptr)) &&
          ok("fi_ep_bind(cq)", fi_ep_bind(f.ep, &f.cq->fid, FI_TRANSMIT | FI_RECV)) &&
          ok("fi_ep_bind(av)", fi_ep_bind(f.ep, &f.av->fid, 0)) &&
          ok("fi_enable", fi_enable(f.ep)))) {
        close_objects(&f);
        return fail(step, rc);
    }
    f.addrlen = f.addr.size();
    if ((rc = fi_getname(&f.ep->fid, f.addr.data(), &f.addrlen))) {
        close_objects(&f);
        return fail("fi_getname", rc);
    }
    nic->prov_key = f.info->domain_attr->mr_mode & FI_MR_PROV_KEY;
    nic->virt_addr = f.info->domain_attr->mr_mode & FI_MR_VIRT_ADDR;
    nic->caps = query_caps(f.domain, f.info->caps);
    *out = f;
    return IBVIRT_OK;
}

void fabric_close(ibvirt_nic *nic)
{
    for (uint32_t k = 0; k < nic->keys.max_keys(); ++k)
        region_release(nic->keys.slot(k));
    close_objects(&nic->fab);
}

void staged_close(ibvirt_nic *nic)
{
    for (LocalRegion &r : nic->staged.regions)
        region_release(&r);
    close_objects(&nic->staged.fab);
    nic->staged.open = false;
}

void close_objects(Fabric *fp)
{
    Fabric &f = *fp;
    /* Endpoint before the objects it is bound to. */
    if (f.ep)
        fi_close(&f.ep->fid);
    if (f.av)
        fi_close(&f.av->fid);
    if (f.cq)
        fi_close(&f.cq->fid);
    if (f.domain)
        fi_close(&f.domain->fid);
    if (f.fabric)
        fi_close(&f.fabric->fid);
    if (f.info)
        fi_freeinfo(f.info);
    f = Fabric{};
}

void region_release(LocalRegion *r)
{
    if (r->mr)
        fi_close(&static_cast<fid_mr *>(r->mr)->fid);
    r->mr = nullptr;
    r->desc = nullptr;
}

int region_register(ibvirt_nic *nic, fid_domain *domain, uint32_t vkey, LocalRegion *r)
{
    uint64_t access = FI_SEND | FI_RECV | FI_READ | FI_WRITE;
    if (r->access & IBVIRT_ACCESS_REMOTE)
        access |= FI_REMOTE_READ | FI_REMOTE_WRITE;
    /* A key that is new on every registration, so a peer holding a stale one
     * fails instead of reaching the wrong region. */
    uint64_t requested = (++nic->key_serial << 20) | vkey;
    fid_mr *mr = nullptr;
    int rc = fi_mr_reg(domain, r->buf, r->len, access, 0, requested, 0, &mr, nullptr);
    if (rc)
        return fail("fi_mr_reg", rc);
    r->mr = mr;
    r->desc = fi_mr_desc(mr);
    r->phys_key = fi_mr_key(mr);
    return IBVIRT_OK;
}

int peer_insert(ibvirt_nic *nic, uint32_t vid, const uint8_t *addr, size_t len)
{
    /* Insert the new address before removing the old one, so the new
     * fi_addr_t is a fresh index: the provider may still be tearing down its
     * connection to the old one (rxm cancels what is queued on it). The vid
     * keeps naming the peer; only the table entry changes. */
    fi_addr_t fa = FI_ADDR_NOTAVAIL;
    int rc = fi_av_insert(nic->fab.av, addr, 1, &fa, 0, nullptr);
    if (rc != 1)
        return fail("fi_av_insert", rc < 0 ? rc : -FI_EINVAL);
    fi_addr_t old = nic->peers.addr(vid);
    if (old != PeerTable::kNoAddr)
        fi_av_remove(nic->fab.av, &old, 1, 0);
    nic->peers.set_addr(vid, fa);
    return IBVIRT_OK;
}

} // namespace ibvirt
