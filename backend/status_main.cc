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

static std::string quota_who(const ov_status_quota &q)
{
    char b[64];
    if (q.kind == 0)
        return "backend";
    if (q.kind == 1)
        return std::string("guest ") + q.guest;
    snprintf(b, sizeof(b), "job %016" PRIx64, q.job_key);
    return b;
}

static void print_quotas_json(const ov_status_snapshot &s)
{
    printf(" \"quotas\":[");
    for (size_t i = 0; i < s.quotas.size(); i++) {
        const auto &q = s.quotas[i];
        printf("%s\n  {\"scope\":\"%s\",", i ? "," : "", q.kind == 0 ? "backend" : q.kind == 1 ? "guest" : "job");
        if (q.kind == 1)
            printf("\"guest\":%s,", json_str(q.guest).c_str());
        if (q.kind == 2)
            printf("\"job\":\"%016" PRIx64 "\",", q.job_key);
        printf("\"connections\":[%u,%u],\"processes\":[%u,%u],\"windows\":[%u,%u],"
               "\"region_bytes\":[%" PRIu64 ",%" PRIu64 "]}",
               q.conns, q.conns_max, q.procs, q.procs_max, q.windows, q.windows_max, q.region_bytes,
               q.region_bytes_max);
    }
    printf("],\n");
}

static void print_quotas_human(const ov_status_snapshot &s)
{
    printf("\n%-28s %13s %13s %13s %17s\n", "QUOTA (used/limit)", "CONNECTIONS", "PROCESSES", "WINDOWS",
           "REGION MiB");
    for (const auto &q : s.quotas) {
        char c[32], p[32], w[32], m[48];
        if (q.kind == 2)
            snprintf(c, sizeof(c), "-");
        else
            snprintf(c, sizeof(c), "%u/%u", q.conns, q.conns_max);
        snprintf(p, sizeof(p), "%u/%u", q.procs, q.procs_max);
        snprintf(w, sizeof(w), "%u/%u", q.windows, q.windows_max);
        snprintf(m, sizeof(m), "%" PRIu64 "/%" PRIu64, q.region_bytes >> 20, q.region_bytes_max >> 20);
        printf("%-28s %13s %13s %13s %17s\n", quota_who(q).c_str(), c, p, w, m);
    }
}

static void print_json(const ov_status_snapshot &s)
{
    printf("{\"backend\":{\"pid\":%u,\"instance\":\"%016" PRIx64 "\",\"uptime_ms\":%" PRIu64 "},\n",
           s.head.backend_pid, s.head.backend_instance, s.head.uptime_ms);
    print_quotas_json(s);
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
    print_quotas_human(s);
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

/* One STATUS page from `first`: 0, or the exit code after saying why. */
static int fetch_page(int fd, uint32_t seq, uint32_t first, std::vector<uint8_t> *buf, ov_status_snapshot *page)
{
    ov_status_req req{first, 0};
    ov_msg_hdr h;
    ov_status_t s = ov_msg_send(fd, OV_MSG_STATUS, seq, &req, sizeof(req), nullptr, 0, false);
    if (s == OV_OK)
        s = ov_msg_recv(fd, &h, buf->data(), uint32_t(buf->size()), nullptr, nullptr, 5000);
    if (s != OV_OK) {
        fprintf(stderr, "ompi-virt-status: %s\n", ov_strerror(s));
        return 2;
    }
    int32_t st = h.len >= 4 ? *reinterpret_cast<int32_t *>(buf->data()) : OV_ERR_PROTO;
    if (st != OV_OK) {
        fprintf(stderr, "ompi-virt-status: backend refused: %s\n", ov_strerror(ov_status_t(st)));
        return 3;
    }
    if (ov_status_decode(buf->data(), h.len, page) != OV_OK) {
        fprintf(stderr, "ompi-virt-status: malformed status reply\n");
        return 2;
    }
    return 0;
}

/* Every page, from the start again if the backend's tables changed
 * between two pages (generation), at most kTries times; then the last
 * try's pages as they are, with a warning. */
static int fetch(int fd, ov_status_snapshot *out)
{
    const int kTries = 5;
    std::vector<uint8_t> buf(OV_MSG_MAX_PAYLOAD);
    uint32_t seq = 0;
    for (int attempt = 1;; attempt++) {
        ov_status_snapshot all, page;
        uint64_t gen = 0;
        bool changed = false;
        uint32_t first = 0;
        for (;;) {
            int rc = fetch_page(fd, ++seq, first, &buf, &page);
            if (rc != 0)
                return rc;
            if (first == 0)
                gen = page.head.generation;
            changed = changed || page.head.generation != gen;
            ov_status_append(&all, page);
            uint32_t got = page.head.nquotas + page.head.nguests + page.head.nprocs + page.head.nwins;
            uint32_t total = page.head.total_quotas + page.head.total_guests + page.head.total_procs +
                             page.head.total_wins;
            first += got;
            if (got == 0 || first >= total)
                break;
        }
        bool whole = true;
        for (const auto &p : all.procs)
            whole = whole && p.guest_idx < all.guests.size();
        if (!changed || attempt == kTries) {
            if (!whole) {
                fprintf(stderr, "ompi-virt-status: the backend's tables changed during every try\n");
                return 2;
            }
            if (changed)
                fprintf(stderr, "ompi-virt-status: warning: tables changed while reading them\n");
            *out = std::move(all);
            return 0;
        }
    }
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
    ov_status_snapshot snap;
    int rc = fetch(fd.get(), &snap);
    if (rc != 0)
        return rc;
    if (json)
        print_json(snap);
    else
        print_human(snap);
    return 0;
}
