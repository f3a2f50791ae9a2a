/*
 * thread_creds.h — the calling thread acts with a client's uid and gid while
 * it reaches that client's memory (single copy, single_copy.h), so the
 * kernel's own ptrace check (ptrace_may_access, run by every
 * process_vm_readv/writev) judges the access as the client's, not as root's.
 *
 * Why per thread: a root backend passes that check for any process,
 * including a setuid program the client exec'd after HELLO.  As the client
 * (real and effective uid/gid, no effective capability) it passes only for
 * a dumpable process whose uids and gids all equal the client's: never a
 * setuid or setgid image, never another user's process.
 *
 * How: raw setresgid/setresuid system calls, which change the calling
 * thread only (glibc's wrappers change every thread of the process).  The
 * saved uid stays the backend's own (0), so the thread can switch back
 * without a capability; the kernel clears the effective capabilities when
 * the effective uid leaves 0 and restores them from the permitted set when it
 * returns.  The current identity is cached per thread: a run of requests
 * from clients of one uid costs no system call at all.
 *
 * Who calls what:
 *   ov_creds_can_act_as  HELLO (any thread): may single copy be offered to
 *                        a client with these ids?  A root backend: yes
 *                        (unless SECBIT_NO_SETUID_FIXUP would keep its
 *                        capabilities).  A non-root backend: only for its
 *                        own ids, and only without CAP_SYS_PTRACE in its
 *                        effective set (which would bypass the check).
 *   ov_creds_become      before each process_vm_* call, on the thread making
 *                        it (data-plane thread, copy-crew helpers).  false:
 *                        the identity could not be taken; make no access.
 *   ov_creds_restore     before the thread does anything else that needs
 *                        the backend's own identity (the event loop's
 *                        control work, sleeping, a helper's nap).  A
 *                        no-op when not switched.
 *
 * While a thread holds a client's real uid, processes of that uid that can
 * name the backend's pid could signal it (kill permission follows the real
 * uid).  Guests live in their own pid namespaces and cannot name it; see the
 * threat model in docs/backend.md.
 */
#ifndef OMPI_VIRT_BACKEND_THREAD_CREDS_H
#define OMPI_VIRT_BACKEND_THREAD_CREDS_H

#include <sys/types.h>

bool ov_creds_can_act_as(uid_t uid, gid_t gid) noexcept;
bool ov_creds_become(uid_t uid, gid_t gid) noexcept;
void ov_creds_restore() noexcept;
/* Whether the calling thread currently acts as a client (tests). */
bool ov_creds_switched() noexcept;

#endif
