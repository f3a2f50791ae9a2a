/*
 * status_main.cc — ompi-virt-status: print what the backend serves
 * (guests, processes, windows, per-guest counters), human or JSON.
 * `tools/ompi-virt status` execs this.  Exit: 0 ok, 1 usage, 2 no backend,
 * 3 backend refused (run it on the host, not in a guest).
 */
#include <getopt.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "ov_comm.h"
#include "ov_frontend.h"
#include "wire.h"

static std::string json_str(const char *s)
{
    std::string o = "\"";
    for (; *s; s++) {
        unsigned char c = static_cast<unsigned char>(*s);
        if (c == '"' || c == '\\') {
            o += '\\';
            o += char(c);
        } else if (c < 0x20) {
            char b[8];
            snprintf(b, sizeof(b), "\\u%04x", c);
            o += b;
        } else {
            o += char(c);
        }
    }
    return o + "\"";
}

static void print_json(const ov_status_snapshot &s)
{
    printf("{\"backend\":{\"pid\":%u,\"instance\":\"%016" PRIx64 "\",\"uptime_ms\":%" PRIu64 "},\n",
           s.head.backend_pid, s.head.backend_instance, s.head.uptime_ms);
    printf(" \"guests\":[");
    for (size_t i = 0; i < s.guests.size(); i++) {
        const auto &g = s.guests[i];
        printf("%s\n  {\"name\":%s,\"job\":\"%016" PRIx64 "\",\"processes\":%u,\"windows\":%u,"
               "\"requests\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"errors\":%" PRIu64
               ",\"queue_depth\":%" PRIu64 ",\"region_size\":%" PRIu64 ",\"region_used\":%" PRIu64 "}",
               i ? "," : "", json_str(g.name).c_str(), g.job_key, g.nprocs, g.nwins, g.requests, g.bytes,
               g.errors, g.queue_depth, g.region_size, g.region_used);
    }
    printf("],\n \"processes\":[");
    for (size_t i = 0; i < s.procs.size(); i++) {
        const auto &p = s.procs[i];
        printf("%s\n  {\"id\":%u,\"guest\":%s,\"job\":\"%016" PRIx64 "\",\"rank\":%u,\"pid\":%u,"
               "\"state\":%u,\"requests\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"errors\":%" PRIu64
               ",\"queue_depth\":%u}",
               i ? "," : "", p.proc_id, json_str(s.guests[p.guest_idx].name).c_str(), p.job_key, p.rank,
               p.pid, p.state, p.requests, p.bytes, p.errors, p.queue_depth);
    }
    printf("],\n \"windows\":[");
    for (size_t i = 0; i < s.wins.size(); i++) {
        const auto &w = s.wins[i];
        printf("%s\n  {\"id\":%u,\"epoch\":%u,\"owner\":%u,\"job\":\"%016" PRIx64 "\",\"size\":%" PRIu64
               ",\"grants\":%u}",
               i ? "," : "", w.id, w.epoch, w.owner_proc, w.job_key, w.size, w.ngrants);
    }
    printf("]}\n");
}

static void print_human(const ov_status_snapshot &s)
{
    printf("backend pid %u, instance %016" PRIx64 ", up %" PRIu64 " s\n", s.head.backend_pid,
           s.head.backend_instance, s.head.uptime_ms / 1000);
    printf("\n%-24s %-16s %5s %5s %10s %12s %7s %6s %10s\n", "GUEST", "JOB", "PROCS", "WINS", "REQUESTS",
           "BYTES", "ERRORS", "QUEUE", "USED/SIZE");
    for (const auto &g : s.guests)
        printf("%-24s %016" PRIx64 " %5u %5u %10" PRIu64 " %12" PRIu64 " %7" PRIu64 " %6" PRIu64
               " %4" PRIu64 "/%" PRIu64 "M\n",
               g.name, g.job_key, g.nprocs, g.nwins, g.requests, g.bytes, g.errors, g.queue_depth,
               g.region_used >> 20, g.region_size >> 20);
    printf("\n%6s %-24s %6s %8s %5s %10s %12s %7s %6s\n", "PROC", "GUEST", "RANK", "PID", "STATE",
           "REQUESTS", "BYTES", "ERRORS", "QUEUE");
    for (const auto &p : s.procs)
        printf("%6u %-24s %6u %8u %5u %10" PRIu64 " %12" PRIu64 " %7" PRIu64 " %6u\n", p.proc_id,
               s.guests[p.guest_idx].name, p.rank, p.pid, p.state, p.requests, p.bytes, p.errors,
               p.queue_depth);
    printf("\n%8s %6s %6s %12s %6s\n", "WINDOW", "EPOCH", "OWNER", "SIZE", "GRANTS");
    for (const auto &w : s.wins)
        printf("%8u %6u %6u %12" PRIu64 " %6u\n", w.id, w.epoch, w.owner_proc, w.size, w.ngrants);
}

int main(int argc, char **argv)
{
    bool json = false;
    const char *env = getenv("OMPI_VIRT_DIR");
    std::string dir = env && *env ? env : OV_DEFAULT_DIR;
    static const option longopts[] = {{"json", no_argument, nullptr, 'j'},
                                      {"dir", required_argument, nullptr, 'd'},
                                      {"help", no_argument, nullptr, 'h'},
                                      {nullptr, 0, nullptr, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "jd:h", longopts, nullptr)) != -1) {
        if (ch == 'j') {
            json = true;
        } else if (ch == 'd') {
            dir = optarg;
        } else {
            fprintf(ch == 'h' ? stdout : stderr,
                    "Usage: ompi-virt-status [--json] [--dir DIR]\n"
                    "Show the guests, processes, windows and counters of the ompi-virt backend\n"
                    "serving DIR (default $OMPI_VIRT_DIR or /run/ompi-virt).  Run on the host.\n");
            return ch == 'h' ? 0 : 1;
        }
    }
    ov_comm_uri u{OV_COMM_UNIX, dir + "/" + OV_SOCKET_NAME, "", 0};
    ov_fd fd;
    if (ov_comm_connect(u, &fd) != OV_OK) {
        fprintf(stderr, "ompi-virt-status: no backend at %s: %s\n", u.path.c_str(), strerror(errno));
        return 2;
    }
    ov_status_req req{};
    std::vector<uint8_t> buf(OV_MSG_MAX_PAYLOAD);
    ov_msg_hdr h;
    ov_status_t s = ov_msg_send(fd.get(), OV_MSG_STATUS, 1, &req, sizeof(req), nullptr, 0, false);
    if (s == OV_OK)
        s = ov_msg_recv(fd.get(), &h, buf.data(), uint32_t(buf.size()), nullptr, nullptr, 5000);
    if (s != OV_OK) {
        fprintf(stderr, "ompi-virt-status: %s\n", ov_strerror(s));
        return 2;
    }
    int32_t st = h.len >= 4 ? *reinterpret_cast<int32_t *>(buf.data()) : OV_ERR_PROTO;
    if (st != OV_OK) {
        fprintf(stderr, "ompi-virt-status: backend refused: %s\n", ov_strerror(ov_status_t(st)));
        return 3;
    }
    ov_status_snapshot snap;
    if (ov_status_decode(buf.data(), h.len, &snap) != OV_OK) {
        fprintf(stderr, "ompi-virt-status: malformed status reply\n");
        return 2;
    }
    if (json)
        print_json(snap);
    else
        print_human(snap);
    return 0;
}
