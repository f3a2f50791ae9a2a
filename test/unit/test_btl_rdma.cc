/*
 * test_btl_rdma.cc — btl vmshm's single copy: the backend's registration
 * table alone (what a peer may reach), the frontend's reply parser on
 * hostile bytes, and the whole path through a real backend (copies happen;
 * wrong keys, ranges, access, other jobs and dropped registrations are
 * refused).
 */
#include <cstring>
#include <vector>

#include "btl_registrations.h"
#include "harness.h"
#include "ov_frontend_btl_rdma.h"

namespace {

ov_btl_rdma_req rdma(uint32_t op, uint32_t peer, uint32_t handle, uint64_t key, uint64_t raddr, uint64_t len)
{
    return ov_btl_rdma_req{op, peer, handle, 0, key, raddr, 0x1000, len};
}

struct replies {
    std::vector<std::pair<uint32_t, ov_btl_rdma_rep>> got;
    static void fn(void *ctx, uint16_t type, uint32_t seq, const ov_btl_rdma_rep &rep)
    {
        static_cast<replies *>(ctx)->got.push_back({seq, rep});
        (void) type;
    }
};

void append(std::vector<uint8_t> &v, uint16_t type, uint32_t seq, const void *p, uint32_t len)
{
    ov_msg_hdr h{OV_MSG_MAGIC, OV_PROTOCOL_VERSION, type, len, seq};
    const auto *hp = reinterpret_cast<const uint8_t *>(&h);
    v.insert(v.end(), hp, hp + sizeof(h));
    const auto *pp = static_cast<const uint8_t *>(p);
    v.insert(v.end(), pp, pp + len);
}

} // namespace

TEST(BtlRegistrations, OnlyWhatTheOwnerRegisteredInsideItWithItsAccess)
{
    ov_btl_registrations t;
    const ov_btl_member owner{7, 0, 10}, peer{7, 1, 11}, stranger{8, 1, 12};
    EXPECT_EQ(t.add(owner, {0x10000, 0, 5, 1, OV_BTL_ACCESS_READ}), OV_ERR_BAD_ARG);       /* empty */
    EXPECT_EQ(t.add(owner, {0x10000, 64, 5, 0, OV_BTL_ACCESS_READ}), OV_ERR_BAD_ARG);      /* handle 0 */
    EXPECT_EQ(t.add(owner, {~0ull - 8, 64, 5, 1, OV_BTL_ACCESS_READ}), OV_ERR_BAD_ARG);    /* wraps */
    EXPECT_EQ(t.add(owner, {0x10000, 64, 5, 1, 0}), OV_ERR_BAD_ARG);                       /* no access */
    EXPECT_EQ(t.add(owner, {0x10000, 64, 5, 1, 0x4}), OV_ERR_BAD_ARG);                     /* unknown bit */
    ASSERT_EQ(t.add(owner, {0x10000, 4096, 0xabc, 1, OV_BTL_ACCESS_READ}), OV_OK);
    EXPECT_EQ(t.add(owner, {0x20000, 64, 1, 1, OV_BTL_ACCESS_READ}), OV_ERR_EXISTS);
    uint32_t o = 0;
    EXPECT_EQ(t.check(peer, rdma(OV_BTL_GET, 0, 1, 0xabc, 0x10000, 4096), &o), OV_OK);
    EXPECT_EQ(o, 10u);
    EXPECT_EQ(t.check(peer, rdma(OV_BTL_GET, 0, 1, 0xabc, 0x10800, 2048), &o), OV_OK);  /* inside, to the end */
    EXPECT_EQ(t.check(peer, rdma(OV_BTL_GET, 0, 1, 0xabc, 0x10801, 2048), &o), OV_ERR_BOUNDS);
    EXPECT_EQ(t.check(peer, rdma(OV_BTL_GET, 0, 1, 0xabc, 0xffff, 16), &o), OV_ERR_BOUNDS);
    EXPECT_EQ(t.check(peer, rdma(OV_BTL_GET, 0, 1, 0xabc, 0x11000, 0), &o), OV_OK);     /* empty, at the end */
    EXPECT_EQ(t.check(peer, rdma(OV_BTL_GET, 0, 1, 0xabd, 0x10000, 16), &o), OV_ERR_NO_WINDOW); /* wrong key */
    EXPECT_EQ(t.check(peer, rdma(OV_BTL_GET, 0, 2, 0xabc, 0x10000, 16), &o), OV_ERR_NO_WINDOW); /* no handle */
    EXPECT_EQ(t.check(peer, rdma(OV_BTL_PUT, 0, 1, 0xabc, 0x10000, 16), &o), OV_ERR_PERM);      /* read only */
    EXPECT_EQ(t.check(stranger, rdma(OV_BTL_GET, 0, 1, 0xabc, 0x10000, 16), &o), OV_ERR_NO_WINDOW); /* other job */
    EXPECT_EQ(t.check(owner, rdma(OV_BTL_GET, 0, 1, 0xabc, 0x10000, 16), &o), OV_ERR_BAD_ARG);  /* itself */
    EXPECT_EQ(t.check(peer, rdma(3, 0, 1, 0xabc, 0x10000, 16), &o), OV_ERR_BAD_ARG);            /* unknown op */
    ov_btl_rdma_req r = rdma(OV_BTL_GET, 0, 1, 0xabc, 0x10000, 16);
    r.reserved = 1;
    EXPECT_EQ(t.check(peer, r, &o), OV_ERR_BAD_ARG);
    r = rdma(OV_BTL_GET, 0, 1, 0xabc, 0x10000, 16);
    r.local_addr = ~0ull - 4; /* the requester's own range wraps */
    EXPECT_EQ(t.check(peer, r, &o), OV_ERR_BAD_ARG);
    EXPECT_EQ(t.check(peer, rdma(OV_BTL_GET, 0, 1, 0xabc, 0x10000, OV_BTL_MAX_RDMA + 1), &o), OV_ERR_TOO_LARGE);
    ASSERT_EQ(t.add(owner, {0x30000, 64, 9, 2, OV_BTL_ACCESS_WRITE}), OV_OK);
    EXPECT_EQ(t.check(peer, rdma(OV_BTL_PUT, 0, 2, 9, 0x30000, 64), &o), OV_OK);
    EXPECT_EQ(t.check(peer, rdma(OV_BTL_GET, 0, 2, 9, 0x30000, 64), &o), OV_ERR_PERM);
    EXPECT_EQ(t.remove(10, {2, 0, 8}), OV_ERR_NO_WINDOW); /* wrong key: nothing removed */
    EXPECT_EQ(t.live(10), 2u);
    EXPECT_EQ(t.remove(10, {2, 0, 9}), OV_OK);
    EXPECT_EQ(t.check(peer, rdma(OV_BTL_PUT, 0, 2, 9, 0x30000, 64), &o), OV_ERR_NO_WINDOW);
    EXPECT_EQ(t.remove(11, {1, 0, 0xabc}), OV_ERR_NO_WINDOW); /* a peer cannot drop the owner's */
    t.drop(10); /* the owner's connection went */
    EXPECT_EQ(t.check(peer, rdma(OV_BTL_GET, 0, 1, 0xabc, 0x10000, 16), &o), OV_ERR_NO_WINDOW);
    EXPECT_EQ(t.owners(), 0u);
    EXPECT_EQ(t.owner_of(7, 0), 0u);
}

TEST(BtlRegistrations, QuotaPerConnection)
{
    ov_btl_registrations t;
    const ov_btl_member owner{1, 0, 3};
    for (uint32_t h = 1; h <= OV_BTL_MAX_REGS; h++)
        ASSERT_EQ(t.add(owner, {0x1000, 8, h, h, OV_BTL_ACCESS_READ}), OV_OK);
    EXPECT_EQ(t.add(owner, {0x1000, 8, 0, OV_BTL_MAX_REGS + 1, OV_BTL_ACCESS_READ}), OV_ERR_QUOTA);
    EXPECT_EQ(t.add({1, 1, 4}, {0x1000, 8, 0, 1, OV_BTL_ACCESS_READ}), OV_OK); /* another conn: its own */
}

TEST(BtlRdmaReplies, ParserTakesOnlyWhatIsOursAndWhole)
{
    std::vector<uint8_t> in;
    ov_btl_rdma_rep ok{OV_OK, 0, 4096};
    ov_simple_rep refused{OV_ERR_NO_WINDOW, 0};
    append(in, OV_MSG_BTL_RDMA | OV_MSG_REPLY, 5, &ok, sizeof(ok));
    append(in, OV_MSG_BTL_REG | OV_MSG_REPLY, 6, &refused, sizeof(refused));
    append(in, OV_MSG_BTL_RDMA | OV_MSG_REPLY, 7, &ok, sizeof(ok));
    const size_t whole = in.size();
    in.resize(whole - 3); /* the last one still arriving */
    replies r;
    EXPECT_EQ(ov_fe_btl_parse_replies(in, replies::fn, &r), 2);
    ASSERT_EQ(r.got.size(), 2u);
    EXPECT_EQ(r.got[0].first, 5u);
    EXPECT_EQ(r.got[0].second.moved, 4096u);
    EXPECT_EQ(r.got[1].second.status, OV_ERR_NO_WINDOW);
    EXPECT_EQ(in.size(), sizeof(ov_msg_hdr) + sizeof(ok) - 3); /* the partial one is kept */

    std::vector<uint8_t> bad; /* a reply of another type, a wrong length, a request, bad magic */
    ov_simple_rep s{0, 0};
    append(bad, OV_MSG_BTL_SEGMENT | OV_MSG_REPLY, 1, &s, sizeof(s));
    EXPECT_EQ(ov_fe_btl_parse_replies(bad, replies::fn, &r), OV_ERR_PROTO);
    bad.clear();
    append(bad, OV_MSG_BTL_RDMA | OV_MSG_REPLY, 1, &s, sizeof(s));
    EXPECT_EQ(ov_fe_btl_parse_replies(bad, replies::fn, &r), OV_ERR_PROTO);
    bad.clear();
    append(bad, OV_MSG_BTL_RDMA, 1, &ok, sizeof(ok));
    EXPECT_EQ(ov_fe_btl_parse_replies(bad, replies::fn, &r), OV_ERR_PROTO);
    bad.clear();
    append(bad, OV_MSG_BTL_RDMA | OV_MSG_REPLY, 1, &ok, sizeof(ok));
    bad[0] ^= 1;
    EXPECT_EQ(ov_fe_btl_parse_replies(bad, replies::fn, &r), OV_ERR_PROTO);
    EXPECT_EQ(r.got.size(), 2u); /* none of those reached the callback */
}

class BtlRdmaBackend : public testing::Test {
protected:
    TempDir tmp;
    BackendChild be{tmp.path};
    void SetUp() override { ASSERT_TRUE(be.start()); }
    ov_fe_t *open(uint64_t job, uint32_t rank)
    {
        ov_fe_params_t p = fe_params(be.uri(), "g1", job, rank);
        p.role = OV_ROLE_BTL;
        ov_fe_t *fe = nullptr;
        ov_status_t s = ov_fe_open(&p, &fe);
        EXPECT_EQ(s, OV_OK) << ov_fe_last_error(fe);
        return s == OV_OK ? fe : (ov_fe_close(fe), nullptr);
    }
    /* Posts one message and waits (bounded) for one reply, which must be its own. */
    ov_btl_rdma_rep post_and_reap(ov_fe_t *fe, uint16_t type, const void *q, uint32_t len)
    {
        ov_fe_btl_msg m{type, q, len, 0};
        EXPECT_EQ(ov_fe_btl_post(fe, &m, 1), OV_OK);
        replies r;
        const int64_t end = ms_now() + 5000;
        while (r.got.empty() && ms_now() < end)
            EXPECT_GE(ov_fe_btl_reap(fe, replies::fn, &r), 0);
        EXPECT_EQ(r.got.size(), 1u);
        if (r.got.empty())
            return ov_btl_rdma_rep{OV_ERR_TIMEOUT, 0, 0};
        EXPECT_EQ(r.got[0].first, m.seq);
        return r.got[0].second;
    }
    ov_btl_rdma_rep run(ov_fe_t *fe, const ov_btl_rdma_req &q)
    {
        return post_and_reap(fe, OV_MSG_BTL_RDMA, &q, sizeof(q));
    }
    void reg(ov_fe_t *fe, const ov_btl_reg_req &q)
    {
        ov_fe_btl_msg m{OV_MSG_BTL_REG, &q, sizeof(q), 0};
        EXPECT_EQ(ov_fe_btl_post(fe, &m, 1), OV_OK);
    }
};

TEST_F(BtlRdmaBackend, CopiesOnlyWhatTheOwnerRegistered)
{
    ov_fe_t *owner = open(41, 0), *peer = open(41, 1), *other = open(42, 1);
    ASSERT_TRUE(owner && peer && other);
    ASSERT_TRUE(ov_fe_btl_rdma_offered(owner)) << "backend offers no single copy to BTL connections";
    std::vector<char> src(1 << 20), dst(1 << 20, 0), victim(4096, 'v');
    for (size_t i = 0; i < src.size(); i++)
        src[i] = char(i * 131 + 7);
    const uint64_t base = reinterpret_cast<uintptr_t>(src.data());
    /* Registered and used at once, without waiting for the registration
     * (ov_btl_rdma_proto.h, ordering): the backend takes it first. */
    reg(owner, {base, src.size(), 0x5eed, 1, OV_BTL_ACCESS_READ});
    ov_btl_rdma_req get{OV_BTL_GET, 0, 1, 0, 0x5eed, base, reinterpret_cast<uintptr_t>(dst.data()), src.size()};
    ov_btl_rdma_rep rep = run(peer, get);
    EXPECT_EQ(rep.status, OV_OK);
    EXPECT_EQ(rep.moved, src.size());
    EXPECT_EQ(std::memcmp(src.data(), dst.data(), src.size()), 0);

    ov_btl_rdma_req bad = get;
    bad.key ^= 1;
    EXPECT_EQ(run(peer, bad).status, OV_ERR_NO_WINDOW);
    bad = get;
    bad.remote_addr = reinterpret_cast<uintptr_t>(victim.data()); /* outside the registration */
    bad.len = victim.size();
    EXPECT_EQ(run(peer, bad).status, OV_ERR_BOUNDS);
    bad = get;
    bad.len = src.size() + 1;
    EXPECT_EQ(run(peer, bad).status, OV_ERR_BOUNDS);
    bad = get;
    bad.op = OV_BTL_PUT; /* registered read-only */
    EXPECT_EQ(run(peer, bad).status, OV_ERR_PERM);
    EXPECT_EQ(run(other, get).status, OV_ERR_NO_WINDOW); /* another job names rank 0 of its own */
    EXPECT_EQ(std::string(victim.data(), 4), "vvvv");

    /* PUT into a writable registration; then the owner drops it */
    std::vector<char> in(4096, 0);
    const uint64_t in_base = reinterpret_cast<uintptr_t>(in.data());
    reg(owner, {in_base, in.size(), 0x77, 2, OV_BTL_ACCESS_WRITE});
    ov_btl_rdma_req put{OV_BTL_PUT, 0, 2, 0, 0x77, in_base + 100, reinterpret_cast<uintptr_t>(src.data()), 200};
    EXPECT_EQ(run(peer, put).status, OV_OK);
    EXPECT_EQ(std::memcmp(in.data() + 100, src.data(), 200), 0);
    EXPECT_EQ(in[99], 0);
    EXPECT_EQ(in[300], 0);
    ov_btl_dereg_req d{2, 0, 0x77};
    ov_fe_btl_msg m{OV_MSG_BTL_DEREG, &d, sizeof(d), 0};
    ASSERT_EQ(ov_fe_btl_post(owner, &m, 1), OV_OK);
    EXPECT_EQ(run(peer, put).status, OV_ERR_NO_WINDOW);

    /* the owner's connection goes: its registrations go with it */
    ov_fe_close(owner);
    const int64_t end = ms_now() + 5000;
    ov_status_t st = OV_OK;
    while (ms_now() < end && (st = ov_status_t(run(peer, get).status)) == OV_OK)
        ;
    EXPECT_EQ(st, OV_ERR_NO_WINDOW);
    ov_fe_close(peer);
    ov_fe_close(other);
}

TEST_F(BtlRdmaBackend, RefusedToOscConnectionsAndMalformedRequests)
{
    ov_fe_t *osc = connect_fe(be.uri(), "g1", 43, 0);
    ASSERT_NE(osc, nullptr);
    ov_btl_reg_req q{0x1000, 8, 1, 1, OV_BTL_ACCESS_READ};
    ov_fe_btl_msg m{OV_MSG_BTL_REG, &q, sizeof(q), 0};
    EXPECT_EQ(ov_fe_btl_post(osc, &m, 1), OV_ERR_STATE); /* not offered: the frontend does not send it */
    ov_fe_close(osc);

    ov_fe_t *fe = open(44, 0);
    ASSERT_NE(fe, nullptr);
    ov_btl_reg_req bad{0x1000, 0, 1, 1, OV_BTL_ACCESS_READ}; /* empty: refused, with a reply */
    EXPECT_EQ(post_and_reap(fe, OV_MSG_BTL_REG, &bad, sizeof(bad)).status, OV_ERR_BAD_ARG);
    ov_fe_close(fe);
}
