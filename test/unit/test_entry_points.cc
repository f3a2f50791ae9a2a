// No C++ exception reaches C code: the OV_ENTRY wrapper (common/ov_entry.h)
// that every function handed to Open MPI goes through, and the frontend
// library's extern "C" noexcept API (common/ov_frontend.h) under injected
// allocation failures: every call must return a status; an exception
// escaping one of them would std::terminate the process.
// test/mpi/check-entry-points.sh checks that the tables use OV_ENTRY.
#include "harness.h"
#include "ov_entry.h"

#include <cstdlib>
#include <new>
#include <stdexcept>

namespace {

// ------------------------------------------------------- allocation failures
// Armed: the allocation numbered g_fail_at (counting from 0 after arming)
// throws std::bad_alloc (std::nothrow new then returns null).  Only a forked
// child arms it.
long g_fail_at = -1;
long g_allocs = 0;
long g_injected = 0;

void arm(long at)
{
    g_allocs = 0;
    g_injected = 0;
    g_fail_at = at;
}
void disarm() { g_fail_at = -1; }

}  // namespace

#if !defined(__SANITIZE_ADDRESS__)
void *operator new(std::size_t n)
{
    if (g_fail_at >= 0 && g_allocs++ == g_fail_at) {
        ++g_injected;
        throw std::bad_alloc();
    }
    if (void *p = std::malloc(n ? n : 1))
        return p;
    throw std::bad_alloc();
}
void *operator new[](std::size_t n) { return operator new(n); }
void operator delete(void *p) noexcept { std::free(p); }
void operator delete[](void *p) noexcept { std::free(p); }
void operator delete(void *p, std::size_t) noexcept { std::free(p); }
void operator delete[](void *p, std::size_t) noexcept { std::free(p); }
#define OV_CAN_INJECT 1
#endif

namespace {

int returns_seven(int a, int b) { return a + b; }
int throws_bad_alloc(int) { throw std::bad_alloc(); }
int throws_other(int) { throw std::runtime_error("boom"); }
char *pointer_throws() { throw std::logic_error("no"); }
int g_void_calls = 0;
void void_throws(int *n)
{
    ++*n;
    throw 42;
}

TEST(Entry, PassesArgumentsAndResultsThrough)
{
    EXPECT_EQ(OV_ENTRY(returns_seven)(3, 4), 7);
}

TEST(Entry, BadAllocBecomesOutOfResource)
{
    EXPECT_EQ(OV_ENTRY(throws_bad_alloc)(1), -2); /* OPAL/OMPI_ERR_OUT_OF_RESOURCE */
}

TEST(Entry, AnyOtherExceptionBecomesError)
{
    EXPECT_EQ(OV_ENTRY(throws_other)(1), -1); /* OPAL/OMPI_ERROR */
    EXPECT_EQ(OV_ENTRY(pointer_throws)(), nullptr);
    OV_ENTRY(void_throws)(&g_void_calls);
    EXPECT_EQ(g_void_calls, 1);
}

TEST(Entry, WrapperIsNoexcept)
{
    static_assert(noexcept(OV_ENTRY(throws_other)(1)), "what C calls never throws");
    SUCCEED();
}

#ifdef OV_CAN_INJECT
// One frontend lifetime: connect (HELLO, ATTACH, RINGS), a window, a grant,
// a request through the rings, free, close.  Any status is fine; returning
// is what counts.
void frontend_lifetime(const ov_fe_params_t &p)
{
    ov_fe_t *fe = nullptr;
    if (ov_fe_connect(&p, &fe) == OV_OK) {
        ov_win_t w{};
        if (ov_fe_win_create(fe, 4096, &w) == OV_OK) {
            (void) ov_fe_grant(fe, &w, 1, OV_PERM_READ);
            (void) ov_fe_revoke(fe, &w, 1);
            (void) ov_fe_win_free(fe, &w);
        }
        static char mine[256];
        if (ov_fe_win_register(fe, mine, sizeof(mine), &w) == OV_OK)
            (void) ov_fe_win_free(fe, &w);
        (void) ov_fe_check_alive(fe);
    }
    ov_fe_close(fe);
}

TEST(Entry, FrontendApiReturnsUnderEveryAllocationFailure)
{
    TempDir tmp;
    BackendChild be(tmp.path);
    ASSERT_TRUE(be.start());
    const ov_fe_params_t p = fe_params(be.uri(), "inject", 0x1234, 0); /* allocates: not armed */
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        // fail the 1st, 2nd, ... allocation until a run injects nothing
        long at = 0;
        for (; at < 10000; ++at) {
            arm(at);
            frontend_lifetime(p);
            disarm();
            if (g_injected == 0)
                break;
        }
        _exit(at > 0 && at < 10000 ? 0 : 2);  // 2: no allocation at all, or no end
    }
    int st = 0;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT_TRUE(WIFEXITED(st)) << "the frontend died under an injected failure (signal "
                               << (WIFSIGNALED(st) ? WTERMSIG(st) : 0) << ": an exception escaped a noexcept entry)";
    EXPECT_EQ(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0);
}
#endif

}  // namespace
