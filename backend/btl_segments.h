/*
 * btl_segments.h — the btl segment service: one shared segment per job on
 * this backend, granted to that job's ranks (btl vmshm's intra-host channel;
 * layout in common/ov_btl_segment.h, message BTL_SEGMENT in ov_protocol.h).
 *
 * Lifecycle:
 *   grant(who, req)  the job's segment (created by the job's first request,
 *                    zeroed memfd sealed against shrink/grow, header written,
 *                    laid out for req.nranks), marks who.rank present and
 *                    records who.conn as a holder.  *fd is the segment's
 *                    memfd, owned by the service, valid until the segment is
 *                    freed: pass it with the reply right away.
 *   release(conn)    the holder's connection is gone (closed, detached, its
 *                    process died): its rank is marked absent; the segment
 *                    is freed (state SHUTDOWN, unmapped, fd closed) when its
 *                    last holder goes.  Unknown conns are ignored.
 *   ~ov_btl_segments marks every segment SHUTDOWN.
 *
 * vm mode (grant with `vm`, the declared VM the connection proved it is):
 * the segment is a host file (vm_dir/btl-<id>.bseg, 0600, sized to
 * ov_bseg_bar_size so it can be a PCI BAR) instead of a memfd, created by
 * the job's first request; it is plugged into each VM that holds it
 * (vm_plug.h) when that VM's first rank of the job gets it and unplugged
 * when its last one goes; *fd is -1 (nothing to pass); the file is removed
 * with the segment.  A job's segment is of one kind: a container rank asking
 * for a VM job's segment, or a VM rank for a container job's, gets
 * OV_ERR_NOT_SUPPORTED (it stays on tcp); so does a VM without pci=.
 *
 * Identity: `who` is what the backend knows of the connection (see
 * ov_backend::btl_member, the one place that decides it).  Only holders of a
 * job's identity get that job's segment: the service keys segments by
 * who.job_key and nothing else.
 *
 * Errors of grant: OV_ERR_STATE (this conn already holds a segment);
 * OV_ERR_BAD_ARG (nranks 0, rank >= nranks, nranks differs from the job's
 * segment); OV_ERR_TOO_LARGE (nranks > OV_BSEG_MAX_RANKS); OV_ERR_EXISTS
 * (another live conn holds that rank's slot); OV_ERR_NOMEM (memfd, file or
 * mmap failed); OV_ERR_NOT_SUPPORTED, OV_ERR_SYS (vm mode, above).  The backend's state is unchanged on any error.
 *
 * Threading: the backend's one thread only.  The service never reads the
 * segment back: only the backend writes the header and `present`, and it
 * keeps private copies of all it needs.
 */
#ifndef OMPI_VIRT_BACKEND_BTL_SEGMENTS_H
#define OMPI_VIRT_BACKEND_BTL_SEGMENTS_H

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "ov_btl_segment.h"
#include "ov_fd.h"
#include "ov_protocol.h"
#include "vm.h"

struct ov_btl_member {
    uint64_t job_key; /* the job the connection proved it belongs to */
    uint32_t rank;    /* its rank in that job */
    uint32_t conn;    /* backend connection id (the holder) */
};

class ov_btl_segments {
public:
    /* vm_dir: where vm-mode segment files live (created on first use); "":
     * no vm mode (OV_ERR_NOT_SUPPORTED) */
    explicit ov_btl_segments(uint64_t backend_instance, std::string vm_dir = "")
        : instance_(backend_instance), vm_dir_(std::move(vm_dir))
    {
    }
    ~ov_btl_segments();
    ov_btl_segments(const ov_btl_segments &) = delete;
    ov_btl_segments &operator=(const ov_btl_segments &) = delete;

    ov_status_t grant(const ov_btl_member &who, const ov_btl_segment_req &req, ov_btl_segment_rep *rep, int *fd,
                      const ov_vm_decl *vm = nullptr);
    void release(uint32_t conn);
    size_t segments() const { return by_job_.size(); }
    size_t holders() const { return holders_.size(); }

private:
    struct segment {
        uint64_t job_key = 0, id = 0;
        ov_bseg_geom geom;
        ov_fd fd;
        ov_mapping map;
        std::map<uint32_t, uint32_t> ranks; /* rank -> holding conn */
        std::string file;                   /* vm mode: the host file; "" = memfd */
        std::map<std::string, std::pair<ov_vm_decl, uint32_t>> vms; /* VM name -> (declaration, holders) */
    };
    struct holder {
        uint64_t job_key;
        uint32_t rank;
        std::string vm; /* "" = a container process */
    };
    ov_status_t create(uint64_t job_key, uint32_t nranks, bool on_file, std::unique_ptr<segment> *out);
    ov_status_t create_file(segment *s);
    void free_segment(segment &s);
    uint64_t instance_;
    std::string vm_dir_;
    uint64_t next_id_ = 1;
    std::map<uint64_t, std::unique_ptr<segment>> by_job_;
    std::unordered_map<uint32_t, holder> holders_; /* conn -> what it holds */
};

#endif
