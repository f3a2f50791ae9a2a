/*
 * thread_creds.cc — per-thread client identity for single copy (contract in
 * thread_creds.h).
 */
#include "thread_creds.h"

#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "log.h"

namespace {

/* The process's own identity and what it may do, read once. */
struct own_ids {
    uid_t ruid, euid;
    gid_t rgid, egid;
    bool can_switch;   /* root, and leaving uid 0 drops the effective capabilities */
    bool ptrace_cap;   /* CAP_SYS_PTRACE in the effective set */
};

bool effective_cap(int cap)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return true; /* unknown: assume the worst */
    char line[256];
    unsigned long long eff = ~0ull;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "CapEff: %llx", &eff) == 1)
            break;
    fclose(f);
    return (eff >> cap) & 1;
}

const own_ids &own()
{
    static const own_ids ids = [] {
        own_ids o{getuid(), geteuid(), getgid(), getegid(), false, false};
        int bits = prctl(PR_GET_SECUREBITS);
        o.can_switch = o.euid == 0 && bits >= 0 && !(bits & SECBIT_NO_SETUID_FIXUP);
        o.ptrace_cap = effective_cap(19 /* CAP_SYS_PTRACE */);
        return o;
    }();
    return ids;
}

struct thread_state {
    bool switched = false;
    bool stuck = false; /* a switch back failed: refuse everything */
    uid_t uid = 0;
    gid_t gid = 0;
};
thread_local thread_state t_state;

long set_ids(long nr, unsigned r, unsigned e)
{
    return syscall(nr, r, e, -1); /* saved id untouched: the way back stays open */
}

} // namespace

bool ov_creds_can_act_as(uid_t uid, gid_t gid) noexcept
{
    const own_ids &o = own();
    if (o.can_switch)
        return true;
    return uid == o.ruid && uid == o.euid && gid == o.rgid && gid == o.egid && !o.ptrace_cap;
}

bool ov_creds_switched() noexcept { return t_state.switched; }

void ov_creds_restore() noexcept
{
    thread_state &t = t_state;
    if (!t.switched)
        return;
    const own_ids &o = own();
    /* uid first: back at euid 0 the capabilities return, and with them
     * CAP_SETGID for the gid */
    if (set_ids(SYS_setresuid, o.ruid, o.euid) != 0 || set_ids(SYS_setresgid, o.rgid, o.egid) != 0) {
        if (!t.stuck)
            OV_LOG_ERR("cannot return to the backend's own identity: %s; this thread refuses single copy",
                       strerror(errno));
        t.stuck = true;
        return;
    }
    t.switched = false;
}

bool ov_creds_become(uid_t uid, gid_t gid) noexcept
{
    thread_state &t = t_state;
    const own_ids &o = own();
    if (t.switched && t.uid == uid && t.gid == gid)
        return true;
    if (!o.can_switch)
        return ov_creds_can_act_as(uid, gid);
    if (t.switched)
        ov_creds_restore();
    if (t.switched || t.stuck)
        return false;
    if (uid == o.ruid && uid == o.euid && gid == o.rgid && gid == o.egid)
        return true; /* a client with the backend's own ids (root) */
    if (set_ids(SYS_setresgid, gid, gid) != 0)
        return false;
    t.switched = true; /* from here on a failure must switch back */
    t.uid = uid;
    t.gid = gid;
    if (set_ids(SYS_setresuid, uid, uid) != 0) {
        ov_creds_restore();
        return false;
    }
    return true;
}
