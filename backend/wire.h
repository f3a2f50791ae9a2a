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
/* FABRIC_* (ov_protocol.h "fabric mappings"): blob 1..OV_FABRIC_BLOB_MAX
 * bytes, exactly len of them after the request (*blob points into p); a
 * virtual id (dest, vid) below 2^20. */
ov_status_t ov_decode_fabric_publish(const void *p, uint32_t len, ov_fabric_publish_req *out,
                                     const uint8_t **blob) noexcept;
ov_status_t ov_decode_fabric_send(const void *p, uint32_t len, ov_fabric_send_req *out, const uint8_t **blob) noexcept;
ov_status_t ov_decode_fabric_take(const void *p, uint32_t len, ov_fabric_take_req *out) noexcept;
ov_status_t ov_decode_fabric_lookup(const void *p, uint32_t len, ov_fabric_lookup_req *out) noexcept;

ov_status_t ov_decode_status(const void *p, uint32_t len, ov_status_req *out) noexcept;

/* ---- STATUS reply: one page of the record sequence quotas, guests,
 *      processes, windows (in that order): ov_status_head, then the page's
 *      nquotas, nguests, nprocs, nwins records.  A client asks for pages
 *      from first = 0 on, each from the previous page's first + records,
 *      until total; if `generation` changes between pages the tables
 *      changed under it, and it starts again (ompi-virt-status). */
struct ov_status_head {
    int32_t status;
    uint32_t nguests, nprocs, nwins; /* in this page */
    uint64_t backend_instance;
    uint64_t uptime_ms;
    uint32_t backend_pid;
    uint32_t nquotas;                /* in this page */
    uint32_t first;                  /* sequence index of this page's first record */
    uint32_t total_quotas, total_guests, total_procs, total_wins;
    uint32_t reserved;
    uint64_t generation;             /* changes whenever a record is added or removed */
};
struct ov_status_quota {             /* usage against limits (quota.h) */
    uint32_t kind;                   /* ov_quota_line::kind_t: 0 backend, 1 guest, 2 job */
    uint32_t reserved;
    char guest[40];                  /* kind 1: the guest identity ("net:[...]", "tcp:ADDR") */
    uint64_t job_key;                /* kind 2 */
    uint32_t conns, conns_max, procs, procs_max, windows, windows_max;
    uint64_t region_bytes, region_bytes_max;
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
    uint32_t proc_id, guest_idx;      /* guest_idx: index in the whole guest sequence */
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
static_assert(sizeof(ov_status_head) == 72 && sizeof(ov_status_quota) == 96 && sizeof(ov_status_guest) == 96 &&
              sizeof(ov_status_proc) == 56 && sizeof(ov_status_win) == 32, "status wire sizes");

struct ov_status_snapshot {
    ov_status_head head{};
    std::vector<ov_status_quota> quotas;
    std::vector<ov_status_guest> guests;
    std::vector<ov_status_proc> procs;
    std::vector<ov_status_win> wins;
};

/* Backend: the page of s from sequence index `first`, as many whole records
 * as fit in page_bytes (at least one if any is left); head counts and
 * totals are filled in. */
void ov_status_encode(const ov_status_snapshot &s, std::vector<uint8_t> *out, uint32_t first = 0,
                      uint32_t page_bytes = OV_STATUS_PAGE);
/* Tool, fuzz: one page with full length and consistency checks (counts
 * match first and the totals, guest_idx < total_guests).  *out holds the
 * page's records only.  OV_ERR_PROTO, OV_ERR_NOMEM. */
ov_status_t ov_status_decode(const void *p, uint32_t len, ov_status_snapshot *out) noexcept;
/* Tool: appends page's records to all (all.head: the latest page's). */
void ov_status_append(ov_status_snapshot *all, const ov_status_snapshot &page);

#endif
