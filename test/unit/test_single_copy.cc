/*
 * test_single_copy.cc — the backend's access to a requester's memory
 * (backend/single_copy.h): self access, partial transfers, protections, a
 * peer that exits, the permission probe; then OV_REQ_LOCAL_VA end to end
 * through a backend child (the HELLO feature, every op from the caller's
 * own memory, refused addresses, --single-copy off, TCP peers).
 */
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "harness.h"
#include "single_copy.h"

TEST(PeerMem, SelfReadWriteAndRefusals)
{
    ov_peer_mem m;
    EXPECT_EQ(m.open(0), OV_ERR_NOT_SUPPORTED);
    EXPECT_FALSE(m.usable());
    ASSERT_EQ(m.open(getpid()), OV_OK); /* a process may always read itself */
    char src[100], dst[100] = {};
    for (int i = 0; i < 100; i++)
        src[i] = char(i * 7);
    uint64_t done = 99;
    EXPECT_EQ(m.read(uintptr_t(src + 1), dst, 98, &done), OV_OK);
    EXPECT_EQ(done, 98u);
    EXPECT_EQ(memcmp(dst, src + 1, 98), 0);
    memset(dst, 0x5a, sizeof(dst));
    EXPECT_EQ(m.write(uintptr_t(src), dst, 10, &done), OV_OK);
    EXPECT_EQ(src[9], 0x5a);
    EXPECT_EQ(m.read(uintptr_t(src), dst, 0, &done), OV_OK); /* nothing to do */
    EXPECT_EQ(done, 0u);
    EXPECT_EQ(m.read(0, dst, 8, &done), OV_ERR_LOCAL_ACCESS);
    EXPECT_EQ(done, 0u);
    EXPECT_EQ(m.write(16, dst, 8), OV_ERR_LOCAL_ACCESS);

    /* two pages, the second PROT_NONE: the transfer stops at the boundary */
    long pg = sysconf(_SC_PAGESIZE);
    char *p = static_cast<char *>(mmap(nullptr, size_t(2 * pg), PROT_READ | PROT_WRITE,
                                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(p, MAP_FAILED);
    memset(p, 'x', size_t(pg));
    ASSERT_EQ(mprotect(p + pg, size_t(pg), PROT_NONE), 0);
    std::vector<char> buf(static_cast<size_t>(pg));
    EXPECT_EQ(m.read(uintptr_t(p + pg - 64), buf.data(), 128, &done), OV_ERR_LOCAL_ACCESS);
    EXPECT_EQ(done, 64u);
    EXPECT_EQ(buf[63], 'x');
    /* a read-only page refuses writes (no FOLL_FORCE) */
    ASSERT_EQ(mprotect(p, size_t(pg), PROT_READ), 0);
    EXPECT_EQ(m.write(uintptr_t(p), "abc", 3, &done), OV_ERR_LOCAL_ACCESS);
    EXPECT_EQ(p[0], 'x');
    munmap(p, size_t(2 * pg));
}

TEST(PeerMem, AnotherProcessAndItsExit)
{
    static char shared_addr[64]; /* same address in the forked child */
    strcpy(shared_addr, "parent");
    int go[2], back[2];
    ASSERT_EQ(pipe(go), 0);
    ASSERT_EQ(pipe(back), 0);
    pid_t child = fork();
    if (child == 0) {
        strcpy(shared_addr, "child's copy");
        (void) !write(back[1], "r", 1);
        char c;
        (void) !read(go[0], &c, 1);
        _exit(strcmp(shared_addr, "written by parent") == 0 ? 0 : 1);
    }
    char c;
    ASSERT_EQ(read(back[0], &c, 1), 1);
    ov_peer_mem m;
    ov_status_t s = m.open(child);
    if (s == OV_ERR_DENIED) {
        (void) !write(go[1], "x", 1);
        waitpid(child, nullptr, 0);
        GTEST_SKIP() << "process_vm_readv: EPERM (no ptrace permission on a child here)";
    }
    ASSERT_EQ(s, OV_OK);
    char got[64] = {};
    EXPECT_EQ(m.read(uintptr_t(shared_addr), got, sizeof(got)), OV_OK);
    EXPECT_STREQ(got, "child's copy");
    EXPECT_EQ(m.write(uintptr_t(shared_addr), "written by parent", 18), OV_OK);
    (void) !write(go[1], "x", 1);
    /* exited but not reaped yet (a zombie keeps its pid): already refused */
    siginfo_t si{};
    ASSERT_EQ(waitid(P_PID, id_t(child), &si, WEXITED | WNOWAIT), 0);
    EXPECT_EQ(si.si_status, 0) << "the child did not see the parent's write";
    EXPECT_EQ(m.read(uintptr_t(shared_addr), got, 8), OV_ERR_LOCAL_ACCESS);
    waitpid(child, nullptr, 0);
    EXPECT_EQ(m.read(uintptr_t(shared_addr), got, 8), OV_ERR_LOCAL_ACCESS);
    for (int fd : {go[0], go[1], back[0], back[1]})
        close(fd);
}

TEST(PeerMem, NoPermissionIsDenied)
{
    if (geteuid() != 0)
        GTEST_SKIP() << "needs root to drop to another uid";
    pid_t parent = getpid();
    pid_t child = fork();
    if (child == 0) {
        if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
            _exit(10);
        ov_peer_mem m; /* nobody may not read root's memory */
        _exit(m.open(parent) == OV_ERR_DENIED && !m.usable() ? 0 : 1);
    }
    int st = 0;
    ASSERT_EQ(waitpid(child, &st, 0), child);
    ASSERT_TRUE(WIFEXITED(st));
    if (WEXITSTATUS(st) == 10)
        GTEST_SKIP() << "setresuid not permitted here";
    EXPECT_EQ(WEXITSTATUS(st), 0);
}

/* ---------------------------------------------------------------- end to end */

static ov_req_desc va_req(uint16_t op, const ov_win_t &w, uint64_t toff, const void *addr, uint64_t len)
{
    static uint64_t cookie = 5000;
    ov_req_desc d{};
    d.cookie = cookie++;
    d.op = op;
    d.flags = OV_REQ_LOCAL_VA;
    d.dtype_size = 1;
    d.target_win = w.id;
    d.target_epoch = w.epoch;
    d.target_off = toff;
    d.local_off = uintptr_t(addr);
    d.length = len;
    return d;
}
static ov_req_desc va_acc(uint16_t op, uint8_t acc_op, uint8_t kind, uint16_t size, const ov_win_t &w, uint64_t toff,
                          const void *origin, const void *result, uint64_t len)
{
    ov_req_desc d = va_req(op, w, toff, origin, len);
    d.acc_op = acc_op;
    d.dtype_kind = kind;
    d.dtype_size = size;
    d.result_off = uintptr_t(result);
    return d;
}
static ov_status_t run(ov_fe_t *fe, const ov_req_desc &d, uint64_t *bytes = nullptr)
{
    ov_completion c{};
    if (ov_fe_submit(fe, &d) != OV_OK || ov_fe_wait(fe, &c, 3000) != OV_OK || c.cookie != d.cookie)
        return OV_ERR_TIMEOUT;
    if (bytes)
        *bytes = c.bytes;
    return ov_status_t(c.status);
}

class SingleCopy : public testing::Test {
protected:
    TempDir tmp;
    BackendChild be{tmp.path};
    ov_fe_t *fe = nullptr;
    ov_win_t w{};
    void SetUp() override
    {
        ASSERT_TRUE(be.start());
        ov_fe_params_t p = fe_params(be.uri(), "guest-a", 1, 0);
        ASSERT_EQ(ov_fe_connect(&p, &fe), OV_OK) << ov_fe_last_error(fe);
        ASSERT_EQ(ov_fe_win_create(fe, 2u << 20, &w), OV_OK);
        if (!(ov_fe_features(fe) & OV_FEAT_SINGLE_COPY)) {
            if (ptrace_denied())
                GTEST_SKIP() << "process_vm_readv: EPERM (the backend may not read this process)";
            FAIL() << "single copy not offered although ptrace access is permitted";
        }
    }
    void TearDown() override { ov_fe_close(fe); }
};

TEST_F(SingleCopy, PutAndGetStraightFromTheCallersMemory)
{
    std::vector<char> src(1u << 20), dst(4096);
    for (size_t i = 0; i < src.size(); i++)
        src[i] = char(i * 131 + 7);
    uint64_t bytes = 0;
    EXPECT_EQ(run(fe, va_req(OV_OP_PUT, w, 4096, src.data(), src.size()), &bytes), OV_OK);
    EXPECT_EQ(bytes, src.size());
    EXPECT_EQ(memcmp(static_cast<char *>(w.base) + 4096, src.data(), src.size()), 0);
    EXPECT_EQ(run(fe, va_req(OV_OP_GET, w, 4096 + 17, dst.data() + 3, 1000), &bytes), OV_OK);
    EXPECT_EQ(bytes, 1000u);
    EXPECT_EQ(memcmp(dst.data() + 3, src.data() + 17, 1000), 0);
    EXPECT_EQ(run(fe, va_req(OV_OP_PUT, w, 0, src.data(), 0)), OV_OK); /* nothing to move */
}

TEST_F(SingleCopy, AccumulateFetchAndCasWithTheCallersMemory)
{
    auto *t = static_cast<int64_t *>(w.base);
    for (int i = 0; i < 4; i++)
        t[i] = 10 * (i + 1);
    int64_t origin[4] = {1, 2, 3, 4}, result[4] = {};
    EXPECT_EQ(run(fe, va_acc(OV_OP_GET_ACC, OV_ACC_SUM, OV_DT_INT, 8, w, 0, origin, result, 32)), OV_OK);
    EXPECT_EQ(result[3], 40);
    EXPECT_EQ(t[0], 11);
    EXPECT_EQ(t[3], 44);
    EXPECT_EQ(run(fe, va_acc(OV_OP_ACC, OV_ACC_PROD, OV_DT_INT, 8, w, 8, origin, nullptr, 16)), OV_OK);
    EXPECT_EQ(t[1], 22);
    EXPECT_EQ(t[2], 66);
    int64_t fetched = 0;
    EXPECT_EQ(run(fe, va_acc(OV_OP_GET_ACC, OV_ACC_NO_OP, OV_DT_INT, 8, w, 16, nullptr, &fetched, 8)), OV_OK);
    EXPECT_EQ(fetched, 66);
    int64_t swap[2] = {-1, 11}, old = 0; /* origin, compare */
    EXPECT_EQ(run(fe, va_acc(OV_OP_CAS, 0, OV_DT_INT, 8, w, 0, swap, &old, 8)), OV_OK);
    EXPECT_EQ(old, 11);
    EXPECT_EQ(t[0], -1);
    EXPECT_EQ(run(fe, va_acc(OV_OP_CAS, 0, OV_DT_INT, 8, w, 0, swap, &old, 8)), OV_OK);
    EXPECT_EQ(old, -1);
    EXPECT_EQ(t[0], -1);
}

TEST_F(SingleCopy, RefusedAddressesFailTheRequestOnly)
{
    long pg = sysconf(_SC_PAGESIZE);
    char *p = static_cast<char *>(mmap(nullptr, size_t(3 * pg), PROT_READ | PROT_WRITE,
                                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(p, MAP_FAILED);
    memset(p, 'a', size_t(3 * pg));
    ASSERT_EQ(mprotect(p + pg, size_t(pg), PROT_READ), 0);
    ASSERT_EQ(munmap(p + 2 * pg, size_t(pg)), 0);
    auto *t = static_cast<int64_t *>(w.base);
    t[0] = 5;
    uint64_t bytes = 99;
    EXPECT_EQ(run(fe, va_req(OV_OP_PUT, w, 0, reinterpret_cast<void *>(8), 8), &bytes), OV_ERR_LOCAL_ACCESS);
    EXPECT_EQ(bytes, 0u);
    EXPECT_EQ(run(fe, va_req(OV_OP_GET, w, 0, p + pg, 8)), OV_ERR_LOCAL_ACCESS); /* read-only */
    EXPECT_EQ(p[pg], 'a');
    int64_t one = 1;
    EXPECT_EQ(run(fe, va_acc(OV_OP_GET_ACC, OV_ACC_SUM, OV_DT_INT, 8, w, 0, &one, p + pg, 8)), OV_ERR_LOCAL_ACCESS);
    EXPECT_EQ(run(fe, va_acc(OV_OP_ACC, OV_ACC_SUM, OV_DT_INT, 8, w, 0, p + 2 * pg, nullptr, 8)),
              OV_ERR_LOCAL_ACCESS); /* unmapped */
    int64_t cmp[2] = {7, 5};
    EXPECT_EQ(run(fe, va_acc(OV_OP_CAS, 0, OV_DT_INT, 8, w, 0, cmp, p + pg, 8)), OV_ERR_LOCAL_ACCESS);
    EXPECT_EQ(t[0], 5) << "a refused caller address leaves the target alone";
    /* a PUT that runs into an unmapped page stops there */
    EXPECT_EQ(run(fe, va_req(OV_OP_PUT, w, 64, p + 2 * pg - 16, 32), &bytes), OV_ERR_LOCAL_ACCESS);
    EXPECT_EQ(run(fe, va_req(OV_OP_PUT, w, 64, p, 8)), OV_OK); /* and the backend serves on */
    EXPECT_EQ(static_cast<char *>(w.base)[64], 'a');
    munmap(p, size_t(2 * pg));
}

/* The real cross-process case: another guest's process puts from its own
 * heap into our window, the backend reading that process's memory. */
TEST_F(SingleCopy, AnotherGuestPutsFromItsOwnMemory)
{
    ASSERT_EQ(ov_fe_grant(fe, &w, 1, OV_PERM_READ | OV_PERM_WRITE), OV_OK);
    pid_t k = fork();
    if (k == 0) {
        ov_fe_params_t p = fe_params(be.uri(), "guest-b", 1, 1);
        ov_fe_t *b = nullptr;
        if (ov_fe_connect(&p, &b) != OV_OK || !(ov_fe_features(b) & OV_FEAT_SINGLE_COPY))
            _exit(2);
        std::string msg = "written by pid " + std::to_string(getpid());
        _exit(run(b, va_req(OV_OP_PUT, w, 100, msg.c_str(), msg.size() + 1)) == OV_OK ? 0 : 3);
    }
    int st = 0;
    waitpid(k, &st, 0);
    ASSERT_TRUE(WIFEXITED(st));
    ASSERT_EQ(WEXITSTATUS(st), 0);
    EXPECT_EQ(std::string(static_cast<char *>(w.base) + 100), "written by pid " + std::to_string(k));
}

TEST(SingleCopyOff, NoFeatureAndLocalVaIsRefused)
{
    TempDir tmp;
    BackendChild be(tmp.path);
    be.opts.single_copy = false;
    ASSERT_TRUE(be.start());
    ov_fe_params_t p = fe_params(be.uri(), "guest-a", 1, 0);
    ov_fe_t *fe = nullptr;
    ASSERT_EQ(ov_fe_connect(&p, &fe), OV_OK) << ov_fe_last_error(fe);
    EXPECT_EQ(ov_fe_features(fe) & OV_FEAT_SINGLE_COPY, 0u);
    ov_win_t w;
    ASSERT_EQ(ov_fe_win_create(fe, 4096, &w), OV_OK);
    char buf[8] = "abcdefg";
    EXPECT_EQ(run(fe, va_req(OV_OP_PUT, w, 0, buf, 8)), OV_ERR_NOT_SUPPORTED);
    EXPECT_EQ(static_cast<char *>(w.base)[0], 0);
    ov_fe_close(fe);
}

TEST(SingleCopyOff, NeverOfferedOverTcp)
{
    TempDir tmp;
    BackendChild be(tmp.path);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof(a);
    ASSERT_EQ(bind(s, reinterpret_cast<sockaddr *>(&a), sizeof(a)), 0);
    getsockname(s, reinterpret_cast<sockaddr *>(&a), &l);
    close(s);
    be.opts.tcp = "tcp:127.0.0.1:" + std::to_string(ntohs(a.sin_port));
    ASSERT_TRUE(be.start());
    for (const std::string &uri : {be.opts.tcp, be.uri()}) {
        Raw r;
        ASSERT_TRUE(r.connect(uri));
        ov_hello_req h{};
        const ov_job_secret js = ov_job_secret_from_seed(1);
        memcpy(h.job_secret, js.b, sizeof(h.job_secret));
        h.rank = uri == be.uri() ? 1 : 0;
        strcpy(h.guest, "g");
        ov_hello_rep rep{};
        ASSERT_EQ(r.call(OV_MSG_HELLO, &h, sizeof(h), &rep, sizeof(rep)), OV_OK);
        if (uri == be.opts.tcp) {
            EXPECT_EQ(rep.features, OV_FEAT_STREAM | OV_FEAT_INLINE | OV_FEAT_QUIET | OV_FEAT_BATCH | OV_FEAT_FABRIC) << "no pid over tcp: no single copy";
        } else if (!ptrace_denied()) {
            EXPECT_EQ(rep.features, OV_FEAT_STREAM | OV_FEAT_INLINE | OV_FEAT_QUIET | OV_FEAT_BATCH | OV_FEAT_FABRIC | OV_FEAT_SINGLE_COPY | OV_FEAT_USER_WINDOWS)
                << "unix peer with a pid";
        }
    }
}

TEST(SingleCopyOff, CommandLine)
{
    std::string bin = OV_BACKEND_BIN;
    int st = system((bin + " --single-copy maybe >/dev/null 2>&1").c_str());
    ASSERT_TRUE(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 1);
    FILE *f = popen((bin + " --help").c_str(), "r");
    ASSERT_NE(f, nullptr);
    std::string out;
    char buf[512];
    while (fgets(buf, sizeof(buf), f))
        out += buf;
    EXPECT_EQ(pclose(f), 0);
    EXPECT_NE(out.find("--single-copy on|off"), std::string::npos);
}
