/*
 * test_pidfd.cc — a unix peer's death is its process's exit (pidfd), not the
 * close of its socket: a frontend that forked a child holding the control
 * socket and then died is still released, within a bounded time.
 */
#include <poll.h>
#include <time.h>

#include "harness.h"
#include "ov_frontend_impl.h"

/* One byte from fd within ms, or 0. */
static char read_byte(int fd, int ms)
{
    pollfd p{fd, POLLIN, 0};
    char c = 0;
    if (poll(&p, 1, ms) == 1 && read(fd, &c, 1) == 1)
        return c;
    return 0;
}

TEST(Pidfd, DeadFrontendIsReleasedWhileAForkedChildHoldsItsSocket)
{
    TempDir tmp;
    BackendChild be(tmp.path);
    ASSERT_TRUE(be.start());
    int info[2], go[2], saw[2], bye[2];
    ASSERT_EQ(pipe(info), 0); /* frontend -> test: its window */
    ASSERT_EQ(pipe(go), 0);   /* test -> frontend: die now */
    ASSERT_EQ(pipe(saw), 0);  /* child -> test: what its copy of the socket saw */
    ASSERT_EQ(pipe(bye), 0);  /* test -> child: exit */
    pid_t fe_pid = fork();
    if (fe_pid == 0) {
        ov_win_t w{};
        ov_fe_t *fe = fe_with_granted_window(be.uri(), "guest-forks", 7, 1, &w);
        if (!fe)
            _exit(1);
        if (fork() == 0) {
            /* The child: holds the control socket (and the region) and never
             * closes them; reports whether the backend closed the connection. */
            pollfd pf{fe->ctl.get(), POLLIN, 0};
            char c, verdict = 'T';
            if (poll(&pf, 1, 10000) == 1 && recv(fe->ctl.get(), &c, 1, 0) == 0)
                verdict = 'E';
            (void) !write(saw[1], &verdict, 1);
            read_byte(bye[0], 10000);
            _exit(0);
        }
        (void) !write(info[1], &w, sizeof(w));
        read_byte(go[0], 10000);
        _exit(0); /* dies holding a window, a grant and rings; no DETACH */
    }
    ov_win_t remote{};
    ASSERT_EQ(read(info[0], &remote, sizeof(remote)), ssize_t(sizeof(remote)));
    ov_fe_t *fe = connect_fe(be.uri(), "guest-live", 7, 0);
    ASSERT_NE(fe, nullptr);
    ov_win_t mine;
    ASSERT_EQ(ov_fe_win_create(fe, 4096, &mine), OV_OK);
    ov_req_desc d = copy_req(OV_OP_PUT, remote, 0, mine, 0, 64);
    d.dtype_size = 8;
    ov_completion c;
    ASSERT_EQ(ov_fe_submit(fe, &d), OV_OK);
    ASSERT_EQ(ov_fe_wait(fe, &c, 3000), OV_OK);
    ASSERT_EQ(c.status, OV_OK) << "the grant works while its owner lives";

    (void) !write(go[1], "x", 1);
    int64_t t0 = ms_now();
    do { /* not reaped yet on purpose: a zombie is already gone for the pidfd */
        ASSERT_EQ(ov_fe_submit(fe, &d), OV_OK);
        ASSERT_EQ(ov_fe_wait(fe, &c, 3000), OV_OK);
        if (c.status == OV_OK)
            usleep(2000);
    } while (c.status == OV_OK && ms_now() - t0 < 3000);
    int64_t took = ms_now() - t0;
    EXPECT_EQ(c.status, OV_ERR_NO_WINDOW) << "window of the dead frontend still live";
    EXPECT_LT(took, 1000) << "release took " << took << " ms";
    EXPECT_EQ(read_byte(saw[0], 5000), 'E') << "the backend must close the connection the child still holds";

    (void) !write(bye[1], "x", 1);
    int st;
    EXPECT_EQ(waitpid(fe_pid, &st, 0), fe_pid);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* the grandchild was re-parented; it exits on `bye` (or its 10 s bound) */
    for (int *pp : {info, go, saw, bye}) {
        close(pp[0]);
        close(pp[1]);
    }
    /* The same rank may attach again: the dead process is fully gone. */
    ov_fe_params_t p2 = fe_params(be.uri(), "guest-forks", 7, 1);
    ov_fe_t *again = nullptr;
    EXPECT_EQ(ov_fe_connect(&p2, &again), OV_OK) << ov_fe_last_error(again);
    ov_fe_close(again);
    ov_fe_close(fe);
}

TEST(Pidfd, LiveProcessWithOpenSocketIsNotReleased)
{
    /* The pidfd must not fire for a process that is merely idle. */
    TempDir tmp;
    BackendChild be(tmp.path);
    ASSERT_TRUE(be.start());
    ov_fe_params_t p = fe_params(be.uri(), "guest-idle", 8, 0);
    ov_fe_t *fe = nullptr;
    ASSERT_EQ(ov_fe_connect(&p, &fe), OV_OK) << ov_fe_last_error(fe);
    ov_win_t w;
    ASSERT_EQ(ov_fe_win_create(fe, 4096, &w), OV_OK);
    usleep(200000);
    EXPECT_EQ(ov_fe_check_alive(fe), OV_OK);
    EXPECT_EQ(ov_fe_win_free(fe, &w), OV_OK);
    ov_fe_close(fe);
}
