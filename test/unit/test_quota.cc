/*
 * test_quota.cc — per-tenant accounting (backend/quota.h): each level's
 * limit is enforced and named, a refusal charges nothing, releases give
 * back, and the fd-limit clamp keeps every tenant at half the backend.
 */
#include <gtest/gtest.h>

#include "quota.h"

TEST(Quota, EachLevelRefusesAndNamesItsLimit)
{
    ov_quota_limits l;
    l.guest_procs = 2;
    l.job_procs = 3;
    l.procs = 4;
    ov_quota q(l);
    EXPECT_EQ(q.admit_proc("g1", 1), OV_LIMIT_NONE);
    EXPECT_EQ(q.admit_proc("g1", 1), OV_LIMIT_NONE);
    EXPECT_EQ(q.admit_proc("g1", 1), OV_LIMIT_GUEST_PROCS); /* guest first */
    EXPECT_EQ(q.admit_proc("g2", 1), OV_LIMIT_NONE);
    EXPECT_EQ(q.admit_proc("g2", 1), OV_LIMIT_JOB_PROCS);   /* job 1 holds 3 */
    EXPECT_EQ(q.admit_proc("g2", 2), OV_LIMIT_NONE);
    EXPECT_EQ(q.admit_proc("g3", 3), OV_LIMIT_PROCS);       /* backend holds 4 */
    EXPECT_EQ(q.total().procs, 4u);                          /* refusals charged nothing */
    q.release_proc("g1", 1);
    EXPECT_EQ(q.admit_proc("g3", 3), OV_LIMIT_NONE);
    EXPECT_STREQ(ov_limit_name(OV_LIMIT_JOB_PROCS), "processes per job (--max-job-procs)");
}

TEST(Quota, BytesAndWindowsAndConnections)
{
    ov_quota_limits l;
    l.guest_region_bytes = 1000;
    l.guest_windows = 1;
    l.guest_conns = 1;
    ov_quota q(l);
    EXPECT_EQ(q.admit_bytes("g", 1, 600), OV_LIMIT_NONE);
    EXPECT_EQ(q.admit_bytes("g", 1, 401), OV_LIMIT_GUEST_REGION_BYTES);
    EXPECT_EQ(q.admit_bytes("g", 1, 400), OV_LIMIT_NONE);
    EXPECT_EQ(q.admit_bytes("g", 1, UINT64_MAX), OV_LIMIT_GUEST_REGION_BYTES); /* no overflow */
    q.release_bytes("g", 1, 1000);
    EXPECT_EQ(q.total().region_bytes, 0u);
    EXPECT_EQ(q.admit_window("g", 1), OV_LIMIT_NONE);
    EXPECT_EQ(q.admit_window("g", 2), OV_LIMIT_GUEST_WINDOWS);
    EXPECT_EQ(q.admit_conn("net:[1]"), OV_LIMIT_NONE);
    EXPECT_EQ(q.admit_conn("net:[1]"), OV_LIMIT_GUEST_CONNS);
    EXPECT_EQ(q.admit_conn("net:[2]"), OV_LIMIT_NONE);
    q.release_conn("net:[1]");
    EXPECT_EQ(q.admit_conn("net:[1]"), OV_LIMIT_NONE);
}

TEST(Quota, ReportListsHoldersOnly)
{
    ov_quota q{ov_quota_limits{}};
    EXPECT_EQ(q.admit_proc("g", 7), OV_LIMIT_NONE);
    std::vector<ov_quota_line> lines;
    q.report(&lines);
    ASSERT_EQ(lines.size(), 3u); /* backend, guest g, job 7 */
    EXPECT_EQ(lines[1].guest, "g");
    EXPECT_EQ(lines[2].job, 7u);
    EXPECT_EQ(lines[2].used.procs, 1u);
    q.release_proc("g", 7);
    q.report(&lines);
    EXPECT_EQ(lines.size(), 1u);
}

TEST(Quota, ClampToFdsKeepsEveryTenantAtHalf)
{
    ov_quota_limits l; /* defaults: 8192 connections, 1024 per guest */
    ov_quota q(l);
    EXPECT_TRUE(q.clamp_to_fds(256));
    EXPECT_EQ(q.limits().conns, (256u - ov_quota::kFdReserve) / ov_quota::kFdsPerConn);
    EXPECT_EQ(q.limits().guest_conns, q.limits().conns / 2);
    EXPECT_LE(q.limits().guest_procs, q.limits().procs / 2);
    ov_quota roomy(l);
    EXPECT_FALSE(roomy.clamp_to_fds(1 << 20)); /* the defaults already keep every tenant at half */
    EXPECT_EQ(roomy.limits().conns, 8192u);
}
