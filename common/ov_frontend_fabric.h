/*
 * ov_frontend_fabric.h — ib-virt's control path through the host backend
 * (ov_protocol.h "fabric mappings"): publish this process's fabric mapping,
 * carry migration handshake blobs to other ranks of the job, wherever they
 * live, and take the ones sent to it.  MPI-free, extern "C", noexcept.
 *
 * Lifecycle:
 *   ov_fe_open(&p, &fe)                 HELLO (p.rank is the virtual id)
 *   ov_fe_fabric_publish(fe, epoch, blob)   first, and again after every move
 *   ov_fe_fabric_lookup(fe, vid, ...)   a rank's current mapping (to start)
 *   ov_fe_fabric_send / ov_fe_fabric_take   handshake blobs, any time
 *   ov_fe_close(fe)                     the backend withdraws the mapping
 * A process that moves to another host closes its handle on the old host's
 * backend, opens one on the new host's and publishes there.
 *
 * Errors: OV_ERR_NOT_SUPPORTED (backend does not offer OV_FEAT_FABRIC),
 * OV_ERR_BAD_ARG (blob empty or > OV_FABRIC_BLOB_MAX; send/lookup: no
 * record of that rank yet, retry), OV_ERR_STATE (not published yet),
 * OV_ERR_EXISTS (another process holds this rank on that backend),
 * OV_ERR_QUOTA, OV_ERR_PROTO (malformed reply), OV_ERR_BACKEND_GONE,
 * OV_ERR_TIMEOUT.  ov_fe_last_error(fe) explains.
 */
#ifndef OMPI_VIRT_COMMON_OV_FRONTEND_FABRIC_H
#define OMPI_VIRT_COMMON_OV_FRONTEND_FABRIC_H

#include "ov_frontend.h"

extern "C" {

ov_status_t ov_fe_fabric_publish(ov_fe_t *fe, uint32_t epoch, const void *blob, uint32_t len) noexcept;
ov_status_t ov_fe_fabric_send(ov_fe_t *fe, uint32_t dest, const void *blob, uint32_t len) noexcept;

/* Takes what waits in this process's mailbox (at most OV_FABRIC_TAKE_MAX
 * bytes per call): fn(ctx, from, blob, len) per blob, oldest first; `from`
 * is the sender's rank as the backends know it (the blob's own claim is not
 * to be trusted more than that).  *more: 1 when more wait. */
typedef void (*ov_fe_fabric_fn)(void *ctx, uint32_t from, const void *blob, uint32_t len);
ov_status_t ov_fe_fabric_take(ov_fe_t *fe, ov_fe_fabric_fn fn, void *ctx, int *more) noexcept;

/* Rank vid's current mapping: blob into buf (*len in: capacity, out: bytes),
 * its epoch, and whether it lives on another host. */
ov_status_t ov_fe_fabric_lookup(ov_fe_t *fe, uint32_t vid, void *buf, uint32_t *len, uint32_t *epoch,
                                int *remote) noexcept;

} /* extern "C" */

#endif
