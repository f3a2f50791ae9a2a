/*
 * test_copy_crew.cc — the backend's copy crew (backend/copy_crew.h): every
 * byte of a split copy done exactly once, failures reported, helpers really
 * taking parts, no helpers = one call; and the executor's PUT/GET through a
 * crew (exec.h), including overlapping region operands, which must not be
 * split.
 */
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "copy_crew.h"
#include "exec.h"
#include "ov_acc.h"

namespace {

/* Counts how often each byte of [0, len) was covered, from any thread. */
struct Coverage {
    explicit Coverage(uint64_t len) : hits(len) {}
    std::vector<std::atomic<uint8_t>> hits;
    std::atomic<uint64_t> calls{0};
    uint64_t fail_off = UINT64_MAX; /* the part holding this byte fails */
    std::chrono::microseconds delay{0};
    static ov_status_t part(void *ctx, uint64_t off, uint64_t n)
    {
        auto *c = static_cast<Coverage *>(ctx);
        c->calls++;
        if (c->delay.count())
            std::this_thread::sleep_for(c->delay);
        for (uint64_t i = off; i < off + n; i++)
            c->hits[i]++;
        return c->fail_off >= off && c->fail_off - off < n ? OV_ERR_LOCAL_ACCESS : OV_OK;
    }
    bool each_once() const
    {
        for (const auto &h : hits)
            if (h.load() != 1)
                return false;
        return true;
    }
};

} // namespace

TEST(CopyCrew, NoHelpersIsOneCall)
{
    ov_copy_crew crew(0, 4096);
    Coverage c(10 * 4096 + 5);
    EXPECT_EQ(crew.run(c.hits.size(), Coverage::part, &c), OV_OK);
    EXPECT_EQ(c.calls.load(), 1u);
    EXPECT_TRUE(c.each_once());
}

TEST(CopyCrew, ShortCopiesAreNotSplit)
{
    ov_copy_crew crew(2, 4096);
    Coverage c(2 * 4096 - 1);
    EXPECT_EQ(crew.run(c.hits.size(), Coverage::part, &c), OV_OK);
    EXPECT_EQ(c.calls.load(), 1u);
    EXPECT_TRUE(c.each_once());
}

TEST(CopyCrew, EveryByteExactlyOnceOverManyRuns)
{
    ov_copy_crew crew(2, 4096, 20);
    for (int run = 0; run < 300; run++) {
        uint64_t len = 2 * 4096 + uint64_t(run) * 977; /* ragged last parts */
        Coverage c(len);
        ASSERT_EQ(crew.run(len, Coverage::part, &c), OV_OK) << "run " << run;
        ASSERT_GE(c.calls.load(), 2u) << "run " << run;  /* split ... */
        ASSERT_LE(c.calls.load(), 6u) << "run " << run;  /* ... in about two parts per thread */
        ASSERT_TRUE(c.each_once()) << "run " << run;
    }
}

TEST(CopyCrew, AFailingPartIsReportedAndTheOthersStillRun)
{
    ov_copy_crew crew(1, 4096);
    Coverage c(8 * 4096);
    c.fail_off = 3 * 4096;
    EXPECT_EQ(crew.run(c.hits.size(), Coverage::part, &c), OV_ERR_LOCAL_ACCESS);
    EXPECT_TRUE(c.each_once());
    Coverage ok(8 * 4096); /* the status does not stick to the next job */
    EXPECT_EQ(crew.run(ok.hits.size(), Coverage::part, &ok), OV_OK);
}

TEST(CopyCrew, HelpersTakeParts)
{
    /* Slow parts leave a helper time to wake; bounded by the run count. */
    ov_copy_crew crew(1, 4096);
    for (int run = 0; run < 50 && crew.helper_parts() == 0; run++) {
        Coverage c(16 * 4096);
        c.delay = std::chrono::microseconds(500);
        ASSERT_EQ(crew.run(c.hits.size(), Coverage::part, &c), OV_OK);
        ASSERT_TRUE(c.each_once());
    }
    EXPECT_GT(crew.helper_parts(), 0u);
}

TEST(CopyCrew, DestructorStopsSleepingHelpers)
{
    auto t0 = std::chrono::steady_clock::now();
    {
        ov_copy_crew crew(3, 4096, 0); /* spin 0: they sleep at once */
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

namespace {
/* Region 1 (64 KiB) and the caller's [CALLER, +64 KiB); thread-safe. */
const uint64_t CALLER = 0x100000, SZ = 64 << 10;
class CrewEnv : public ov_exec_env {
public:
    std::vector<char> r1 = std::vector<char>(SZ), caller = std::vector<char>(SZ);
    std::atomic<int> caller_calls{0}, spans{0};
    char *region_span(uint32_t region, uint64_t off, uint64_t len) override
    {
        spans++;
        if (region != 1 || off > SZ || len > SZ - off)
            return nullptr;
        return r1.data() + off;
    }
    ov_status_t caller_read(uint64_t a, void *dst, uint64_t len) override
    {
        caller_calls++;
        if (a < CALLER || a - CALLER > SZ || len > SZ - (a - CALLER))
            return OV_ERR_LOCAL_ACCESS;
        memcpy(dst, caller.data() + (a - CALLER), len);
        return OV_OK;
    }
    ov_status_t caller_write(uint64_t a, const void *src, uint64_t len) override
    {
        caller_calls++;
        if (a < CALLER || a - CALLER > SZ || len > SZ - (a - CALLER))
            return OV_ERR_LOCAL_ACCESS;
        memcpy(caller.data() + (a - CALLER), src, len);
        return OV_OK;
    }
    ov_status_t proc_read(uint32_t, uint64_t, void *, uint64_t) override { return OV_ERR_LOCAL_ACCESS; }
    ov_status_t proc_write(uint32_t, uint64_t, const void *, uint64_t) override { return OV_ERR_LOCAL_ACCESS; }
};

ov_copy_plan data_plan(uint16_t op, uint64_t len, ov_operand target, ov_operand other)
{
    ov_copy_plan p{};
    p.op = op;
    p.len = len;
    p.target = target;
    (op == OV_OP_PUT ? p.origin : p.result) = other;
    return p;
}

void fill(std::vector<char> &v, int seed)
{
    for (size_t i = 0; i < v.size(); i++)
        v[i] = char((i * 131 + size_t(seed)) >> 3);
}

/* The executor with a crew of `helpers` over CrewEnv. */
struct CrewExec {
    explicit CrewExec(unsigned helpers) : crew(helpers, 4096) { s.crew = &crew; }
    ov_status_t run(const ov_copy_plan &p) { return ov_execute(p, 1, env, locks, s, &moved); }
    ov_copy_crew crew;
    CrewEnv env;
    ov_exec_scratch s;
    ov_lock_table locks;
    uint64_t moved = 0;
};
/* A put or get of len bytes between target_off and other_off of region 1,
 * checked over the whole region against memmove on a copy of it. */
void expect_region_copy(CrewExec &x, uint16_t op, uint64_t len, uint64_t target_off,
                        uint64_t other_off, bool stream = false)
{
    std::vector<char> want = x.env.r1;
    if (op == OV_OP_PUT)
        memmove(want.data() + target_off, want.data() + other_off, len);
    else
        memmove(want.data() + other_off, want.data() + target_off, len);
    ov_copy_plan p = data_plan(op, len, {OV_AT_REGION, 1, target_off, len}, {OV_AT_REGION, 1, other_off, len});
    p.stream = stream;
    ASSERT_EQ(x.run(p), OV_OK);
    EXPECT_EQ(x.moved, len);
    EXPECT_EQ(memcmp(x.env.r1.data(), want.data(), SZ), 0);
}
} // namespace

TEST(CopyCrew, ExecutorPutAndGetOfCallerMemoryAreSplit)
{
    CrewExec x(1);
    CrewEnv &env = x.env;
    fill(env.caller, 1);
    ov_copy_plan put = data_plan(OV_OP_PUT, 40000, {OV_AT_REGION, 1, 1000, 40000}, {OV_AT_CALLER, 0, CALLER + 7, 40000});
    ASSERT_EQ(x.run(put), OV_OK);
    EXPECT_EQ(x.moved, 40000u);
    EXPECT_EQ(memcmp(env.r1.data() + 1000, env.caller.data() + 7, 40000), 0);
    EXPECT_GT(env.caller_calls.load(), 1); /* split: two parts per thread */
    EXPECT_LE(env.caller_calls.load(), 4);

    fill(env.r1, 2);
    ov_copy_plan get = data_plan(OV_OP_GET, 50000, {OV_AT_REGION, 1, 3, 50000}, {OV_AT_CALLER, 0, CALLER + 100, 50000});
    ASSERT_EQ(x.run(get), OV_OK);
    EXPECT_EQ(memcmp(env.caller.data() + 100, env.r1.data() + 3, 50000), 0);

    /* a refused caller range fails the request */
    ov_copy_plan bad = data_plan(OV_OP_PUT, 40000, {OV_AT_REGION, 1, 0, 40000}, {OV_AT_CALLER, 0, CALLER + SZ - 100, 40000});
    EXPECT_EQ(x.run(bad), OV_ERR_LOCAL_ACCESS);
}

TEST(CopyCrew, StreamedRegionPutIsSplitToo)
{
    /* Each part fences its own streaming stores; together they are the copy. */
    CrewExec x(2);
    fill(x.env.r1, 3);
    expect_region_copy(x, OV_OP_PUT, 20000, 40001, 3, true);
}

TEST(CopyCrew, OverlappingRegionOperandsAreNotSplit)
{
    /* memmove semantics: parts copied in parallel would read bytes another
     * part already overwrote */
    CrewExec x(2);
    CrewEnv &env = x.env;
    fill(env.r1, 3);
    std::vector<char> want(env.r1.begin(), env.r1.begin() + 40000);
    ov_copy_plan put = data_plan(OV_OP_PUT, 40000, {OV_AT_REGION, 1, 5000, 40000}, {OV_AT_REGION, 1, 0, 40000});
    ASSERT_EQ(x.run(put), OV_OK);
    EXPECT_EQ(memcmp(env.r1.data() + 5000, want.data(), want.size()), 0);

    /* disjoint region operands: split, same result */
    fill(env.r1, 4);
    std::vector<char> src(env.r1.begin(), env.r1.begin() + 20000);
    ov_copy_plan put2 = data_plan(OV_OP_PUT, 20000, {OV_AT_REGION, 1, 30000, 20000}, {OV_AT_REGION, 1, 0, 20000});
    ASSERT_EQ(x.run(put2), OV_OK);
    EXPECT_EQ(memcmp(env.r1.data() + 30000, src.data(), src.size()), 0);
}

/* A put or get between regions too small to split (the 8-byte put of a
 * latency test) is copied where it is validated: one span lookup per
 * operand, no crew round.  It resolved the origin twice before. */
TEST(CopyCrew, SmallRegionCopiesLookUpEachOperandOnce)
{
    CrewExec x(1);
    fill(x.env.r1, 5);
    expect_region_copy(x, OV_OP_PUT, 8, 9000, 64);
    EXPECT_EQ(x.env.spans.load(), 2);
    x.env.spans = 0;
    expect_region_copy(x, OV_OP_GET, 4000, 12000, 200);
    EXPECT_EQ(x.env.spans.load(), 2);
    EXPECT_EQ(x.crew.helper_parts(), 0u);
    /* large enough to split: still the same bytes */
    expect_region_copy(x, OV_OP_GET, 16384, 0, 20000);
}

namespace {
ov_copy_plan acc_plan(uint16_t op, uint64_t len, uint64_t target_off, uint64_t origin_off, uint64_t result_off)
{
    ov_copy_plan p{};
    p.op = op;
    p.len = len;
    p.acc_op = OV_ACC_SUM;
    p.dtype_kind = OV_DT_FLOAT;
    p.dtype_size = 8;
    p.target = {OV_AT_REGION, 1, target_off, len};
    p.origin = {OV_AT_REGION, 1, origin_off, len};
    if (op == OV_OP_GET_ACC)
        p.result = {OV_AT_REGION, 1, result_off, len};
    return p;
}
void fill_doubles(std::vector<char> &v)
{
    for (size_t i = 0; i + 8 <= v.size(); i += 8) {
        double d = double(i % 1000) * 0.25 + 1;
        memcpy(v.data() + i, &d, 8);
    }
}
} // namespace

/* A large accumulate is shared by the crew: every element summed exactly
 * once, the old bytes of GET_ACC fetched before their part changes them,
 * the same bytes as one thread computes (ragged last parts included); and
 * operands that overlap the target are computed in one piece. */
TEST(CopyCrew, ExecutorAccumulatesAreSplitByWholeElements)
{
    for (unsigned helpers : {0u, 2u}) {
        for (uint64_t len : {uint64_t(16384), uint64_t(20008), uint64_t(24000)}) {
            CrewExec x(helpers);
            fill_doubles(x.env.r1);
            std::vector<char> want = x.env.r1;
            ov_acc_apply(OV_ACC_SUM, OV_DT_FLOAT, 8, want.data() + 32768, want.data(), len / 8);
            ASSERT_EQ(x.run(acc_plan(OV_OP_ACC, len, 32768, 0, 0)), OV_OK);
            EXPECT_EQ(x.moved, len);
            EXPECT_EQ(memcmp(x.env.r1.data(), want.data(), SZ), 0) << helpers << " helpers, " << len;

            /* GET_ACC: origin, result and target apart (room for 20480 bytes each) */
            if (len > 20480)
                continue;
            fill_doubles(x.env.r1);
            want = x.env.r1;
            const uint64_t o = 0, r = 20480, t = 45056;
            memcpy(want.data() + r, want.data() + t, len);
            ov_acc_apply(OV_ACC_SUM, OV_DT_FLOAT, 8, want.data() + t, want.data() + o, len / 8);
            ASSERT_EQ(x.run(acc_plan(OV_OP_GET_ACC, len, t, o, r)), OV_OK);
            EXPECT_EQ(memcmp(x.env.r1.data(), want.data(), SZ), 0) << helpers << " helpers, GET_ACC";
        }
    }
    /* origin overlapping the target (not the same bytes): one piece, as
     * memmove would see it: the origin is snapshotted first */
    CrewExec x(2);
    fill_doubles(x.env.r1);
    std::vector<char> want = x.env.r1;
    std::vector<char> origin(want.begin() + 8192, want.begin() + 8192 + 20000);
    ov_acc_apply(OV_ACC_SUM, OV_DT_FLOAT, 8, want.data() + 16384, origin.data(), 20000 / 8);
    ASSERT_EQ(x.run(acc_plan(OV_OP_ACC, 20000, 16384, 8192, 0)), OV_OK);
    EXPECT_EQ(memcmp(x.env.r1.data(), want.data(), SZ), 0);
}
