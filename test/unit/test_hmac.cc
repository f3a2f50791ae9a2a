/*
 * test_hmac.cc — HMAC-SHA256 against the RFC 4231 test vectors (all seven,
 * case 5 truncated to 128 bits as the RFC does), and the MAC comparison.
 */
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ov_hmac.h"

namespace {

std::string hex(const unsigned char *p, size_t n)
{
    static const char d[] = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < n; i++) {
        s += d[p[i] >> 4];
        s += d[p[i] & 15];
    }
    return s;
}

std::string hmac(const std::vector<unsigned char> &key, const std::vector<unsigned char> &data)
{
    unsigned char out[OV_SHA256_BYTES];
    const void *parts[] = {data.data()};
    const size_t lens[] = {data.size()};
    ov_hmac_sha256(key.data(), key.size(), parts, lens, 1, out);
    return hex(out, sizeof(out));
}

std::vector<unsigned char> bytes(const char *s) { return std::vector<unsigned char>(s, s + strlen(s)); }

} // namespace

TEST(Hmac, Rfc4231Vectors)
{
    EXPECT_EQ(hmac(std::vector<unsigned char>(20, 0x0b), bytes("Hi There")),
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    EXPECT_EQ(hmac(bytes("Jefe"), bytes("what do ya want for nothing?")),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    EXPECT_EQ(hmac(std::vector<unsigned char>(20, 0xaa), std::vector<unsigned char>(50, 0xdd)),
              "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    std::vector<unsigned char> k4;
    for (unsigned char c = 1; c <= 25; c++)
        k4.push_back(c);
    EXPECT_EQ(hmac(k4, std::vector<unsigned char>(50, 0xcd)),
              "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    EXPECT_EQ(hmac(std::vector<unsigned char>(20, 0x0c), bytes("Test With Truncation")).substr(0, 32),
              "a3b6167473100ee06e0c796c2955552b");
    EXPECT_EQ(hmac(std::vector<unsigned char>(131, 0xaa), bytes("Test Using Larger Than Block-Size Key - Hash Key First")),
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    EXPECT_EQ(hmac(std::vector<unsigned char>(131, 0xaa),
                   bytes("This is a test using a larger than block-size key and a larger than block-size data. "
                         "The key needs to be hashed before being used by the HMAC algorithm.")),
              "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST(Hmac, PartsAreConcatenated)
{
    const std::vector<unsigned char> key = bytes("Jefe");
    const char *a = "what do ya ", *b = "want for nothing?";
    const void *parts[] = {a, b};
    const size_t lens[] = {strlen(a), strlen(b)};
    unsigned char out[OV_SHA256_BYTES];
    ov_hmac_sha256(key.data(), key.size(), parts, lens, 2, out);
    EXPECT_EQ(hex(out, sizeof(out)), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Hmac, MacEqualComparesEveryByte)
{
    unsigned char a[32] = {}, b[32] = {};
    EXPECT_TRUE(ov_mac_equal(a, b, 32));
    b[31] = 1;
    EXPECT_FALSE(ov_mac_equal(a, b, 32));
    b[31] = 0;
    b[0] = 0x80;
    EXPECT_FALSE(ov_mac_equal(a, b, 32));
}
