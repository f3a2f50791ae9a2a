/*
 * test_fabric_link.cc — the backend-to-backend frames (backend/fabric_link.h):
 * round trips, every rejection of the decoders, the MAC catching a changed,
 * replayed or reordered frame, and that the handshake never carries the
 * job's secret, its digest or the link key.
 */
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "fabric_link.h"
#include "ov_hmac.h"
#include "ov_job_id.h"
#include "wire.h"

namespace {

std::vector<uint8_t> frame(link_type t, const std::vector<uint8_t> &payload, const unsigned char *session = nullptr,
                           uint64_t seq = 0)
{
    std::vector<uint8_t> out;
    const void *parts[] = {payload.data()};
    const size_t lens[] = {payload.size()};
    ov_link_encode(t, parts, lens, 1, session, seq, &out);
    return out;
}

template <typename T> std::vector<uint8_t> raw(const T &v)
{
    const uint8_t *p = reinterpret_cast<const uint8_t *>(&v);
    return std::vector<uint8_t>(p, p + sizeof(v));
}

std::vector<uint8_t> map_payload(uint32_t vid, uint32_t epoch, uint32_t len, uint32_t reserved = 0)
{
    ov_link_map m{vid, epoch, len, reserved};
    std::vector<uint8_t> p = raw(m);
    p.resize(p.size() + len, 0x5a);
    return p;
}

bool contains(const std::vector<uint8_t> &hay, const unsigned char *needle, size_t n)
{
    return std::search(hay.begin(), hay.end(), needle, needle + n) != hay.end();
}

} // namespace

TEST(FabricLink, FramesRoundTripInTheClearAndSigned)
{
    const unsigned char session[kLinkMac] = {9, 8, 7};
    std::vector<uint8_t> p = map_payload(3, 7, 100);
    for (const unsigned char *s : {static_cast<const unsigned char *>(nullptr), session}) {
        std::vector<uint8_t> f = frame(link_type::map, p, s, 5);
        ov_link_hdr h;
        const uint8_t *pl;
        size_t used;
        for (size_t cut = 0; cut < f.size(); cut++) /* every prefix: "need more" */
            ASSERT_EQ(ov_link_parse(f.data(), cut, s, 5, &h, &pl, &used), 0) << cut;
        ASSERT_EQ(ov_link_parse(f.data(), f.size(), s, 5, &h, &pl, &used), 1);
        EXPECT_EQ(used, f.size());
        ov_link_map m;
        const uint8_t *blob;
        ASSERT_EQ(ov_link_decode_map(pl, h.len, &m, &blob), OV_OK);
        EXPECT_EQ(m.vid, 3u);
        EXPECT_EQ(m.epoch, 7u);
        EXPECT_EQ(m.len, 100u);
        EXPECT_EQ(blob[99], 0x5a);
    }
}

TEST(FabricLink, MacCatchesChangedReplayedAndReorderedFrames)
{
    const unsigned char session[kLinkMac] = {1}, other[kLinkMac] = {2};
    std::vector<uint8_t> f = frame(link_type::ctrl, map_payload(1, 2, 8), session, 4);
    ov_link_hdr h;
    const uint8_t *pl;
    size_t used;
    EXPECT_EQ(ov_link_parse(f.data(), f.size(), session, 4, &h, &pl, &used), 1);
    EXPECT_EQ(ov_link_parse(f.data(), f.size(), session, 5, &h, &pl, &used), OV_ERR_PROTO) << "replayed later";
    EXPECT_EQ(ov_link_parse(f.data(), f.size(), session, 3, &h, &pl, &used), OV_ERR_PROTO) << "reordered";
    EXPECT_EQ(ov_link_parse(f.data(), f.size(), other, 4, &h, &pl, &used), OV_ERR_PROTO) << "another link";
    for (size_t i = 0; i < f.size(); i++) { /* any changed byte */
        std::vector<uint8_t> g = f;
        g[i] ^= 0x01;
        EXPECT_LT(ov_link_parse(g.data(), g.size(), session, 4, &h, &pl, &used), 1) << "byte " << i;
    }
}

TEST(FabricLink, ParseRefusesBadHeaders)
{
    ov_link_hdr h;
    const uint8_t *pl;
    size_t used;
    std::vector<uint8_t> good = frame(link_type::unmap, raw(ov_link_unmap{1, 2}));
    auto with = [&](size_t off, uint8_t v) {
        std::vector<uint8_t> g = good;
        g[off] = v;
        return ov_link_parse(g.data(), g.size(), nullptr, 0, &h, &pl, &used);
    };
    EXPECT_EQ(with(0, 0), OV_ERR_PROTO);  /* magic */
    EXPECT_EQ(with(4, 2), OV_ERR_PROTO);  /* version */
    EXPECT_EQ(with(6, 0), OV_ERR_PROTO);  /* type 0 */
    EXPECT_EQ(with(6, 7), OV_ERR_PROTO);  /* type 7 */
    EXPECT_EQ(with(12, 1), OV_ERR_PROTO); /* reserved */
    ov_link_hdr big{kLinkMagic, kLinkVersion, uint16_t(link_type::map), uint32_t(kLinkMaxPayload + 1), 0};
    std::vector<uint8_t> b = raw(big);
    EXPECT_EQ(ov_link_parse(b.data(), b.size(), nullptr, 0, &h, &pl, &used), OV_ERR_PROTO) << "len over the limit";
}

TEST(FabricLink, DecodersRefuseEveryMalformedPayload)
{
    ov_link_map m;
    ov_link_ctrl c;
    const uint8_t *blob;
    std::vector<uint8_t> p = map_payload(1, 1, 16);
    EXPECT_EQ(ov_link_decode_map(p.data(), p.size(), &m, &blob), OV_OK);
    EXPECT_EQ(ov_link_decode_map(p.data(), p.size() - 1, &m, &blob), OV_ERR_PROTO) << "short";
    p.push_back(0);
    EXPECT_EQ(ov_link_decode_map(p.data(), p.size(), &m, &blob), OV_ERR_PROTO) << "long";
    p = map_payload(1, 1, 0);
    EXPECT_EQ(ov_link_decode_map(p.data(), p.size(), &m, &blob), OV_ERR_PROTO) << "empty blob";
    p = map_payload(kLinkMaxVid, 1, 8);
    EXPECT_EQ(ov_link_decode_map(p.data(), p.size(), &m, &blob), OV_ERR_PROTO) << "vid";
    p = map_payload(1, 1, 8, 1);
    EXPECT_EQ(ov_link_decode_map(p.data(), p.size(), &m, &blob), OV_ERR_PROTO) << "reserved";
    p = map_payload(1, 1, OV_FABRIC_BLOB_MAX + 1);
    EXPECT_EQ(ov_link_decode_map(p.data(), p.size(), &m, &blob), OV_ERR_PROTO) << "blob too long";
    p = map_payload(1, kLinkMaxVid, 8); /* CTRL: the second word is the destination */
    EXPECT_EQ(ov_link_decode_ctrl(p.data(), p.size(), &c, &blob), OV_ERR_PROTO) << "dest";
    EXPECT_EQ(ov_link_decode_map(p.data(), p.size(), &m, &blob), OV_OK) << "an epoch may be anything";
    ov_link_unmap u;
    std::vector<uint8_t> un = raw(ov_link_unmap{kLinkMaxVid, 0});
    EXPECT_EQ(ov_link_decode_unmap(un.data(), un.size(), &u), OV_ERR_PROTO);
    ov_link_hello hello{};
    hello.job_key = 5;
    std::strcpy(hello.addr, "10.213.14.1:7400");
    std::vector<uint8_t> hb = raw(hello);
    ov_link_hello out;
    EXPECT_EQ(ov_link_decode_hello(hb.data(), hb.size(), &out), OV_OK);
    hb[offsetof(ov_link_hello, addr) + kLinkAddr - 1] = 'x'; /* no NUL */
    EXPECT_EQ(ov_link_decode_hello(hb.data(), hb.size(), &out), OV_ERR_PROTO);
    hb = raw(hello);
    hb[offsetof(ov_link_hello, addr) + 30] = 'x'; /* bytes hidden after the NUL */
    EXPECT_EQ(ov_link_decode_hello(hb.data(), hb.size(), &out), OV_ERR_PROTO);
    hello.addr[0] = 0;
    hb = raw(hello);
    EXPECT_EQ(ov_link_decode_hello(hb.data(), hb.size(), &out), OV_ERR_PROTO) << "empty address";
    ov_link_auth a;
    EXPECT_EQ(ov_link_decode_auth(hb.data(), 31, &a), OV_ERR_PROTO);
}

/* The two sides' answers differ (no reflection), depend on both nonces
 * (no replay), and nothing secret is on the wire. */
TEST(FabricLink, HandshakeKeepsTheSecretOffTheWire)
{
    const ov_job_secret secret = ov_job_secret_from_seed(42);
    unsigned char digest[OV_SHA256_BYTES];
    const void *parts[] = {secret.b};
    const size_t lens[] = {sizeof(secret.b)};
    ov_sha256(parts, lens, 1, digest);
    unsigned char key[kLinkMac], session[kLinkMac];
    ov_link_key(digest, key);
    ov_link_hello hello{};
    hello.job_key = ov_job_public_key(secret);
    std::memset(hello.nonce, 0x11, sizeof(hello.nonce));
    std::strcpy(hello.addr, "10.213.14.1:7400");
    ov_link_challenge ch;
    std::memset(ch.nonce, 0x22, sizeof(ch.nonce));
    ov_link_handshake_mac(key, 'R', hello, ch.nonce, ch.mac);
    ov_link_auth auth;
    ov_link_handshake_mac(key, 'I', hello, ch.nonce, auth.mac);
    EXPECT_FALSE(ov_mac_equal(ch.mac, auth.mac, kLinkMac));
    unsigned char again[kLinkMac];
    unsigned char nonce2[kLinkNonce];
    std::memset(nonce2, 0x23, sizeof(nonce2));
    ov_link_handshake_mac(key, 'I', hello, nonce2, again);
    EXPECT_FALSE(ov_mac_equal(again, auth.mac, kLinkMac)) << "a fresh responder nonce needs a fresh answer";
    ov_link_session_key(key, hello.nonce, ch.nonce, session);
    std::vector<uint8_t> wire = frame(link_type::hello, raw(hello));
    for (auto &f : {frame(link_type::challenge, raw(ch)), frame(link_type::auth, raw(auth)),
                    frame(link_type::map, map_payload(0, 0, 64), session, 0)})
        wire.insert(wire.end(), f.begin(), f.end());
    for (size_t n : {size_t(8)}) { /* no 8-byte window of a secret appears */
        for (size_t i = 0; i + n <= sizeof(secret.b); i++)
            EXPECT_FALSE(contains(wire, secret.b + i, n));
        for (size_t i = 0; i + n <= sizeof(digest); i++)
            EXPECT_FALSE(contains(wire, digest + i, n));
        for (size_t i = 0; i + n <= sizeof(key); i++) {
            EXPECT_FALSE(contains(wire, key + i, n));
            EXPECT_FALSE(contains(wire, session + i, n));
        }
    }
}

TEST(FabricWire, GuestRequestsAreCheckedExactly)
{
    std::vector<uint8_t> req(sizeof(ov_fabric_send_req) + 10, 0);
    ov_fabric_send_req r{1, 10, 0};
    std::memcpy(req.data(), &r, sizeof(r));
    ov_fabric_send_req out;
    ov_fabric_publish_req pub;
    const uint8_t *blob;
    EXPECT_EQ(ov_decode_fabric_send(req.data(), uint32_t(req.size()), &out, &blob), OV_OK);
    EXPECT_EQ(blob, req.data() + sizeof(r));
    EXPECT_EQ(ov_decode_fabric_send(req.data(), uint32_t(req.size() - 1), &out, &blob), OV_ERR_PROTO);
    EXPECT_EQ(ov_decode_fabric_publish(req.data(), uint32_t(req.size()), &pub, &blob), OV_OK);
    r.dest = 1u << 20;
    std::memcpy(req.data(), &r, sizeof(r));
    EXPECT_EQ(ov_decode_fabric_send(req.data(), uint32_t(req.size()), &out, &blob), OV_ERR_PROTO) << "dest";
    r = {1, 0, 0};
    std::memcpy(req.data(), &r, sizeof(r));
    EXPECT_EQ(ov_decode_fabric_send(req.data(), uint32_t(sizeof(r)), &out, &blob), OV_ERR_PROTO) << "empty";
    r = {1, 10, 1};
    std::memcpy(req.data(), &r, sizeof(r));
    EXPECT_EQ(ov_decode_fabric_send(req.data(), uint32_t(req.size()), &out, &blob), OV_ERR_PROTO) << "reserved";
    ov_fabric_take_req t{0, 1};
    ov_fabric_take_req tout;
    EXPECT_EQ(ov_decode_fabric_take(&t, sizeof(t), &tout), OV_ERR_PROTO);
    ov_fabric_lookup_req l{1u << 20, 0};
    ov_fabric_lookup_req lout;
    EXPECT_EQ(ov_decode_fabric_lookup(&l, sizeof(l), &lout), OV_ERR_PROTO);
}
