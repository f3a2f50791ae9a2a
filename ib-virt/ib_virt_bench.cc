/*
 * ib_virt_bench.cc — ib-virt against raw libfabric on the same provider in
 * the same run: 8-byte tagged ping-pong latency and 1 MiB RMA-write
 * bandwidth, rounds interleaved (raw, ib-virt, then ib-virt, raw, ...),
 * medians reported; and the translation cost on its own.
 *
 *   ib-virt-bench [--provider P] [--rounds R] [--iters N] [--bw-iters M]
 *   ib-virt-bench --translate N      (N table look-ups; for callgrind)
 *   ib-virt-bench --downtime MOVES   (migration downtime a peer sees, 1 and 64 regions)
 *
 * Both endpoints live in this process and one thread drives both, so both
 * variants pay the same polling of two completion queues; what differs is
 * only ib-virt's layer. Prints one "name value" line per figure.
 */
#include "ib_virt.h"
#include "ibvirt_nic.h"
#include "ibvirt_tables.h"

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>
#include <rdma/fi_tagged.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

constexpr size_t kSmall = 8, kBig = 1 << 20, kWindow = 8;
constexpr double kTimeoutS = 60;

double now_s()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

[[noreturn]] void die(const char *what, long rc)
{
    std::fprintf(stderr, "ib-virt-bench: %s failed: %ld (%s)\n", what, rc,
                 rc <= 0 ? fi_strerror(int(-rc)) : "");
    std::exit(1);
}

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

/* ------------------------------------------------------------ raw libfabric */
struct RawEp {
    fi_info *info = nullptr;
    fid_fabric *fabric = nullptr;
    fid_domain *domain = nullptr;
    fid_av *av = nullptr;
    fid_cq *cq = nullptr;
    fid_ep *ep = nullptr;
    fid_mr *mr = nullptr;
    fi_addr_t peer = FI_ADDR_NOTAVAIL;
    std::vector<char> mem;
    fi_context2 ctx[kWindow + 2];
    long done = 0, taken = 0; /* completions seen / already waited for */
};

/* The hints ib-virt itself uses (ibvirt::rdm_hints). */
void raw_open(RawEp *e, const char *prov)
{
    fi_info *hints = ibvirt::rdm_hints(prov);
    if (hints == nullptr)
        die("fi_allocinfo", 0);
    int rc = fi_getinfo(FI_VERSION(1, 17), "127.0.0.1", nullptr, FI_SOURCE, hints, &e->info);
    fi_freeinfo(hints);
    if (rc)
        die("fi_getinfo", rc);
    fi_cq_attr cq_attr{};
    cq_attr.format = FI_CQ_FORMAT_TAGGED;
    fi_av_attr av_attr{};
    av_attr.type = FI_AV_TABLE;
    if ((rc = fi_fabric(e->info->fabric_attr, &e->fabric, nullptr)) ||
        (rc = fi_domain(e->fabric, e->info, &e->domain, nullptr)) ||
        (rc = fi_cq_open(e->domain, &cq_attr, &e->cq, nullptr)) ||
        (rc = fi_av_open(e->domain, &av_attr, &e->av, nullptr)) ||
        (rc = fi_endpoint(e->domain, e->info, &e->ep, nullptr)) ||
        (rc = fi_ep_bind(e->ep, &e->cq->fid, FI_TRANSMIT | FI_RECV)) ||
        (rc = fi_ep_bind(e->ep, &e->av->fid, 0)) || (rc = fi_enable(e->ep)))
        die("raw endpoint setup", rc);
    e->mem.assign(kBig * kWindow, 1);
    rc = fi_mr_reg(e->domain, e->mem.data(), e->mem.size(),
                   FI_SEND | FI_RECV | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE, 0, 1, 0,
                   &e->mr, nullptr);
    if (rc)
        die("fi_mr_reg", rc);
}

void raw_close(RawEp *e)
{
    fi_close(&e->mr->fid);
    fi_close(&e->ep->fid);
    fi_close(&e->av->fid);
    fi_close(&e->cq->fid);
    fi_close(&e->domain->fid);
    fi_close(&e->fabric->fid);
    fi_freeinfo(e->info);
}

void raw_connect(RawEp *a, RawEp *b)
{
    char addr[IBVIRT_ADDR_MAX];
    size_t len = sizeof addr;
    int rc = fi_getname(&b->ep->fid, addr, &len);
    if (rc || fi_av_insert(a->av, addr, 1, &a->peer, 0, nullptr) != 1)
        die("raw address exchange", rc);
}

/* Poll e's CQ once, counting completions in e->done. */
void raw_poll(RawEp *e)
{
    fi_cq_tagged_entry c[8];
    ssize_t n = fi_cq_read(e->cq, c, 8);
    if (n == -FI_EAGAIN)
        return;
    if (n < 0)
        die("fi_cq_read", n);
    e->done += n;
}

template <typename F> void raw_retry(RawEp *a, RawEp *b, F post)
{
    ssize_t rc;
    while ((rc = post()) == -FI_EAGAIN) {
        raw_poll(a);
        raw_poll(b);
    }
    if (rc)
        die("raw post", rc);
}

/* Wait until `need` completions arrived on `e`, progressing `other` too. */
void raw_wait(RawEp *e, RawEp *other, int need, double deadline)
{
    e->taken += need;
    while (e->done < e->taken) {
        raw_poll(e);
        raw_poll(other);
        if (now_s() > deadline)
            die("raw wait (timeout)", 0);
    }
}

double raw_latency_us(RawEp *a, RawEp *b, int iters)
{
    double deadline = now_s() + kTimeoutS, t0 = 0;
    char *ab = a->mem.data(), *bb = b->mem.data();
    void *ad = fi_mr_desc(a->mr), *bd = fi_mr_desc(b->mr);
    for (int i = -10; i < iters; ++i) { /* 10 warm-up round trips */
        if (i == 0)
            t0 = now_s();
        raw_retry(a, b, [&] { return fi_trecv(b->ep, bb, kSmall, bd, FI_ADDR_UNSPEC, 1, 0, &b->ctx[0]); });
        raw_retry(a, b, [&] { return fi_trecv(a->ep, ab + 64, kSmall, ad, FI_ADDR_UNSPEC, 2, 0, &a->ctx[0]); });
        raw_retry(a, b, [&] { return fi_tsend(a->ep, ab, kSmall, ad, a->peer, 1, &a->ctx[1]); });
        raw_wait(b, a, 1, deadline); /* b's receive */
        raw_retry(a, b, [&] { return fi_tsend(b->ep, bb + 64, kSmall, bd, b->peer, 2, &b->ctx[1]); });
        raw_wait(a, b, 2, deadline); /* a's send and receive */
        raw_wait(b, a, 1, deadline); /* b's send */
    }
    return (now_s() - t0) / iters / 2 * 1e6;
}

double raw_bw_mbs(RawEp *a, RawEp *b, int iters)
{
    double deadline = now_s() + kTimeoutS;
    void *ad = fi_mr_desc(a->mr);
    uint64_t key = fi_mr_key(b->mr);
    uint64_t base = (b->info->domain_attr->mr_mode & FI_MR_VIRT_ADDR) ? uint64_t(uintptr_t(b->mem.data())) : 0;
    double t0 = now_s();
    for (int i = 0; i < iters; ++i) {
        for (size_t w = 0; w < kWindow; ++w)
            raw_retry(a, b, [&] {
                return fi_write(a->ep, a->mem.data() + w * kBig, kBig, ad, a->peer, base + w * kBig, key,
                                &a->ctx[w]);
            });
        raw_wait(a, b, int(kWindow), deadline);
    }
    return double(iters) * kWindow * kBig / (now_s() - t0) / 1e6;
}

/* ------------------------------------------------------------ ib-virt */
struct VNic {
    ibvirt_nic *nic = nullptr;
    std::vector<char> mem;
    uint32_t key = 0;
    long done = 0, taken = 0;
};

void v_open(VNic *v, const char *prov, uint32_t self, uint32_t max_keys = 2)
{
    ibvirt_open_attr a{};
    a.provider = prov;
    a.node = "127.0.0.1";
    a.self = self;
    a.max_peers = 2;
    a.max_keys = max_keys;
    int rc = ibvirt_open(&a, &v->nic);
    if (rc)
        die("ibvirt_open", rc);
    v->mem.assign(kBig * kWindow, 1);
    if ((rc = ibvirt_mr_reg(v->nic, v->mem.data(), v->mem.size(), IBVIRT_ACCESS_LOCAL | IBVIRT_ACCESS_REMOTE,
                            &v->key)))
        die("ibvirt_mr_reg", rc);
}

void v_connect(VNic *a, VNic *b)
{
    std::vector<char> blob(ibvirt_ctrl_max_size(b->nic));
    size_t len = blob.size();
    int rc = ibvirt_mapping_export(b->nic, blob.data(), &len);
    if (rc || (rc = ibvirt_ctrl_deliver(a->nic, blob.data(), len)))
        die("ib-virt mapping exchange", rc);
}

void v_poll(VNic *v)
{
    ibvirt_completion c[8];
    int n = ibvirt_poll(v->nic, c, 8);
    if (n < 0)
        die("ibvirt_poll", n);
    for (int i = 0; i < n; ++i)
        if (c[i].status)
            die("ib-virt completion", c[i].status);
    v->done += n;
}

template <typename F> void v_retry(VNic *a, VNic *b, F post)
{
    int rc;
    while ((rc = post()) == IBVIRT_ERR_AGAIN) {
        v_poll(a);
        v_poll(b);
    }
    if (rc)
        die("ib-virt post", rc);
}

void v_wait(VNic *e, VNic *other, int need, double deadline)
{
    e->taken += need;
    while (e->done < e->taken) {
        v_poll(e);
        v_poll(other);
        if (now_s() > deadline)
            die("ib-virt wait (timeout)", 0);
    }
}

double v_latency_us(VNic *a, VNic *b, int iters)
{
    double deadline = now_s() + kTimeoutS, t0 = 0;
    char *ab = a->mem.data(), *bb = b->mem.data();
    for (int i = -10; i < iters; ++i) {
        if (i == 0)
            t0 = now_s();
        v_retry(a, b, [&] { return ibvirt_trecv(b->nic, 0, bb, kSmall, b->key, 1, 0, nullptr); });
        v_retry(a, b, [&] { return ibvirt_trecv(a->nic, 1, ab + 64, kSmall, a->key, 2, 0, nullptr); });
        v_retry(a, b, [&] { return ibvirt_tsend(a->nic, 1, ab, kSmall, a->key, 1, nullptr); });
        v_wait(b, a, 1, deadline);
        v_retry(a, b, [&] { return ibvirt_tsend(b->nic, 0, bb + 64, kSmall, b->key, 2, nullptr); });
        v_wait(a, b, 2, deadline);
        v_wait(b, a, 1, deadline);
    }
    return (now_s() - t0) / iters / 2 * 1e6;
}

double v_bw_mbs(VNic *a, VNic *b, int iters)
{
    double deadline = now_s() + kTimeoutS;
    double t0 = now_s();
    for (int i = 0; i < iters; ++i) {
        for (size_t w = 0; w < kWindow; ++w)
            v_retry(a, b, [&] {
                return ibvirt_write(a->nic, 1, a->mem.data() + w * kBig, kBig, a->key, b->key, w * kBig, nullptr);
            });
        v_wait(a, b, int(kWindow), deadline);
    }
    return double(iters) * kWindow * kBig / (now_s() - t0) / 1e6;
}

/* ------------------------------------------------------------ downtime */
/* Carry control blobs between two in-process NICs. */
void carry(VNic *from, VNic *to)
{
    std::vector<char> blob(ibvirt_ctrl_max_size(from->nic));
    uint32_t dest;
    size_t len = blob.size();
    while (ibvirt_ctrl_take(from->nic, &dest, blob.data(), &len) == 1) {
        int rc = ibvirt_ctrl_deliver(to->nic, blob.data(), len);
        if (rc)
            die("ibvirt_ctrl_deliver", rc);
        len = blob.size();
    }
}

/* b ping-pongs 8 B with a without pause while a moves `moves` times between
 * 127.0.0.1 and 127.0.0.2 with `regions` extra registered regions of 64 KiB.
 * Downtime as b sees it: the longest gap between two consecutive pongs at b
 * from its last pong before migrate_begin to its first pong after the move.
 * Total: migrate_begin to RUNNING again. */
void downtime(const char *prov, int moves, int regions)
{
    VNic a, b;
    v_open(&a, prov, 0, uint32_t(regions) + 1);
    v_open(&b, prov, 1, uint32_t(regions) + 1); /* b's key table must hold a's keys */
    std::vector<std::vector<char>> extra(size_t(regions), std::vector<char>(65536, 2));
    for (auto &r : extra) {
        uint32_t k;
        int rc = ibvirt_mr_reg(a.nic, r.data(), r.size(), IBVIRT_ACCESS_LOCAL | IBVIRT_ACCESS_REMOTE, &k);
        if (rc)
            die("ibvirt_mr_reg (extra region)", rc);
    }
    v_connect(&a, &b);
    v_connect(&b, &a);
    char *ab = a.mem.data(), *bb = b.mem.data();
    double deadline = now_s() + kTimeoutS * 4;
    bool a_waiting = false, b_waiting = false;
    double last_pong = 0;
    std::vector<double> down, total;
    /* One round trip step: repost what completed; returns true on a pong at b. */
    auto step = [&]() {
        carry(&a, &b);
        carry(&b, &a);
        bool pong = false;
        ibvirt_completion c[8];
        if (!a_waiting) { /* a: wait for a ping, answer it */
            v_retry(&a, &b, [&] { return ibvirt_trecv(a.nic, 1, ab, kSmall, a.key, 1, 0, (void *) 1); });
            a_waiting = true;
        }
        if (!b_waiting) {
            v_retry(&a, &b, [&] { return ibvirt_trecv(b.nic, 0, bb + 64, kSmall, b.key, 2, 0, (void *) 2); });
            v_retry(&a, &b, [&] { return ibvirt_tsend(b.nic, 0, bb, kSmall, b.key, 1, nullptr); });
            b_waiting = true;
        }
        int n = ibvirt_poll(a.nic, c, 8);
        for (int i = 0; i < n; ++i) {
            if (c[i].status)
                die("a completion", c[i].status);
            if (c[i].context == (void *) 1) {
                a_waiting = false;
                v_retry(&a, &b, [&] { return ibvirt_tsend(a.nic, 1, ab + 64, kSmall, a.key, 2, nullptr); });
            }
        }
        n = ibvirt_poll(b.nic, c, 8);
        for (int i = 0; i < n; ++i) {
            if (c[i].status)
                die("b completion", c[i].status);
            if (c[i].context == (void *) 2) {
                b_waiting = false;
                pong = true;
            }
        }
        if (now_s() > deadline)
            die("downtime run (timeout)", 0);
        return pong;
    };
    for (int m = 0; m < moves; ++m) {
        for (int k = 0; k < 200;) /* steady traffic before the move */
            k += step();
        last_pong = now_s();
        double gap = 0;
        if (int rc = ibvirt_migrate_begin(a.nic))
            die("ibvirt_migrate_begin", rc);
        double begin = now_s();
        while (ibvirt_migrate_state_of(a.nic) != IBVIRT_MIG_RUNNING) {
            if (ibvirt_migrate_state_of(a.nic) == IBVIRT_MIG_READY) {
                if (int rc = ibvirt_relocate(a.nic, m % 2 ? "127.0.0.1" : "127.0.0.2", nullptr))
                    die("ibvirt_relocate", rc);
            }
            if (step()) {
                gap = std::max(gap, now_s() - last_pong);
                last_pong = now_s();
            }
        }
        double done = now_s();
        while (!step()) { /* the first pong after the move */
        }
        gap = std::max(gap, now_s() - last_pong);
        down.push_back(gap * 1e3);
        total.push_back((done - begin) * 1e3);
    }
    std::printf("downtime regions %d moves %d: median peer-seen gap %.2f ms (max %.2f), median total %.2f ms\n",
                regions + 1, moves, median(down), *std::max_element(down.begin(), down.end()), median(total));
    ibvirt_close(a.nic);
    ibvirt_close(b.nic);
}

/* ------------------------------------------------------------ translation */
/* The data path's look-ups (peer address, remote key with bounds, local
 * region) over a 1024-peer x 8-key table, vids in a scrambled order. */
uint64_t translate(long n, double *ns_each)
{
    ibvirt::PeerTable peers(1024, 8);
    ibvirt::KeyTable keys(8);
    static char region[4096];
    keys.slot(3)->buf = region;
    keys.slot(3)->len = sizeof region;
    for (uint32_t p = 0; p < 1024; ++p) {
        peers.set_addr(p, p * 3);
        peers.set_rkey(p, 5, ibvirt::RemoteKey{p * 7ull, 0, 1 << 20});
    }
    uint64_t sum = 0;
    double t0 = now_s();
    for (long i = 0; i < n; ++i) {
        uint32_t vid = uint32_t(i * 389) & 1023;
        const ibvirt::RemoteKey *k = peers.rkey(vid, 5, uint64_t(i) & 4095, 64);
        const ibvirt::LocalRegion *r = keys.at(3, region + (i & 1023), 64);
        sum += peers.addr(vid) + (k ? k->key : 0) + (r ? 1 : 0);
    }
    *ns_each = (now_s() - t0) / double(n) * 1e9;
    return sum;
}

} // namespace

int main(int argc, char **argv)
{
    const char *prov = "tcp;ofi_rxm";
    int rounds = 7, iters = 2000, bw_iters = 20;
    long translate_n = 0;
    int downtime_moves = 0;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> const char * {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "ib-virt-bench: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--provider") prov = next();
        else if (a == "--rounds") rounds = std::atoi(next());
        else if (a == "--iters") iters = std::atoi(next());
        else if (a == "--bw-iters") bw_iters = std::atoi(next());
        else if (a == "--translate") translate_n = std::atol(next());
        else if (a == "--downtime") downtime_moves = std::atoi(next());
        else {
            std::fprintf(stderr, "usage: ib-virt-bench [--provider P] [--rounds R] [--iters N] [--bw-iters M] "
                                 "| --translate N | --downtime MOVES\n");
            return 2;
        }
    }
    if (rounds < 1 || iters < 1 || bw_iters < 1) {
        std::fprintf(stderr, "ib-virt-bench: rounds, iters and bw-iters must be >= 1\n");
        return 2;
    }
    double ns;
    if (downtime_moves > 0) {
        downtime(prov, downtime_moves, 0);
        downtime(prov, downtime_moves, 63);
        return 0;
    }
    if (translate_n > 0) {
        uint64_t sum = translate(translate_n, &ns);
        std::printf("translate_lookups %ld\ntranslate_ns_each %.2f\nchecksum %lu\n", translate_n, ns,
                    (unsigned long) sum);
        return 0;
    }
    translate(10000000, &ns);
    std::printf("provider %s\ntranslate_ns_each %.2f\n", prov, ns);

    RawEp ra, rb;
    raw_open(&ra, prov);
    raw_open(&rb, prov);
    raw_connect(&ra, &rb);
    raw_connect(&rb, &ra);
    VNic va, vb;
    v_open(&va, prov, 0);
    v_open(&vb, prov, 1);
    v_connect(&va, &vb);
    v_connect(&vb, &va);

    std::vector<double> lat_raw, lat_v, bw_raw, bw_v, lat_ratio, bw_ratio;
    for (int r = 0; r < rounds; ++r) {
        double lr, lv, br, bv;
        if (r % 2 == 0) { /* alternate which goes first */
            lr = raw_latency_us(&ra, &rb, iters);
            lv = v_latency_us(&va, &vb, iters);
            br = raw_bw_mbs(&ra, &rb, bw_iters);
            bv = v_bw_mbs(&va, &vb, bw_iters);
        } else {
            lv = v_latency_us(&va, &vb, iters);
            lr = raw_latency_us(&ra, &rb, iters);
            bv = v_bw_mbs(&va, &vb, bw_iters);
            br = raw_bw_mbs(&ra, &rb, bw_iters);
        }
        std::printf("round %d: latency_8B_us raw %.2f ib-virt %.2f | bw_1MiB_MBs raw %.0f ib-virt %.0f\n", r, lr,
                    lv, br, bv);
        lat_raw.push_back(lr);
        lat_v.push_back(lv);
        bw_raw.push_back(br);
        bw_v.push_back(bv);
        lat_ratio.push_back(lv / lr);
        bw_ratio.push_back(bv / br);
    }
    std::printf("median latency_8B_us raw %.2f ib-virt %.2f ratio %.3f (goal <= 1.05)\n", median(lat_raw),
                median(lat_v), median(lat_ratio));
    std::printf("median bw_1MiB_MBs raw %.0f ib-virt %.0f ratio %.3f (goal >= 0.98)\n", median(bw_raw),
                median(bw_v), median(bw_ratio));
    ibvirt_close(va.nic);
    ibvirt_close(vb.nic);
    raw_close(&ra);
    raw_close(&rb);
    return 0;
}
