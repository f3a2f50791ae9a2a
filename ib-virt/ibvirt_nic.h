/*
 * ibvirt_nic.h — the NIC behind ib_virt.h (internal): the physical libfabric
 * resources of the current incarnation, the translation tables, the op
 * records and the migration state machine.
 *
 * Files: ibvirt_fabric.cc opens/closes the physical resources and registers
 * memory; ibvirt_data.cc posts and polls; ibvirt_control.cc carries the
 * control blobs and the migration steps.
 */
#ifndef IBVIRT_NIC_H
#define IBVIRT_NIC_H

#include "ib_virt.h"
#include "ibvirt_migration.h"
#include "ibvirt_tables.h"
#include "ibvirt_wire.h"

#include <rdma/fabric.h>
#include <rdma/fi_domain.h>

#include <array>
#include <cstdio>
#include <deque>
#include <string>
#include <vector>

namespace ibvirt {

constexpr uint64_t kUserTagMask = (uint64_t(1) << IBVIRT_TAG_BITS) - 1;
constexpr uint64_t kVidMask = uint64_t(IBVIRT_MAX_PEERS - 1) << IBVIRT_TAG_BITS;
/* Tag of ib-virt's own "hello" message (bit 63: no user tag can match it). */
constexpr uint64_t kHelloTag = uint64_t(1) << 63;
constexpr uint32_t kNoKey = UINT32_MAX; /* internal ops use no registered region */

/* Physical resources of one incarnation (closed and reopened by a move). */
struct Fabric {
    fi_info *info = nullptr;
    fid_fabric *fabric = nullptr;
    fid_domain *domain = nullptr;
    fid_av *av = nullptr;
    fid_cq *cq = nullptr;
    fid_ep *ep = nullptr;
    std::array<uint8_t, IBVIRT_ADDR_MAX> addr{};
    size_t addrlen = 0;
};

/* The next incarnation, opened by ibvirt_relocate_prepare while the current
 * one still serves: its resources and every region registered on its
 * domain (regions[vkey]: buf/len/access as in the KeyTable, mr/desc/
 * phys_key of the staged registration). ibvirt_relocate swaps it in. */
struct Staged {
    bool open = false;
    std::string node, service;
    bool has_node = false, has_service = false;
    Fabric fab;
    std::vector<LocalRegion> regions;
};

enum class OpState : uint8_t { free, queued, posted };

/* One operation from post to completion. ctx must stay first: libfabric
 * hands back &ctx, which is the record. */
struct OpRecord {
    fi_context2 ctx;
    OpState state = OpState::free;
    uint8_t kind = 0;   /* ibvirt_op_kind */
    uint8_t aop = 0;    /* ibvirt_atomic_op */
    bool internal = false; /* a hello: never reported, never counted as a user message */
    uint32_t peer = 0;  /* vid, or IBVIRT_ANY_PEER for a receive from anyone */
    uint32_t lkey = 0, rkey = 0;
    uint64_t seq = 0;   /* post order (receives are re-posted in it) */
    void *context = nullptr;
    char *buf = nullptr;
    size_t len = 0;
    uint64_t offset = 0;
    uint64_t tag = 0, ignore = 0;
    uint64_t operand = 0, compare = 0; /* atomics: the source buffers live here */
};
static_assert(offsetof(OpRecord, ctx) == 0, "libfabric's context pointer is the record");

} // namespace ibvirt

struct ibvirt_nic {
    ibvirt_nic(const ibvirt_open_attr &a)
        : attr(a), peers(a.max_peers, a.max_keys), keys(a.max_keys),
          mig(a.max_peers, a.step_bound_ns), ops(a.max_ops), peer_addr(a.max_peers),
          peer_addrlen(a.max_peers, 0), held_publish(a.max_peers)
    {
    }

    ibvirt_open_attr attr;           /* provider/node/service point into the strings below */
    std::string provider, node, service;
    ibvirt::Fabric fab;
    ibvirt::Staged staged;              /* ibvirt_relocate_prepare's next incarnation */
    ibvirt::PeerTable peers;
    ibvirt::KeyTable keys;
    ibvirt::Migration mig;
    std::vector<ibvirt::OpRecord> ops; /* never resized: libfabric holds pointers into it */
    std::vector<uint32_t> free_ops;
    std::deque<uint32_t> to_post;      /* replays waiting for the provider (EAGAIN), in order */
    std::deque<ibvirt_completion> done;/* completions made without the provider (failed ops) */
    std::deque<std::pair<uint32_t, std::vector<char>>> ctrl_out;
    std::vector<std::array<uint8_t, IBVIRT_ADDR_MAX>> peer_addr; /* last published address */
    std::vector<uint32_t> peer_addrlen;
    /* After a move the new endpoint says hello to each peer first and sends
     * the PUBLISH only when the hello completed: the connection then exists
     * before either side replays, so rxm never sees both sides connect at
     * once (it cancels RMA posted on the connection it drops). */
    std::vector<std::vector<char>> held_publish;
    char hello_buf[8] = {0};
    /* Tests: fail this many hello posts as the provider does when the
     * socket it binds cannot get its address (EADDRNOTAVAIL while the
     * address is being promoted); 0 in production. */
    uint32_t fail_hello_posts = 0;
    uint32_t caps = 0;
    uint32_t epoch = 0;
    uint64_t seq = 0;       /* next OpRecord::seq */
    uint64_t key_serial = 0;/* makes every requested MR key new */
    bool prov_key = false;  /* provider chooses MR keys (FI_MR_PROV_KEY) */
    bool virt_addr = false; /* RMA addresses are virtual addresses (FI_MR_VIRT_ADDR) */
};

namespace ibvirt {

uint64_t now_ns();
/* What every extern "C" entry point returns when something below it threw
 * (std::bad_alloc from a queue or a control blob): no exception crosses the
 * C boundary. */
inline int out_of_memory() noexcept
{
    std::fputs("ib-virt: out of memory\n", stderr);
    return IBVIRT_ERR_NOMEM;
}
/* The fi_getinfo hints of every NIC (and of ib-virt-bench's raw baseline, so
 * the comparison runs on the same endpoint type): FI_EP_RDM, tagged + RMA +
 * atomics, delivery-complete, FI_AV_TABLE, FI_THREAD_DOMAIN, and the MR modes
 * verbs needs. The caller frees them (fi_freeinfo); nullptr when out of memory. */
fi_info *rdm_hints(const char *provider);
/* Open the physical resources for nic->attr's provider at node/service into
 * *out (sets nic's caps, prov_key, virt_addr). IBVIRT_OK, NODEV or FABRIC
 * (logged). On error nothing stays open and *out is untouched. */
int fabric_open(ibvirt_nic *nic, const char *node, const char *service, Fabric *out);
/* Release every region's registration and close nic->fab. */
void fabric_close(ibvirt_nic *nic);
/* The same for nic->staged (nothing when none is open). */
void staged_close(ibvirt_nic *nic);
/* Close f's objects (endpoint first) and reset it. */
void close_objects(Fabric *f);
/* Register r (buf/len/access set; vkey: its key's low bits) on domain:
 * fills r's mr, desc, phys_key. */
int region_register(ibvirt_nic *nic, fid_domain *domain, uint32_t vkey, LocalRegion *r);
void region_release(LocalRegion *r);
/* Insert or replace vid's address in the AV (keeps the vid). */
int peer_insert(ibvirt_nic *nic, uint32_t vid, const uint8_t *addr, size_t len);

/* Post a record to the provider; IBVIRT_OK or AGAIN/FABRIC (record unchanged). */
int post_record(ibvirt_nic *nic, OpRecord *op);
/* Post what to_post holds, in order, until the provider says EAGAIN. */
void flush_replays(ibvirt_nic *nic);
/* Turn the migration machine's actions into control blobs, replays, failures. */
void run_actions(ibvirt_nic *nic);
void release_op(ibvirt_nic *nic, OpRecord *op);
/* Post the internal hello receive / a hello to peer (ibvirt_data.cc). */
int post_hello_recv(ibvirt_nic *nic);
int post_hello(ibvirt_nic *nic, uint32_t peer);
void complete_failed(ibvirt_nic *nic, OpRecord *op, int status);

} // namespace ibvirt
#endif
