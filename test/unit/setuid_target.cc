/*
 * setuid_target.cc — the setuid-root program test_exec_safe.cc installs
 * (chown root, chmod u+s) and an unprivileged client execs after HELLO.
 *
 * It holds a secret at a fixed place in its own memory, writes
 * "ADDR EUID\n" (the secret's address, its effective uid) to fd 3, and
 * stays alive until its stdin closes (at most 20 s), so the test can try
 * the backend's single copy on it and then read the secret back itself.
 */
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>

static char secret[64] = "setuid-secret: only root may read or write this.";

int main()
{
    alarm(20); /* never outlive a broken test */
    char line[64];
    int n = snprintf(line, sizeof(line), "%llx %u\n", (unsigned long long) (uintptr_t) secret, unsigned(geteuid()));
    if (write(3, line, size_t(n)) != n)
        return 2;
    close(3);
    char c;
    while (read(0, &c, 1) > 0) {
    }
    return secret[0] == 's' ? 0 : 1; /* the secret is used: it stays in memory */
}
