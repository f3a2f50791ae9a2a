/*
 * test_locks.cc — the backend lock table (backend/locks.h): every outcome
 * of lock/unlock, release by process and by window, the size limits, and a
 * seeded random run against a naive model.
 */
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "locks.h"

namespace {
enum Act { LOCK_S, LOCK_X, UNLOCK };
struct Step {
    Act act;
    uint32_t win, slot, proc;
    ov_status_t want;
};
} // namespace

TEST(Locks, Sequences)
{
    const Step steps[] = {
        {LOCK_S, 1, 0, 10, OV_OK},            {LOCK_S, 1, 0, 11, OV_OK}, /* shared + shared */
        {LOCK_X, 1, 0, 12, OV_ERR_LOCK_BUSY},                           /* exclusive vs shared */
        {LOCK_S, 1, 0, 10, OV_ERR_LOCK_STATE},                          /* re-lock by a holder */
        {LOCK_X, 1, 0, 10, OV_ERR_LOCK_STATE},                          /* no upgrade */
        {UNLOCK, 1, 0, 12, OV_ERR_LOCK_STATE},                          /* not a holder */
        {UNLOCK, 1, 0, 10, OV_OK},            {UNLOCK, 1, 0, 10, OV_ERR_LOCK_STATE},
        {LOCK_X, 1, 0, 12, OV_ERR_LOCK_BUSY}, {UNLOCK, 1, 0, 11, OV_OK},
        {LOCK_X, 1, 0, 12, OV_OK},                                      /* free again */
        {LOCK_S, 1, 0, 10, OV_ERR_LOCK_BUSY}, {LOCK_X, 1, 0, 11, OV_ERR_LOCK_BUSY},
        {LOCK_X, 1, 0, 12, OV_ERR_LOCK_STATE}, {LOCK_S, 1, 0, 12, OV_ERR_LOCK_STATE},
        {LOCK_X, 1, 1, 10, OV_OK},                                      /* another slot */
        {LOCK_X, 2, 0, 10, OV_OK},                                      /* another window */
        {LOCK_X, 1, 65535, 11, OV_OK},        {LOCK_X, 2, 65535, 11, OV_OK},
        {UNLOCK, 3, 0, 10, OV_ERR_LOCK_STATE},                          /* never locked */
        {UNLOCK, 1, 0, 12, OV_OK},            {LOCK_S, 1, 0, 10, OV_OK},
    };
    ov_lock_table t;
    int i = 0;
    for (const Step &s : steps) {
        ov_status_t got = s.act == UNLOCK ? t.unlock(s.win, s.slot, s.proc)
                                          : t.lock(s.win, s.slot, s.proc, s.act == LOCK_X);
        EXPECT_EQ(got, s.want) << "step " << i << ": " << ov_strerror(got);
        i++;
    }
    EXPECT_EQ(t.held_by(1, 0, 10), ov_lock_table::SHARED);
    EXPECT_EQ(t.held_by(1, 1, 10), ov_lock_table::EXCLUSIVE);
    EXPECT_EQ(t.held_by(1, 0, 12), ov_lock_table::NONE);
    EXPECT_EQ(t.held(10), 3u);
    EXPECT_EQ(t.held(11), 2u);
    EXPECT_EQ(t.holdings(), 5u);
}

TEST(Locks, ReleaseProcessAndWindow)
{
    ov_lock_table t;
    ASSERT_EQ(t.lock(1, 0, 10, true), OV_OK);
    ASSERT_EQ(t.lock(1, 1, 10, false), OV_OK);
    ASSERT_EQ(t.lock(1, 1, 11, false), OV_OK);
    ASSERT_EQ(t.lock(2, 7, 10, false), OV_OK);
    ASSERT_EQ(t.lock(UINT32_MAX, 65535, 11, true), OV_OK);
    t.release_process(10); /* dies: every lock of 10 goes, on every window */
    EXPECT_EQ(t.held(10), 0u);
    EXPECT_EQ(t.held_by(1, 1, 11), ov_lock_table::SHARED);
    EXPECT_EQ(t.lock(1, 0, 12, true), OV_OK);
    EXPECT_EQ(t.lock(2, 7, 12, true), OV_OK);
    EXPECT_EQ(t.holdings(), 4u);
    t.release_process(10); /* twice is harmless */
    t.release_window(1);   /* freed: every holder forgets it, other windows stay */
    EXPECT_EQ(t.held_by(1, 1, 11), ov_lock_table::NONE);
    EXPECT_EQ(t.held_by(1, 0, 12), ov_lock_table::NONE);
    EXPECT_EQ(t.held_by(2, 7, 12), ov_lock_table::EXCLUSIVE);
    EXPECT_EQ(t.held(11), 1u);
    EXPECT_EQ(t.lock(1, 1, 13, true), OV_OK); /* the id's next window starts clean */
    t.release_window(UINT32_MAX);             /* the last id: no wrap into window 0 */
    EXPECT_EQ(t.held(11), 0u);
    EXPECT_EQ(t.held_by(1, 1, 13), ov_lock_table::EXCLUSIVE);
    EXPECT_EQ(t.holdings(), 2u);
    EXPECT_EQ(t.unlock(2, 7, 12), OV_OK);
    EXPECT_EQ(t.unlock(1, 1, 13), OV_OK);
    EXPECT_EQ(t.holdings(), 0u);
}

TEST(Locks, TableIsBounded)
{
    ov_lock_table t(3, 5);
    for (uint32_t s = 0; s < 3; s++)
        ASSERT_EQ(t.lock(1, s, 10, false), OV_OK);
    EXPECT_EQ(t.lock(1, 3, 10, false), OV_ERR_NOMEM); /* per process */
    EXPECT_EQ(t.lock(1, 0, 11, false), OV_OK);
    EXPECT_EQ(t.lock(1, 1, 11, false), OV_OK);
    EXPECT_EQ(t.lock(1, 2, 12, false), OV_ERR_NOMEM); /* whole table */
    EXPECT_EQ(t.lock(1, 0, 12, true), OV_ERR_LOCK_BUSY); /* busy is told before full */
    ASSERT_EQ(t.unlock(1, 0, 10), OV_OK);
    EXPECT_EQ(t.lock(1, 2, 12, false), OV_OK);
    EXPECT_EQ(t.holdings(), 5u);
}

TEST(Locks, RandomAgainstAModel)
{
    std::mt19937 rng(12345);
    ov_lock_table t;
    std::map<std::pair<uint32_t, uint32_t>, std::pair<uint32_t, std::set<uint32_t>>> m; /* excl, shared */
    for (int i = 0; i < 200000; i++) {
        uint32_t w = rng() % 4 + 1, s = rng() % 4, p = rng() % 5 + 1;
        int what = int(rng() % 100);
        auto &e = m[{w, s}];
        bool holds = e.first == p || e.second.count(p);
        if (what < 2) {
            t.release_process(p);
            for (auto &kv : m) {
                if (kv.second.first == p)
                    kv.second.first = 0;
                kv.second.second.erase(p);
            }
        } else if (what < 3) {
            t.release_window(w);
            for (auto &kv : m)
                if (kv.first.first == w)
                    kv.second = {};
        } else if (what < 50) {
            ASSERT_EQ(t.unlock(w, s, p), holds ? OV_OK : OV_ERR_LOCK_STATE) << i;
            if (e.first == p)
                e.first = 0;
            e.second.erase(p);
        } else {
            bool x = what < 70;
            ov_status_t want = holds ? OV_ERR_LOCK_STATE
                               : (e.first || (x && !e.second.empty())) ? OV_ERR_LOCK_BUSY : OV_OK;
            ASSERT_EQ(t.lock(w, s, p, x), want) << i;
            if (want == OV_OK) {
                if (x)
                    e.first = p;
                else
                    e.second.insert(p);
            }
        }
    }
    size_t n = 0;
    for (auto &kv : m)
        n += (kv.second.first != 0) + kv.second.second.size();
    EXPECT_EQ(t.holdings(), n);
}
