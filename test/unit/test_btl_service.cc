/*
 * test_btl_service.cc — the backend's btl segment service: the service class
 * alone (grant rules, presence, reclaim) and through a real backend (roles,
 * fd passing, isolation between jobs, release when a holder goes).
 */
#include "harness.h"
#include "ov_frontend_btl.h"

namespace {

ov_btl_segment_req req(uint32_t n) { return ov_btl_segment_req{n, 0, 0}; }

bool present(int fd, uint64_t size, uint32_t rank)
{
    ov_mapping m;
    if (!m.map(fd, size))
        return false;
    const ov_bseg_geom g = ov_bseg_geometry(reinterpret_cast<ov_bseg_hdr *>(m.data())->nranks);
    return ov_bseg_member_at(m.data(), g, rank)->present.load() != 0;
}

} // namespace

TEST(BtlSegments, GrantRulesPresenceAndReclaim)
{
    ov_btl_segments svc(99);
    ov_btl_segment_rep rep{};
    int fd = -1;
    EXPECT_EQ(svc.grant({1, 0, 10}, req(0), &rep, &fd), OV_ERR_BAD_ARG);
    EXPECT_EQ(svc.grant({1, 4, 10}, req(4), &rep, &fd), OV_ERR_BAD_ARG); /* rank outside the job */
    EXPECT_EQ(svc.grant({1, 0, 10}, req(OV_BSEG_MAX_RANKS + 1), &rep, &fd), OV_ERR_TOO_LARGE);
    ASSERT_EQ(svc.grant({1, 0, 10}, req(4), &rep, &fd), OV_OK);
    const uint64_t id = rep.segment_id;
    EXPECT_EQ(rep.nranks, 4u);
    EXPECT_EQ(rep.segment_size, ov_bseg_geometry(4).size);
    EXPECT_TRUE(present(fd, rep.segment_size, 0));
    EXPECT_FALSE(present(fd, rep.segment_size, 1));
    EXPECT_EQ(svc.grant({1, 0, 10}, req(4), &rep, &fd), OV_ERR_STATE);  /* asked twice */
    EXPECT_EQ(svc.grant({1, 0, 11}, req(4), &rep, &fd), OV_ERR_EXISTS); /* rank 0 held */
    EXPECT_EQ(svc.grant({1, 1, 11}, req(3), &rep, &fd), OV_ERR_BAD_ARG); /* another job size */
    int fd1 = -1;
    ASSERT_EQ(svc.grant({1, 1, 11}, req(4), &rep, &fd1), OV_OK);
    EXPECT_EQ(rep.segment_id, id); /* one segment per job */
    EXPECT_EQ(fd1, fd);
    int fd2 = -1;
    ASSERT_EQ(svc.grant({2, 1, 12}, req(4), &rep, &fd2), OV_OK); /* another job: its own */
    EXPECT_NE(rep.segment_id, id);
    EXPECT_NE(fd2, fd);
    EXPECT_EQ(svc.segments(), 2u);
    svc.release(11);
    EXPECT_FALSE(present(fd, ov_bseg_geometry(4).size, 1));
    svc.release(10); /* last holder of job 1 */
    EXPECT_EQ(svc.segments(), 1u);
    svc.release(10); /* unknown now: ignored */
    svc.release(12);
    EXPECT_EQ(svc.segments(), 0u);
    EXPECT_EQ(svc.holders(), 0u);
}

class BtlBackend : public testing::Test {
protected:
    TempDir tmp;
    BackendChild be{tmp.path};
    void SetUp() override { ASSERT_TRUE(be.start()); }
    ov_fe_t *open(const char *guest, uint64_t job, uint32_t rank, uint32_t role)
    {
        return open_fe(be.uri(), guest, job, rank, role);
    }
};

TEST_F(BtlBackend, RolesSegmentsAndIsolation)
{
    /* osc virt's connection and the BTL's, same (job, rank): both allowed */
    ov_fe_t *osc = connect_fe(be.uri(), "g1", 5, 0);
    ASSERT_NE(osc, nullptr);
    ov_fe_t *b0 = open("g1", 5, 0, OV_ROLE_BTL);
    ov_fe_t *b1 = open("g2", 5, 1, OV_ROLE_BTL);
    ov_fe_t *other = open("g2", 6, 0, OV_ROLE_BTL);
    ASSERT_TRUE(b0 && b1 && other);
    ov_fe_btl_seg_t s0{}, s1{}, so{};
    EXPECT_EQ(ov_fe_btl_segment(osc, 2, &s0), OV_ERR_STATE); /* role OSC gets none */
    EXPECT_EQ(ov_fe_attach(b0), OV_ERR_STATE);               /* role BTL gets no region */
    ASSERT_EQ(ov_fe_btl_segment(b0, 2, &s0), OV_OK) << ov_fe_last_error(b0);
    ASSERT_EQ(ov_fe_btl_segment(b1, 2, &s1), OV_OK) << ov_fe_last_error(b1);
    ASSERT_EQ(ov_fe_btl_segment(other, 2, &so), OV_OK) << ov_fe_last_error(other);
    EXPECT_EQ(s0.segment_id, s1.segment_id);   /* same job, two guests: one segment */
    EXPECT_NE(so.segment_id, s0.segment_id);   /* another job: another segment */
    /* the two ranks share memory: a byte written by one is read by the other */
    s0.base[s0.geom.fboxes_off + 200] = 42;
    EXPECT_EQ(s1.base[s1.geom.fboxes_off + 200], 42);
    EXPECT_EQ(so.base[so.geom.fboxes_off + 200], 0);
    EXPECT_NE(ov_bseg_member_at(s1.base, s1.geom, 0)->present.load(), 0u);
    EXPECT_EQ(ov_fe_btl_alive(b1), OV_OK);
    /* a holder goes: its slot is marked absent, the others keep the segment */
    ov_fe_close(b0);
    const int64_t until = ms_now() + 5000;
    while (ov_bseg_member_at(s1.base, s1.geom, 0)->present.load() != 0 && ms_now() < until)
        usleep(1000);
    EXPECT_EQ(ov_bseg_member_at(s1.base, s1.geom, 0)->present.load(), 0u);
    /* the rank may come back (a new process) */
    ov_fe_t *b0again = open("g1", 5, 0, OV_ROLE_BTL);
    ov_fe_btl_seg_t s2{};
    ASSERT_EQ(ov_fe_btl_segment(b0again, 2, &s2), OV_OK);
    EXPECT_EQ(s2.segment_id, s1.segment_id);
    ov_fe_close(b0again);
    ov_fe_close(b1);
    ov_fe_close(other);
    ov_fe_close(osc);
}

TEST_F(BtlBackend, BackendShutdownIsSeen)
{
    ov_fe_t *b0 = open("g1", 8, 0, OV_ROLE_BTL);
    ASSERT_NE(b0, nullptr);
    ov_fe_btl_seg_t s0{};
    ASSERT_EQ(ov_fe_btl_segment(b0, 2, &s0), OV_OK);
    EXPECT_EQ(ov_fe_btl_alive(b0), OV_OK);
    be.stop(SIGTERM);
    EXPECT_EQ(ov_fe_btl_alive(b0), OV_ERR_BACKEND_GONE);
    ov_fe_close(b0);
}

/* A process that uses osc virt and btl vmshm holds two connections of one
 * (job, rank) from one pid: the process quotas count it once.  Before, the
 * BTL connection was charged as a second process: with a guest allowed one
 * process, a rank could not use both. */
TEST(BtlQuota, ProcessWithBothRolesCountsOnce)
{
    TempDir tmp;
    BackendChild be(tmp.path);
    be.opts.quota.guest_procs = 1;
    ASSERT_TRUE(be.start());
    ov_fe_t *osc = connect_fe(be.uri(), "g1", 9, 0);
    ASSERT_NE(osc, nullptr);
    ov_fe_t *btl = open_fe(be.uri(), "g1", 9, 0, OV_ROLE_BTL);
    EXPECT_NE(btl, nullptr) << "the same process's second connection is not a second process";

    /* another rank is another process: over the guest's one */
    ov_fe_params_t p = fe_params(be.uri(), "g1", 9, 1);
    ov_fe_t *other = nullptr;
    EXPECT_EQ(ov_fe_open(&p, &other), OV_ERR_QUOTA);
    ov_fe_close(other);

    /* the charge lasts while either connection does */
    ov_fe_close(osc);
    other = nullptr;
    EXPECT_EQ(ov_fe_open(&p, &other), OV_ERR_QUOTA) << "the BTL connection still holds the process";
    ov_fe_close(other);
    ov_fe_close(btl);
    for (int i = 0; i < 100; i++) { /* the backend sees the detach */
        other = nullptr;
        if (ov_fe_open(&p, &other) == OV_OK)
            break;
        ov_fe_close(other);
        other = nullptr;
        usleep(10000);
    }
    EXPECT_NE(other, nullptr) << "released with its last connection";
    ov_fe_close(other);
}
