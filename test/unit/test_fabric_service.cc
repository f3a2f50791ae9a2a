/*
 * test_fabric_service.cc — the fabric mapping service (backend/fabric_mappings.h)
 * between two backends on loopback, each its "host": mappings published on
 * one host are learned on the other, handshake blobs reach a rank wherever it
 * lives, a rank that moves is found on its new host, another job learns
 * nothing, a peer that does not hold the job's key is refused, and the
 * per-job limits hold.
 */
#include "harness.h"

#include <cstring>
#include <string>
#include <vector>

#include "fabric_link.h"
#include "ov_frontend_fabric.h"

namespace {

struct Host {
    TempDir dir;
    BackendChild b{dir.path};
    std::string addr;
};

/* Two backends that know each other as fabric peers. */
struct TwoHosts {
    Host a, b;
    explicit TwoHosts(const ov_quota_limits *q = nullptr)
    {
        a.addr = "127.0.0.1:" + std::to_string(free_port());
        b.addr = "127.0.0.1:" + std::to_string(free_port());
        for (Host *h : {&a, &b}) {
            h->b.opts.fabric.listen = h->addr;
            h->b.opts.fabric.peers = {h == &a ? b.addr : a.addr};
            if (q)
                h->b.opts.quota = *q;
        }
    }
    bool start() { return a.b.start() && b.b.start(); }
};

ov_fe_t *open_fe(const Host &h, const char *guest, uint64_t job, uint32_t rank)
{
    return ::open_fe(h.b.uri(), guest, job, rank);
}

std::string lookup(ov_fe_t *fe, uint32_t vid, uint32_t *epoch = nullptr, int *remote = nullptr)
{
    char buf[OV_FABRIC_BLOB_MAX];
    uint32_t len = sizeof(buf), e = 0;
    int r = 0;
    if (ov_fe_fabric_lookup(fe, vid, buf, &len, &e, &r) != OV_OK)
        return "";
    if (epoch)
        *epoch = e;
    if (remote)
        *remote = r;
    return std::string(buf, len);
}

/* Looks vid up until its blob is `want` (5 s at most). */
bool learns(ov_fe_t *fe, uint32_t vid, const std::string &want, int *remote = nullptr)
{
    for (int64_t end = ms_now() + 5000; ms_now() < end; usleep(2000))
        if (lookup(fe, vid, nullptr, remote) == want)
            return true;
    return false;
}

struct Letter {
    uint32_t from;
    std::string blob;
};

void collect(void *ctx, uint32_t from, const void *blob, uint32_t len)
{
    static_cast<std::vector<Letter> *>(ctx)->push_back({from, std::string(static_cast<const char *>(blob), len)});
}

/* Takes until n letters arrived (5 s at most). */
std::vector<Letter> take(ov_fe_t *fe, size_t n)
{
    std::vector<Letter> got;
    for (int64_t end = ms_now() + 5000; got.size() < n && ms_now() < end; usleep(1000))
        EXPECT_EQ(ov_fe_fabric_take(fe, collect, &got, nullptr), OV_OK) << ov_fe_last_error(fe);
    return got;
}

ov_status_t publish(ov_fe_t *fe, uint32_t epoch, const std::string &blob)
{
    return ov_fe_fabric_publish(fe, epoch, blob.data(), uint32_t(blob.size()));
}

ov_status_t send_to(ov_fe_t *fe, uint32_t dest, const std::string &blob)
{
    return ov_fe_fabric_send(fe, dest, blob.data(), uint32_t(blob.size()));
}

} // namespace

TEST(FabricService, MappingsAndBlobsCrossHostsInOrder)
{
    TwoHosts h;
    ASSERT_TRUE(h.start());
    ov_fe_t *p0 = open_fe(h.a, "g0", 7, 0), *p1 = open_fe(h.b, "g1", 7, 1);
    ASSERT_TRUE(p0 && p1);
    EXPECT_EQ(ov_fe_fabric_send(p0, 1, "x", 1), OV_ERR_STATE) << "send before publish";
    ASSERT_EQ(publish(p0, 0, "map of 0 on A"), OV_OK);
    ASSERT_EQ(publish(p1, 0, "map of 1 on B"), OV_OK);
    int remote = 0;
    EXPECT_TRUE(learns(p0, 1, "map of 1 on B", &remote));
    EXPECT_EQ(remote, 1);
    EXPECT_TRUE(learns(p1, 0, "map of 0 on A"));
    EXPECT_EQ(lookup(p0, 0, nullptr, &remote), "map of 0 on A");
    EXPECT_EQ(remote, 0);
    for (int i = 0; i < 50; i++)
        ASSERT_EQ(send_to(p0, 1, "suspend " + std::to_string(i)), OV_OK);
    std::vector<Letter> got = take(p1, 50);
    ASSERT_EQ(got.size(), 50u);
    for (int i = 0; i < 50; i++) {
        EXPECT_EQ(got[size_t(i)].from, 0u);
        EXPECT_EQ(got[size_t(i)].blob, "suspend " + std::to_string(i));
    }
    ASSERT_EQ(send_to(p1, 0, "ack"), OV_OK);
    got = take(p0, 1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].from, 1u);
    EXPECT_EQ(got[0].blob, "ack");
    ov_fe_close(p0);
    ov_fe_close(p1);
}

/* Rank 0 leaves host A and publishes on host B: its peer on A sees the new
 * mapping (not the old one), and blobs follow it. */
TEST(FabricService, AMovedRankIsFoundOnItsNewHost)
{
    TwoHosts h;
    ASSERT_TRUE(h.start());
    ov_fe_t *p0 = open_fe(h.a, "g0", 8, 0), *p2 = open_fe(h.a, "g2", 8, 2), *p1 = open_fe(h.b, "g1", 8, 1);
    ASSERT_TRUE(p0 && p1 && p2);
    ASSERT_EQ(publish(p0, 0, "0@A"), OV_OK);
    ASSERT_EQ(publish(p1, 0, "1@B"), OV_OK);
    ASSERT_EQ(publish(p2, 0, "2@A"), OV_OK);
    ASSERT_TRUE(learns(p1, 0, "0@A"));
    ov_fe_close(p0); /* leaves host A ... */
    for (int64_t end = ms_now() + 5000; ms_now() < end && !lookup(p1, 0).empty(); usleep(2000)) {
    }
    EXPECT_EQ(lookup(p1, 0), "") << "withdrawn on B once it left A";
    p0 = open_fe(h.b, "g0", 8, 0); /* ... arrives on host B */
    ASSERT_TRUE(p0);
    ASSERT_EQ(publish(p0, 1, "0@B"), OV_OK);
    uint32_t epoch = 0;
    int remote = 0;
    EXPECT_TRUE(learns(p2, 0, "0@B", &remote));
    EXPECT_EQ(remote, 1);
    EXPECT_EQ(lookup(p2, 0, &epoch), "0@B");
    EXPECT_EQ(epoch, 1u);
    ASSERT_EQ(send_to(p2, 0, "publish-ack"), OV_OK);
    std::vector<Letter> got = take(p0, 1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].from, 2u);
    ov_fe_close(p0);
    ov_fe_close(p1);
    ov_fe_close(p2);
}

TEST(FabricService, AnotherJobLearnsNothing)
{
    TwoHosts h;
    ASSERT_TRUE(h.start());
    ov_fe_t *x0 = open_fe(h.a, "g0", 9, 0), *y1 = open_fe(h.b, "g1", 10, 1), *x1 = open_fe(h.b, "g1", 9, 1);
    ASSERT_TRUE(x0 && y1 && x1);
    ASSERT_EQ(publish(y1, 0, "job 10 rank 1"), OV_OK);
    ASSERT_EQ(publish(x0, 0, "job 9 rank 0"), OV_OK);
    ASSERT_EQ(publish(x1, 0, "job 9 rank 1"), OV_OK);
    EXPECT_TRUE(learns(x0, 1, "job 9 rank 1"));
    EXPECT_EQ(lookup(y1, 0), "") << "job 10 must not see job 9's rank 0";
    EXPECT_EQ(send_to(y1, 0, "hostile"), OV_ERR_BAD_ARG);
    ov_fe_close(x0);
    ov_fe_close(y1);
    ov_fe_close(x1);
}

namespace {
int tcp_connect(const std::string &addr)
{
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(uint16_t(std::stoi(addr.substr(addr.rfind(':') + 1))));
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{3, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(s, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) != 0) {
        close(s);
        return -1;
    }
    return s;
}

/* Reads until the peer closes (true) or 3 s pass (false). */
bool closed_by_peer(int s)
{
    char buf[512];
    for (;;) {
        ssize_t n = recv(s, buf, sizeof(buf), 0);
        if (n == 0)
            return true;
        if (n < 0)
            return false;
    }
}
} // namespace

/* A client that knows the job's public key and a configured peer address,
 * but not the secret: it gets a challenge, answers wrong, is closed, and
 * nothing it sends after lands. */
TEST(FabricService, APeerWithoutTheJobKeyIsRefused)
{
    TwoHosts h;
    ASSERT_TRUE(h.start());
    ov_fe_t *x0 = open_fe(h.a, "g0", 11, 0);
    ASSERT_TRUE(x0);
    ASSERT_EQ(publish(x0, 0, "x0"), OV_OK);
    const ov_job_secret js = ov_job_secret_from_seed(11);
    ov_link_hello hello{};
    hello.job_key = ov_job_public_key(js);
    std::strcpy(hello.addr, h.b.addr.c_str()); /* claims to be host B */
    std::vector<uint8_t> out;
    const void *hp[] = {&hello};
    const size_t hl[] = {sizeof(hello)};
    ov_link_encode(link_type::hello, hp, hl, 1, nullptr, 0, &out);
    ov_link_auth bad{};
    const void *ap[] = {&bad};
    const size_t al[] = {sizeof(bad)};
    ov_link_encode(link_type::auth, ap, al, 1, nullptr, 0, &out);
    ov_link_map m{5, 0, 6, 0};
    const void *mp[] = {&m, "forged"};
    const size_t ml[] = {sizeof(m), 6};
    unsigned char guess[kLinkMac] = {};
    ov_link_encode(link_type::map, mp, ml, 2, guess, 0, &out);
    int s = tcp_connect(h.a.addr);
    ASSERT_GE(s, 0);
    ASSERT_EQ(send(s, out.data(), out.size(), MSG_NOSIGNAL), ssize_t(out.size()));
    EXPECT_TRUE(closed_by_peer(s));
    close(s);
    /* an address that is no configured peer, and a job not served there */
    for (auto [addr, key] : {std::pair<std::string, uint64_t>{"127.0.0.9:1", hello.job_key},
                             std::pair<std::string, uint64_t>{h.b.addr, hello.job_key ^ 1}}) {
        ov_link_hello other = hello;
        std::memset(other.addr, 0, sizeof(other.addr));
        std::strcpy(other.addr, addr.c_str());
        other.job_key = key;
        std::vector<uint8_t> f;
        const void *op[] = {&other};
        ov_link_encode(link_type::hello, op, hl, 1, nullptr, 0, &f);
        s = tcp_connect(h.a.addr);
        ASSERT_GE(s, 0);
        ASSERT_EQ(send(s, f.data(), f.size(), MSG_NOSIGNAL), ssize_t(f.size()));
        EXPECT_TRUE(closed_by_peer(s)) << addr;
        close(s);
    }
    /* garbage: closed too */
    s = tcp_connect(h.a.addr);
    ASSERT_GE(s, 0);
    ASSERT_EQ(send(s, "GET / HTTP/1.0\r\n\r\n", 18, MSG_NOSIGNAL), 18);
    EXPECT_TRUE(closed_by_peer(s));
    close(s);
    EXPECT_EQ(lookup(x0, 5), "") << "the forged MAP must not land";
    EXPECT_EQ(lookup(x0, 0), "x0") << "the backend still serves";
    ov_fe_close(x0);
}

TEST(FabricService, PerJobLimitsHold)
{
    ov_quota_limits q;
    q.job_fabric_mappings = 2;
    q.job_fabric_queue_bytes = 1000;
    TwoHosts h(&q);
    ASSERT_TRUE(h.start());
    ov_fe_t *p0 = open_fe(h.a, "g0", 12, 0), *p1 = open_fe(h.a, "g0", 12, 1), *p2 = open_fe(h.a, "g0", 12, 2);
    ASSERT_TRUE(p0 && p1 && p2);
    ASSERT_EQ(publish(p0, 0, "0"), OV_OK);
    ASSERT_EQ(publish(p1, 0, "1"), OV_OK);
    EXPECT_EQ(publish(p2, 0, "2"), OV_ERR_QUOTA);
    EXPECT_NE(std::string(ov_fe_last_error(p2)).find("fabric mappings per job"), std::string::npos)
        << ov_fe_last_error(p2);
    EXPECT_EQ(publish(p1, 1, "1 again"), OV_OK) << "replacing its own record is no new record";
    const std::string blob(300, 'b');
    int sent = 0;
    ov_status_t s;
    while ((s = send_to(p0, 1, blob)) == OV_OK && sent < 10)
        sent++;
    EXPECT_EQ(s, OV_ERR_QUOTA);
    EXPECT_EQ(sent, 3) << "1000 bytes of undelivered blobs per job";
    EXPECT_EQ(take(p1, 3).size(), 3u);
    EXPECT_EQ(send_to(p0, 1, blob), OV_OK) << "taking frees the queue";
    ov_fe_close(p0);
    ov_fe_close(p1);
    ov_fe_close(p2);
}

/* The osc and the btl connection of one rank may both ask: the first holds it. */
TEST(FabricService, ARankIsHeldByOneConnectionPerBackend)
{
    Host h;
    ASSERT_TRUE(h.b.start());
    ov_fe_t *osc = open_fe(h, "g0", 13, 0), *btl = ::open_fe(h.b.uri(), "g0", 13, 0, OV_ROLE_BTL);
    ASSERT_TRUE(osc && btl);
    EXPECT_EQ(publish(osc, 0, "osc"), OV_OK);
    EXPECT_EQ(publish(btl, 0, "btl"), OV_ERR_EXISTS);
    EXPECT_EQ(lookup(osc, 0), "osc");
    ov_fe_close(osc);
    EXPECT_EQ(publish(btl, 0, "btl"), OV_OK) << "free again once its holder is gone";
    ov_fe_close(btl);
}
