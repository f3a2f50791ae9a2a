/*
 * test_exec_safe.cc — single copy never reaches an image the registering
 * process did not have at HELLO (single_copy.h): an unprivileged client
 * (uid 65534, set up by setpriv as an admin would) connects with single
 * copy, forks a child that keeps the socket and rings, and execs a real
 * setuid-root program; the child's single-copy PUT from and GET into that
 * program must fail, and the program's memory must be unchanged.
 *
 * Needs root (to install the setuid program and to read its memory back)
 * and /usr/bin/setpriv; skips, saying why, otherwise.  Also the per-thread
 * identity switch single copy relies on (thread_creds.h).
 */
#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "harness.h"
#include "thread_creds.h"

namespace {

/* The directory this test binary lives in (exec_attack and setuid_target
 * are built next to it). */
std::string self_dir()
{
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n <= 0)
        return ".";
    std::string s(buf, size_t(n));
    return s.substr(0, s.rfind('/'));
}

bool copy_file(const std::string &from, const std::string &to, mode_t mode)
{
    int in = open(from.c_str(), O_RDONLY | O_CLOEXEC);
    int out = open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
    bool ok = in >= 0 && out >= 0;
    char buf[65536];
    ssize_t n;
    while (ok && (n = read(in, buf, sizeof(buf))) > 0)
        ok = write(out, buf, size_t(n)) == n;
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    /* chmod after chown: chown clears the set-user-id bit */
    return ok && chown(to.c_str(), 0, 0) == 0 && chmod(to.c_str(), mode) == 0;
}

/* Runs argv with stdout to a pipe and stdin from one (*keep_stdin: its
 * write end, to close when the program may end); the first line it
 * prints, or "" after 15 s. */
std::string first_line_of(const std::vector<std::string> &args, pid_t *pid, int *keep_stdin)
{
    int out[2], in[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(in, O_CLOEXEC) != 0)
        return "";
    *keep_stdin = in[1];
    *pid = spawn(args, in[0], out[1]); /* dup2 clears close-on-exec on 0 and 1 only */
    close(out[1]);
    close(in[0]);
    std::string line;
    const int64_t until = ms_now() + 15000;
    char c;
    while (ms_now() < until) {
        pollfd pf{out[0], POLLIN, 100};
        if (poll(&pf, 1, 100) == 1) {
            if (read(out[0], &c, 1) != 1 || c == '\n')
                break;
            line += c;
        }
    }
    close(out[0]);
    return line;
}

} // namespace

TEST(ExecSafe, SetuidImageAfterHelloIsNeverReached)
{
    if (geteuid() != 0)
        GTEST_SKIP() << "needs root: installs a setuid-root program and reads its memory";
    if (access("/usr/bin/setpriv", X_OK) != 0)
        GTEST_SKIP() << "needs /usr/bin/setpriv (util-linux)";
    const std::string attack = self_dir() + "/exec_attack", target_src = self_dir() + "/setuid_target";
    ASSERT_EQ(access(attack.c_str(), X_OK), 0) << attack;
    ASSERT_EQ(access(target_src.c_str(), R_OK), 0) << target_src;

    TempDir tmp; /* the backend's directory and the setuid program */
    ASSERT_EQ(chmod(tmp.path.c_str(), 0755), 0); /* uid 65534 must reach the socket */
    struct statvfs vfs;
    ASSERT_EQ(statvfs(tmp.path.c_str(), &vfs), 0);
    if (vfs.f_flag & ST_NOSUID)
        GTEST_SKIP() << tmp.path << " is mounted nosuid";
    const std::string target = tmp.path + "/setuid_target";
    ASSERT_TRUE(copy_file(target_src, target, 04755));
    BackendChild be(tmp.path);
    be.opts.single_copy = true;
    ASSERT_TRUE(be.start());

    pid_t pid = -1;
    int keep_stdin = -1; /* the setuid program lives until we close it */
    std::string line = first_line_of({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                      attack, be.uri(), target},
                                     &pid, &keep_stdin);
    unsigned features = 0, euid = 1;
    int put = 0, get = 0, leaked = 1;
    unsigned long long addr = 0;
    const bool parsed = sscanf(line.c_str(), "features=%x put=%d get=%d leaked=%d addr=%llx euid=%u", &features, &put,
                               &get, &leaked, &addr, &euid) == 6;
    /* pid is the setuid program now (setpriv and exec_attack exec'd in it) */
    char secret[48] = {};
    if (parsed) {
        int mem = open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
        EXPECT_GE(mem, 0);
        EXPECT_EQ(pread(mem, secret, sizeof(secret), off_t(addr)), ssize_t(sizeof(secret)));
        close(mem);
    }
    close(keep_stdin);
    kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    unlink(target.c_str());
    ASSERT_TRUE(parsed) << "exec_attack printed: '" << line << "'";
    ASSERT_EQ(euid, 0u) << "the target did not run setuid root";
    ASSERT_TRUE(features & OV_FEAT_SINGLE_COPY) << "single copy was not offered to the unprivileged client";
    EXPECT_NE(put, OV_OK) << "single-copy PUT read the setuid program's memory";
    EXPECT_EQ(leaked, 0) << "the setuid program's secret reached the client's window";
    EXPECT_NE(get, OV_OK) << "single-copy GET wrote into the setuid program";
    EXPECT_EQ(memcmp(secret, "setuid-secret", 13), 0) << "the setuid program's memory was changed: '"
                                                       << std::string(secret, 40) << "'";
}

/* thread_creds.h: a switch changes the calling thread only, drops its
 * effective capabilities, keeps the way back, and is cached. */
TEST(ThreadCreds, OneThreadActsAsTheClientAndComesBack)
{
    if (geteuid() != 0)
        GTEST_SKIP() << "needs root to act as another uid";
    auto ids = [](uid_t *r, uid_t *e, uid_t *s) { syscall(SYS_getresuid, r, e, s); };
    auto cap_eff = [] { /* this thread's CapEff from /proc/thread-self/status */
        FILE *f = fopen("/proc/thread-self/status", "re");
        char line[256];
        unsigned long long v = ~0ull;
        while (f && fgets(line, sizeof(line), f))
            if (sscanf(line, "CapEff: %llx", &v) == 1)
                break;
        if (f)
            fclose(f);
        return v;
    };
    ASSERT_TRUE(ov_creds_can_act_as(65534, 65534));
    uid_t main_r = 1, main_e = 1, main_s = 1;
    std::thread t([&] {
        uid_t r = 0, e = 0, s = 1;
        EXPECT_TRUE(ov_creds_become(65534, 65534));
        EXPECT_TRUE(ov_creds_switched());
        ids(&r, &e, &s);
        EXPECT_EQ(r, 65534u);
        EXPECT_EQ(e, 65534u);
        EXPECT_EQ(s, 0u) << "the saved uid keeps the way back";
        EXPECT_EQ(cap_eff(), 0ull) << "no effective capability while acting as a client";
        EXPECT_TRUE(ov_creds_become(65534, 65534)); /* cached */
        ov_creds_restore();
        EXPECT_FALSE(ov_creds_switched());
        ids(&r, &e, &s);
        EXPECT_EQ(r, 0u);
        EXPECT_EQ(e, 0u);
        EXPECT_NE(cap_eff(), 0ull) << "capabilities are back";
        EXPECT_TRUE(ov_creds_become(65534, 65534));
    });
    t.join(); /* it ended still switched: nothing of it reached this thread */
    ids(&main_r, &main_e, &main_s);
    EXPECT_EQ(main_r, 0u);
    EXPECT_EQ(main_e, 0u);
    EXPECT_FALSE(ov_creds_switched());
}
