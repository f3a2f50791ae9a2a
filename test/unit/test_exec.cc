/*
 * test_exec.cc — the executor (backend/exec.h) on fake memory: every op over
 * regions and over caller memory, overlap rules, failure atomicity when the
 * caller's memory is refused, and plans outside their region.
 */
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "exec.h"
#include "ov_acc.h"

namespace {
/* Regions 1 and 2 (4 KiB each); the caller owns [CALLER, +4 KiB); process
 * OWNER_PROC (a registered window's owner) has [OWNER, +4 KiB). */
const uint64_t CALLER = 0x10000, OWNER = 0x20000;
const uint32_t OWNER_PROC = 7;
class Env : public ov_exec_env {
public:
    std::vector<char> r1 = std::vector<char>(4096), r2 = std::vector<char>(4096), caller = std::vector<char>(4096);
    std::vector<char> owner = std::vector<char>(4096);
    int caller_calls = 0, owner_reads = 0, owner_writes = 0;
    bool owner_gone = false;
    char *region_span(uint32_t region, uint64_t off, uint64_t len) override
    {
        std::vector<char> *r = region == 1 ? &r1 : region == 2 ? &r2 : nullptr;
        if (!r || off > r->size() || len > r->size() - off)
            return nullptr;
        return r->data() + off;
    }
    bool in_caller(uint64_t a, uint64_t len) const
    {
        return a >= CALLER && a - CALLER <= caller.size() && len <= caller.size() - (a - CALLER);
    }
    ov_status_t caller_read(uint64_t a, void *dst, uint64_t len) override
    {
        caller_calls++;
        if (!in_caller(a, len))
            return OV_ERR_LOCAL_ACCESS;
        memcpy(dst, caller.data() + (a - CALLER), len);
        return OV_OK;
    }
    ov_status_t caller_write(uint64_t a, const void *src, uint64_t len) override
    {
        caller_calls++;
        if (!in_caller(a, len))
            return OV_ERR_LOCAL_ACCESS;
        memcpy(caller.data() + (a - CALLER), src, len);
        return OV_OK;
    }
    ov_status_t proc_read(uint32_t proc, uint64_t a, void *dst, uint64_t len) override
    {
        owner_reads++;
        if (owner_gone)
            return OV_ERR_STALE_WINDOW;
        if (proc != OWNER_PROC || a < OWNER || a - OWNER > owner.size() || len > owner.size() - (a - OWNER))
            return OV_ERR_LOCAL_ACCESS;
        memcpy(dst, owner.data() + (a - OWNER), len);
        return OV_OK;
    }
    ov_status_t proc_write(uint32_t proc, uint64_t a, const void *src, uint64_t len) override
    {
        owner_writes++;
        if (proc != OWNER_PROC || a < OWNER || a - OWNER > owner.size() || len > owner.size() - (a - OWNER))
            return OV_ERR_LOCAL_ACCESS;
        memcpy(owner.data() + (a - OWNER), src, len);
        return OV_OK;
    }
    int32_t *i32(std::vector<char> &v, uint64_t off) { return reinterpret_cast<int32_t *>(v.data() + off); }
};

ov_operand reg(uint32_t r, uint64_t off, uint64_t len) { return {OV_AT_REGION, r, off, len}; }
ov_operand at_caller(uint64_t a, uint64_t len) { return {OV_AT_CALLER, 0, a, len}; }
ov_operand at_owner(uint64_t a, uint64_t len) { return {OV_AT_PROC, OWNER_PROC, a, len}; }

ov_copy_plan plan(uint16_t op, uint64_t len, ov_operand target, ov_operand origin, ov_operand result,
                  uint8_t acc_op = 0, uint8_t kind = OV_DT_BYTES, uint16_t size = 1)
{
    ov_copy_plan p{};
    p.op = op;
    p.len = len;
    p.target = target;
    p.origin = origin;
    p.result = result;
    p.acc_op = acc_op;
    p.dtype_kind = kind;
    p.dtype_size = size;
    return p;
}

struct Exec1 {
    ov_lock_table locks;
    ov_exec_scratch s;
    uint64_t moved = 0;
    ov_status_t operator()(const ov_copy_plan &p, Env &e, uint32_t proc = 1)
    {
        return ov_execute(p, proc, e, locks, s, &moved);
    }
};
const ov_operand NONE{};
} // namespace

TEST(Exec, PutGetBetweenRegionsAndOverlap)
{
    Env e;
    Exec1 run;
    strcpy(e.r1.data() + 10, "hello");
    ASSERT_EQ(run(plan(OV_OP_PUT, 6, reg(2, 100, 6), reg(1, 10, 6), NONE), e), OV_OK);
    EXPECT_STREQ(e.r2.data() + 100, "hello");
    EXPECT_EQ(run.moved, 6u);
    ASSERT_EQ(run(plan(OV_OP_GET, 6, reg(2, 100, 6), NONE, reg(1, 200, 6)), e), OV_OK);
    EXPECT_STREQ(e.r1.data() + 200, "hello");
    /* overlapping ranges of one region: memmove */
    ASSERT_EQ(run(plan(OV_OP_PUT, 6, reg(1, 12, 6), reg(1, 10, 6), NONE), e), OV_OK);
    EXPECT_STREQ(e.r1.data() + 10, "hehello");
    EXPECT_EQ(run.s.origin.size(), 0u) << "a region PUT needs no staging";
}

TEST(Exec, StreamedPutWritesTheSameBytes)
{
    /* OV_REQ_STREAM changes how the target is written, never what: region to
     * region (streamed), overlapping (memmove, not streamed), and into a
     * registered window's bytes (a copy, not streamed). */
    Env e;
    Exec1 run;
    for (size_t i = 0; i < e.r1.size(); i++)
        e.r1[i] = char(i * 7 + 3);
    ov_copy_plan p = plan(OV_OP_PUT, 3001, reg(2, 17, 3001), reg(1, 5, 3001), NONE);
    p.stream = true;
    ASSERT_EQ(run(p, e), OV_OK);
    EXPECT_EQ(run.moved, 3001u);
    EXPECT_EQ(memcmp(e.r2.data() + 17, e.r1.data() + 5, 3001), 0);
    EXPECT_EQ(e.r2[16], 0) << "nothing before the range";
    EXPECT_EQ(e.r2[17 + 3001], 0) << "nothing after it";

    strcpy(e.r1.data() + 10, "hello");
    p = plan(OV_OP_PUT, 6, reg(1, 12, 6), reg(1, 10, 6), NONE);
    p.stream = true;
    ASSERT_EQ(run(p, e), OV_OK);
    EXPECT_STREQ(e.r1.data() + 10, "hehello") << "overlap keeps memmove semantics";

    p = plan(OV_OP_PUT, 6, at_owner(OWNER + 40, 6), reg(1, 12, 6), NONE);
    p.stream = true;
    ASSERT_EQ(run(p, e), OV_OK);
    EXPECT_STREQ(e.owner.data() + 40, "hello");
}

TEST(Exec, AccumulateAndGetAccumulate)
{
    Env e;
    Exec1 run;
    for (int i = 0; i < 8; i++) {
        *e.i32(e.r2, 4 * i) = 100 + i;
        *e.i32(e.r1, 64 + 4 * i) = i;
    }
    ov_copy_plan p = plan(OV_OP_ACC, 32, reg(2, 0, 32), reg(1, 64, 32), NONE, OV_ACC_SUM, OV_DT_INT, 4);
    ASSERT_EQ(run(p, e), OV_OK);
    EXPECT_EQ(run.moved, 32u);
    EXPECT_EQ(*e.i32(e.r2, 28), 114);
    p = plan(OV_OP_GET_ACC, 32, reg(2, 0, 32), reg(1, 64, 32), reg(1, 512, 32), OV_ACC_PROD, OV_DT_INT, 4);
    ASSERT_EQ(run(p, e), OV_OK);
    EXPECT_EQ(*e.i32(e.r1, 512 + 28), 114); /* old */
    EXPECT_EQ(*e.i32(e.r2, 28), 114 * 7);   /* new */
    /* fetch only: no origin, target unchanged */
    p = plan(OV_OP_GET_ACC, 8, reg(2, 24, 8), NONE, reg(1, 1000, 8), OV_ACC_NO_OP, OV_DT_INT, 4);
    ASSERT_EQ(run(p, e), OV_OK);
    EXPECT_EQ(*e.i32(e.r1, 1004), 114 * 7);
    EXPECT_EQ(run.moved, 8u);
    p = plan(OV_OP_ACC, 8, reg(2, 24, 8), NONE, NONE, OV_ACC_NO_OP, OV_DT_INT, 4);
    ASSERT_EQ(run(p, e), OV_OK);
    EXPECT_EQ(run.moved, 0u);
    EXPECT_EQ(*e.i32(e.r2, 28), 114 * 7);
}

TEST(Exec, AccumulateOverlapReadsOriginFirst)
{
    Env e;
    Exec1 run;
    for (int i = 0; i < 8; i++)
        *e.i32(e.r1, 4 * i) = 1 << i;
    /* target [4, 36) += origin [0, 32): as if origin was read before any write */
    ov_copy_plan p = plan(OV_OP_ACC, 32, reg(1, 4, 32), reg(1, 0, 32), NONE, OV_ACC_SUM, OV_DT_INT, 4);
    ASSERT_EQ(run(p, e), OV_OK);
    for (int i = 1; i < 8; i++)
        EXPECT_EQ(*e.i32(e.r1, 4 * i), (1 << i) + (1 << (i - 1))) << i;
    EXPECT_EQ(*e.i32(e.r1, 32), 128); /* 0 + origin[7] */
    /* origin exactly the target: doubling in place */
    p = plan(OV_OP_ACC, 8, reg(1, 100, 8), reg(1, 100, 8), NONE, OV_ACC_SUM, OV_DT_INT, 4);
    *e.i32(e.r1, 100) = 21;
    ASSERT_EQ(run(p, e), OV_OK);
    EXPECT_EQ(*e.i32(e.r1, 100), 42);
    /* result overlapping target: result gets the old values, and wins */
    for (int i = 0; i < 4; i++)
        *e.i32(e.r2, 4 * i) = 10 * (i + 1); /* 10 20 30 40 */
    for (int i = 0; i < 4; i++)
        *e.i32(e.r2, 100 + 4 * i) = 1;
    p = plan(OV_OP_GET_ACC, 12, reg(2, 0, 12), reg(2, 100, 12), reg(2, 4, 12), OV_ACC_SUM, OV_DT_INT, 4);
    ASSERT_EQ(run(p, e), OV_OK);
    EXPECT_EQ(*e.i32(e.r2, 0), 11);
    EXPECT_EQ(*e.i32(e.r2, 4), 10);
    EXPECT_EQ(*e.i32(e.r2, 8), 20);
    EXPECT_EQ(*e.i32(e.r2, 12), 30);
    /* origin overlapping the result (not the target): origin read first */
    for (int i = 0; i < 4; i++)
        *e.i32(e.r2, 200 + 4 * i) = 5;
    *e.i32(e.r2, 300) = 1;
    *e.i32(e.r2, 304) = 2;
    p = plan(OV_OP_GET_ACC, 8, reg(2, 200, 8), reg(2, 300, 8), reg(2, 304, 8), OV_ACC_SUM, OV_DT_INT, 4);
    ASSERT_EQ(run(p, e), OV_OK);
    EXPECT_EQ(*e.i32(e.r2, 200), 6);
    EXPECT_EQ(*e.i32(e.r2, 204), 7);
    EXPECT_EQ(*e.i32(e.r2, 304), 5);
    EXPECT_EQ(*e.i32(e.r2, 308), 5);
}

TEST(Exec, CompareAndSwap)
{
    Env e;
    Exec1 run;
    uint64_t v = 7, want = 7, nv = 99;
    memcpy(e.r2.data() + 8, &v, 8);
    memcpy(e.r1.data() + 0, &nv, 8);
    memcpy(e.r1.data() + 8, &want, 8);
    ov_copy_plan p = plan(OV_OP_CAS, 8, reg(2, 8, 8), reg(1, 0, 16), reg(1, 64, 8), 0, OV_DT_UINT, 8);
    ASSERT_EQ(run(p, e), OV_OK);
    EXPECT_EQ(run.moved, 8u);
    uint64_t got, old;
    memcpy(&got, e.r2.data() + 8, 8);
    memcpy(&old, e.r1.data() + 64, 8);
    EXPECT_EQ(got, 99u);
    EXPECT_EQ(old, 7u);
    ASSERT_EQ(run(p, e), OV_OK); /* compare 7 no longer matches */
    memcpy(&got, e.r2.data() + 8, 8);
    memcpy(&old, e.r1.data() + 64, 8);
    EXPECT_EQ(got, 99u);
    EXPECT_EQ(old, 99u);
}

TEST(Exec, CallerMemory)
{
    Env e;
    Exec1 run;
    strcpy(e.caller.data() + 16, "from the caller");
    ASSERT_EQ(run(plan(OV_OP_PUT, 16, reg(2, 0, 16), at_caller(CALLER + 16, 16), NONE), e), OV_OK);
    EXPECT_STREQ(e.r2.data(), "from the caller");
    EXPECT_EQ(run.s.origin.size(), 0u) << "PUT from the caller is single copy";
    ASSERT_EQ(run(plan(OV_OP_GET, 16, reg(2, 0, 16), NONE, at_caller(CALLER + 100, 16)), e), OV_OK);
    EXPECT_STREQ(e.caller.data() + 100, "from the caller");
    *e.i32(e.r2, 64) = 5;
    *e.i32(e.caller, 200) = 3;
    ov_copy_plan p = plan(OV_OP_GET_ACC, 4, reg(2, 64, 4), at_caller(CALLER + 200, 4), at_caller(CALLER + 204, 4),
                          OV_ACC_MAX, OV_DT_INT, 4);
    ASSERT_EQ(run(p, e), OV_OK);
    EXPECT_EQ(*e.i32(e.caller, 204), 5);
    EXPECT_EQ(*e.i32(e.r2, 64), 5);
    *e.i32(e.caller, 200) = 9;
    p.op = OV_OP_ACC;
    p.result = NONE;
    ASSERT_EQ(run(p, e), OV_OK);
    EXPECT_EQ(*e.i32(e.r2, 64), 9);
    /* CAS: origin 9 -> 1 when target == compare 9 */
    *e.i32(e.caller, 300) = 1;
    *e.i32(e.caller, 304) = 9;
    p = plan(OV_OP_CAS, 4, reg(2, 64, 4), at_caller(CALLER + 300, 8), at_caller(CALLER + 400, 4), 0, OV_DT_INT, 4);
    ASSERT_EQ(run(p, e), OV_OK);
    EXPECT_EQ(*e.i32(e.r2, 64), 1);
    EXPECT_EQ(*e.i32(e.caller, 400), 9);
}

TEST(Exec, RefusedCallerMemoryLeavesTheTargetAlone)
{
    Env e;
    Exec1 run;
    const uint64_t BAD = 0x999999;
    *e.i32(e.r2, 0) = 42;
    ov_copy_plan p = plan(OV_OP_ACC, 4, reg(2, 0, 4), at_caller(BAD, 4), NONE, OV_ACC_SUM, OV_DT_INT, 4);
    EXPECT_EQ(run(p, e), OV_ERR_LOCAL_ACCESS);
    EXPECT_EQ(run.moved, 0u);
    p = plan(OV_OP_GET_ACC, 4, reg(2, 0, 4), at_caller(CALLER, 4), at_caller(BAD, 4), OV_ACC_SUM, OV_DT_INT, 4);
    *e.i32(e.caller, 0) = 1;
    EXPECT_EQ(run(p, e), OV_ERR_LOCAL_ACCESS); /* the old value cannot be delivered */
    p = plan(OV_OP_CAS, 4, reg(2, 0, 4), at_caller(CALLER, 8), at_caller(BAD, 4), 0, OV_DT_INT, 4);
    *e.i32(e.caller, 4) = 42; /* compare matches */
    EXPECT_EQ(run(p, e), OV_ERR_LOCAL_ACCESS);
    p = plan(OV_OP_CAS, 4, reg(2, 0, 4), at_caller(CALLER + 4094, 8), at_caller(CALLER, 4), 0, OV_DT_INT, 4);
    EXPECT_EQ(run(p, e), OV_ERR_LOCAL_ACCESS); /* compare half outside */
    EXPECT_EQ(*e.i32(e.r2, 0), 42);
    EXPECT_EQ(run(plan(OV_OP_GET, 4, reg(2, 0, 4), NONE, at_caller(BAD, 4)), e), OV_ERR_LOCAL_ACCESS);
    EXPECT_EQ(run(plan(OV_OP_PUT, 4, reg(2, 0, 4), at_caller(BAD, 4), NONE), e), OV_ERR_LOCAL_ACCESS);
    EXPECT_EQ(*e.i32(e.r2, 0), 42);
}

TEST(Exec, PlansOutsideARegionTouchNothing)
{
    Env e;
    Exec1 run;
    memset(e.r1.data(), 1, 4096);
    memset(e.r2.data(), 2, 4096);
    memset(e.r2.data() + 100, 9, 8); /* a CAS origin that differs; its compare (2s) matches */
    std::vector<char> r1 = e.r1, r2 = e.r2;
    const ov_copy_plan bad[] = {
        plan(OV_OP_PUT, 16, reg(2, 4090, 16), reg(1, 0, 16), NONE),
        plan(OV_OP_PUT, 16, reg(2, 0, 16), reg(3, 0, 16), NONE),
        plan(OV_OP_GET, 16, reg(2, 0, 16), NONE, reg(1, UINT64_MAX - 4, 16)),
        plan(OV_OP_ACC, 16, reg(2, 0, 16), reg(1, 4095, 16), NONE, OV_ACC_SUM, OV_DT_INT, 4),
        plan(OV_OP_GET_ACC, 16, reg(2, 0, 16), reg(1, 0, 16), reg(1, 4094, 16), OV_ACC_SUM, OV_DT_INT, 4),
        plan(OV_OP_CAS, 8, reg(2, 0, 8), reg(1, 4090, 16), reg(1, 0, 8), 0, OV_DT_INT, 8),
        plan(OV_OP_CAS, 8, reg(2, 0, 8), reg(2, 100, 16), reg(1, 4092, 8), 0, OV_DT_INT, 8), /* would swap */
    };
    for (const auto &p : bad)
        EXPECT_EQ(run(p, e), OV_ERR_BOUNDS) << "op " << p.op;
    EXPECT_EQ(e.r1, r1);
    EXPECT_EQ(e.r2, r2);
    EXPECT_EQ(e.caller_calls, 0);
}

TEST(Exec, ZeroLengthTouchesNothing)
{
    Env e;
    Exec1 run;
    const ov_copy_plan zero[] = {
        plan(OV_OP_PUT, 0, reg(2, 4096, 0), at_caller(0, 0), NONE),
        plan(OV_OP_GET, 0, reg(2, 0, 0), NONE, at_caller(0, 0)),
        plan(OV_OP_ACC, 0, reg(2, 8, 0), at_caller(0, 0), NONE, OV_ACC_SUM, OV_DT_INT, 4),
        plan(OV_OP_GET_ACC, 0, reg(2, 8, 0), at_caller(0, 0), at_caller(0, 0), OV_ACC_SUM, OV_DT_INT, 4),
        plan(OV_OP_GET_ACC, 0, reg(2, 8, 0), reg(1, 0, 0), reg(1, 8, 0), OV_ACC_SUM, OV_DT_INT, 4),
    };
    for (const auto &p : zero) {
        EXPECT_EQ(run(p, e), OV_OK) << "op " << p.op;
        EXPECT_EQ(run.moved, 0u);
    }
    EXPECT_EQ(e.caller_calls, 0);
    EXPECT_EQ(run.s.origin.size() + run.s.old.size(), 0u);
    EXPECT_EQ(run(plan(OV_OP_PUT, 0, reg(2, 4097, 0), NONE, NONE), e), OV_ERR_BOUNDS);
}

TEST(Exec, RegisteredTargetWindows)
{
    Env e;
    Exec1 run;
    strcpy(e.r1.data(), "into the owner");
    ASSERT_EQ(run(plan(OV_OP_PUT, 15, at_owner(OWNER + 100, 15), reg(1, 0, 15), NONE), e), OV_OK);
    EXPECT_STREQ(e.owner.data() + 100, "into the owner");
    EXPECT_EQ(e.owner_reads, 0) << "a PUT needs no old bytes";
    EXPECT_EQ(run.moved, 15u);
    ASSERT_EQ(run(plan(OV_OP_GET, 15, at_owner(OWNER + 100, 15), NONE, at_caller(CALLER + 8, 15)), e), OV_OK);
    EXPECT_STREQ(e.caller.data() + 8, "into the owner");
    *e.i32(e.owner, 0) = 40;
    *e.i32(e.r1, 64) = 2;
    ov_copy_plan p = plan(OV_OP_GET_ACC, 4, at_owner(OWNER, 4), reg(1, 64, 4), reg(1, 128, 4), OV_ACC_SUM, OV_DT_INT, 4);
    ASSERT_EQ(run(p, e), OV_OK);
    EXPECT_EQ(*e.i32(e.owner, 0), 42);
    EXPECT_EQ(*e.i32(e.r1, 128), 40);
    int writes = e.owner_writes;
    p.acc_op = OV_ACC_NO_OP; /* fetch only: nothing written back */
    p.origin = NONE;
    ASSERT_EQ(run(p, e), OV_OK);
    EXPECT_EQ(*e.i32(e.r1, 128), 42);
    EXPECT_EQ(e.owner_writes, writes);
    *e.i32(e.r1, 200) = 7;  /* CAS origin */
    *e.i32(e.r1, 204) = 41; /* compare: no match, nothing written back */
    p = plan(OV_OP_CAS, 4, at_owner(OWNER, 4), reg(1, 200, 8), reg(1, 300, 4), 0, OV_DT_INT, 4);
    ASSERT_EQ(run(p, e), OV_OK);
    EXPECT_EQ(e.owner_writes, writes);
    EXPECT_EQ(*e.i32(e.r1, 300), 42);
    *e.i32(e.r1, 204) = 42;
    ASSERT_EQ(run(p, e), OV_OK);
    EXPECT_EQ(*e.i32(e.owner, 0), 7);
    EXPECT_EQ(e.owner_writes, writes + 1);
    /* owner memory gone (unmapped by its owner): OV_ERR_BOUNDS, nothing else touched */
    std::vector<char> caller = e.caller, r1 = e.r1;
    EXPECT_EQ(run(plan(OV_OP_GET, 8, at_owner(OWNER + 4092, 8), NONE, at_caller(CALLER, 8)), e), OV_ERR_BOUNDS);
    EXPECT_EQ(run(plan(OV_OP_PUT, 8, at_owner(OWNER + 4092, 8), reg(1, 0, 8), NONE), e), OV_ERR_BOUNDS);
    EXPECT_EQ(run.moved, 0u);
    p = plan(OV_OP_ACC, 8, at_owner(0x999000, 8), at_caller(CALLER, 8), NONE, OV_ACC_SUM, OV_DT_INT, 4);
    EXPECT_EQ(run(p, e), OV_ERR_BOUNDS);
    EXPECT_EQ(e.caller, caller);
    EXPECT_EQ(e.r1, r1);
    int calls = e.owner_reads + e.owner_writes;
    EXPECT_EQ(run(plan(OV_OP_PUT, 0, at_owner(OWNER, 0), reg(1, 0, 0), NONE), e), OV_OK);
    EXPECT_EQ(e.owner_reads + e.owner_writes, calls) << "zero length touches nothing";
    e.owner_gone = true; /* exited, not yet released: the window is stale, not out of range */
    EXPECT_EQ(run(plan(OV_OP_GET, 8, at_owner(OWNER, 8), NONE, reg(1, 0, 8)), e), OV_ERR_STALE_WINDOW);
}

TEST(Exec, LocksGoThroughTheTable)
{
    Env e;
    Exec1 run;
    ov_copy_plan p{};
    p.op = OV_OP_LOCK;
    p.lock_win = 3;
    p.lock_slot = 9;
    p.exclusive = true;
    EXPECT_EQ(run(p, e, 1), OV_OK);
    EXPECT_EQ(run(p, e, 2), OV_ERR_LOCK_BUSY);
    EXPECT_EQ(run(p, e, 1), OV_ERR_LOCK_STATE);
    p.op = OV_OP_UNLOCK;
    EXPECT_EQ(run(p, e, 2), OV_ERR_LOCK_STATE);
    EXPECT_EQ(run(p, e, 1), OV_OK);
    EXPECT_EQ(run.locks.holdings(), 0u);
    EXPECT_EQ(run.moved, 0u);
}

/* OV_REQ_INLINE: origin bytes from the descriptor, result bytes into the
 * scratch's inline_result; no region or caller access on the local side. */
TEST(Exec, InlineOperands)
{
    Env e;
    Exec1 run;
    unsigned char desc_bytes[16];
    const uint64_t a = 0x1122334455667788ull, cmp = 5;
    memcpy(desc_bytes, &a, 8);
    ov_operand origin{OV_AT_INLINE, 0, reinterpret_cast<uintptr_t>(desc_bytes), 8};
    ov_operand result{OV_AT_INLINE, 0, 0, 8};

    ASSERT_EQ(run(plan(OV_OP_PUT, 8, reg(2, 16, 8), origin, NONE), e), OV_OK);
    uint64_t got;
    memcpy(&got, e.r2.data() + 16, 8);
    EXPECT_EQ(got, a);
    EXPECT_EQ(run.moved, 8u);

    const uint64_t seven = 7;
    memcpy(e.r2.data() + 40, &seven, 8);
    ASSERT_EQ(run(plan(OV_OP_GET, 8, reg(2, 40, 8), NONE, result), e), OV_OK);
    memcpy(&got, run.s.inline_result, 8);
    EXPECT_EQ(got, 7u) << "get: the target bytes, for the completion";

    memcpy(desc_bytes, &seven, 8); /* fetch_and_op SUM 7 */
    ASSERT_EQ(run(plan(OV_OP_GET_ACC, 8, reg(2, 40, 8), origin, result, OV_ACC_SUM, OV_DT_INT, 8), e), OV_OK);
    memcpy(&got, run.s.inline_result, 8);
    EXPECT_EQ(got, 7u) << "the old value";
    memcpy(&got, e.r2.data() + 40, 8);
    EXPECT_EQ(got, 14u);

    const uint64_t nv = 99, want = 14; /* CAS: origin then compare */
    memcpy(desc_bytes, &nv, 8);
    memcpy(desc_bytes + 8, &want, 8);
    origin.len = 16;
    ASSERT_EQ(run(plan(OV_OP_CAS, 8, reg(2, 40, 8), origin, result, 0, OV_DT_UINT, 8), e), OV_OK);
    memcpy(&got, run.s.inline_result, 8);
    EXPECT_EQ(got, 14u);
    memcpy(&got, e.r2.data() + 40, 8);
    EXPECT_EQ(got, 99u);
    memcpy(desc_bytes + 8, &cmp, 8); /* compare 5: no swap */
    ASSERT_EQ(run(plan(OV_OP_CAS, 8, reg(2, 40, 8), origin, result, 0, OV_DT_UINT, 8), e), OV_OK);
    memcpy(&got, run.s.inline_result, 8);
    EXPECT_EQ(got, 99u);

    /* a registered target window (the owner's memory) */
    const uint64_t three = 3;
    memcpy(desc_bytes, &three, 8);
    origin.len = 8;
    ASSERT_EQ(run(plan(OV_OP_GET_ACC, 8, at_owner(OWNER + 8, 8), origin, result, OV_ACC_SUM, OV_DT_INT, 8), e),
              OV_OK);
    memcpy(&got, e.owner.data() + 8, 8);
    EXPECT_EQ(got, 3u);
    EXPECT_EQ(e.caller_calls, 0) << "inline operands never touch the caller's memory";

    ov_operand too_long{OV_AT_INLINE, 0, 0, 9};
    EXPECT_EQ(run(plan(OV_OP_GET, 9, reg(2, 40, 9), NONE, too_long), e), OV_ERR_TOO_LARGE)
        << "defence in depth: a result longer than inline_result";
}
