/*
 * ov_frontend_impl.h — private state of a frontend handle (library internal).
 */
#ifndef OMPI_VIRT_COMMON_OV_FRONTEND_IMPL_H
#define OMPI_VIRT_COMMON_OV_FRONTEND_IMPL_H

#include <string>
#include <vector>

#include "ov_comm.h"
#include "ov_frontend.h"
#include "ov_layout.h"
#include "ov_ring.h"

enum ov_fe_state { OV_FE_OPEN = 1, OV_FE_ATTACHED = 2, OV_FE_READY = 3 };

struct ov_fe {
    ov_fe_params_t params{};
    std::string uri, guest;
    ov_comm_kind kind = OV_COMM_UNIX;
    ov_fd ctl;                 /* control connection */
    uint32_t seq = 0;
    ov_fe_state state = OV_FE_OPEN;
    bool gone = false;         /* backend gone: sticky */
    char err[256] = "";
    uint32_t proc_id = 0;
    uint64_t backend_instance = 0;
    uint64_t job_key = 0;      /* the job's public key (ov_job_id.h): in the region header */
    uint32_t features = 0; /* OV_FEAT_* from the HELLO reply */
    ov_mapping region;         /* this guest's region */
    const ov_region_hdr *hdr = nullptr;
    bool vm = false;           /* region is an ivshmem BAR (tcp): KICK + sleep backoff, no futex */
    ov_fd doorbell;            /* eventfd: wakes the sleeping backend (unix only) */
    int64_t last_kick_ns = 0;  /* ov_fe_wait's rate limit for KICKs */
    uint32_t rq_slots = 0;
    ov_proc_ctl *pctl = nullptr;
    ov_ring_producer<ov_req_desc> rq;
    ov_ring_consumer<ov_completion> cq;
    ov_mapping btl_segment;    /* role BTL: the job's segment (ov_frontend_btl.cc) */
    std::vector<uint8_t> btl_in; /* role BTL: replies read but not yet parsed (ov_frontend_btl_rdma.cc) */
};

/* One request/reply exchange on the control connection (bounded by
 * params.timeout_ms).  rep must start with the int32 status; returns it,
 * with the error text recorded.  Descriptors sent with the reply land in fds.
 * The reply must be replen bytes; with got != nullptr, replen is the
 * capacity, any reply of 8..replen bytes is taken and *got says how long. */
ov_status_t ov_fe_call(ov_fe *fe, uint16_t type, const void *req, uint32_t reqlen, void *rep, uint32_t replen,
                       ov_fd *fds = nullptr, int *nfds = nullptr, uint32_t *got = nullptr) noexcept;

/* Tell a sleeping backend there is work: doorbell write (unix) or KICK
 * (tcp).  OV_OK, OV_ERR_BACKEND_GONE, OV_ERR_SYS. */
ov_status_t ov_fe_wake_backend(ov_fe *fe) noexcept;

/* Where a VM's PCI devices are: $OMPI_VIRT_SYSFS_PCI (tests, emulated VMs),
 * else /sys/bus/pci/devices. */
const char *ov_fe_pci_root() noexcept;
/* resource2 of every ivshmem-plain device (vendor 0x1af4, device 0x1110)
 * under `root`, sorted.  May throw std::bad_alloc. */
std::vector<std::string> ov_fe_ivshmem_devices(const char *root);

/* vm mode of BTL_SEGMENT (ov_frontend_btl_vm.cc): find the ivshmem device the
 * backend plugged for the segment `rep` names, map and check it.  Waits (at
 * most params.timeout_ms) for the device to appear.  OV_OK and fe->btl_segment
 * + *out; else the ov_fe_btl_segment errors. */
struct ov_fe_btl_seg;
ov_status_t ov_fe_btl_map_bar(ov_fe *fe, const ov_btl_segment_rep &rep, uint32_t nranks,
                              ov_fe_btl_seg *out) noexcept;

/* The segment is checked: keep its mapping in fe and describe it in *out.  OV_OK. */
struct ov_bseg_geom;
ov_status_t ov_fe_btl_adopt(ov_fe *fe, ov_mapping &&m, const ov_bseg_geom &g, uint64_t segment_id,
                            ov_fe_btl_seg *out) noexcept;

/* Record an error (printf-style) and return s.  Appends strerror(errno) for OV_ERR_SYS. */
ov_status_t ov_fe_fail(ov_fe *fe, ov_status_t s, const char *fmt, ...) noexcept
    __attribute__((format(printf, 3, 4)));

#endif
