/*
 * test_ibvirt_tables.cc — ib-virt's translation tables and control-blob
 * decoder: bounds, re-mapping keeps the virtual id, hostile blobs rejected.
 */
#include <gtest/gtest.h>

#include <cstring>

#include "ibvirt_tables.h"
#include "ibvirt_wire.h"

using namespace ibvirt;

TEST(IbvirtPeerTable, UnknownPeerHasNoAddress)
{
    PeerTable t(4, 2);
    EXPECT_EQ(t.addr(0), PeerTable::kNoAddr);
    EXPECT_EQ(t.addr(4), PeerTable::kNoAddr); /* out of range: no address, no crash */
    EXPECT_EQ(t.addr(UINT32_MAX), PeerTable::kNoAddr);
}

TEST(IbvirtPeerTable, ReinsertKeepsTheVirtualId)
{
    PeerTable t(4, 2);
    t.set_addr(3, 7);
    EXPECT_EQ(t.addr(3), 7u);
    t.set_addr(3, 0); /* the peer moved: a new fi_addr_t behind the same vid */
    EXPECT_EQ(t.addr(3), 0u);
    EXPECT_EQ(t.addr(2), PeerTable::kNoAddr);
}

TEST(IbvirtPeerTable, RemoteKeyBoundsAreChecked)
{
    PeerTable t(2, 3);
    t.set_rkey(1, 2, RemoteKey{0xabc, 0x1000, 64});
    const RemoteKey *k = t.rkey(1, 2, 0, 64);
    ASSERT_NE(k, nullptr);
    EXPECT_EQ(k->key, 0xabcu);
    EXPECT_EQ(k->base, 0x1000u);
    EXPECT_NE(t.rkey(1, 2, 56, 8), nullptr);
    EXPECT_EQ(t.rkey(1, 2, 57, 8), nullptr);          /* runs past the end */
    EXPECT_EQ(t.rkey(1, 2, 65, 0), nullptr);          /* starts past the end */
    EXPECT_EQ(t.rkey(1, 2, UINT64_MAX, 2), nullptr);  /* offset + len wraps */
    EXPECT_EQ(t.rkey(0, 2, 0, 8), nullptr);           /* another peer's key */
    EXPECT_EQ(t.rkey(1, 3, 0, 8), nullptr);           /* vkey out of range */
    EXPECT_EQ(t.rkey(2, 2, 0, 8), nullptr);           /* vid out of range */
    t.clear_rkeys(1);
    EXPECT_EQ(t.rkey(1, 2, 0, 8), nullptr);
}

TEST(IbvirtKeyTable, LowestFreeAndRegionBounds)
{
    KeyTable t(2);
    char buf[128];
    EXPECT_EQ(t.lowest_free(), 0);
    char *r = buf + 8; /* the region is [buf+8, buf+72) */
    t.slot(0)->buf = r;
    t.slot(0)->len = 64;
    EXPECT_EQ(t.lowest_free(), 1);
    EXPECT_NE(t.at(0, r, 64), nullptr);
    EXPECT_NE(t.at(0, r + 60, 4), nullptr);
    EXPECT_EQ(t.at(0, r + 60, 5), nullptr);
    EXPECT_EQ(t.at(0, r + 64, 1), nullptr); /* just past the region */
    EXPECT_EQ(t.at(0, buf, 8), nullptr);    /* just before it */
    EXPECT_EQ(t.at(0, buf + 4, 8), nullptr);/* straddles its start */
    EXPECT_EQ(t.at(1, r, 1), nullptr); /* free slot */
    EXPECT_EQ(t.at(2, r, 1), nullptr); /* out of range */
    t.slot(1)->buf = buf + 100;
    EXPECT_EQ(t.lowest_free(), -1);
    EXPECT_EQ(t.slot(2), nullptr);
}

static std::vector<char> publish_blob(uint32_t from, uint32_t nkeys)
{
    Ctrl c{};
    c.h.type = uint16_t(CtrlType::publish);
    c.h.from = from;
    c.h.addrlen = 16;
    for (uint32_t k = 0; k < nkeys; ++k)
        c.keys.push_back(WireKey{k, 0, 100 + k, 0, 4096});
    std::vector<char> out;
    encode_ctrl(c, &out);
    return out;
}

TEST(IbvirtWire, PublishRoundTrips)
{
    std::vector<char> b = publish_blob(1, 2);
    Ctrl c;
    ASSERT_EQ(decode_ctrl(b.data(), b.size(), 0, 4, 4, &c), IBVIRT_OK);
    EXPECT_EQ(c.h.from, 1u);
    ASSERT_EQ(c.keys.size(), 2u);
    EXPECT_EQ(c.keys[1].key, 101u);
}

TEST(IbvirtWire, HostileBlobsAreRejected)
{
    Ctrl c;
    std::vector<char> good = publish_blob(1, 2);
    auto reject = [&](std::vector<char> b) {
        return decode_ctrl(b.data(), b.size(), 0, 4, 4, &c) == IBVIRT_ERR_INVAL;
    };
    EXPECT_EQ(decode_ctrl(nullptr, 0, 0, 4, 4, &c), IBVIRT_ERR_INVAL);
    EXPECT_TRUE(reject(std::vector<char>(good.begin(), good.end() - 1))); /* short */
    std::vector<char> b = good;
    b.push_back(0);
    EXPECT_TRUE(reject(b)); /* trailing byte */
    auto patch = [&](size_t off, const void *v, size_t n) {
        std::vector<char> x = good;
        std::memcpy(x.data() + off, v, n);
        return x;
    };
    uint32_t u32;
    uint16_t u16;
    u32 = 0;
    EXPECT_TRUE(reject(patch(offsetof(CtrlHeader, magic), &u32, 4)));
    u16 = 2;
    EXPECT_TRUE(reject(patch(offsetof(CtrlHeader, version), &u16, 2)));
    u16 = 9;
    EXPECT_TRUE(reject(patch(offsetof(CtrlHeader, type), &u16, 2)));
    u32 = 0; /* from == self */
    EXPECT_TRUE(reject(patch(offsetof(CtrlHeader, from), &u32, 4)));
    u32 = 4; /* from >= max_peers */
    EXPECT_TRUE(reject(patch(offsetof(CtrlHeader, from), &u32, 4)));
    u32 = IBVIRT_ADDR_MAX + 1;
    EXPECT_TRUE(reject(patch(offsetof(CtrlHeader, addrlen), &u32, 4)));
    u32 = 0xffffffff; /* nkeys that would overflow the length check */
    EXPECT_TRUE(reject(patch(offsetof(CtrlHeader, nkeys), &u32, 4)));
    u32 = 4; /* vkey >= max_keys */
    EXPECT_TRUE(reject(patch(sizeof(CtrlHeader) + offsetof(WireKey, vkey), &u32, 4)));
    u32 = 1;
    EXPECT_TRUE(reject(patch(sizeof(CtrlHeader) + offsetof(WireKey, pad), &u32, 4)));
    uint64_t zero = 0;
    EXPECT_TRUE(reject(patch(sizeof(CtrlHeader) + offsetof(WireKey, len), &zero, 8)));
    /* a suspend carrying keys or an address */
    u16 = uint16_t(CtrlType::suspend);
    EXPECT_TRUE(reject(patch(offsetof(CtrlHeader, type), &u16, 2)));
}
