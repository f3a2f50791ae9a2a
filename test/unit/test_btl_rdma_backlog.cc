/*
 * test_btl_rdma_backlog.cc — btl vmshm's put/get backlog
 * (opal/mca/btl/vmshm/vmshm_rdma_backlog.h): every op is accepted, at most
 * `cap` are posted, the rest go out oldest first as slots free, none
 * overtakes a waiting one, and a failure hands back every waiting op.
 */
#include <vector>

#include "harness.h"
#include "vmshm_rdma_backlog.h"

TEST(BtlRdmaBacklog, AcceptsMoreThanTheCapAndPostsThemInOrder)
{
    vmshm_rdma_backlog<int> b(64);
    int posted = 0;
    for (int i = 0; i < 96; i++) /* manylmt: 32 messages x 3 gets */
        posted += b.admit(i) ? 1 : 0;
    EXPECT_EQ(posted, 64);
    EXPECT_EQ(b.in_flight(), 64u);
    EXPECT_EQ(b.waiting(), 32u);
    int op = -1;
    EXPECT_FALSE(b.next(&op)) << "no slot is free yet";
    std::vector<int> order;
    while (b.in_flight() > 0) { /* each reply frees a slot for the oldest waiting op */
        b.done();
        while (b.next(&op))
            order.push_back(op);
    }
    ASSERT_EQ(order.size(), 32u);
    for (int i = 0; i < 32; i++)
        EXPECT_EQ(order[size_t(i)], 64 + i);
    EXPECT_EQ(b.waiting(), 0u);
}

TEST(BtlRdmaBacklog, NewOpNeverOvertakesAWaitingOne)
{
    vmshm_rdma_backlog<int> b(2);
    EXPECT_TRUE(b.admit(1));
    EXPECT_TRUE(b.admit(2));
    EXPECT_FALSE(b.admit(3));
    b.done(); /* a slot is free, but 3 waits: 4 must queue behind it */
    EXPECT_FALSE(b.admit(4));
    int op = 0;
    ASSERT_TRUE(b.next(&op));
    EXPECT_EQ(op, 3);
    EXPECT_FALSE(b.next(&op));
    b.done();
    ASSERT_TRUE(b.next(&op));
    EXPECT_EQ(op, 4);
}

TEST(BtlRdmaBacklog, FailedPostGivesTheSlotBackAndDrainHandsOverEveryWaitingOp)
{
    vmshm_rdma_backlog<int> b(1);
    EXPECT_TRUE(b.admit(1));
    b.done(); /* the post failed */
    EXPECT_EQ(b.in_flight(), 0u);
    EXPECT_TRUE(b.admit(2));
    EXPECT_FALSE(b.admit(3));
    EXPECT_FALSE(b.admit(4));
    std::vector<int> failed;
    b.drain([&](int op) {
        failed.push_back(op);
        if (op == 3) {
            EXPECT_FALSE(b.admit(5)) << "an op admitted while draining waits and is drained too";
        }
    });
    EXPECT_EQ(failed, (std::vector<int>{3, 4, 5}));
    EXPECT_EQ(b.waiting(), 0u);
    b.done();
    b.done(); /* never below zero */
    EXPECT_EQ(b.in_flight(), 0u);
}
