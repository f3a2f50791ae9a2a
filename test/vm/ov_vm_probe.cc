/*
 * ov_vm_probe.cc — runs inside a QEMU guest (test/vm/smoke.sh), linked
 * statically against the frontend library: two frontends of one job attach
 * over TCP, find the region as the ivshmem BAR by scanning sysfs, and move
 * bytes through the host backend.  Prints "OVVM probe OK" on success.
 *
 * Environment: OMPI_VIRT_URI (tcp:HOST:PORT), OMPI_VIRT_GUEST (the --vm name).
 */
#include <time.h>

#include <cstdio>
#include <cstring>

#include "ov_frontend.h"
#include "ov_job_id.h"

static int64_t now_ns()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

static bool check(ov_status_t s, ov_fe_t *fe, const char *what)
{
    if (s == OV_OK)
        return true;
    printf("OVVM probe FAILED: %s: %s\n", what, fe ? ov_fe_last_error(fe) : ov_strerror(s));
    return false;
}

static bool roundtrip(ov_fe_t *fe, const ov_req_desc &d, const char *what)
{
    ov_completion c{};
    if (!check(ov_fe_submit(fe, &d), fe, what) || !check(ov_fe_wait(fe, &c, 30000), fe, what))
        return false;
    if (c.status != OV_OK) {
        printf("OVVM probe FAILED: %s completed with %s\n", what, ov_strerror(ov_status_t(c.status)));
        return false;
    }
    return true;
}

int main()
{
    ov_fe_t *fe[2] = {nullptr, nullptr};
    ov_win_t w[2];
    for (uint32_t r = 0; r < 2; r++) {
        ov_fe_params_t p;
        ov_fe_params_default(&p);
        const ov_job_secret js = ov_job_secret_from_seed(0x0f5eed); /* a probe's job needs no secrecy */
        memcpy(p.job_secret, js.b, sizeof(p.job_secret));
        p.rank = r;
        p.timeout_ms = 30000; /* TCG is slow */
        if (!check(ov_fe_connect(&p, &fe[r]), fe[r], "connect") ||
            !check(ov_fe_win_create(fe[r], 4096, &w[r]), fe[r], "win_create"))
            return 1;
    }
    printf("OVVM attached: region %llu bytes, backend instance %016llx\n",
           (unsigned long long) ov_fe_region_size(fe[0]), (unsigned long long) ov_fe_backend_instance(fe[0]));
    if (!check(ov_fe_grant(fe[1], &w[1], 0, OV_PERM_READ | OV_PERM_WRITE), fe[1], "grant"))
        return 1;
    auto *src = static_cast<unsigned char *>(w[0].base);
    for (int i = 0; i < 512; i++)
        src[i] = static_cast<unsigned char>(i * 7 + 1);
    ov_req_desc d{};
    d.op = OV_OP_PUT;
    d.dtype_size = 1;
    d.target_win = w[1].id;
    d.target_epoch = w[1].epoch;
    d.local_win = w[0].id;
    d.local_epoch = w[0].epoch;
    d.length = 512;
    if (!roundtrip(fe[0], d, "put"))
        return 1;
    if (memcmp(w[1].base, src, 512) != 0) {
        printf("OVVM probe FAILED: put did not land in the target window\n");
        return 1;
    }
    d.op = OV_OP_GET;
    d.local_off = 1024;
    if (!roundtrip(fe[0], d, "get") || memcmp(src + 1024, src, 512) != 0) {
        printf("OVVM probe FAILED: get\n");
        return 1;
    }
    ov_req_desc nop{};
    const int n = 200;
    int64_t t0 = now_ns();
    for (int i = 0; i < n; i++)
        if (!roundtrip(fe[0], nop, "nop"))
            return 1;
    printf("OVVM nop round trip %.1f us (TCG: not a performance figure)\n", (now_ns() - t0) / 1e3 / n);
    ov_fe_close(fe[1]);
    ov_fe_close(fe[0]);
    printf("OVVM probe OK\n");
    return 0;
}
