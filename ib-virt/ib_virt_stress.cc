/*
 * ib_virt_stress.cc — two processes stream sequence-numbered tagged messages
 * and checksummed RMA records at each other over ib-virt while one of them
 * moves back and forth between two fabric addresses.
 *
 *   ib-virt-stress [--moves N] [--per-move K] [--addr-a IP] [--addr-b IP]
 *                  [--peer-addr IP] [--provider P] [--timeout S]
 *                  [--peer-netns NAME] [--move-hook CMD]
 *                  [--host-a NAME=DIR --host-b NAME=DIR --move-cmd CMD
 *                   | --prepare-cmd CMD (--cutover-cmd CMD | --commit-cmd CMD)
 *                     [--relocate-early]]
 *                  [--downtime REGIONS]
 *
 * --peer-netns: the child joins network namespace NAME (/run/netns/NAME)
 * before it opens its NIC, so the two sides can sit on different emulated
 * hosts (ib-virt/ib-virt-hosts). --move-hook: run `CMD OLD NEW` when a move
 * is drained and acknowledged, before ibvirt_relocate: it adds the new
 * fabric address and removes the old one, so the old endpoint really dies.
 * The hook must bound itself (the script does).
 *
 * The parent (vid 0) moves between addr-a and addr-b; the child (vid 1) stays
 * on peer-addr. Without --host-a the control path is a SOCK_SEQPACKET
 * socketpair carrying the ib-virt control blobs.
 *
 * With --host-a NAME=DIR --host-b NAME=DIR the control path is the host
 * backends (ompi-virt-backend, fabric mappings: ov_frontend_fabric.h): the
 * mover starts on host A, the child lives on host B; each publishes its
 * mapping through its host's backend and learns the other's from it, and
 * every handshake blob goes guest -> backend -> (the other host's backend)
 * -> guest. A move runs `--move-cmd CMD` as `CMD HOSTNAME` (ompi-virt move
 * GUEST, which prints the guest's new fabric address on its last line),
 * leaves the old host's backend (which withdraws the mapping), relocates to
 * the new address and publishes there. The socketpair then carries only the
 * end-of-run handshake (Open MPI's out-of-band channel, on the management
 * network that stays).
 *
 * --prepare-cmd CMD with --cutover-cmd CMD or --commit-cmd CMD (instead of
 * --move-cmd) split the move as a live migration does: while the mover still
 * runs (and keeps answering), `CMD HOSTNAME` (ompi-virt move --prepare GUEST)
 * adds the new fabric address beside the old one and prints it;
 * --relocate-early then opens the new endpoint there and registers every
 * region on it (ibvirt_relocate_prepare). Only then is the NIC suspended; at
 * READY the old address is deleted first and the relocation starts only
 * when it is gone: deleting it promotes the new address, and a socket bound
 * to that meanwhile fails with EADDRNOTAVAIL (ifaddr_netlink.h). With
 * --commit-cmd the mover deletes it itself (one netlink request, answered
 * when the kernel is done) and runs CMD (ompi-virt move --commit GUEST: the
 * bookkeeping) after the resume; with --cutover-cmd the command (ompi-virt
 * move --cutover-on-input GUEST) is started before the stop, says "ready",
 * gets a go line at READY and says "cut" once the address is gone, and its
 * exit is awaited after the resume. Then the mover leaves the old backend,
 * joins the new one (one backend connection at a time), relocates and
 * publishes. Checks: every message
 * arrives once, in order; every RMA record checks. Prints the counts; the
 * last line is "N passed, N failed" (scripts/test-all counts it). Every wait
 * is bounded by --timeout.
 *
 * --downtime REGIONS: instead of the streams, the peer ping-pongs 8 B with the
 * mover (which has REGIONS registered regions) and reports, per move, the
 * longest gap between its pongs from the last before the move (its prepare
 * step included) to the first after it, the move's total time (start to
 * resume) and blackout (suspend to resume), and how much of the blackout the
 * move command took; the mover prints where its moves' time went (medians
 * per phase).
 */
#include "ib_virt.h"
#include "ifaddr_netlink.h"
#include "ov_frontend_fabric.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <spawn.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <string>
#include <vector>

namespace {

constexpr uint32_t kRecvs = 32, kSlot = 64;
constexpr char kBlob = 'B', kDone = 'D', kMove = 'M';
constexpr uintptr_t kPing = 0x100, kPong = 0x200; /* --downtime: receive contexts */
constexpr const char *kCmProgressUs = "200";      /* FI_OFI_RXM_CM_PROGRESS_INTERVAL, microseconds */

struct Host {
    std::string name, dir; /* NAME=DIR: the host's name (for --move-cmd) and its backend's directory */
};

struct Opts {
    uint32_t moves = 20, per_move = 20;
    std::string addr_a = "127.0.0.1", addr_b = "127.0.0.2", peer_addr = "127.0.0.1";
    std::string provider = "tcp;ofi_rxm";
    std::string peer_netns, move_hook, move_cmd, prepare_cmd, cutover_cmd, commit_cmd;
    bool relocate_early = false; /* live move: ibvirt_relocate_prepare before the stop */
    Host host_a, host_b;
    unsigned char job_secret[OV_JOB_SECRET_BYTES] = {};
    double timeout_s = 120;
    uint32_t downtime_regions = 0; /* --downtime R: ping-pong and measure, R registered regions */
    bool backends() const { return !host_a.dir.empty(); }
};

double now_s()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

/* A command run by /bin/sh -c with its stdin and stdout on pipes, read
 * without blocking so the caller keeps serving while it runs. */
class Command {
public:
    ~Command() { finish(); }
    bool start(const std::string &cmd)
    {
        int in[2], out[2];
        if (pipe2(in, O_CLOEXEC) != 0)
            return false;
        if (pipe2(out, O_CLOEXEC) != 0) {
            close(in[0]);
            close(in[1]);
            return false;
        }
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        const char *argv[] = {"sh", "-c", cmd.c_str(), nullptr};
        int rc = posix_spawn(&pid_, "/bin/sh", &fa, nullptr, const_cast<char **>(argv), environ);
        posix_spawn_file_actions_destroy(&fa);
        close(in[0]);
        close(out[1]);
        in_ = in[1];
        out_ = out[0];
        fcntl(out_, F_SETFL, O_NONBLOCK);
        if (rc != 0)
            pid_ = -1;
        return rc == 0;
    }
    /* Reads what is there; true once the command closed its stdout. */
    bool read_some()
    {
        char b[256];
        ssize_t n;
        while ((n = read(out_, b, sizeof b)) > 0)
            text_.append(b, size_t(n));
        return n == 0;
    }
    /* Blocks until its output holds the line `line` or it closed its stdout
     * (true if it said it), or `deadline` (now_s) passed (false). */
    bool wait_for(const char *line, double deadline)
    {
        for (;;) {
            const bool ended = read_some();
            if (said(line))
                return true;
            const double left = deadline - now_s();
            if (ended || left <= 0)
                return false;
            if (left <= 0)
                return false;
            pollfd p{out_, POLLIN, 0};
            poll(&p, 1, int(left * 1e3) + 1);
        }
        return true;
    }
    /* Whether the output holds a complete line `line`. */
    bool said(const char *line) const { return text_.find(std::string(line) + "\n") != std::string::npos; }
    bool write_line(const char *line)
    {
        std::string l = std::string(line) + "\n";
        return write(in_, l.data(), l.size()) == ssize_t(l.size());
    }
    /* Closes the pipes (end of input: a cutover command abandons its move)
     * and reaps it, killing it after bound_s seconds; its exit status
     * (128 + N: ended by signal N; -1: never started). */
    int finish(double bound_s = 90)
    {
        if (in_ >= 0)
            close(in_);
        if (out_ >= 0)
            close(out_);
        in_ = out_ = -1;
        if (pid_ <= 0)
            return -1;
        int st = 0;
        const double end = now_s() + bound_s;
        while (waitpid(pid_, &st, WNOHANG) == 0) {
            if (now_s() > end) {
                kill(pid_, SIGKILL);
                waitpid(pid_, &st, 0);
                break;
            }
            usleep(1000);
        }
        pid_ = -1;
        return exit_status(st);
    }
    /* Whether it has exited (reaped; *status as finish() returns it); false
     * while it runs. */
    bool exited(int *status)
    {
        int st = 0;
        if (pid_ <= 0) {
            *status = -1;
            return true;
        }
        if (waitpid(pid_, &st, WNOHANG) == 0)
            return false;
        pid_ = -1;
        *status = exit_status(st);
        return true;
    }
    /* The last non-empty line of its output. */
    std::string last_line() const
    {
        std::string t = text_;
        while (!t.empty() && (t.back() == '\n' || t.back() == ' '))
            t.pop_back();
        size_t nl = t.rfind('\n');
        return nl == std::string::npos ? t : t.substr(nl + 1);
    }

private:
    static int exit_status(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1; }
    pid_t pid_ = -1;
    int in_ = -1, out_ = -1;
    std::string text_;
};

/* Runs `cmd`; its last line of output is the guest's new fabric address. */
std::string run_move_cmd(const std::string &cmd)
{
    FILE *f = popen(cmd.c_str(), "r");
    if (f == nullptr)
        return "";
    char line[256];
    std::string last;
    while (std::fgets(line, sizeof(line), f))
        last = line;
    if (pclose(f) != 0)
        return "";
    while (!last.empty() && (last.back() == '\n' || last.back() == ' '))
        last.pop_back();
    return last;
}

uint64_t fnv(const void *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; ++i)
        h = (h ^ static_cast<const unsigned char *>(p)[i]) * 1099511628211ull;
    return h;
}

/* One side of the stream. Region layout: receive slots [0, 16*kRecvs), send
 * words from 4096 (8 B each, never reused), RMA staging from send_end (one
 * record per write, never reused: a queued write reads it later), the
 * peer's records after that. */
class Side {
public:
    Side(const Opts &o, uint32_t self, int sock) : o_(o), self_(self), peer_(1 - self), sock_(sock)
    {
        total_ = o.moves * o.per_move + o.per_move;
        send_at_ = 4096;
        stage_at_ = send_at_ + size_t(total_) * 8;
        recs_at_ = stage_at_ + size_t(total_) * kSlot;
        mem_.assign(recs_at_ + size_t(total_) * kSlot, 0);
        deadline_ = now_s() + o.timeout_s;
    }
    ~Side()
    {
        ov_fe_close(fe_);
        ibvirt_close(nic_);
    }

    bool open(const char *node)
    {
        addr_ = node;
        ibvirt_open_attr a{};
        a.provider = o_.provider.c_str();
        a.node = node;
        a.self = self_;
        a.max_peers = 2;
        a.max_keys = 2 + o_.downtime_regions;
        a.max_ops = 4096;
        a.step_bound_ns = 2000000000ull;
        int rc = ibvirt_open(&a, &nic_);
        if (rc == 0)
            rc = ibvirt_mr_reg(nic_, mem_.data(), mem_.size(), IBVIRT_ACCESS_LOCAL | IBVIRT_ACCESS_REMOTE, &key_);
        for (uint32_t r = 1; rc == 0 && r < o_.downtime_regions; ++r) {
            extra_.emplace_back(65536, char(r));
            uint32_t k;
            rc = ibvirt_mr_reg(nic_, extra_.back().data(), extra_.back().size(),
                               IBVIRT_ACCESS_LOCAL | IBVIRT_ACCESS_REMOTE, &k);
        }
        if (rc)
            return fail("open", rc);
        if (o_.backends()) {
            if (!join(self_ == 0 ? o_.host_a : o_.host_b) || !publish_mapping() || !learn_peer())
                return false;
        } else {
            std::vector<char> blob(ibvirt_ctrl_max_size(nic_));
            size_t len = blob.size();
            if ((rc = ibvirt_mapping_export(nic_, blob.data(), &len)) || !send_sock(kBlob, blob.data(), len))
                return fail("export", rc);
        }
        /* the peer's mapping, then its region key is known */
        while (!have_peer_) {
            if (!pump())
                return false;
        }
        if (o_.downtime_regions)
            return self_ == 0 ? post_pp_recv(kPing) : ping();
        for (uint32_t s = 0; s < kRecvs; ++s)
            if (!post_recv(s))
                return false;
        return true;
    }

    /* ---- --downtime: the peer (vid 1) ping-pongs 8 B with the mover without
     * pause and records when each pong arrives; the mover answers pings,
     * moves, and tells the peer over the socket when each move began
     * (ibvirt_migrate_begin) and ended (RUNNING again). */
    bool post_pp_recv(uintptr_t what)
    {
        char *b = &mem_[what == kPing ? 0 : 16];
        return retry([&] { return ibvirt_trecv(nic_, peer_, b, 8, key_, 0, ~0ull, reinterpret_cast<void *>(what)); });
    }
    bool ping()
    {
        return post_pp_recv(kPong) &&
               retry([&] { return ibvirt_tsend(nic_, peer_, &mem_[32], 8, key_, 1, nullptr); });
    }
    bool on_pp(const ibvirt_completion &c)
    {
        if (c.kind != IBVIRT_OP_RECV)
            return true;
        if (uintptr_t(c.context) == kPing) { /* mover: answer */
            ++pings_answered_;
            return post_pp_recv(kPing) &&
                   retry([&] { return ibvirt_tsend(nic_, peer_, &mem_[48], 8, key_, 2, nullptr); });
        }
        pongs_.push_back(now_s());
        return peer_done_ || ping();
    }
    /* mover: serve for `s` seconds */
    bool serve(double s)
    {
        for (double end = now_s() + s; now_s() < end;)
            if (!pump())
                return false;
        return true;
    }
    bool pp_move(const char *from, const char *node, const Host *dest)
    {
        double t[4]; /* began, suspended, RUNNING again, command time inside the blackout */
        t[0] = now_s();
        if (!move(from, node, dest))
            return false;
        t[1] = suspend_at_;
        t[2] = resumed_at_;
        t[3] = last_cmd_s_;
        return send_sock(kMove, t, sizeof(t));
    }
    /* peer: the gap each move cost, from its last pong before the move began
     * to its first after the move ended */
    bool pp_report()
    {
        while (!peer_done_)
            if (!pump())
                return false;
        std::vector<double> down, total, blackout, cmd, stop_gap, before_gap;
        for (auto &w : windows_) {
            auto first = std::upper_bound(pongs_.begin(), pongs_.end(), w.end);
            auto last = std::upper_bound(pongs_.begin(), pongs_.end(), w.begin);
            auto stop = std::upper_bound(pongs_.begin(), pongs_.end(), w.suspend);
            if (last == pongs_.begin() || first == pongs_.end())
                continue;
            double gap = 0, before = 0;
            for (auto p = last - 1; p != first; ++p) {
                gap = std::max(gap, *(p + 1) - *p);
                if (p + 1 < stop)
                    before = std::max(before, *(p + 1) - *p);
            }
            down.push_back(gap * 1e3);
            stop_gap.push_back((*first - *(stop - 1)) * 1e3); /* last pong before the stop .. first after */
            before_gap.push_back(before * 1e3);
            total.push_back((w.end - w.begin) * 1e3);
            blackout.push_back((w.end - w.suspend) * 1e3);
            cmd.push_back(w.cmd * 1e3);
        }
        if (down.empty())
            return fail("no move seen between pongs", 0);
        auto med = [](std::vector<double> v) {
            std::sort(v.begin(), v.end());
            return v[v.size() / 2];
        };
        /* The downtime is the gap across the stop. The longest gap anywhere
         * in the move's window is printed beside it: on a shared 2-core
         * machine with both sides polling at real-time priority it also holds
         * ~50 ms stalls that recur about once a second with no move running
         * (docs/ib-virt.md, "Downtime"). */
        std::printf("ib-virt-stress downtime regions %u moves %zu: downtime seen by the peer (last pong before the "
                    "suspend .. first after the resume) median %.2f ms (max %.2f); median total migration %.2f ms "
                    "(max %.2f), median blackout %.2f ms, pongs %zu\n",
                    o_.downtime_regions, stop_gap.size(), med(stop_gap),
                    *std::max_element(stop_gap.begin(), stop_gap.end()), med(total),
                    *std::max_element(total.begin(), total.end()), med(blackout), pongs_.size());
        std::printf("ib-virt-stress downtime regions %u: longest gap anywhere in the move's window (preparation "
                    "included) median %.2f ms (max %.2f); before the stop median %.2f ms (max %.2f); of which move "
                    "commands inside the blackout median %.2f ms\n",
                    o_.downtime_regions, med(down), *std::max_element(down.begin(), down.end()), med(before_gap),
                    *std::max_element(before_gap.begin(), before_gap.end()), med(cmd));
        return send_sock(kDone, nullptr, 0);
    }
    bool pp_finish() /* mover */
    {
        if (!send_sock(kDone, nullptr, 0))
            return fail("send done", 0);
        while (!peer_done_)
            if (!pump())
                return false;
        return true;
    }

    bool send_some(uint32_t n)
    {
        for (uint32_t k = 0; k < n && sent_ < total_; ++k) {
            uint32_t seq = sent_++;
            char *b = &mem_[send_at_ + size_t(seq) * 8];
            std::memcpy(b, &seq, 4);
            if (!retry([&] { return ibvirt_tsend(nic_, peer_, b, 4, key_, seq, nullptr); }))
                return false;
            char *rec = &mem_[stage_at_ + size_t(seq) * kSlot];
            std::memset(rec + 16, int(seq * 13 + self_), kSlot - 16);
            uint64_t s64 = seq, sum = fnv(rec + 16, kSlot - 16);
            std::memcpy(rec, &s64, 8);
            std::memcpy(rec + 8, &sum, 8);
            if (!retry([&] {
                    return ibvirt_write(nic_, peer_, rec, kSlot, key_, peer_key_,
                                        recs_at_ + uint64_t(seq) * kSlot, nullptr);
                }))
                return false;
        }
        return true;
    }

    /* dest: the host to move to (control path through the backends), else
     * nullptr and node is the new address (the hook moves it). */
    bool move(const char *from, const char *node, const Host *dest)
    {
        if (dest && !o_.prepare_cmd.empty())
            return live_move(*dest);
        if (!suspend())
            return false;
        int rc;
        std::string addr = node;
        if (dest) { /* the guest moves to host dest: new fabric address, new backend */
            std::string cmd = o_.move_cmd + " " + dest->name;
            const double t0 = now_s();
            addr = run_move_cmd(cmd);
            last_cmd_s_ = now_s() - t0;
            if (addr.empty())
                return fail(("move command failed: " + cmd).c_str(), 0);
            ov_fe_close(fe_); /* the old host's backend withdraws the mapping */
            fe_ = nullptr;
            if (!join(*dest))
                return false;
        } else if (!o_.move_hook.empty()) {
            std::string cmd = o_.move_hook + " " + from + " " + node;
            const double t0 = now_s();
            const int st = std::system(cmd.c_str());
            last_cmd_s_ = now_s() - t0;
            if (st != 0)
                return fail(("move hook failed: " + cmd).c_str(), 0);
        }
        if ((rc = ibvirt_relocate(nic_, addr.c_str(), nullptr)))
            return fail("relocate", rc);
        addr_ = addr;
        if (dest && !publish_mapping())
            return false;
        while (ibvirt_migrate_state_of(nic_) != IBVIRT_MIG_RUNNING)
            if (!pump())
                return false;
        resumed_at_ = now_s();
        ++moves_;
        return true;
    }

    /* Suspend the NIC (posting a few more in stream mode: they are queued)
     * and wait for READY (drained, the peer acknowledged). */
    bool suspend()
    {
        suspend_at_ = now_s();
        int rc = ibvirt_migrate_begin(nic_);
        if (rc)
            return fail("migrate_begin", rc);
        if (!o_.downtime_regions && !send_some(o_.per_move / 4)) /* queued */
            return false;
        while (ibvirt_migrate_state_of(nic_) != IBVIRT_MIG_READY)
            if (!pump())
                return false;
        return true;
    }

    /* Serves until the started command `c` closed its output; its exit
     * status (-1: killed, or serving failed). */
    int await_serving(Command &c)
    {
        while (!c.read_some())
            if (!pump())
                return -1;
        int st;
        while (!c.exited(&st)) /* a command exits a while after its output ends */
            if (!pump())
                return -1;
        c.finish();
        return st;
    }
    /* --downtime: serve until the peer's next ping is answered (at once
     * otherwise). The move's own tools (a shell, `ip`) run on the same 2
     * cores as both endpoints; started right after a stall, their CPU
     * burst would lengthen the stall the peer sees, which a host running
     * them on its own cores would not. */
    bool answer_a_ping()
    {
        for (const uint64_t n = pings_answered_; o_.downtime_regions && pings_answered_ == n;)
            if (!pump())
                return false;
        return true;
    }
    /* Runs `cmd` while serving; its exit status (-1: not started). */
    int run_serving(Command &c, const std::string &cmd) { return c.start(cmd) ? await_serving(c) : -1; }

    /* A move to host dest as a live migration does it: the destination is
     * made ready while this process still serves (prepare command: the new
     * address beside the old; with --relocate-early the new endpoint opened
     * and every region registered on it; the cutover command started and
     * "ready", or the old address looked up). The blackout (suspend ..
     * RUNNING) holds the drain, the deletion of the old address (the
     * cutover command's go and its "cut", or with --commit-cmd a netlink
     * call of this process), leaving the old backend and joining the new
     * one, the relocation and the publish. The old address is gone before
     * the relocation starts: deleting it promotes the new one, and a socket
     * bound to the new address meanwhile fails (ifaddr_netlink.h). The
     * bookkeeping (the cutover command's exit, or the commit command) runs
     * after the resume. Records each phase in phases_. */
    bool live_move(const Host &dest)
    {
        Phases ph{};
        double t = now_s();
        Command prep, cut, commit;
        const int st = run_serving(prep, o_.prepare_cmd + " " + dest.name);
        if (st != 0 || prep.last_line().empty())
            return fail(("prepare command failed (exit status " + std::to_string(st) + ", output \"" +
                         prep.last_line() + "\"): " + o_.prepare_cmd + " " + dest.name).c_str(), 0);
        const std::string addr = prep.last_line();
        ph.prepare = lap(t);
        if (o_.relocate_early) {
            if (int rc = ibvirt_relocate_prepare(nic_, addr.c_str(), nullptr))
                return fail("relocate_prepare", rc);
        }
        if (!answer_a_ping())
            return false;
        ph.open_early = lap(t);
        ibvirt_tools::IfAddr old{};
        const bool own_cut = !o_.commit_cmd.empty();
        if (own_cut) {
            if (int rc = ibvirt_tools::ifaddr_find(addr_.c_str(), &old))
                return fail(("find the old fabric address " + addr_ + ": " + std::strerror(-rc)).c_str(), 0);
        } else {
            if (!cut.start(o_.cutover_cmd))
                return fail("start the cutover command", 0);
            while (!cut.said("ready"))
                if (cut.read_some())
                    return fail(("cutover command ended before it was ready: " + o_.cutover_cmd).c_str(), 0);
                else if (!pump())
                    return false;
        }
        ph.cutover_ready = lap(t);

        if (!suspend())
            return false;
        ph.drain = lap(t);
        if (own_cut) {
            std::string why;
            if (ibvirt_tools::ifaddr_delete(old, 5000, &why) != 0)
                return fail(("delete the old fabric address " + addr_ + ": " + why).c_str(), 0);
        } else if (!cut.write_line("go") || !cut.wait_for("cut", deadline_)) {
            return fail(("the cutover command did not delete the old address: " + o_.cutover_cmd).c_str(), 0);
        }
        ph.cutover_wait = lap(t);
        last_cmd_s_ = ph.cutover_wait;
        /* One connection per guest at a time: the new host's backend is joined
         * only after the old one withdrew the mapping (a join takes well
         * under a millisecond). */
        ov_fe_close(fe_); /* the old host's backend withdraws the mapping */
        fe_ = nullptr;
        if (!join(dest))
            return false;
        ph.leave = lap(t);
        if (int rc = ibvirt_relocate(nic_, addr.c_str(), nullptr))
            return fail("relocate", rc);
        addr_ = addr;
        ph.relocate = lap(t);
        if (!publish_mapping())
            return false;
        ph.publish = lap(t);
        blob_taken_at_ = 0;
        while (ibvirt_migrate_state_of(nic_) != IBVIRT_MIG_RUNNING)
            if (!pump())
                return false;
        ph.resume = lap(t);
        ph.hello = blob_taken_at_ > 0 ? ph.resume - (t - blob_taken_at_) : 0;
        resumed_at_ = t;
        if (!answer_a_ping())
            return false;
        /* after the blackout: its bookkeeping (the guest's new host) */
        if (own_cut ? run_serving(commit, o_.commit_cmd) != 0 : await_serving(cut) != 0)
            return fail(("recording the move failed: " + (own_cut ? o_.commit_cmd : o_.cutover_cmd)).c_str(), 0);
        phases_.push_back(ph);
        ++moves_;
        return true;
    }

    /* Medians of each live move's phases (mover, --prepare-cmd). */
    void report_phases() const
    {
        if (phases_.empty())
            return;
        auto med = [&](double Phases::*f) {
            std::vector<double> v;
            for (auto &p : phases_)
                v.push_back(p.*f * 1e3);
            std::sort(v.begin(), v.end());
            return v[v.size() / 2];
        };
        std::printf("ib-virt-stress vid %u moves %zu, median ms per phase: before the blackout: prepare %.2f, "
                    "new endpoint opened early %.2f, cutover ready %.2f; blackout: drain %.2f, old address deleted %.2f, leave the old backend + join the new %.2f, "
                    "relocate %.2f, publish on the new backend %.2f, resume %.2f (of which the hello %.2f)\n",
                    self_, phases_.size(), med(&Phases::prepare), med(&Phases::open_early), med(&Phases::cutover_ready),
                    med(&Phases::drain), med(&Phases::cutover_wait), med(&Phases::leave), med(&Phases::relocate), med(&Phases::publish), med(&Phases::resume), med(&Phases::hello));
    }

    /* Send the rest, wait for everything both ways, then check the records. */
    bool finish()
    {
        if (!send_some(total_))
            return false;
        while (received_ < total_ || completed_ < 2 * uint64_t(total_))
            if (!pump())
                return false;
        if (!send_sock(kDone, nullptr, 0))
            return fail("send done", 0);
        while (!peer_done_)
            if (!pump())
                return false;
        for (uint32_t w = 0; w < total_; ++w) {
            const char *rec = &mem_[recs_at_ + size_t(w) * kSlot];
            uint64_t s64, sum;
            std::memcpy(&s64, rec, 8);
            std::memcpy(&sum, rec + 8, 8);
            if (s64 != w || sum != fnv(rec + 16, kSlot - 16))
                ++bad_records_;
        }
        return true;
    }

    void report() const
    {
        std::printf("ib-virt-stress vid %u: moves %u, messages sent %u received %u (out of order %u, "
                    "duplicated %u), RMA records checked %u bad %u, epoch %u\n",
                    self_, moves_, sent_, received_, out_of_order_, duplicated_, total_, bad_records_,
                    ibvirt_epoch(nic_));
    }
    bool clean() const
    {
        return received_ == total_ && out_of_order_ == 0 && duplicated_ == 0 && bad_records_ == 0 &&
               errors_ == 0;
    }

private:
    bool fail(const char *what, int rc)
    {
        std::fprintf(stderr, "ib-virt-stress vid %u: %s%s%s\n", self_, what, rc ? ": " : "",
                     rc ? ibvirt_strerror(rc) : "");
        ++errors_;
        return false;
    }

    /* ---- control path through the host backends */
    bool join(const Host &h)
    {
        ov_fe_params_t p;
        ov_fe_params_default(&p);
        const std::string uri = "unix:" + h.dir + "/backend.sock";
        const std::string guest = "ibv-stress-" + std::to_string(self_);
        p.uri = uri.c_str();
        p.guest = guest.c_str();
        std::memcpy(p.job_secret, o_.job_secret, sizeof(p.job_secret));
        p.rank = self_;
        p.timeout_ms = 5000;
        ov_status_t s = ov_fe_open(&p, &fe_);
        if (s != OV_OK) {
            std::fprintf(stderr, "ib-virt-stress vid %u: backend of host %s: %s\n", self_, h.name.c_str(),
                         ov_fe_last_error(fe_));
            ov_fe_close(fe_);
            fe_ = nullptr;
            return fail("join a host's backend", 0);
        }
        return true;
    }

    bool publish_mapping()
    {
        std::vector<char> blob(ibvirt_ctrl_max_size(nic_));
        size_t len = blob.size();
        int rc = ibvirt_mapping_export(nic_, blob.data(), &len);
        if (rc)
            return fail("export", rc);
        ov_status_t s = ov_fe_fabric_publish(fe_, ibvirt_epoch(nic_), blob.data(), uint32_t(len));
        if (s != OV_OK)
            return backend_fail("publish", s);
        return true;
    }

    /* The peer's mapping as this host's backend knows it (it may take the
     * peer a moment to publish, and the backends a moment to link). */
    bool learn_peer()
    {
        std::vector<char> blob(OV_FABRIC_BLOB_MAX);
        for (;;) {
            uint32_t len = uint32_t(blob.size()), epoch;
            int remote;
            ov_status_t s = ov_fe_fabric_lookup(fe_, peer_, blob.data(), &len, &epoch, &remote);
            if (s == OV_OK) {
                int rc = ibvirt_ctrl_deliver_from(nic_, peer_, blob.data(), len);
                if (rc)
                    return fail("deliver the peer's mapping", rc);
                have_peer_ = true;
                return true;
            }
            if (s != OV_ERR_BAD_ARG)
                return backend_fail("lookup", s);
            if (now_s() > deadline_)
                return fail("timed out waiting for the peer's mapping", 0);
            usleep(1000);
        }
    }

    static void on_blob(void *ctx, uint32_t from, const void *blob, uint32_t len)
    {
        Side *s = static_cast<Side *>(ctx);
        int rc = ibvirt_ctrl_deliver_from(s->nic_, from, blob, len);
        if (rc)
            s->fail("ctrl_deliver", rc);
    }

    /* Hand what the NIC wants sent to the backend (a destination the
     * backend does not know yet is retried), take what waits for us. */
    bool pump_backend()
    {
        while (!outbox_.empty()) {
            auto &m = outbox_.front();
            ov_status_t s = ov_fe_fabric_send(fe_, m.first, m.second.data(), uint32_t(m.second.size()));
            if (s == OV_ERR_BAD_ARG)
                break;
            if (s != OV_OK)
                return backend_fail("send", s);
            outbox_.pop_front();
        }
        const double t = now_s();
        if (t - last_take_ < 200e-6)
            return true;
        last_take_ = t;
        const uint32_t errors = errors_;
        int more = 1;
        while (more) {
            ov_status_t s = ov_fe_fabric_take(fe_, on_blob, this, &more);
            if (s != OV_OK)
                return backend_fail("take", s);
        }
        return errors_ == errors;
    }

    bool backend_fail(const char *what, ov_status_t s)
    {
        std::fprintf(stderr, "ib-virt-stress vid %u: backend %s: %s (%s)\n", self_, what, ov_strerror(s),
                     fe_ ? ov_fe_last_error(fe_) : "");
        return fail(what, 0);
    }

    bool send_sock(char type, const void *p, size_t n)
    {
        std::vector<char> m(1 + n);
        m[0] = type;
        if (n)
            std::memcpy(&m[1], p, n);
        return send(sock_, m.data(), m.size(), MSG_NOSIGNAL) == ssize_t(m.size());
    }

    template <typename F> bool retry(F post)
    {
        int rc;
        while ((rc = post()) == IBVIRT_ERR_AGAIN)
            if (!pump())
                return false;
        return rc == 0 || fail("post", rc);
    }

    /* Post (or keep for the next pump, when the provider says AGAIN) a
     * receive into slot; pump() must not recurse into itself. */
    bool post_recv(uint32_t slot)
    {
        int rc = ibvirt_trecv(nic_, peer_, &mem_[size_t(slot) * 16], 16, key_, 0, ~0ull,
                              reinterpret_cast<void *>(uintptr_t(slot) + 1));
        if (rc == IBVIRT_ERR_AGAIN)
            unposted_.push_back(slot);
        return rc == 0 || rc == IBVIRT_ERR_AGAIN || fail("trecv", rc);
    }

    /* Carry control blobs both ways, poll the NIC once. False on timeout,
     * a dead peer (socket closed) or an error completion. */
    bool pump()
    {
        if (now_s() > deadline_)
            return fail("timed out", 0);
        std::vector<uint32_t> again;
        again.swap(unposted_);
        for (uint32_t slot : again)
            if (!post_recv(slot))
                return false;
        std::vector<char> buf(1 + ibvirt_ctrl_max_size(nic_));
        uint32_t dest;
        size_t len = buf.size() - 1;
        while (ibvirt_ctrl_take(nic_, &dest, &buf[1], &len) == 1) {
            if (blob_taken_at_ == 0)
                blob_taken_at_ = now_s();
            if (o_.backends())
                outbox_.emplace_back(dest, std::vector<char>(&buf[1], &buf[1] + len));
            else if (!send_sock(kBlob, &buf[1], len))
                return fail("control socket send", 0);
            len = buf.size() - 1;
        }
        if (o_.backends() && !pump_backend())
            return false;
        ssize_t got;
        while ((got = recv(sock_, buf.data(), buf.size(), MSG_DONTWAIT)) > 0) {
            if (buf[0] == kMove && got == 1 + 4 * sizeof(double)) {
                double t[4];
                std::memcpy(t, &buf[1], sizeof(t));
                windows_.push_back({t[0], t[1], t[2], t[3]});
            } else if (buf[0] == kDone) {
                peer_done_ = true;
            } else {
                int rc = ibvirt_ctrl_deliver(nic_, &buf[1], size_t(got) - 1);
                if (rc)
                    return fail("ctrl_deliver", rc);
                if (!have_peer_) {
                    have_peer_ = true;
                    peer_key_ = 0; /* the peer's one region is its vkey 0 */
                }
            }
        }
        if (got == 0 && !peer_done_) { /* the peer's process is gone */
            ibvirt_peer_dead(nic_, peer_);
            return fail("peer closed the control socket", IBVIRT_ERR_PEER_DEAD);
        }
        ibvirt_completion c[32];
        int n = ibvirt_poll(nic_, c, 32);
        if (n < 0)
            return fail("poll", n);
        /* Both processes poll without sleeping. Idle, give the CPU to
         * whatever else is runnable: on 2 cores under SCHED_RR (how the
         * downtime is measured) the backends carrying the handshake and the
         * move's commands would otherwise wait out a spinner's time slice. */
        if (n == 0)
            sched_yield();
        for (int i = 0; i < n; ++i) {
            if (c[i].status)
                return fail("completion", c[i].status);
            if (o_.downtime_regions) {
                if (!on_pp(c[i]))
                    return false;
                continue;
            }
            if (c[i].kind != IBVIRT_OP_RECV) {
                ++completed_;
                continue;
            }
            uint32_t slot = uint32_t(uintptr_t(c[i].context) - 1), seq;
            std::memcpy(&seq, &mem_[size_t(slot) * 16], 4);
            if (seq < next_)
                ++duplicated_;
            else if (seq > next_)
                ++out_of_order_;
            next_ = seq + 1;
            ++received_;
            if (!post_recv(slot))
                return false;
        }
        return true;
    }

    const Opts &o_;
    uint32_t self_, peer_;
    int sock_;
    ibvirt_nic *nic_ = nullptr;
    ov_fe_t *fe_ = nullptr;                                    /* backend mode: this host's backend */
    std::deque<std::pair<uint32_t, std::vector<char>>> outbox_; /* backend mode: blobs to hand it */
    double last_take_ = 0;
    std::vector<char> mem_;
    std::vector<uint32_t> unposted_; /* receive slots the provider refused with AGAIN */
    uint32_t key_ = 0, peer_key_ = 0;
    size_t send_at_, stage_at_, recs_at_;
    uint32_t total_, sent_ = 0, received_ = 0, next_ = 0, moves_ = 0;
    uint32_t out_of_order_ = 0, duplicated_ = 0, bad_records_ = 0, errors_ = 0;
    uint64_t completed_ = 0;
    bool have_peer_ = false, peer_done_ = false;
    std::vector<std::vector<char>> extra_;           /* --downtime: the extra registered regions */
    std::vector<double> pongs_;                      /* --downtime, peer: when each pong arrived */
    struct Window {
        double begin, suspend, end, cmd; /* a move: began, suspended, RUNNING again, seconds its command took in the blackout */
    };
    std::vector<Window> windows_;  /* --downtime, peer: the mover's moves */
    double last_cmd_s_ = 0;        /* mover: what the last move's command took inside the blackout */
    std::string addr_;             /* my current fabric address */
    double blob_taken_at_ = 0;     /* mover: when the first control blob left the NIC since it was set to 0 */
    uint64_t pings_answered_ = 0;  /* mover, --downtime: pings answered so far */
    double suspend_at_ = 0;        /* mover: when the last move suspended the NIC */
    double resumed_at_ = 0;        /* mover: when it was RUNNING again */
    struct Phases {                /* mover, --prepare-cmd: seconds each phase of a live move took */
        double prepare, open_early, cutover_ready, drain, leave, relocate, cutover_wait, publish, resume;
        double hello; /* of resume: until the PUBLISH left the NIC (the hello completed) */
    };
    std::vector<Phases> phases_;
    /* seconds since t; t becomes now */
    static double lap(double &t)
    {
        const double n = now_s();
        const double d = n - t;
        t = n;
        return d;
    }
    double deadline_;
};

} // namespace

int main(int argc, char **argv)
{
    Opts o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--relocate-early") {
            o.relocate_early = true;
            continue;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "usage: ib-virt-stress [--moves N] [--per-move K] [--addr-a IP] [--addr-b IP] "
                                 "[--peer-addr IP] [--provider P] [--timeout S] [--peer-netns NAME] "
                                 "[--move-hook CMD] [--host-a NAME=DIR --host-b NAME=DIR --move-cmd CMD | "
                                 "--prepare-cmd CMD (--cutover-cmd CMD | --commit-cmd CMD) [--relocate-early]] "
                                 "[--downtime REGIONS]\n");
            return 2;
        }
        const char *v = argv[++i];
        if (a == "--moves") o.moves = uint32_t(std::atoi(v));
        else if (a == "--per-move") o.per_move = uint32_t(std::atoi(v));
        else if (a == "--addr-a") o.addr_a = v;
        else if (a == "--addr-b") o.addr_b = v;
        else if (a == "--peer-addr") o.peer_addr = v;
        else if (a == "--provider") o.provider = v;
        else if (a == "--timeout") o.timeout_s = std::atof(v);
        else if (a == "--peer-netns") o.peer_netns = v;
        else if (a == "--move-hook") o.move_hook = v;
        else if (a == "--move-cmd") o.move_cmd = v;
        else if (a == "--prepare-cmd") o.prepare_cmd = v;
        else if (a == "--cutover-cmd") o.cutover_cmd = v;
        else if (a == "--commit-cmd") o.commit_cmd = v;
        else if (a == "--downtime") o.downtime_regions = uint32_t(std::atoi(v));
        else if (a == "--host-a" || a == "--host-b") {
            std::string s = v;
            size_t eq = s.find('=');
            if (eq == std::string::npos || eq == 0 || eq + 1 == s.size()) {
                std::fprintf(stderr, "ib-virt-stress: %s wants NAME=DIR\n", a.c_str());
                return 2;
            }
            (a == "--host-a" ? o.host_a : o.host_b) = Host{s.substr(0, eq), s.substr(eq + 1)};
        }
        else {
            std::fprintf(stderr, "ib-virt-stress: unknown option %s\n", a.c_str());
            return 2;
        }
    }
    if (o.per_move < 4) {
        std::fprintf(stderr, "ib-virt-stress: --per-move must be >= 4\n");
        return 2;
    }
    const bool cut_given = !o.cutover_cmd.empty() || !o.commit_cmd.empty();
    const bool live = !o.prepare_cmd.empty() && cut_given;
    if (o.prepare_cmd.empty() == cut_given || (!o.cutover_cmd.empty() && !o.commit_cmd.empty()) ||
        (live && !o.move_cmd.empty()) || (live && !o.backends()) || (o.relocate_early && !live) ||
        (o.backends() && (o.host_b.dir.empty() || (o.move_cmd.empty() && !live)))) {
        std::fprintf(stderr, "ib-virt-stress: --host-a needs --host-b and either --move-cmd or --prepare-cmd "
                             "with one of --cutover-cmd and --commit-cmd (--relocate-early: only then)\n");
        return 2;
    }
    /* a command that died must not kill the mover when it writes to it */
    signal(SIGPIPE, SIG_IGN);
    /* rxm progresses connection set-up only every cm_progress_interval
     * (default 10 ms) on each side, and every move opens a connection (the
     * hello): 10-20 ms of each blackout were that wait. Set before the
     * first fi_getinfo (libfabric reads it then); an explicit value wins. */
    setenv("FI_OFI_RXM_CM_PROGRESS_INTERVAL", kCmProgressUs, 0);
    /* the job's secret: both processes know it, nobody else */
    if (getrandom(o.job_secret, sizeof(o.job_secret), 0) != ssize_t(sizeof(o.job_secret))) {
        std::perror("getrandom");
        return 1;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0) {
        std::perror("socketpair");
        return 1;
    }
    std::fflush(stdout);
    pid_t child = fork();
    if (child < 0) {
        std::perror("fork");
        return 1;
    }
    if (child == 0) { /* vid 1: stays put */
        close(sv[0]);
        if (!o.peer_netns.empty()) {
            std::string path = "/run/netns/" + o.peer_netns;
            int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
                std::perror(path.c_str());
                _exit(1);
            }
            close(fd);
        }
        Side s(o, 1, sv[1]);
        bool ok = s.open(o.peer_addr.c_str());
        if (o.downtime_regions) {
            ok = ok && s.pp_report();
            std::fflush(stdout);
            _exit(ok ? 0 : 1);
        }
        for (uint32_t m = 0; ok && m < o.moves; ++m)
            ok = s.send_some(o.per_move);
        ok = ok && s.finish();
        s.report();
        std::fflush(stdout);
        _exit(ok && s.clean() ? 0 : 1);
    }
    close(sv[1]);
    bool ok;
    {
        Side s(o, 0, sv[0]);
        ok = s.open(o.addr_a.c_str());
        for (uint32_t m = 0; ok && o.downtime_regions && m < o.moves; ++m) {
            const char *from = m % 2 ? o.addr_b.c_str() : o.addr_a.c_str();
            const char *to = m % 2 ? o.addr_a.c_str() : o.addr_b.c_str();
            const Host *dest = o.backends() ? (m % 2 ? &o.host_a : &o.host_b) : nullptr;
            ok = s.serve(0.02) && s.pp_move(from, to, dest);
        }
        if (o.downtime_regions) {
            s.report_phases();
            ok = ok && s.pp_finish();
            if (!ok)
                kill(child, SIGKILL);
        }
        for (uint32_t m = 0; ok && !o.downtime_regions && m < o.moves; ++m) {
            const char *from = m % 2 ? o.addr_b.c_str() : o.addr_a.c_str();
            const char *to = m % 2 ? o.addr_a.c_str() : o.addr_b.c_str();
            const Host *dest = o.backends() ? (m % 2 ? &o.host_a : &o.host_b) : nullptr;
            ok = s.send_some(o.per_move - o.per_move / 4) && s.move(from, to, dest);
        }
        if (!o.downtime_regions) {
            ok = ok && s.finish();
            s.report();
            s.report_phases();
            ok = ok && s.clean();
        }
        if (!ok)
            kill(child, SIGKILL);
    }
    int status = 0;
    /* bounded: the child has its own --timeout; a stuck one was killed above */
    waitpid(child, &status, 0);
    bool child_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    std::printf("%d passed, %d failed\n", int(ok) + int(child_ok), int(!ok) + int(!child_ok));
    return ok && child_ok ? 0 : 1;
}
