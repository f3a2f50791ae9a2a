/*
 * test_main.cc — gtest main with a hang watchdog: every test must finish
 * within OV_TEST_TIMEOUT seconds (default 60) or the binary aborts loudly.
 * (alarm(), not a thread, so tests may fork safely; pending alarms are not
 * inherited by children.)
 */
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

static unsigned timeout_s = 60;
static char current[256];

static void on_alarm(int)
{
    const char pre[] = "\n*** watchdog: test hung: ";
    (void) !write(2, pre, sizeof(pre) - 1);
    (void) !write(2, current, strlen(current));
    (void) !write(2, "\n", 1);
    _exit(124);
}

class Watchdog : public testing::EmptyTestEventListener {
    void OnTestStart(const testing::TestInfo &t) override
    {
        snprintf(current, sizeof(current), "%s.%s", t.test_suite_name(), t.name());
        alarm(timeout_s);
    }
    void OnTestEnd(const testing::TestInfo &) override { alarm(0); }
};

int main(int argc, char **argv)
{
    testing::InitGoogleTest(&argc, argv);
    if (const char *t = getenv("OV_TEST_TIMEOUT"))
        timeout_s = unsigned(atoi(t));
    signal(SIGALRM, on_alarm);
    signal(SIGPIPE, SIG_IGN);
    testing::UnitTest::GetInstance()->listeners().Append(new Watchdog);
    return RUN_ALL_TESTS();
}
