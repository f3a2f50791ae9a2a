/*
 * test_layout.cc — pins of every shared/wire struct size and offset (the
 * static_asserts in the headers fail the build; these document and re-check).
 */
#include <gtest/gtest.h>

#include "ov_layout.h"
#include "ov_protocol.h"
#include "wire.h"

TEST(Layout, SharedStructSizes)
{
    EXPECT_EQ(sizeof(ov_region_hdr), 192u);
    EXPECT_EQ(offsetof(ov_region_hdr, heap_off), 64u);
    EXPECT_EQ(offsetof(ov_region_hdr, state), 128u);
    EXPECT_EQ(sizeof(ov_ring_idx), 128u);
    EXPECT_EQ(offsetof(ov_ring_idx, head) - offsetof(ov_ring_idx, tail), 64u);
    EXPECT_EQ(sizeof(ov_proc_ctl), 192u);
    EXPECT_EQ(offsetof(ov_proc_ctl, backend_sleeping) / 64, 1u);
    EXPECT_EQ(offsetof(ov_proc_ctl, cq_seq) / 64, 1u);
    EXPECT_EQ(offsetof(ov_proc_ctl, fe_waiting) / 64, 2u);
    EXPECT_EQ(sizeof(ov_req_desc), 64u);
    EXPECT_EQ(sizeof(ov_completion), 32u);
    EXPECT_TRUE(std::atomic<uint64_t>::is_always_lock_free);
}

TEST(Layout, WireStructSizes)
{
    EXPECT_EQ(sizeof(ov_msg_hdr), 16u);
    EXPECT_EQ(sizeof(ov_hello_req), 88u);
    EXPECT_EQ(sizeof(ov_hello_rep), 24u);
    EXPECT_EQ(sizeof(ov_attach_req), 8u);
    EXPECT_EQ(sizeof(ov_attach_rep), 16u);
    EXPECT_EQ(sizeof(ov_rings_rep), 40u);
    EXPECT_EQ(sizeof(ov_win_create_rep), 32u);
    EXPECT_EQ(sizeof(ov_grant_req), 16u);
    EXPECT_EQ(sizeof(ov_status_head), 72u);
    EXPECT_EQ(sizeof(ov_status_guest), 96u);
}

TEST(Layout, ProcBlockIsCacheAlignedAndDisjoint)
{
    for (uint32_t rq : {2u, 8u, 256u, 65536u})
        for (uint32_t cq : {rq, rq * 2}) {
            auto l = ov_proc_block(rq, cq);
            EXPECT_EQ(l.rq_off % 64, 0u);
            EXPECT_EQ(l.cq_off % 64, 0u);
            EXPECT_EQ(l.size % 64, 0u);
            EXPECT_GE(l.rq_off, sizeof(ov_proc_ctl));
            EXPECT_GE(l.cq_off, l.rq_off + sizeof(ov_ring_idx) + rq * sizeof(ov_req_desc));
            EXPECT_GE(l.size, l.cq_off + sizeof(ov_ring_idx) + uint64_t(cq) * sizeof(ov_completion));
        }
}

TEST(Layout, RegionCheckRejectsBadHeaders)
{
    alignas(64) static char buf[8192];
    auto *h = new (buf) ov_region_hdr;
    auto good = [&] {
        h->magic = OV_REGION_MAGIC;
        h->layout_version = OV_LAYOUT_VERSION;
        h->header_size = OV_REGION_HDR_SIZE;
        h->region_size = sizeof(buf);
        h->heap_off = OV_REGION_HDR_SIZE;
        h->heap_size = sizeof(buf) - OV_REGION_HDR_SIZE;
        h->ring_desc_size = sizeof(ov_req_desc);
        h->ring_cpl_size = sizeof(ov_completion);
        h->ring_idx_size = sizeof(ov_ring_idx);
        h->ctl_size = sizeof(ov_proc_ctl);
    };
    good();
    EXPECT_EQ(ov_region_check(h, sizeof(buf)), OV_OK);
    EXPECT_EQ(ov_region_check(h, 100), OV_ERR_LAYOUT);
    EXPECT_EQ(ov_region_check(h, sizeof(buf) - 4096), OV_ERR_LAYOUT);
    h->magic ^= 1;
    EXPECT_EQ(ov_region_check(h, sizeof(buf)), OV_ERR_LAYOUT);
    good();
    h->layout_version = OV_LAYOUT_VERSION + 1;
    EXPECT_EQ(ov_region_check(h, sizeof(buf)), OV_ERR_VERSION);
    good();
    h->heap_size = UINT64_MAX - 10; /* heap_off + heap_size overflows */
    EXPECT_EQ(ov_region_check(h, sizeof(buf)), OV_ERR_LAYOUT);
    good();
    h->heap_off = sizeof(buf) + 1;
    EXPECT_EQ(ov_region_check(h, sizeof(buf)), OV_ERR_LAYOUT);
    good();
    h->ring_desc_size = 32;
    EXPECT_EQ(ov_region_check(h, sizeof(buf)), OV_ERR_LAYOUT);
}

TEST(Layout, EveryStatusHasText)
{
    for (int s = 0; s >= -40; s--) {
        const char *t = ov_strerror(ov_status_t(s));
        ASSERT_NE(t, nullptr);
        EXPECT_GT(strlen(t), 3u);
    }
    EXPECT_STRNE(ov_strerror(OV_ERR_BOUNDS), ov_strerror(OV_ERR_PERM));
}
