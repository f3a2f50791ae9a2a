/*
 * ov_frontend_btl.h — what btl vmshm asks the backend for: its job's segment
 * (common/ov_btl_segment.h).  MPI-free, extern "C", noexcept.
 *
 * Lifecycle:
 *   p.role = OV_ROLE_BTL; ov_fe_open(&p, &fe)    (no attach, no rings)
 *   ov_fe_btl_segment(fe, nranks, &seg)           map the segment
 *   ... use seg.base for the life of fe ...
 *   ov_fe_close(fe)                               unmaps it; the backend marks
 *                                                 this rank absent
 *
 * ov_fe_btl_segment: OV_OK and *out filled (base mapped read/write, geometry
 * checked once: use out->geom, never the header again); OV_ERR_STATE (role
 * not BTL, or already mapped); OV_ERR_NO_FD_TRANSPORT (tcp, and this guest is
 * not declared as a VM); OV_ERR_DENIED (a VM's name claimed from elsewhere);
 * OV_ERR_NOT_SUPPORTED (the VM cannot receive a device, or the job's segment
 * is of the other kind); OV_ERR_TOO_LARGE (nranks > OV_BSEG_MAX_RANKS); OV_ERR_BAD_ARG
 * (the job's segment has another nranks); OV_ERR_EXISTS (another process
 * holds this rank's slot); OV_ERR_LAYOUT / OV_ERR_VERSION (header not the
 * layout this library speaks); OV_ERR_SYS (mmap); OV_ERR_BACKEND_GONE;
 * OV_ERR_TIMEOUT (vm mode also: the plugged device did not show up within
 * timeout_ms).  ov_fe_last_error(fe) explains.
 *
 * vm mode (a tcp control connection): the reply carries no descriptor; the
 * backend has plugged the segment into this VM as an ivshmem-plain device,
 * and the segment is that device's BAR (ov_bseg_bar_size bytes).  The
 * frontend scans the PCI devices ($OMPI_VIRT_SYSFS_PCI, else
 * /sys/bus/pci/devices) for 1af4:1110 devices of that size and takes the one
 * whose header passes ov_bseg_check_bar and names this segment id, backend
 * instance and job; other devices (the osc region, another job's segment)
 * are left unmapped.
 */
#ifndef OMPI_VIRT_COMMON_OV_FRONTEND_BTL_H
#define OMPI_VIRT_COMMON_OV_FRONTEND_BTL_H

#include "ov_btl_segment.h"
#include "ov_frontend.h"

extern "C" {

typedef struct ov_fe_btl_seg {
    char *base;          /* mapping of the whole segment */
    ov_bseg_geom geom;   /* checked copy of its geometry */
    uint64_t segment_id; /* backend-wide id */
    uint64_t backend_instance;
} ov_fe_btl_seg_t;

ov_status_t ov_fe_btl_segment(ov_fe_t *fe, uint32_t nranks, ov_fe_btl_seg_t *out) noexcept;

/* OV_OK while the segment's backend still serves it, else OV_ERR_BACKEND_GONE
 * (header state SHUTDOWN, or the control socket closed).  Non-blocking. */
ov_status_t ov_fe_btl_alive(ov_fe_t *fe) noexcept;

} /* extern "C" */

#endif
