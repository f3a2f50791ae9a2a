/*
 * ov_frontend_btl_rdma.h — btl vmshm's asynchronous single-copy messages
 * (BTL_REG, BTL_DEREG, BTL_RDMA; common/ov_btl_rdma_proto.h) on its control
 * connection.  MPI-free, extern "C" style, noexcept.
 *
 * Lifecycle (after ov_fe_open with role BTL; ov_fe_btl_rdma_offered says
 * whether the backend serves them on this connection):
 *   ov_fe_btl_post(fe, msgs, n)  writes n requests with one send (seq
 *       numbers assigned into msgs[i].seq); never waits for a reply.
 *   ov_fe_btl_reap(fe, fn, ctx)  reads what the socket holds without
 *       blocking and calls fn once per complete reply, in arrival order
 *       (BTL_RDMA replies may overtake other replies: match by seq).
 * Every BTL_RDMA gets exactly one reply; BTL_REG/BTL_DEREG get one only
 * when refused (ov_btl_rdma_proto.h), so reap now and then even with no
 * BTL_RDMA outstanding.  Do not mix with a synchronous call on the same
 * connection while replies are outstanding (ov_fe_call would take one of
 * them for its own).
 *
 * Errors: post: OV_ERR_STATE (not role BTL or not offered), OV_ERR_BAD_ARG
 * (not one of the three types, or a request above OV_MSG_MAX_PAYLOAD),
 * OV_ERR_NOMEM, OV_ERR_BACKEND_GONE.  reap: the number of
 * replies handled (>= 0), or OV_ERR_BACKEND_GONE (socket closed: every
 * outstanding request is lost) or OV_ERR_PROTO (a reply that is not one of
 * ours: header, type or length wrong; the connection is unusable).  Both
 * make the handle `gone` (ov_fe_btl_alive reports it).
 */
#ifndef OMPI_VIRT_COMMON_OV_FRONTEND_BTL_RDMA_H
#define OMPI_VIRT_COMMON_OV_FRONTEND_BTL_RDMA_H

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ov_btl_rdma_proto.h"
#include "ov_frontend.h"

/* One request to post (ov_fe_btl_post fills seq). */
struct ov_fe_btl_msg {
    uint16_t type;
    const void *req;
    uint32_t len;
    uint32_t seq;
};

/* One reply: BTL_REG/BTL_DEREG replies (errors only) come with moved = 0. */
typedef void (*ov_fe_btl_reply_fn)(void *ctx, uint16_t type, uint32_t seq, const ov_btl_rdma_rep &rep);

bool ov_fe_btl_rdma_offered(const ov_fe_t *fe) noexcept;
ov_status_t ov_fe_btl_post(ov_fe_t *fe, ov_fe_btl_msg *msgs, size_t n) noexcept;
int ov_fe_btl_reap(ov_fe_t *fe, ov_fe_btl_reply_fn fn, void *ctx) noexcept;

/* The parser behind ov_fe_btl_reap (tests and fuzzing): consumes the
 * complete replies at the front of `in` (hostile bytes: every header,
 * type and length checked), calls fn for each, leaves a partial one.
 * Returns replies handled, or OV_ERR_PROTO (nothing after the bad one is
 * consumed). */
int ov_fe_btl_parse_replies(std::vector<uint8_t> &in, ov_fe_btl_reply_fn fn, void *ctx) noexcept;

#endif
