/*
 * exec_attack.cc — the attack of test_exec_safe.cc, as its own program so it
 * runs as an unprivileged uid from a fresh exec (dumpable, uniform ids),
 * like any client would:
 *
 *   exec_attack URI SETUID_PROGRAM
 *
 * Connects (HELLO with single copy offered), creates a window, forks.  The
 * parent, the process the backend bound, execs SETUID_PROGRAM
 * (setuid_target.cc).  The child keeps the socket and rings, learns where
 * the program's secret is, and asks the backend for a single-copy PUT from
 * that address into its window and a single-copy GET from its window to
 * that address.  It prints one line:
 *
 *   features=F put=STATUS get=STATUS leaked=0|1 addr=HEX euid=N
 *
 * (leaked: the window holds the program's secret after the PUT).  Exit 0
 * when that line was printed, else 2.
 */
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "ov_frontend.h"
#include "ov_job_id.h"

static ov_status_t run(ov_fe_t *fe, const ov_req_desc &d)
{
    ov_completion c{};
    if (ov_fe_submit(fe, &d) != OV_OK || ov_fe_wait(fe, &c, 3000) != OV_OK || c.cookie != d.cookie)
        return OV_ERR_TIMEOUT;
    return ov_status_t(c.status);
}

static ov_req_desc va(uint16_t op, const ov_win_t &w, uint64_t toff, uint64_t addr, uint32_t cookie)
{
    ov_req_desc d{};
    d.cookie = cookie;
    d.op = op;
    d.flags = OV_REQ_LOCAL_VA;
    d.dtype_size = 1;
    d.target_win = w.id;
    d.target_epoch = w.epoch;
    d.target_off = toff;
    d.local_off = addr;
    d.length = 48;
    return d;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    ov_fe_params_t p;
    ov_fe_params_default(&p);
    p.uri = argv[1];
    p.guest = "attacker";
    const ov_job_secret js = ov_job_secret_from_seed(77);
    memcpy(p.job_secret, js.b, sizeof(p.job_secret));
    p.rank = 0;
    p.timeout_ms = 3000;
    ov_fe_t *fe = nullptr;
    ov_win_t w{};
    if (ov_fe_connect(&p, &fe) != OV_OK || ov_fe_win_create(fe, 8192, &w) != OV_OK) {
        fprintf(stderr, "exec_attack: %s\n", ov_fe_last_error(fe));
        return 2;
    }
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return 2;
    pid_t child = fork();
    if (child < 0)
        return 2;
    if (child > 0) { /* the bound process becomes the setuid program */
        close(pipefd[0]);
        if (dup2(pipefd[1], 3) != 3)
            _exit(2);
        execl(argv[2], argv[2], static_cast<char *>(nullptr));
        _exit(127);
    }
    close(pipefd[1]);
    pollfd pf{pipefd[0], POLLIN, 0};
    char line[64] = "";
    if (poll(&pf, 1, 10000) != 1 || read(pipefd[0], line, sizeof(line) - 1) <= 0)
        return 2;
    unsigned long long addr = 0;
    unsigned euid = 0;
    if (sscanf(line, "%llx %u", &addr, &euid) != 2)
        return 2;
    char *win = static_cast<char *>(w.base);
    memset(win, 0, 8192);
    ov_status_t put = run(fe, va(OV_OP_PUT, w, 0, addr, 1)); /* its memory -> our window */
    const bool leaked = memcmp(win, "setuid-secret", 13) == 0;
    memcpy(win + 4096, "PWNED by an unprivileged client through the backend", 48);
    ov_status_t get = run(fe, va(OV_OP_GET, w, 4096, addr, 2)); /* our window -> its memory */
    printf("features=%#x put=%d get=%d leaked=%d addr=%llx euid=%u\n", ov_fe_features(fe), int(put), int(get),
           leaked ? 1 : 0, addr, euid);
    fflush(stdout);
    return 0;
}
