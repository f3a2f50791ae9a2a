/*
 * ib_virt_stress.cc — two processes stream sequence-numbered tagged messages
 * and checksummed RMA records at each other over ib-virt while one of them
 * moves back and forth between two fabric addresses.
 *
 *   ib-virt-stress [--moves N] [--per-move K] [--addr-a IP] [--addr-b IP]
 *                  [--peer-addr IP] [--provider P] [--timeout S]
 *                  [--peer-netns NAME] [--move-hook CMD]
 *
 * --peer-netns: the child joins network namespace NAME (/run/netns/NAME)
 * before it opens its NIC, so the two sides can sit on different emulated
 * hosts (ib-virt/ib-virt-hosts). --move-hook: run `CMD OLD NEW` when a move
 * is drained and acknowledged, before ibvirt_relocate: it adds the new
 * fabric address and removes the old one, so the old endpoint really dies.
 * The hook must bound itself (the script does).
 *
 * The parent (vid 0) moves between addr-a and addr-b; the child (vid 1) stays
 * on peer-addr. The control path is a SOCK_SEQPACKET socketpair carrying the
 * ib-virt control blobs (a host backend's job later). Checks: every message
 * arrives once, in order; every RMA record checks. Prints the counts; the
 * last line is "N passed, N failed" (scripts/test-all counts it). Every wait
 * is bounded by --timeout.
 */
#include "ib_virt.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

constexpr uint32_t kRecvs = 32, kSlot = 64;
constexpr char kBlob = 'B', kDone = 'D';

struct Opts {
    uint32_t moves = 20, per_move = 20;
    std::string addr_a = "127.0.0.1", addr_b = "127.0.0.2", peer_addr = "127.0.0.1";
    std::string provider = "tcp;ofi_rxm";
    std::string peer_netns, move_hook;
    double timeout_s = 120;
};

double now_s()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
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
    ~Side() { ibvirt_close(nic_); }

    bool open(const char *node)
    {
        ibvirt_open_attr a{};
        a.provider = o_.provider.c_str();
        a.node = node;
        a.self = self_;
        a.max_peers = 2;
        a.max_keys = 2;
        a.max_ops = 4096;
        a.step_bound_ns = 2000000000ull;
        int rc = ibvirt_open(&a, &nic_);
        if (rc == 0)
            rc = ibvirt_mr_reg(nic_, mem_.data(), mem_.size(), IBVIRT_ACCESS_LOCAL | IBVIRT_ACCESS_REMOTE, &key_);
        if (rc)
            return fail("open", rc);
        std::vector<char> blob(ibvirt_ctrl_max_size(nic_));
        size_t len = blob.size();
        if ((rc = ibvirt_mapping_export(nic_, blob.data(), &len)) || !send_sock(kBlob, blob.data(), len))
            return fail("export", rc);
        /* the peer's mapping, then its region key is known */
        while (!have_peer_) {
            if (!pump())
                return false;
        }
        for (uint32_t s = 0; s < kRecvs; ++s)
            if (!post_recv(s))
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

    bool move(const char *from, const char *node)
    {
        int rc = ibvirt_migrate_begin(nic_);
        if (rc)
            return fail("migrate_begin", rc);
        if (!send_some(o_.per_move / 4)) /* queued */
            return false;
        while (ibvirt_migrate_state_of(nic_) != IBVIRT_MIG_READY)
            if (!pump())
                return false;
        if (!o_.move_hook.empty()) {
            std::string cmd = o_.move_hook + " " + from + " " + node;
            if (std::system(cmd.c_str()) != 0)
                return fail(("move hook failed: " + cmd).c_str(), 0);
        }
        if ((rc = ibvirt_relocate(nic_, node, nullptr)))
            return fail("relocate", rc);
        while (ibvirt_migrate_state_of(nic_) != IBVIRT_MIG_RUNNING)
            if (!pump())
                return false;
        ++moves_;
        return true;
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
            if (!send_sock(kBlob, &buf[1], len))
                return fail("control socket send", 0);
            len = buf.size() - 1;
        }
        ssize_t got;
        while ((got = recv(sock_, buf.data(), buf.size(), MSG_DONTWAIT)) > 0) {
            if (buf[0] == kDone) {
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
        for (int i = 0; i < n; ++i) {
            if (c[i].status)
                return fail("completion", c[i].status);
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
    std::vector<char> mem_;
    std::vector<uint32_t> unposted_; /* receive slots the provider refused with AGAIN */
    uint32_t key_ = 0, peer_key_ = 0;
    size_t send_at_, stage_at_, recs_at_;
    uint32_t total_, sent_ = 0, received_ = 0, next_ = 0, moves_ = 0;
    uint32_t out_of_order_ = 0, duplicated_ = 0, bad_records_ = 0, errors_ = 0;
    uint64_t completed_ = 0;
    bool have_peer_ = false, peer_done_ = false;
    double deadline_;
};

} // namespace

int main(int argc, char **argv)
{
    Opts o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (i + 1 >= argc) {
            std::fprintf(stderr, "usage: ib-virt-stress [--moves N] [--per-move K] [--addr-a IP] [--addr-b IP] "
                                 "[--peer-addr IP] [--provider P] [--timeout S] [--peer-netns NAME] "
                                 "[--move-hook CMD]\n");
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
        else {
            std::fprintf(stderr, "ib-virt-stress: unknown option %s\n", a.c_str());
            return 2;
        }
    }
    if (o.per_move < 4) {
        std::fprintf(stderr, "ib-virt-stress: --per-move must be >= 4\n");
        return 2;
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
        for (uint32_t m = 0; ok && m < o.moves; ++m) {
            const char *from = m % 2 ? o.addr_b.c_str() : o.addr_a.c_str();
            const char *to = m % 2 ? o.addr_a.c_str() : o.addr_b.c_str();
            ok = s.send_some(o.per_move - o.per_move / 4) && s.move(from, to);
        }
        ok = ok && s.finish();
        s.report();
        ok = ok && s.clean();
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
