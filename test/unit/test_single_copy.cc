/*
 * test_single_copy.cc — the backend's access to a requester's memory
 * (backend/single_copy.h): self access, partial transfers, protections, a
 * peer that exits, and the permission probe.
 */
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <vector>

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
