/*
 * test_validate.cc — every validation outcome of a request descriptor, and
 * the plans valid descriptors produce.
 */
#include <gtest/gtest.h>

#include <map>

#include "validate.h"

namespace {
const uint64_t JOB = 7, OTHER_JOB = 8;
/* proc 1 (rank 0) owns windows 1 (local, 4 KiB) and 2 (target, 1 KiB);
 * proc 2 (rank 1) owns windows 3, 4 and 6 (1 KiB each), granted to rank 0
 * READ only, READ|WRITE and WRITE only; proc 4 (rank 0 of another job)
 * owns window 5; 7 and 8 are registered windows (their owners' memory). */
class Wins : public ov_win_lookup {
public:
    std::map<uint32_t, ov_win_info> w;
    std::map<std::pair<uint32_t, uint32_t>, uint32_t> g; /* (win, rank) -> perms */
    Wins()
    {
        w[1] = {1, 1, 1, JOB, 10, 4096, 4096, OV_MEM_REGION};
        w[2] = {2, 3, 1, JOB, 10, 8192, 1024, OV_MEM_REGION};
        w[3] = {3, 1, 2, JOB, 11, 4096, 1024, OV_MEM_REGION};
        w[4] = {4, 1, 2, JOB, 11, 8192, 1024, OV_MEM_REGION};
        w[5] = {5, 1, 4, OTHER_JOB, 12, 4096, 1024, OV_MEM_REGION};
        w[6] = {6, 1, 2, JOB, 11, 12288, 1024, OV_MEM_REGION};
        g[{3, 0}] = OV_PERM_READ;
        g[{4, 0}] = OV_PERM_READ | OV_PERM_WRITE;
        g[{5, 0}] = OV_PERM_READ | OV_PERM_WRITE; /* a grant across jobs must not count */
        g[{6, 0}] = OV_PERM_WRITE;
        /* registered windows: 7 over my own memory, 8 over proc 2's (granted rw) */
        w[7] = {7, 1, 1, JOB, 0, 0x7e0000000000ull, 4096, OV_MEM_OWNER};
        w[8] = {8, 2, 2, JOB, 0, 0x7d0000000000ull, 1024, OV_MEM_OWNER};
        g[{8, 0}] = OV_PERM_READ | OV_PERM_WRITE;
    }
    const ov_win_info *find(uint32_t id) const override
    {
        auto it = w.find(id);
        return it == w.end() ? nullptr : &it->second;
    }
    uint32_t grant(const ov_win_info &i, const ov_requester &who) const override
    {
        auto it = g.find({i.id, who.rank});
        return it == g.end() ? 0 : it->second;
    }
};
const ov_requester ME{1, JOB, 0, 0};
const ov_requester ME_SC{1, JOB, 0, OV_FEAT_SINGLE_COPY}; /* offered single copy */
const ov_requester ME_INL{1, JOB, 0, OV_FEAT_INLINE}; /* offered inline operands */
const ov_requester ME_QUIET{1, JOB, 0, OV_FEAT_QUIET}; /* offered quiet requests */
const uint16_t VA = OV_REQ_LOCAL_VA, EXCL = OV_REQ_EXCLUSIVE;
/* The same request with its operands in the rings (OV_REQ_INLINE). */
ov_req_desc inl(ov_req_desc d)
{
    d.flags |= OV_REQ_INLINE;
    d.local_win = 0x01020304; /* payload now: anything goes */
    d.local_epoch = 0x05060708;
    d.local_off = 0x1112131415161718ull;
    d.result_off = 0;
    return d;
}

ov_req_desc put(uint32_t tw, uint32_t te, uint64_t toff, uint64_t len)
{
    ov_req_desc d{};
    d.cookie = 99;
    d.op = OV_OP_PUT;
    d.dtype_size = 1;
    d.target_win = tw;
    d.target_epoch = te;
    d.target_off = toff;
    d.local_win = 1;
    d.local_epoch = 1;
    d.length = len;
    return d;
}
ov_req_desc op(uint16_t o, uint32_t tw, uint32_t te, uint64_t toff, uint64_t len)
{
    ov_req_desc d = put(tw, te, toff, len);
    d.op = o;
    return d;
}
/* ACC / GET_ACC of `len` bytes of (kind, size) elements */
ov_req_desc acc(uint16_t o, uint8_t acc_op, uint8_t kind, uint16_t size, uint32_t tw, uint32_t te,
                uint64_t len)
{
    ov_req_desc d = op(o, tw, te, 0, len);
    d.acc_op = acc_op;
    d.dtype_kind = kind;
    d.dtype_size = size;
    if (o == OV_OP_GET_ACC)
        d.result_off = 2048;
    return d;
}
ov_req_desc cas(uint16_t size, uint32_t tw, uint32_t te)
{
    ov_req_desc d = op(OV_OP_CAS, tw, te, 0, size);
    d.dtype_kind = OV_DT_UINT;
    d.dtype_size = size;
    d.result_off = 2048;
    return d;
}
ov_req_desc lock(uint16_t o, uint32_t tw, uint32_t te, uint64_t slot, uint16_t flags = 0)
{
    ov_req_desc d{};
    d.op = o;
    d.flags = flags;
    d.target_win = tw;
    d.target_epoch = te;
    d.target_off = slot;
    return d;
}
ov_req_desc va(ov_req_desc d)
{
    d.flags |= VA;
    d.local_win = 0;
    d.local_epoch = 0;
    d.local_off = 0x7f0000001000ull;
    if (d.result_off)
        d.result_off = 0x7f0000002000ull;
    return d;
}
} // namespace

struct Case {
    const char *name;
    ov_req_desc d;
    ov_status_t want;
    ov_requester who;
};

static std::vector<Case> cases()
{
    std::vector<Case> v;
    auto add = [&](const char *n, ov_req_desc d, ov_status_t s, ov_requester who = ME) { v.push_back({n, d, s, who}); };
    ov_req_desc d;
    const uint16_t ACC = OV_OP_ACC, GACC = OV_OP_GET_ACC;

    /* ---- accepted */
    add("put own window", put(2, 3, 0, 1024), OV_OK);
    add("put granted rw window", put(4, 1, 0, 8), OV_OK);
    add("get granted read window", op(OV_OP_GET, 3, 1, 0, 8), OV_OK);
    add("zero-length put", put(2, 3, 1024, 0), OV_OK);
    d = ov_req_desc{}; d.op = OV_OP_NOP; d.target_win = 12345; d.length = UINT64_MAX; d.dtype_kind = 99;
    add("nop ignores other fields", d, OV_OK);
    d = put(2, 3, 0, 64); d.dtype_size = 32;
    add("put of 32-byte elements", d, OV_OK);
    d = put(2, 3, 0, 64); d.dtype_kind = OV_DT_FLOAT; d.dtype_size = 8;
    add("put of doubles", d, OV_OK);
    add("acc sum int4 own window", acc(ACC, OV_ACC_SUM, OV_DT_INT, 4, 2, 3, 1024), OV_OK);
    add("acc on a rw grant", acc(ACC, OV_ACC_BXOR, OV_DT_BYTES, 32, 4, 1, 64), OV_OK);
    add("acc on a write-only grant", acc(ACC, OV_ACC_REPLACE, OV_DT_LOGICAL, 4, 6, 1, 8), OV_OK);
    add("acc prod double complex", acc(ACC, OV_ACC_PROD, OV_DT_COMPLEX, 16, 2, 3, 64), OV_OK);
    add("get_acc max double on a rw grant", acc(GACC, OV_ACC_MAX, OV_DT_FLOAT, 8, 4, 1, 1024), OV_OK);
    d = acc(GACC, OV_ACC_NO_OP, OV_DT_INT, 8, 4, 1, 8); d.local_off = UINT64_MAX;
    add("get_acc no_op has no origin", d, OV_OK);
    d = acc(ACC, OV_ACC_NO_OP, OV_DT_INT, 8, 2, 3, 8); d.local_off = UINT64_MAX;
    add("acc no_op has no origin", d, OV_OK);
    add("zero-length acc", acc(ACC, OV_ACC_SUM, OV_DT_UINT, 2, 2, 3, 0), OV_OK);
    add("cas 8 bytes on a rw grant", cas(8, 4, 1), OV_OK);
    d = cas(32, 2, 3); d.dtype_kind = OV_DT_BYTES;
    add("cas 32 bytes", d, OV_OK);
    add("lock shared", lock(OV_OP_LOCK, 2, 3, 0), OV_OK);
    add("lock exclusive, last slot", lock(OV_OP_LOCK, 4, 1, OV_LOCK_SLOTS - 1, EXCL), OV_OK);
    add("lock on a read-only grant", lock(OV_OP_LOCK, 3, 1, 5, EXCL), OV_OK);
    add("unlock", lock(OV_OP_UNLOCK, 6, 1, 5), OV_OK);
    d = lock(OV_OP_LOCK, 2, 3, 1); d.local_win = 999; d.local_off = UINT64_MAX; d.length = UINT64_MAX;
    d.dtype_kind = 200; d.dtype_size = 3;
    add("lock ignores length, dtype and local fields", d, OV_OK);
    add("put LOCAL_VA", va(put(4, 1, 0, 1024)), OV_OK, ME_SC);
    add("get LOCAL_VA", va(op(OV_OP_GET, 3, 1, 0, 1024)), OV_OK, ME_SC);
    add("acc LOCAL_VA", va(acc(ACC, OV_ACC_MIN, OV_DT_INT, 2, 4, 1, 16)), OV_OK, ME_SC);
    add("get_acc LOCAL_VA", va(acc(GACC, OV_ACC_SUM, OV_DT_UINT, 8, 4, 1, 64)), OV_OK, ME_SC);
    add("cas LOCAL_VA", va(cas(4, 4, 1)), OV_OK, ME_SC);

    /* ---- 1 op */
    add("op past the end", op(OV_OP_MAX, 2, 3, 0, 8), OV_ERR_BAD_OP);
    add("op 0xffff", op(0xffff, 2, 3, 0, 8), OV_ERR_BAD_OP);
    d = op(OV_OP_MAX, 2, 3, 0, 8); d.flags = 0x8000;
    add("bad op is told before bad flags", d, OV_ERR_BAD_OP);
    /* ---- 2 flags and must-be-zero fields */
    d = put(2, 3, 0, 8); d.result_off = 1;
    add("result_off on put", d, OV_ERR_BAD_FLAGS);
    d = put(2, 3, 0, 8); d.flags = 0x4000;
    add("unknown flag", d, OV_ERR_BAD_FLAGS);
    /* OV_REQ_QUIET: PUT and ACC only, and only where offered */
    d = put(2, 3, 0, 8); d.flags = OV_REQ_QUIET;
    add("quiet put offered", d, OV_OK, ME_QUIET);
    add("quiet put not offered", d, OV_ERR_NOT_SUPPORTED);
    d = acc(ACC, OV_ACC_SUM, OV_DT_INT, 4, 2, 3, 8); d.flags = OV_REQ_QUIET;
    add("quiet acc offered", d, OV_OK, ME_QUIET);
    d = op(OV_OP_GET, 2, 3, 0, 8); d.flags = OV_REQ_QUIET;
    add("quiet get", d, OV_ERR_BAD_FLAGS, ME_QUIET);
    d = acc(GACC, OV_ACC_SUM, OV_DT_INT, 4, 2, 3, 8); d.flags = OV_REQ_QUIET;
    add("quiet get_acc", d, OV_ERR_BAD_FLAGS, ME_QUIET);
    d = ov_req_desc{}; d.op = OV_OP_NOP; d.flags = VA;
    add("nop with flags", d, OV_ERR_BAD_FLAGS, ME_SC);
    d = ov_req_desc{}; d.op = OV_OP_NOP; d.acc_op = OV_ACC_SUM;
    add("nop with acc_op", d, OV_ERR_BAD_FLAGS);
    d = put(2, 3, 0, 8); d.flags = EXCL;
    add("exclusive on put", d, OV_ERR_BAD_FLAGS);
    d = acc(ACC, OV_ACC_SUM, OV_DT_INT, 4, 2, 3, 8); d.flags = EXCL;
    add("exclusive on acc", d, OV_ERR_BAD_FLAGS);
    add("exclusive on unlock", lock(OV_OP_UNLOCK, 2, 3, 0, EXCL), OV_ERR_BAD_FLAGS);
    add("LOCAL_VA on lock", lock(OV_OP_LOCK, 2, 3, 0, VA), OV_ERR_BAD_FLAGS, ME_SC);
    add("LOCAL_VA on unlock", lock(OV_OP_UNLOCK, 2, 3, 0, VA), OV_ERR_BAD_FLAGS, ME_SC);
    add("STREAM on lock (PUT only)", lock(OV_OP_LOCK, 2, 3, 0, OV_REQ_STREAM), OV_ERR_BAD_FLAGS);
    add("unknown flag on lock", lock(OV_OP_LOCK, 2, 3, 0, 0x8), OV_ERR_BAD_FLAGS);
    d = put(2, 3, 0, 8); d.flags = OV_REQ_STREAM;
    add("stream on put", d, OV_OK);
    d = op(OV_OP_GET, 2, 3, 0, 8); d.flags = OV_REQ_STREAM;
    add("stream on get", d, OV_ERR_BAD_FLAGS);
    d = acc(ACC, OV_ACC_SUM, OV_DT_INT, 4, 2, 3, 8); d.flags = OV_REQ_STREAM;
    add("stream on acc", d, OV_ERR_BAD_FLAGS);
    d = put(2, 3, 0, 8); d.acc_op = OV_ACC_SUM;
    add("acc_op on put", d, OV_ERR_BAD_FLAGS);
    d = cas(8, 2, 3); d.acc_op = OV_ACC_REPLACE;
    add("acc_op on cas", d, OV_ERR_BAD_FLAGS);
    d = lock(OV_OP_LOCK, 2, 3, 0); d.acc_op = 1;
    add("acc_op on lock", d, OV_ERR_BAD_FLAGS);
    d = acc(ACC, OV_ACC_SUM, OV_DT_INT, 4, 2, 3, 8); d.result_off = 16;
    add("result_off on acc", d, OV_ERR_BAD_FLAGS);
    d = op(OV_OP_GET, 2, 3, 0, 8); d.result_off = 16;
    add("result_off on get", d, OV_ERR_BAD_FLAGS);
    d = lock(OV_OP_UNLOCK, 2, 3, 0); d.result_off = 16;
    add("result_off on unlock", d, OV_ERR_BAD_FLAGS);
    d = va(put(2, 3, 0, 8)); d.local_win = 1;
    add("LOCAL_VA with a local window", d, OV_ERR_BAD_FLAGS, ME_SC);
    d = va(put(2, 3, 0, 8)); d.local_epoch = 1;
    add("LOCAL_VA with a local epoch", d, OV_ERR_BAD_FLAGS, ME_SC);
    /* ---- 3 single copy */
    add("LOCAL_VA not offered", va(put(2, 3, 0, 8)), OV_ERR_NOT_SUPPORTED);
    d = va(acc(GACC, OV_ACC_SUM, OV_DT_INT, 3, 2, 3, 9));
    add("not offered is told before a bad dtype", d, OV_ERR_NOT_SUPPORTED);
    /* ---- 4 acc_op range */
    add("acc without acc_op", acc(ACC, OV_ACC_NONE, OV_DT_INT, 4, 2, 3, 8), OV_ERR_BAD_OP);
    add("acc_op past the end", acc(GACC, OV_ACC_MAX_OP, OV_DT_INT, 4, 2, 3, 8), OV_ERR_BAD_OP);
    add("acc_op 200", acc(ACC, 200, OV_DT_BYTES, 3, 2, 3, 9), OV_ERR_BAD_OP);
    /* ---- 5 datatype */
    d = put(2, 3, 0, 8); d.dtype_size = 0;
    add("dtype 0", d, OV_ERR_BAD_DTYPE);
    d.dtype_size = 3;
    add("dtype 3", d, OV_ERR_BAD_DTYPE);
    d = put(2, 3, 0, 128); d.dtype_size = 64;
    add("dtype 64", d, OV_ERR_BAD_DTYPE);
    d = put(2, 3, 0, 12); d.dtype_size = 8;
    add("length not multiple of dtype", d, OV_ERR_BAD_DTYPE);
    d = put(2, 3, 0, 8); d.dtype_kind = OV_DT_KIND_MAX;
    add("unknown kind", d, OV_ERR_BAD_DTYPE);
    d.dtype_kind = 255;
    add("kind 255", d, OV_ERR_BAD_DTYPE);
    add("int of 16 bytes", acc(ACC, OV_ACC_SUM, OV_DT_INT, 16, 2, 3, 16), OV_ERR_BAD_DTYPE);
    add("float of 2 bytes", acc(ACC, OV_ACC_SUM, OV_DT_FLOAT, 2, 2, 3, 16), OV_ERR_BAD_DTYPE);
    add("complex of 4 bytes", acc(GACC, OV_ACC_SUM, OV_DT_COMPLEX, 4, 2, 3, 16), OV_ERR_BAD_DTYPE);
    add("bool of 4 bytes", acc(ACC, OV_ACC_LOR, OV_DT_BOOL, 4, 2, 3, 16), OV_ERR_BAD_DTYPE);
    add("logical of 1 byte", acc(ACC, OV_ACC_LOR, OV_DT_LOGICAL, 1, 2, 3, 16), OV_ERR_BAD_DTYPE);
    add("acc length not multiple", acc(ACC, OV_ACC_SUM, OV_DT_INT, 8, 2, 3, 12), OV_ERR_BAD_DTYPE);
    add("bad size is told before a bad op", acc(ACC, OV_ACC_SUM, OV_DT_BYTES, 3, 2, 3, 9), OV_ERR_BAD_DTYPE);
    d = cas(8, 2, 3); d.length = 16;
    add("cas of two elements", d, OV_ERR_BAD_DTYPE);
    d = cas(8, 2, 3); d.length = 0;
    add("cas of nothing", d, OV_ERR_BAD_DTYPE);
    d = cas(8, 2, 3); d.dtype_kind = OV_DT_BOOL;
    add("cas bool of 8 bytes", d, OV_ERR_BAD_DTYPE);
    /* ---- 6 op for the type, length limit */
    add("sum on bytes", acc(ACC, OV_ACC_SUM, OV_DT_BYTES, 4, 2, 3, 8), OV_ERR_BAD_OP);
    add("land on float", acc(ACC, OV_ACC_LAND, OV_DT_FLOAT, 8, 2, 3, 8), OV_ERR_BAD_OP);
    add("band on float", acc(GACC, OV_ACC_BAND, OV_DT_FLOAT, 4, 2, 3, 8), OV_ERR_BAD_OP);
    add("min on complex", acc(ACC, OV_ACC_MIN, OV_DT_COMPLEX, 16, 2, 3, 16), OV_ERR_BAD_OP);
    add("prod on logical", acc(GACC, OV_ACC_PROD, OV_DT_LOGICAL, 4, 2, 3, 8), OV_ERR_BAD_OP);
    add("longer than the limit", put(2, 3, 0, (uint64_t(16) << 20) + 16), OV_ERR_TOO_LARGE);
    add("acc longer than the limit", acc(ACC, OV_ACC_SUM, OV_DT_INT, 8, 2, 3, (uint64_t(16) << 20) + 8),
        OV_ERR_TOO_LARGE);
    /* ---- 7-8 target window (no grant reads as no window) */
    add("no such window", put(99, 1, 0, 8), OV_ERR_NO_WINDOW);
    add("window id 0", put(0, 0, 0, 8), OV_ERR_NO_WINDOW);
    add("lock of no window", lock(OV_OP_LOCK, 99, 1, 0), OV_ERR_NO_WINDOW);
    add("stale epoch", put(2, 2, 0, 8), OV_ERR_STALE_WINDOW);
    add("unlock of a stale window", lock(OV_OP_UNLOCK, 2, 2, 0), OV_ERR_STALE_WINDOW);
    add("other job even with a grant", put(5, 1, 0, 8), OV_ERR_NO_WINDOW);
    add("lock in another job", lock(OV_OP_LOCK, 5, 1, 0), OV_ERR_NO_WINDOW);
    add("acc in another job", acc(ACC, OV_ACC_SUM, OV_DT_INT, 4, 5, 1, 8), OV_ERR_NO_WINDOW);
    /* ---- 10 permissions */
    add("put into a read-only grant", put(3, 1, 0, 8), OV_ERR_PERM);
    add("get from a write-only grant", op(OV_OP_GET, 6, 1, 0, 8), OV_ERR_PERM);
    add("acc into a read-only grant", acc(ACC, OV_ACC_SUM, OV_DT_INT, 4, 3, 1, 8), OV_ERR_PERM);
    add("get_acc on a read-only grant", acc(GACC, OV_ACC_SUM, OV_DT_INT, 4, 3, 1, 8), OV_ERR_PERM);
    add("get_acc on a write-only grant", acc(GACC, OV_ACC_SUM, OV_DT_INT, 4, 6, 1, 8), OV_ERR_PERM);
    add("cas on a read-only grant", cas(8, 3, 1), OV_ERR_PERM);
    add("cas on a write-only grant", cas(8, 6, 1), OV_ERR_PERM);
    /* ---- 11 target range, lock slot */
    add("past the end", put(2, 3, 1, 1024), OV_ERR_BOUNDS);
    add("offset beyond size", put(2, 3, 1025, 0), OV_ERR_BOUNDS);
    add("offset+length overflows", put(2, 3, UINT64_MAX - 3, 8), OV_ERR_BOUNDS);
    add("huge offset", put(2, 3, UINT64_MAX, 1), OV_ERR_BOUNDS);
    d = acc(ACC, OV_ACC_SUM, OV_DT_INT, 8, 2, 3, 16); d.target_off = 1016;
    add("acc past the end", d, OV_ERR_BOUNDS);
    add("lock slot past the end", lock(OV_OP_LOCK, 2, 3, OV_LOCK_SLOTS), OV_ERR_BOUNDS);
    add("unlock slot 2^32", lock(OV_OP_UNLOCK, 2, 3, uint64_t(1) << 32), OV_ERR_BOUNDS);
    /* ---- 12 local window / caller addresses */
    d = put(2, 3, 0, 8); d.local_win = 3; d.local_epoch = 1;
    add("local window not owned", d, OV_ERR_LOCAL_ACCESS);
    d = put(2, 3, 0, 8); d.local_epoch = 2;
    add("local epoch stale", d, OV_ERR_LOCAL_ACCESS);
    d = put(2, 3, 0, 8); d.local_win = 77;
    add("local window missing", d, OV_ERR_LOCAL_ACCESS);
    d = acc(GACC, OV_ACC_NO_OP, OV_DT_INT, 4, 2, 3, 8); d.local_win = 2; d.local_epoch = 3; d.result_off = 100;
    add("fetch into a window I own is fine", d, OV_OK);
    d.local_win = 4; d.local_epoch = 1;
    add("fetch into a window I only have a grant on", d, OV_ERR_LOCAL_ACCESS);
    d = cas(8, 2, 3); d.local_epoch = 9;
    add("cas local epoch stale", d, OV_ERR_LOCAL_ACCESS);
    d = va(put(2, 3, 0, 8)); d.local_off = UINT64_MAX - 3;
    add("LOCAL_VA origin wraps", d, OV_ERR_LOCAL_ACCESS, ME_SC);
    d = va(acc(GACC, OV_ACC_SUM, OV_DT_INT, 8, 2, 3, 16)); d.result_off = UINT64_MAX - 8;
    add("LOCAL_VA result wraps", d, OV_ERR_LOCAL_ACCESS, ME_SC);
    d = va(cas(8, 2, 3)); d.local_off = UINT64_MAX - 10;
    add("LOCAL_VA compare wraps", d, OV_ERR_LOCAL_ACCESS, ME_SC);
    d = va(acc(GACC, OV_ACC_NO_OP, OV_DT_INT, 8, 2, 3, 16)); d.local_off = UINT64_MAX;
    add("LOCAL_VA no_op: no origin to wrap", d, OV_OK, ME_SC);
    /* ---- registered windows */
    add("put into a registered window", put(8, 2, 1000, 24), OV_OK);
    add("cas on a registered window", cas(8, 8, 2), OV_OK);
    add("lock a registered window", lock(OV_OP_LOCK, 8, 2, 1, EXCL), OV_OK);
    add("past the end of a registered window", put(8, 2, 1001, 24), OV_ERR_BOUNDS);
    d = put(2, 3, 0, 64); d.local_win = 7; d.local_off = 4032;
    add("from my registered window", d, OV_OK, ME_SC);
    add("my registered window needs single copy", d, OV_ERR_LOCAL_ACCESS);
    d.local_off = 4040;
    add("past the end of my registered window", d, OV_ERR_BOUNDS, ME_SC);
    d = put(2, 3, 0, 8); d.local_win = 8; d.local_epoch = 2;
    add("someone else's registered window as local", d, OV_ERR_LOCAL_ACCESS, ME_SC);
    /* ---- 13 local ranges */
    d = put(2, 3, 0, 8); d.local_off = 4090;
    add("local past the end", d, OV_ERR_BOUNDS);
    d = put(2, 3, 0, 8); d.local_off = UINT64_MAX - 2;
    add("local overflow", d, OV_ERR_BOUNDS);
    d = acc(ACC, OV_ACC_SUM, OV_DT_INT, 8, 2, 3, 16); d.local_off = 4088;
    add("acc origin past the end", d, OV_ERR_BOUNDS);
    d = acc(GACC, OV_ACC_SUM, OV_DT_INT, 8, 2, 3, 16); d.result_off = 4088;
    add("get_acc result past the end", d, OV_ERR_BOUNDS);
    d = acc(GACC, OV_ACC_NO_OP, OV_DT_INT, 8, 2, 3, 16); d.result_off = UINT64_MAX - 4;
    add("get_acc result overflow", d, OV_ERR_BOUNDS);
    d = cas(8, 2, 3); d.local_off = 4080;
    add("cas origin and compare fit exactly", d, OV_OK);
    d.local_off = 4088;
    add("cas compare past the end", d, OV_ERR_BOUNDS);
    d = cas(8, 2, 3); d.result_off = 4089;
    add("cas result past the end", d, OV_ERR_BOUNDS);
    /* ---- OV_REQ_INLINE */
    add("inline put of 16 bytes", inl(put(2, 3, 0, 16)), OV_OK, ME_INL);
    add("inline put of 17 bytes", inl(put(2, 3, 0, 17)), OV_ERR_TOO_LARGE, ME_INL);
    add("inline needs the feature", inl(put(2, 3, 0, 8)), OV_ERR_NOT_SUPPORTED);
    add("inline get of 8 bytes", inl(op(OV_OP_GET, 2, 3, 0, 8)), OV_OK, ME_INL);
    add("inline get of 9 bytes", inl(op(OV_OP_GET, 2, 3, 0, 9)), OV_ERR_TOO_LARGE, ME_INL);
    add("inline fetch_and_op", inl(acc(GACC, OV_ACC_SUM, OV_DT_INT, 8, 2, 3, 8)), OV_OK, ME_INL);
    add("inline get_acc of 16 bytes: result too long",
        inl(acc(GACC, OV_ACC_SUM, OV_DT_INT, 8, 2, 3, 16)), OV_ERR_TOO_LARGE, ME_INL);
    add("inline acc of 16 bytes", inl(acc(ACC, OV_ACC_SUM, OV_DT_INT, 8, 2, 3, 16)), OV_OK, ME_INL);
    add("inline cas of 8-byte elements", inl(cas(8, 2, 3)), OV_OK, ME_INL);
    d = inl(cas(16, 2, 3)); d.dtype_kind = OV_DT_FLOAT; /* long double */
    add("inline cas of 16-byte elements", d, OV_ERR_TOO_LARGE, ME_INL);
    d = inl(cas(8, 2, 3)); d.result_off = 8;
    add("inline with a result_off", d, OV_ERR_BAD_FLAGS, ME_INL);
    d = inl(put(2, 3, 0, 8)); d.flags |= VA;
    add("inline and LOCAL_VA together", d, OV_ERR_BAD_FLAGS, ov_requester{1, JOB, 0, OV_FEAT_INLINE | OV_FEAT_SINGLE_COPY});
    add("inline on a lock", lock(OV_OP_LOCK, 2, 3, 0, OV_REQ_INLINE), OV_ERR_BAD_FLAGS, ME_INL);
    add("inline put still checks the target", inl(put(2, 3, 1020, 8)), OV_ERR_BOUNDS, ME_INL);
    add("inline put needs write permission", inl(put(3, 1, 0, 8)), OV_ERR_PERM, ME_INL);
    return v;
}

TEST(Validate, Table)
{
    Wins w;
    ov_limits lim;
    for (const Case &c : cases()) {
        ov_copy_plan plan{};
        plan.len = 0xdead;
        ov_status_t s = ov_validate(c.d, c.who, w, lim, &plan);
        EXPECT_EQ(s, c.want) << c.name << ": got " << ov_strerror(s);
        if (s != OV_OK) {
            EXPECT_EQ(plan.len, 0xdeadu) << c.name << ": plan written on error";
        }
    }
}

TEST(Validate, NoWindowWithoutAnyGrant)
{
    Wins w;
    w.g.clear();
    ov_copy_plan plan;
    EXPECT_EQ(ov_validate(put(4, 1, 0, 8), ME, w, ov_limits{}, &plan), OV_ERR_NO_WINDOW);
    EXPECT_EQ(ov_validate(lock(OV_OP_LOCK, 4, 1, 0), ME, w, ov_limits{}, &plan), OV_ERR_NO_WINDOW);
}

static void expect_operand(const ov_operand &o, uint8_t where, uint32_t region, uint64_t off, uint64_t len,
                           const char *what)
{
    EXPECT_EQ(o.where, where) << what;
    EXPECT_EQ(o.region, region) << what;
    EXPECT_EQ(o.off, off) << what;
    EXPECT_EQ(o.len, len) << what;
}

TEST(Validate, PlansPointInsideWindows)
{
    Wins w;
    ov_copy_plan p;
    ov_req_desc d = put(4, 1, 100, 16);
    d.local_off = 200;
    ASSERT_EQ(ov_validate(d, ME, w, ov_limits{}, &p), OV_OK);
    EXPECT_EQ(p.op, OV_OP_PUT);
    expect_operand(p.target, OV_AT_REGION, 11, 8192 + 100, 16, "put target");
    expect_operand(p.origin, OV_AT_REGION, 10, 4096 + 200, 16, "put origin");
    expect_operand(p.result, OV_AT_NONE, 0, 0, 0, "put result");
    d.op = OV_OP_GET;
    ASSERT_EQ(ov_validate(d, ME, w, ov_limits{}, &p), OV_OK);
    expect_operand(p.target, OV_AT_REGION, 11, 8192 + 100, 16, "get target");
    expect_operand(p.origin, OV_AT_NONE, 0, 0, 0, "get origin");
    expect_operand(p.result, OV_AT_REGION, 10, 4096 + 200, 16, "get result");

    d = acc(OV_OP_GET_ACC, OV_ACC_SUM, OV_DT_FLOAT, 8, 4, 1, 32);
    d.target_off = 64;
    d.local_off = 8;
    d.result_off = 1000;
    ASSERT_EQ(ov_validate(d, ME, w, ov_limits{}, &p), OV_OK);
    EXPECT_EQ(p.acc_op, OV_ACC_SUM);
    EXPECT_EQ(p.dtype_kind, OV_DT_FLOAT);
    EXPECT_EQ(p.dtype_size, 8);
    EXPECT_EQ(p.len, 32u);
    expect_operand(p.target, OV_AT_REGION, 11, 8192 + 64, 32, "get_acc target");
    expect_operand(p.origin, OV_AT_REGION, 10, 4096 + 8, 32, "get_acc origin");
    expect_operand(p.result, OV_AT_REGION, 10, 4096 + 1000, 32, "get_acc result");
    d.acc_op = OV_ACC_NO_OP;
    ASSERT_EQ(ov_validate(d, ME, w, ov_limits{}, &p), OV_OK);
    expect_operand(p.origin, OV_AT_NONE, 0, 0, 0, "fetch-only origin");

    d = cas(4, 4, 1);
    d.target_off = 12;
    d.local_off = 40;
    d.result_off = 80;
    ASSERT_EQ(ov_validate(d, ME, w, ov_limits{}, &p), OV_OK);
    expect_operand(p.target, OV_AT_REGION, 11, 8192 + 12, 4, "cas target");
    expect_operand(p.origin, OV_AT_REGION, 10, 4096 + 40, 8, "cas origin+compare");
    expect_operand(p.result, OV_AT_REGION, 10, 4096 + 80, 4, "cas result");

    ASSERT_EQ(ov_validate(va(cas(4, 4, 1)), ME_SC, w, ov_limits{}, &p), OV_OK);
    expect_operand(p.origin, OV_AT_CALLER, 0, 0x7f0000001000ull, 8, "va cas origin");
    expect_operand(p.result, OV_AT_CALLER, 0, 0x7f0000002000ull, 4, "va cas result");
    ASSERT_EQ(ov_validate(va(op(OV_OP_GET, 4, 1, 8, 24)), ME_SC, w, ov_limits{}, &p), OV_OK);
    expect_operand(p.result, OV_AT_CALLER, 0, 0x7f0000001000ull, 24, "va get result");
    expect_operand(p.target, OV_AT_REGION, 11, 8192 + 8, 24, "va get target");

    d = acc(OV_OP_GET_ACC, OV_ACC_SUM, OV_DT_UINT, 4, 8, 2, 16);
    d.target_off = 40;
    d.local_win = 7;
    d.local_off = 8;
    d.result_off = 100;
    ASSERT_EQ(ov_validate(d, ME_SC, w, ov_limits{}, &p), OV_OK);
    expect_operand(p.target, OV_AT_PROC, 2, 0x7d0000000000ull + 40, 16, "registered target: the owner's memory");
    expect_operand(p.origin, OV_AT_CALLER, 0, 0x7e0000000000ull + 8, 16, "my registered window: my memory");
    expect_operand(p.result, OV_AT_CALLER, 0, 0x7e0000000000ull + 100, 16, "my registered window: result");

    d = put(2, 3, 0, 8);
    ASSERT_EQ(ov_validate(d, ME, w, ov_limits{}, &p), OV_OK);
    EXPECT_FALSE(p.stream);
    d.flags = OV_REQ_STREAM;
    ASSERT_EQ(ov_validate(d, ME, w, ov_limits{}, &p), OV_OK);
    EXPECT_TRUE(p.stream) << "the hint reaches the plan";

    d = inl(cas(8, 4, 1));
    ASSERT_EQ(ov_validate(d, ME_INL, w, ov_limits{}, &p), OV_OK);
    expect_operand(p.origin, OV_AT_INLINE, 0, reinterpret_cast<uintptr_t>(&d.local_win), 16,
                   "inline cas origin+compare: in the descriptor");
    expect_operand(p.result, OV_AT_INLINE, 0, 0, 8, "inline cas result: for the completion");
    expect_operand(p.target, OV_AT_REGION, 11, 8192, 8, "inline cas target");

    ASSERT_EQ(ov_validate(lock(OV_OP_LOCK, 4, 1, 77, EXCL), ME, w, ov_limits{}, &p), OV_OK);
    EXPECT_EQ(p.op, OV_OP_LOCK);
    EXPECT_EQ(p.lock_win, 4u);
    EXPECT_EQ(p.lock_slot, 77u);
    EXPECT_TRUE(p.exclusive);
    expect_operand(p.target, OV_AT_NONE, 0, 0, 0, "lock target");
}

TEST(Validate, LimitIsConfigurable)
{
    Wins w;
    ov_limits lim;
    lim.max_length = 64;
    ov_copy_plan p;
    EXPECT_EQ(ov_validate(put(2, 3, 0, 64), ME, w, lim, &p), OV_OK);
    EXPECT_EQ(ov_validate(put(2, 3, 0, 72), ME, w, lim, &p), OV_ERR_TOO_LARGE);
    /* locks have no length */
    ov_req_desc d = lock(OV_OP_LOCK, 2, 3, 0);
    d.length = 1000;
    EXPECT_EQ(ov_validate(d, ME, w, lim, &p), OV_OK);
}
