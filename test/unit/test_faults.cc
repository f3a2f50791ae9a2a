/*
 * test_faults.cc — frontend death, backend death, restart, directory lock,
 * and the real ompi-virt-backend / ompi-virt-status binaries.
 */
#include <sys/stat.h>
#include <time.h>

#include "harness.h"
#include "wire.h"

static bool exists(const std::string &p)
{
    struct stat st;
    return stat(p.c_str(), &st) == 0;
}

TEST(Faults, FrontendDeathReleasesItsWindowsAndGrants)
{
    TempDir tmp;
    BackendChild be(tmp.path);
    ASSERT_TRUE(be.start());
    int pfd[2], go[2]; /* child -> parent: window; parent -> child: die now */
    ASSERT_EQ(pipe(pfd), 0);
    ASSERT_EQ(pipe(go), 0);
    pid_t child = fork();
    if (child == 0) {
        ov_win_t w{};
        if (!fe_with_granted_window(be.uri(), "guest-dying", 1, 1, &w))
            _exit(1);
        (void) !write(pfd[1], &w, sizeof(w));
        char c;
        (void) !read(go[0], &c, 1); /* wait for the parent's go */
        _exit(0);                    /* dies holding a window, a grant and rings */
    }
    ov_win_t remote{};
    ASSERT_EQ(read(pfd[0], &remote, sizeof(remote)), ssize_t(sizeof(remote)));
    ov_fe_t *fe = connect_fe(be.uri(), "guest-live", 1, 0);
    ASSERT_NE(fe, nullptr);
    ov_win_t mine;
    ASSERT_EQ(ov_fe_win_create(fe, 4096, &mine), OV_OK);
    ov_req_desc d = copy_req(OV_OP_PUT, remote, 0, mine, 0, 64);
    d.dtype_size = 8;
    ov_completion c;
    ASSERT_EQ(ov_fe_submit(fe, &d), OV_OK);
    ASSERT_EQ(ov_fe_wait(fe, &c, 3000), OV_OK);
    EXPECT_EQ(c.status, OV_OK);
    (void) !write(go[1], "x", 1);
    int st;
    waitpid(child, &st, 0);
    for (int fd : {pfd[0], pfd[1], go[0], go[1]})
        close(fd);
    int64_t t0 = ms_now();
    do { /* the backend notices the closed socket asynchronously */
        ASSERT_EQ(ov_fe_submit(fe, &d), OV_OK);
        ASSERT_EQ(ov_fe_wait(fe, &c, 3000), OV_OK);
    } while (c.status == OV_OK && ms_now() - t0 < 3000);
    EXPECT_EQ(c.status, OV_ERR_NO_WINDOW);
    ov_fe_close(fe);
}

TEST(Faults, BackendDeathFailsFrontendsQuickly)
{
    TempDir tmp;
    BackendChild be(tmp.path);
    ASSERT_TRUE(be.start());
    ov_fe_params_t p = fe_params(be.uri(), "g", 1, 0);
    p.timeout_ms = 20000; /* far longer than the bound we expect */
    ov_fe_t *fe = nullptr;
    ASSERT_EQ(ov_fe_connect(&p, &fe), OV_OK);
    EXPECT_EQ(be.stop(SIGKILL), 128 + SIGKILL);
    int64_t t0 = ms_now();
    ov_req_desc nop{};
    ov_completion c;
    ov_status_t s = ov_fe_submit(fe, &nop);
    if (s == OV_OK)
        s = ov_fe_wait(fe, &c, 0);
    EXPECT_EQ(s, OV_ERR_BACKEND_GONE);
    EXPECT_LT(ms_now() - t0, 1000);
    EXPECT_NE(std::string(ov_fe_last_error(fe)).find("backend"), std::string::npos);
    ov_win_t w;
    EXPECT_EQ(ov_fe_win_create(fe, 64, &w), OV_ERR_BACKEND_GONE);
    ov_fe_close(fe);
}

TEST(Faults, CleanShutdownIsSeenAndRemovesItsFiles)
{
    TempDir tmp;
    BackendChild be(tmp.path);
    ASSERT_TRUE(be.start());
    ov_fe_params_t p = fe_params(be.uri(), "g", 1, 0);
    ov_fe_t *fe = nullptr;
    ASSERT_EQ(ov_fe_connect(&p, &fe), OV_OK);
    EXPECT_EQ(be.stop(SIGTERM), 0);
    EXPECT_EQ(ov_fe_check_alive(fe), OV_ERR_BACKEND_GONE);
    EXPECT_FALSE(exists(tmp.path + "/backend.sock"));
    EXPECT_FALSE(exists(tmp.path + "/backend.lock"));
    ov_fe_close(fe);
}

TEST(Faults, RestartRecoversStaleFilesAndAcceptsNewAttaches)
{
    TempDir tmp;
    uint64_t first;
    ov_fe_t *old = nullptr;
    {
        BackendChild be(tmp.path);
        ASSERT_TRUE(be.start());
        ov_fe_params_t p = fe_params(be.uri(), "g", 1, 0);
        ASSERT_EQ(ov_fe_connect(&p, &old), OV_OK);
        first = ov_fe_backend_instance(old);
        be.stop(SIGKILL);
    }
    EXPECT_TRUE(exists(tmp.path + "/backend.sock")); /* stale */
    BackendChild be2(tmp.path);
    ASSERT_TRUE(be2.start());
    ov_fe_params_t p = fe_params(be2.uri(), "g", 1, 0); /* same rank: the old one is gone */
    ov_fe_t *fe = nullptr;
    ASSERT_EQ(ov_fe_connect(&p, &fe), OV_OK) << ov_fe_last_error(fe);
    EXPECT_NE(ov_fe_backend_instance(fe), first);
    ov_req_desc nop{};
    ov_completion c;
    ASSERT_EQ(ov_fe_submit(fe, &nop), OV_OK);
    EXPECT_EQ(ov_fe_wait(fe, &c, 3000), OV_OK);
    EXPECT_EQ(ov_fe_check_alive(old), OV_ERR_BACKEND_GONE);
    ov_fe_close(old);
    ov_fe_close(fe);
}

TEST(Faults, SecondBackendOnTheSameDirIsRefused)
{
    TempDir tmp;
    BackendChild be(tmp.path);
    ASSERT_TRUE(be.start());
    ov_backend_options o;
    o.dir = tmp.path;
    o.handle_signals = false;
    ov_backend second(o);
    EXPECT_EQ(second.start(), OV_ERR_BUSY);
    EXPECT_TRUE(exists(tmp.path + "/backend.sock")); /* untouched */
    ov_fe_params_t p = fe_params(be.uri(), "g", 1, 0);
    ov_fe_t *fe = nullptr;
    EXPECT_EQ(ov_fe_connect(&p, &fe), OV_OK);
    ov_fe_close(fe);
}

#if defined(OV_BACKEND_BIN) && defined(OV_STATUS_BIN)
TEST(Binaries, BackendAndStatusCommandLines)
{
    TempDir tmp;
    pid_t be = spawn({OV_BACKEND_BIN, "--dir", tmp.path, "--spin-us", "10"});
    std::string sock = tmp.path + "/backend.sock";
    for (int i = 0; i < 300 && !exists(sock); i++)
        usleep(10000);
    ASSERT_TRUE(exists(sock));
    pid_t second = spawn({OV_BACKEND_BIN, "--dir", tmp.path});
    int st = 0;
    waitpid(second, &st, 0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 2) << "second backend must refuse the dir";
    ov_fe_params_t p = fe_params("unix:" + sock, "cli-guest", 3, 0);
    ov_fe_t *fe = nullptr;
    ASSERT_EQ(ov_fe_connect(&p, &fe), OV_OK) << ov_fe_last_error(fe);
    std::string cmd = std::string(OV_STATUS_BIN) + " --json --dir " + tmp.path;
    FILE *f = popen(cmd.c_str(), "r");
    ASSERT_NE(f, nullptr);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        out.append(buf, n);
    EXPECT_EQ(pclose(f), 0);
    EXPECT_NE(out.find("\"name\":\"cli-guest\""), std::string::npos) << out;
    EXPECT_NE(out.find("\"processes\":[\n  {"), std::string::npos) << out;
    ov_fe_close(fe);
    kill(be, SIGTERM);
    waitpid(be, &st, 0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    EXPECT_FALSE(exists(sock));
    f = popen((std::string(OV_STATUS_BIN) + " --dir " + tmp.path + " 2>/dev/null").c_str(), "r");
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(WEXITSTATUS(pclose(f)), 2); /* no backend */
}
#endif
