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

#include "harness.h"
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

/* A WIN_CREATE over its job's region quota while a freed window of the job
 * is still being punched waits for it (parked) and then succeeds: nothing
 * was refused, so nothing is logged as refused.  Before, the backend logged
 * "quota: window memory refused" for the create it then granted. */
TEST(ReclaimerPark, ParkedCreateLogsNoRefusal)
{
    TempDir tmp;
    BackendChild be(tmp.path);
    be.log_path = tmp.path + "/backend.log";
    be.opts.region_size = 256 * kMiB;
    be.opts.quota.job_region_bytes = 100 * kMiB; /* one 64 MiB window, not two */
    ASSERT_TRUE(be.start());
    Raw r;
    ASSERT_TRUE(r.connect(be.uri()));
    ASSERT_EQ(r.hello("parker", 0x7401, 0), OV_OK);
    ASSERT_EQ(r.attach(), OV_OK);
    ov_mapping region;
    ASSERT_TRUE(r.nfds >= 1 && region.map(r.fds[0].get(), size_t(be.opts.region_size)));
    ASSERT_EQ(r.rings(), OV_OK);
    ov_win_create_req w{64 * kMiB, 0};
    ov_win_create_rep wr{};
    ASSERT_EQ(r.call(OV_MSG_WIN_CREATE, &w, sizeof(w), &wr, sizeof(wr)), OV_OK);
    std::memset(region.data() + wr.offset, 0x5a, w.size); /* touched: its punch takes a while */

    /* the free and the next create in one write: the create is handled
     * while the reclaimer punches */
    ov_win_ref_req f{wr.win_id, wr.win_epoch};
    ov_msg_hdr hf{OV_MSG_MAGIC, OV_PROTOCOL_VERSION, OV_MSG_WIN_FREE, sizeof(f), ++r.seq};
    ov_msg_hdr hc{OV_MSG_MAGIC, OV_PROTOCOL_VERSION, OV_MSG_WIN_CREATE, sizeof(w), ++r.seq};
    std::vector<char> burst;
    for (auto [p, n] : {std::pair<const void *, size_t>{&hf, sizeof(hf)}, {&f, sizeof(f)}, {&hc, sizeof(hc)},
                        {&w, sizeof(w)}})
        burst.insert(burst.end(), static_cast<const char *>(p), static_cast<const char *>(p) + n);
    ASSERT_EQ(write(r.fd.get(), burst.data(), burst.size()), ssize_t(burst.size()));
    ov_msg_hdr h;
    ov_simple_rep fr{};
    ASSERT_EQ(ov_msg_recv(r.fd.get(), &h, &fr, sizeof(fr), nullptr, nullptr, 20000), OV_OK);
    EXPECT_EQ(fr.status, OV_OK);
    ov_win_create_rep cr{};
    ASSERT_EQ(ov_msg_recv(r.fd.get(), &h, &cr, sizeof(cr), nullptr, nullptr, 20000), OV_OK);
    EXPECT_EQ(cr.status, OV_OK) << "the create waits for the freed bytes, it does not fail";

    be.stop();
    std::string log;
    if (FILE *lf = fopen(be.log_path.c_str(), "r")) {
        char buf[4096];
        for (size_t n; (n = fread(buf, 1, sizeof(buf), lf)) > 0;)
            log.append(buf, n);
        fclose(lf);
    }
    unlink(be.log_path.c_str());
    EXPECT_EQ(log.find("refused"), std::string::npos) << log;
}
