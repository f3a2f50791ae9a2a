/*
 * wire.h — strict decoding of guest-written control payloads (backend only;
 * fuzzed) and the STATUS reply records (backend -> ompi-virt-status).
 *
 * Every decoder: OV_OK and *out filled, or OV_ERR_PROTO (wrong length,
 * non-zero reserved field, unterminated or illegal guest name).  They never
 * read past `len` bytes.
 */
#ifndef OMPI_VIRT_BACKEND_WIRE_H
#define OMPI_VIRT_BACKEND_WIRE_H

#include <cstdint>
#include <cstring>
#include <vector>

#include "ov_protocol.h"

template <typename T> ov_status_t ov_decode_fixed(const void *p, uint32_t len, T *out) noexcept
{
    if (len != sizeof(T))
        return OV_ERR_PROTO;
    std::memcpy(out, p, sizeof(T));
    return OV_OK;
}

/* [A-Za-z0-9._-]{1,31}, NUL-terminated within the field, zero-padded after. */
bool ov_guest_name_ok(const char *name, size_t field) noexcept;

ov_status_t ov_decode_hello(const void *p, uint32_t len, ov_hello_req *out) noexcept;
ov_status_t ov_decode_attach(const void *p, uint32_t len, ov_attach_req *out) noexcept;
ov_status_t ov_decode_rings(const void *p, uint32_t len, ov_rings_req *out) noexcept;
ov_status_t ov_decode_win_create(const void *p, uint32_t len, ov_win_create_req *out) noexcept;
ov_status_t ov_decode_win_ref(const void *p, uint32_t len, ov_win_ref_req *out) noexcept;
ov_status_t ov_decode_grant(const void *p, uint32_t len, ov_grant_req *out) noexcept;
ov_status_t ov_decode_btl_segment(const void *p, uint32_t len, ov_btl_segment_req *out) noexcept;
ov_status_t ov_decode_empty(const void *p, uint32_t len) noexcept; /* DETACH, STATUS: 8 zero bytes */

/* ---- STATUS reply: ov_status_head, then nguests guest records, nprocs
 *      process records, nwins window records. */
struct ov_status_head {
    int32_t status;
    uint32_t nguests, nprocs, nwins;
    uint64_t backend_instance;
    uint64_t uptime_ms;
    uint32_t backend_pid;
    uint32_t reserved;
};
struct ov_status_guest {
    char name[OV_GUEST_NAME_MAX];
    uint64_t job_key;
    uint32_t nprocs, nwins;
    uint64_t requests, bytes, errors; /* totals since the region was created */
    uint64_t queue_depth;             /* descriptors waiting now, all processes */
    uint64_t region_size, region_used;
};
struct ov_status_proc {
    uint32_t proc_id, guest_idx;
    uint64_t job_key;
    uint32_t rank, pid; /* pid as the backend sees it (SO_PEERCRED), 0 over tcp */
    uint64_t requests, bytes, errors;
    uint32_t state;     /* 1 open, 2 attached, 3 ready */
    uint32_t queue_depth;
};
struct ov_status_win {
    uint32_t id, epoch, owner_proc, ngrants;
    uint64_t size, job_key;
};
static_assert(sizeof(ov_status_head) == 40 && sizeof(ov_status_guest) == 96 &&
              sizeof(ov_status_proc) == 56 && sizeof(ov_status_win) == 32, "status wire sizes");

struct ov_status_snapshot {
    ov_status_head head{};
    std::vector<ov_status_guest> guests;
    std::vector<ov_status_proc> procs;
    std::vector<ov_status_win> wins;
};

/* Serialise (backend) / parse with full length checks (tool, fuzz). */
void ov_status_encode(const ov_status_snapshot &s, std::vector<uint8_t> *out);
ov_status_t ov_status_decode(const void *p, uint32_t len, ov_status_snapshot *out) noexcept;

#endif
