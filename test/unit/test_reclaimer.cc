/*
 * test_reclaimer.cc — the memory-freeing worker (backend/reclaimer.h): a
 * punched range reads zeros and gives its pages back, tokens come back in
 * queue order through the notify fd, and without its thread it works
 * inline.
 */
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cstring>

#include "reclaimer.h"

namespace {

const uint64_t kMiB = 1 << 20;

struct Memfd {
    ov_fd fd;
    ov_mapping map;
    explicit Memfd(uint64_t size)
    {
        fd.reset(memfd_create("reclaimer-test", MFD_CLOEXEC));
        EXPECT_TRUE(fd.valid() && ftruncate(fd.get(), off_t(size)) == 0 && map.map(fd.get(), size));
    }
    ov_fd dup() const { return ov_fd(fcntl(fd.get(), F_DUPFD_CLOEXEC, 0)); }
    uint64_t resident_bytes() const
    {
        struct stat st {};
        fstat(fd.get(), &st);
        return uint64_t(st.st_blocks) * 512;
    }
};

/* the tokens reported within 10 s, in order, until `want` have come */
std::vector<uint64_t> wait_done(ov_reclaimer &r, size_t want)
{
    std::vector<uint64_t> got;
    for (int i = 0; i < 100 && got.size() < want; i++) {
        pollfd p{r.notify_fd(), POLLIN, 0};
        if (poll(&p, 1, 100) == 1)
            for (uint64_t t : r.take_done())
                got.push_back(t);
    }
    return got;
}

} // namespace

TEST(Reclaimer, PunchedRangeReadsZerosAndGivesItsPagesBack)
{
    Memfd m(16 * kMiB);
    std::memset(m.map.data(), 0x5a, 16 * kMiB);
    ASSERT_GE(m.resident_bytes(), 16 * kMiB);
    ov_reclaimer r;
    ASSERT_EQ(r.start(), OV_OK);
    r.punch(m.dup(), 4 * kMiB, 12 * kMiB, 7);
    EXPECT_EQ(wait_done(r, 1), std::vector<uint64_t>{7});
    EXPECT_EQ(r.pending(), 0u);
    const char *p = m.map.data();
    EXPECT_EQ(p[4 * kMiB - 1], 0x5a) << "bytes before the range are kept";
    EXPECT_EQ(p[4 * kMiB], 0);
    EXPECT_EQ(p[12 * kMiB - 1], 0);
    EXPECT_EQ(p[12 * kMiB], 0x5a) << "bytes after the range are kept";
    EXPECT_LE(m.resident_bytes(), 8 * kMiB + 64 * 1024) << "the punched pages went back to the system";
}

TEST(Reclaimer, TokensComeBackInQueueOrder)
{
    Memfd m(8 * kMiB);
    ov_reclaimer r;
    ASSERT_EQ(r.start(), OV_OK);
    for (uint64_t t = 1; t <= 8; t++)
        r.punch(m.dup(), (t - 1) * kMiB, t * kMiB, t);
    EXPECT_EQ(wait_done(r, 8), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7, 8}));
    EXPECT_TRUE(r.take_done().empty());
}

TEST(Reclaimer, WithoutItsThreadItWorksInline)
{
    Memfd m(4 * kMiB);
    std::memset(m.map.data(), 1, 4 * kMiB);
    ov_reclaimer r; /* not started */
    r.punch(m.dup(), 0, 4 * kMiB, 3);
    EXPECT_EQ(m.map.data()[0], 0) << "done before punch() returned";
    EXPECT_EQ(r.take_done(), std::vector<uint64_t>{3});
}

TEST(Reclaimer, DisposedRegionIsDestroyedAndQueuedWorkFinishesBeforeTheJoin)
{
    Memfd m(4 * kMiB);
    std::memset(m.map.data(), 1, 4 * kMiB);
    {
        ov_reclaimer r;
        ASSERT_EQ(r.start(), OV_OK);
        std::unique_ptr<ov_region> reg;
        ASSERT_EQ(ov_region::create("g", 1, 8 * kMiB, 1, &reg), OV_OK);
        r.dispose(std::move(reg));
        r.punch(m.dup(), 0, 4 * kMiB, 1);
    } /* the destructor finishes the queue, then joins */
    EXPECT_EQ(m.map.data()[4 * kMiB - 1], 0);
}
