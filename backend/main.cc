/*
 * main.cc — ompi-virt-backend command line.
 */
#include <getopt.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "backend.h"
#include "log.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: ompi-virt-backend [options]\n"
            "Host backend of ompi-virt: owns the shared regions of co-located guests and\n"
            "carries out their requests.  Runs in the foreground; logs to stderr.\n\n"
            "  -d, --dir DIR         backend directory (socket, lock) [/run/ompi-virt]\n"
            "  -t, --tcp URI         also listen on tcp:HOST:PORT (control plane only)\n"
            "      --vm NAME=FILE[,peer=IP][,pci=DIR][,qmp=SOCKET]\n"
            "                        VM guest NAME (repeatable; needs --tcp): its region is FILE,\n"
            "                        which its QEMU maps as an ivshmem-plain BAR (created 0600 and\n"
            "                        sized if absent); only a tcp peer from IP (default: the\n"
            "                        first that attaches) may claim NAME; the VM's btl segment\n"
            "                        device is hot-plugged through its QEMU monitor (qmp=SOCKET)\n"
            "                        or put in a directory standing for its PCI devices (pci=DIR)\n"
            "  -r, --region-mb N     size of each guest region in MiB [containers: the host's memory;\n"
            "                        VMs: 1024]; memfd regions are sparse, so only the pages windows\n"
            "                        touch cost memory; a VM's must match its QEMU ivshmem size=\n"
            "  -s, --spin-us N       spin this long after the last request before sleeping [200]\n"
            "  -m, --max-request N   largest single copy in bytes [16777216]\n"
            "  -c, --bind-cpu N      bind the backend thread (and region memory, via hwloc) to cpu N\n"
            "      --copy-threads N  helper threads that share each large put/get copy (0: none)\n"
            "                        [cores - 2, at most 3]\n"
            "      --single-copy on|off\n"
            "                        let container guests' processes pass their own buffers by\n"
            "                        address (process_vm_readv/writev: needs ptrace permission on\n"
            "                        them, e.g. root or CAP_SYS_PTRACE) [on]\n"
            "\nLimits (a guest is a network namespace, or a VM's address; a job its job key;\n"
            "a request over one gets an error naming it; `ompi-virt status` shows usage):\n"
            "      --max-guest-conns N    connections per guest [1024]\n"
            "      --max-guest-procs N    processes per guest [1024]\n"
            "      --max-guest-windows N  windows per guest [16384]\n"
            "      --max-guest-region-mb N  region memory (windows, rings) per guest [8192]\n"
            "      --max-job-procs N      processes per job [1024]\n"
            "      --max-job-windows N    windows per job [16384]\n"
            "      --max-job-region-mb N  region memory per job [8192]\n"
            "      --max-conns N          connections in all [8192, lowered to fit the open-file limit]\n"
            "      --max-procs N          processes in all [4096]\n"
            "      --max-windows N        windows in all [65536]\n"
            "      --max-region-mb N      region memory in all [65536]\n"
            "      --max-job-fabric-mappings N  fabric mappings (ranks) per job [4096]\n"
            "      --max-job-fabric-queue-kb N  undelivered fabric control bytes per job [1024]\n"
            "                        a per-guest or per-job limit above half the matching\n"
            "                        backend-wide one is lowered to that half\n"
            "      --stall-ms N          close a connection that stops mid-message, or sends no\n"
            "                        HELLO, for N ms [5000]\n"
            "      --control-batch N     control messages of one connection handled between two\n"
            "                        passes over the request rings [8]\n"
            "      --fabric-listen IP:PORT\n"
            "                        links to other hosts' backends for ib-virt's fabric mappings\n"
            "                        (the address as those backends name it in --fabric-peer)\n"
            "      --fabric-peer IP:PORT  another host's backend (repeatable)\n"
            "  -v, --verbose         debug logging\n"
            "  -h, --help            this text\n\n"
            "Frontends find the backend through $OMPI_VIRT_DIR (default /run/ompi-virt)\n"
            "or $OMPI_VIRT_URI.  SIGTERM/SIGINT shut down cleanly.  Exit status: 0 clean,\n"
            "1 usage, 2 directory owned by another backend, 3 other start-up failure.\n");
}

static bool to_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !*s || *end)
        return false;
    *out = v;
    return true;
}

/* The numeric limit options: long name, where it goes, range, unit. */
struct limit_opt {
    const char *name;
    uint64_t lo, hi, unit;
    uint32_t *u32;
    uint64_t *u64;
};

static bool set_limit(const limit_opt &l, const char *arg)
{
    uint64_t v;
    if (!to_u64(arg, &v) || v < l.lo || v > l.hi) {
        fprintf(stderr, "ompi-virt-backend: bad --%s '%s' (%llu to %llu)\n", l.name, arg,
                (unsigned long long) l.lo, (unsigned long long) l.hi);
        return false;
    }
    if (l.u32)
        *l.u32 = uint32_t(v);
    else
        *l.u64 = v * l.unit;
    return true;
}

int main(int argc, char **argv)
{
    ov_backend_options o;
    const char *env = getenv("OMPI_VIRT_DIR");
    if (env && *env)
        o.dir = env;
    static const option longopts[] = {
        {"dir", required_argument, nullptr, 'd'},        {"tcp", required_argument, nullptr, 't'},
        {"region-mb", required_argument, nullptr, 'r'},  {"spin-us", required_argument, nullptr, 's'},
        {"max-request", required_argument, nullptr, 'm'}, {"bind-cpu", required_argument, nullptr, 'c'},
        {"verbose", no_argument, nullptr, 'v'},          {"help", no_argument, nullptr, 'h'},
        {"vm", required_argument, nullptr, 'V'},
        {"single-copy", required_argument, nullptr, 1001},
        {"copy-threads", required_argument, nullptr, 1002},
        {"fabric-listen", required_argument, nullptr, 1003},
        {"fabric-peer", required_argument, nullptr, 1004},
        {nullptr, 0, nullptr, 0}};
    ov_quota_limits &q = o.quota;
    const uint64_t MiB = 1 << 20, kMaxMb = uint64_t(1) << 30;
    const limit_opt limits[] = {
        {"max-guest-conns", 1, 1u << 24, 1, &q.guest_conns, nullptr},
        {"max-guest-procs", 1, 1u << 24, 1, &q.guest_procs, nullptr},
        {"max-guest-windows", 1, 1u << 24, 1, &q.guest_windows, nullptr},
        {"max-guest-region-mb", 1, kMaxMb, MiB, nullptr, &q.guest_region_bytes},
        {"max-job-procs", 1, 1u << 24, 1, &q.job_procs, nullptr},
        {"max-job-windows", 1, 1u << 24, 1, &q.job_windows, nullptr},
        {"max-job-region-mb", 1, kMaxMb, MiB, nullptr, &q.job_region_bytes},
        {"max-conns", 1, 1u << 24, 1, &q.conns, nullptr},
        {"max-procs", 1, 1u << 24, 1, &q.procs, nullptr},
        {"max-windows", 1, 1u << 24, 1, &q.windows, nullptr},
        {"max-region-mb", 1, kMaxMb, MiB, nullptr, &q.region_bytes},
        {"max-job-fabric-mappings", 1, 1u << 20, 1, &q.job_fabric_mappings, nullptr},
        {"max-job-fabric-queue-kb", 1, uint64_t(1) << 30, 1024, nullptr, &q.job_fabric_queue_bytes},
        {"stall-ms", 10, 3600000, 1, &o.stall_ms, nullptr},
        {"control-batch", 1, 1u << 16, 1, &o.ctl_per_pass, nullptr},
    };
    const int kLimitBase = 2000, nlimits = int(sizeof(limits) / sizeof(limits[0]));
    std::vector<option> all(longopts, longopts + sizeof(longopts) / sizeof(longopts[0]) - 1);
    for (int i = 0; i < nlimits; i++)
        all.push_back({limits[i].name, required_argument, nullptr, kLimitBase + i});
    all.push_back({nullptr, 0, nullptr, 0});
    int ch;
    uint64_t v;
    while ((ch = getopt_long(argc, argv, "d:t:r:s:m:c:vh", all.data(), nullptr)) != -1) {
        switch (ch) {
        case 'd': o.dir = optarg; break;
        case 't': o.tcp = optarg; break;
        case 'r':
            if (!to_u64(optarg, &v) || v == 0 || v > (1u << 20)) {
                fprintf(stderr, "ompi-virt-backend: bad --region-mb '%s'\n", optarg);
                return 1;
            }
            o.region_size = v << 20;
            break;
        case 's':
            if (!to_u64(optarg, &v) || v > 10000000) {
                fprintf(stderr, "ompi-virt-backend: bad --spin-us '%s'\n", optarg);
                return 1;
            }
            o.spin_us = uint32_t(v);
            break;
        case 'm':
            if (!to_u64(optarg, &v) || v == 0) {
                fprintf(stderr, "ompi-virt-backend: bad --max-request '%s'\n", optarg);
                return 1;
            }
            o.max_request = v;
            break;
        case 'c':
            if (!to_u64(optarg, &v) || v > 65535) {
                fprintf(stderr, "ompi-virt-backend: bad --bind-cpu '%s'\n", optarg);
                return 1;
            }
            o.bind_cpu = int(v);
            break;
        case 'V': {
            ov_vm_decl d;
            std::string err;
            if (ov_vm_parse(optarg, &d, &err) != OV_OK) {
                fprintf(stderr, "ompi-virt-backend: bad --vm '%s': %s\n", optarg, err.c_str());
                return 1;
            }
            o.vms.push_back(d);
            break;
        }
        case 1001:
            if (strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0) {
                fprintf(stderr, "ompi-virt-backend: bad --single-copy '%s' (on or off)\n", optarg);
                return 1;
            }
            o.single_copy = strcmp(optarg, "on") == 0;
            break;
        case 1002:
            if (!to_u64(optarg, &v) || v > 64) {
                fprintf(stderr, "ompi-virt-backend: bad --copy-threads '%s' (0 to 64)\n", optarg);
                return 1;
            }
            o.copy_threads = int(v);
            break;
        case 1003: o.fabric.listen = optarg; break;
        case 1004: o.fabric.peers.push_back(optarg); break;
        case 'v': ov_log_verbose = 1; break;
        default:
            if (ch >= kLimitBase && ch < kLimitBase + nlimits) {
                if (!set_limit(limits[ch - kLimitBase], optarg))
                    return 1;
                break;
            }
            usage(stderr);
            return 1;
        case 'h': usage(stdout); return 0;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 1;
    }
    ov_backend b(o);
    ov_status_t s = b.start();
    if (s != OV_OK)
        return s == OV_ERR_BUSY ? 2 : 3;
    s = b.run();
    return s == OV_OK ? 0 : 3;
}
