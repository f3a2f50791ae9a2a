/*
 * test_validate.cc — every validation outcome of a request descriptor.
 */
#include <gtest/gtest.h>

#include <map>

#include "validate.h"

namespace {
const uint64_t JOB = 7, OTHER_JOB = 8;
/* proc 1 (rank 0) owns windows 1 (local, 4 KiB) and 2 (target, 1 KiB);
 * proc 2 (rank 1) owns window 3 (1 KiB), granted to rank 0 with READ only;
 * proc 4 (rank 0 of another job) owns window 5. */
class Wins : public ov_win_lookup {
public:
    std::map<uint32_t, ov_win_info> w;
    std::map<std::pair<uint32_t, uint32_t>, uint32_t> g; /* (win, rank) -> perms */
    Wins()
    {
        w[1] = {1, 1, 1, JOB, 10, 4096, 4096};
        w[2] = {2, 3, 1, JOB, 10, 8192, 1024};
        w[3] = {3, 1, 2, JOB, 11, 4096, 1024};
        w[4] = {4, 1, 2, JOB, 11, 8192, 1024};
        w[5] = {5, 1, 4, OTHER_JOB, 12, 4096, 1024};
        g[{3, 0}] = OV_PERM_READ;
        g[{4, 0}] = OV_PERM_READ | OV_PERM_WRITE;
        g[{5, 0}] = OV_PERM_READ | OV_PERM_WRITE; /* a grant across jobs must not count */
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
const ov_requester ME{1, JOB, 0};

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
} // namespace

struct Case {
    const char *name;
    ov_req_desc d;
    ov_status_t want;
};

static std::vector<Case> cases()
{
    std::vector<Case> v;
    auto add = [&](const char *n, ov_req_desc d, ov_status_t s) { v.push_back({n, d, s}); };
    ov_req_desc d;
    add("put own window", put(2, 3, 0, 1024), OV_OK);
    add("put granted rw window", put(4, 1, 0, 8), OV_OK);
    d = put(3, 1, 0, 8); d.op = OV_OP_GET;
    add("get granted read window", d, OV_OK);
    add("zero-length put", put(2, 3, 1024, 0), OV_OK);
    d = ov_req_desc{}; d.op = OV_OP_NOP; d.target_win = 12345; d.length = UINT64_MAX;
    add("nop ignores other fields", d, OV_OK);
    d = put(2, 3, 0, 8); d.result_off = 1;
    add("reserved nonzero", d, OV_ERR_BAD_FLAGS);
    d = put(2, 3, 0, 8); d.flags = 0x8000;
    add("unknown flag", d, OV_ERR_BAD_FLAGS);
    d = ov_req_desc{}; d.op = OV_OP_NOP; d.flags = 1;
    add("nop with flags", d, OV_ERR_BAD_FLAGS);
    d = put(2, 3, 0, 8); d.op = OV_OP_MAX;
    add("op past the end", d, OV_ERR_BAD_OP);
    d.op = 0xffff;
    add("op 0xffff", d, OV_ERR_BAD_OP);
    d = put(2, 3, 0, 8); d.dtype_size = 0;
    add("dtype 0", d, OV_ERR_BAD_DTYPE);
    d.dtype_size = 3;
    add("dtype 3", d, OV_ERR_BAD_DTYPE);
    d.dtype_size = 32;
    add("dtype 32", d, OV_ERR_BAD_DTYPE);
    d = put(2, 3, 0, 12); d.dtype_size = 8;
    add("length not multiple of dtype", d, OV_ERR_BAD_DTYPE);
    d = put(2, 3, 0, (uint64_t(16) << 20) + 16);
    add("longer than the limit", d, OV_ERR_TOO_LARGE);
    add("no such window", put(99, 1, 0, 8), OV_ERR_NO_WINDOW);
    add("window id 0", put(0, 0, 0, 8), OV_ERR_NO_WINDOW);
    add("stale epoch", put(2, 2, 0, 8), OV_ERR_STALE_WINDOW);
    add("other job even with a grant", put(5, 1, 0, 8), OV_ERR_NO_GRANT);
    add("put into a read-only grant", put(3, 1, 0, 8), OV_ERR_PERM);
    add("past the end", put(2, 3, 1, 1024), OV_ERR_BOUNDS);
    add("offset beyond size", put(2, 3, 1025, 0), OV_ERR_BOUNDS);
    add("offset+length overflows", put(2, 3, UINT64_MAX - 3, 8), OV_ERR_BOUNDS);
    add("huge offset", put(2, 3, UINT64_MAX, 1), OV_ERR_BOUNDS);
    d = put(2, 3, 0, 8); d.local_win = 3; d.local_epoch = 1;
    add("local window not owned", d, OV_ERR_LOCAL_ACCESS);
    d = put(2, 3, 0, 8); d.local_epoch = 2;
    add("local epoch stale", d, OV_ERR_LOCAL_ACCESS);
    d = put(2, 3, 0, 8); d.local_win = 77;
    add("local window missing", d, OV_ERR_LOCAL_ACCESS);
    d = put(2, 3, 0, 8); d.local_off = 4090;
    add("local past the end", d, OV_ERR_BOUNDS);
    d = put(2, 3, 0, 8); d.local_off = UINT64_MAX - 2;
    add("local overflow", d, OV_ERR_BOUNDS);
    return v;
}

TEST(Validate, Table)
{
    Wins w;
    ov_limits lim;
    for (const Case &c : cases()) {
        ov_copy_plan plan{};
        plan.len = 0xdead;
        ov_status_t s = ov_validate(c.d, ME, w, lim, &plan);
        EXPECT_EQ(s, c.want) << c.name << ": got " << ov_strerror(s);
        if (s != OV_OK) {
            EXPECT_EQ(plan.len, 0xdeadu) << c.name << ": plan written on error";
        }
    }
}

TEST(Validate, NoGrantWithoutAnyGrant)
{
    Wins w;
    w.g.clear();
    ov_copy_plan plan;
    EXPECT_EQ(ov_validate(put(4, 1, 0, 8), ME, w, ov_limits{}, &plan), OV_ERR_NO_GRANT);
}

TEST(Validate, PlanPointsInsideWindows)
{
    Wins w;
    ov_copy_plan p;
    ov_req_desc d = put(4, 1, 100, 16);
    d.local_off = 200;
    ASSERT_EQ(ov_validate(d, ME, w, ov_limits{}, &p), OV_OK);
    EXPECT_EQ(p.src_region, 10u);
    EXPECT_EQ(p.src_off, 4096u + 200);
    EXPECT_EQ(p.dst_region, 11u);
    EXPECT_EQ(p.dst_off, 8192u + 100);
    d.op = OV_OP_GET;
    ASSERT_EQ(ov_validate(d, ME, w, ov_limits{}, &p), OV_OK);
    EXPECT_EQ(p.src_region, 11u);
    EXPECT_EQ(p.dst_off, 4096u + 200);
}

TEST(Validate, LimitIsConfigurable)
{
    Wins w;
    ov_limits lim;
    lim.max_length = 64;
    ov_copy_plan p;
    EXPECT_EQ(ov_validate(put(2, 3, 0, 64), ME, w, lim, &p), OV_OK);
    EXPECT_EQ(ov_validate(put(2, 3, 0, 72), ME, w, lim, &p), OV_ERR_TOO_LARGE);
}
