/*
 * test_acc.cc — accumulate arithmetic (ov_acc.h): the validity table over
 * every (op, kind, size), every valid combination against an independent
 * reference model on unaligned buffers, hand-checked edge values, CAS.
 */
#include <gtest/gtest.h>

#include <cfloat>
#include <climits>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ov_acc.h"

namespace {

#if defined(__SIZEOF_LONG_DOUBLE__) && __SIZEOF_LONG_DOUBLE__ == 16 && LDBL_MANT_DIG == 64
const bool LD80 = true;
#else
const bool LD80 = false;
#endif

/* The table of ov_acc.h, written out independently of the implementation. */
std::set<int> sizes_of(int kind)
{
    switch (kind) {
    case OV_DT_BYTES: return {1, 2, 4, 8, 16, 32};
    case OV_DT_INT:
    case OV_DT_UINT: return {1, 2, 4, 8};
    case OV_DT_FLOAT: return LD80 ? std::set<int>{4, 8, 16} : std::set<int>{4, 8};
    case OV_DT_COMPLEX: return LD80 ? std::set<int>{8, 16, 32} : std::set<int>{8, 16};
    case OV_DT_BOOL: return {1};
    case OV_DT_LOGICAL: return {4};
    }
    return {};
}

const std::map<int, std::set<int>> KINDS_OF = {
    {OV_ACC_SUM, {OV_DT_INT, OV_DT_UINT, OV_DT_FLOAT, OV_DT_COMPLEX}},
    {OV_ACC_PROD, {OV_DT_INT, OV_DT_UINT, OV_DT_FLOAT, OV_DT_COMPLEX}},
    {OV_ACC_MIN, {OV_DT_INT, OV_DT_UINT, OV_DT_FLOAT}},
    {OV_ACC_MAX, {OV_DT_INT, OV_DT_UINT, OV_DT_FLOAT}},
    {OV_ACC_LAND, {OV_DT_INT, OV_DT_UINT, OV_DT_BOOL, OV_DT_LOGICAL}},
    {OV_ACC_LOR, {OV_DT_INT, OV_DT_UINT, OV_DT_BOOL, OV_DT_LOGICAL}},
    {OV_ACC_LXOR, {OV_DT_INT, OV_DT_UINT, OV_DT_BOOL, OV_DT_LOGICAL}},
    {OV_ACC_BAND, {OV_DT_INT, OV_DT_UINT, OV_DT_BYTES}},
    {OV_ACC_BOR, {OV_DT_INT, OV_DT_UINT, OV_DT_BYTES}},
    {OV_ACC_BXOR, {OV_DT_INT, OV_DT_UINT, OV_DT_BYTES}},
    {OV_ACC_REPLACE, {0, 1, 2, 3, 4, 5, 6}},
    {OV_ACC_NO_OP, {0, 1, 2, 3, 4, 5, 6}},
};

bool expect_valid(int op, int kind, int size)
{
    auto it = KINDS_OF.find(op);
    return it != KINDS_OF.end() && it->second.count(kind) && sizes_of(kind).count(size);
}

std::string combo(int op, int kind, int size)
{
    static const char *kinds[] = {"BYTES", "INT", "UINT", "FLOAT", "COMPLEX", "BOOL", "LOGICAL"};
    static const char *ops[] = {"NONE", "SUM", "PROD", "MIN", "MAX", "LAND", "LOR",
                                "LXOR", "BAND", "BOR", "BXOR", "REPLACE", "NO_OP"};
    return std::string(op < OV_ACC_MAX_OP ? ops[op] : "?") + "/" +
           (kind < OV_DT_KIND_MAX ? kinds[kind] : "?") + "/" + std::to_string(size);
}

using Bytes = std::vector<uint8_t>;

/* ---- the reference model: integers byte by byte in 128-bit arithmetic,
 *      floats in long double (every test value is exact in every width) */
unsigned __int128 zext(const uint8_t *p, int n)
{
    unsigned __int128 v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}
__int128 sext(const uint8_t *p, int n)
{
    unsigned __int128 u = zext(p, n);
    unsigned __int128 sign = (unsigned __int128) 1 << (8 * n - 1);
    return u & sign ? (__int128) (u - (sign << 1)) : (__int128) u;
}
Bytes enc(unsigned __int128 v, int n)
{
    Bytes b(static_cast<size_t>(n), 0);
    for (int i = 0; i < n; i++, v >>= 8)
        b[size_t(i)] = uint8_t(v);
    return b;
}

template <class T> long double getf(const uint8_t *p)
{
    T v;
    memcpy(&v, p, sizeof(T));
    return (long double) v;
}
template <class T> void putf(uint8_t *p, long double v)
{
    T t = (T) v;
    memset(p, 0, sizeof(T));
    memcpy(p, &t, sizeof(T) == 16 ? 10 : sizeof(T)); /* long double: value bytes, zero padding */
}
long double loadf(const uint8_t *p, int w)
{
    return w == 4 ? getf<float>(p) : w == 8 ? getf<double>(p) : getf<long double>(p);
}
void storef(uint8_t *p, int w, long double v)
{
    if (w == 4)
        putf<float>(p, v);
    else if (w == 8)
        putf<double>(p, v);
    else
        putf<long double>(p, v);
}

long double fop(int op, long double a, long double b)
{
    switch (op) {
    case OV_ACC_SUM: return a + b;
    case OV_ACC_PROD: return a * b;
    case OV_ACC_MIN: return b < a ? b : a;
    default: return b > a ? b : a;
    }
}

Bytes ref_elem(int op, int kind, int n, const uint8_t *a, const uint8_t *b)
{
    Bytes r(a, a + n);
    if (op == OV_ACC_NO_OP)
        return r;
    if (op == OV_ACC_REPLACE)
        return Bytes(b, b + n);
    if (op == OV_ACC_BAND || op == OV_ACC_BOR || op == OV_ACC_BXOR) {
        for (int i = 0; i < n; i++)
            r[size_t(i)] = uint8_t(op == OV_ACC_BAND ? a[i] & b[i] : op == OV_ACC_BOR ? a[i] | b[i] : a[i] ^ b[i]);
        return r;
    }
    if (op == OV_ACC_LAND || op == OV_ACC_LOR || op == OV_ACC_LXOR) {
        bool x = zext(a, n) != 0, y = zext(b, n) != 0;
        bool v = op == OV_ACC_LAND ? x && y : op == OV_ACC_LOR ? x || y : x != y;
        return enc(v ? 1 : 0, n);
    }
    if (kind == OV_DT_INT || kind == OV_DT_UINT) {
        if (op == OV_ACC_SUM)
            return enc(zext(a, n) + zext(b, n), n); /* low bits are the same signed or not */
        if (op == OV_ACC_PROD)
            return enc(zext(a, n) * zext(b, n), n);
        bool bless = kind == OV_DT_INT ? sext(b, n) < sext(a, n) : zext(b, n) < zext(a, n);
        bool bmore = kind == OV_DT_INT ? sext(b, n) > sext(a, n) : zext(b, n) > zext(a, n);
        bool take = op == OV_ACC_MIN ? bless : bmore;
        return take ? Bytes(b, b + n) : r;
    }
    if (kind == OV_DT_FLOAT) {
        storef(r.data(), n, fop(op, loadf(a, n), loadf(b, n)));
        return r;
    }
    /* COMPLEX */
    int w = n / 2;
    long double ar = loadf(a, w), ai = loadf(a + w, w), br = loadf(b, w), bi = loadf(b + w, w);
    if (op == OV_ACC_SUM) {
        storef(r.data(), w, ar + br);
        storef(r.data() + w, w, ai + bi);
    } else {
        storef(r.data(), w, ar * br - ai * bi);
        storef(r.data() + w, w, ar * bi + ai * br);
    }
    return r;
}

/* Test values for element i of a (kind, size) operand; `salt` varies the
 * sequence so target and origin pair up differently. */
Bytes value(int kind, int n, int i, int salt)
{
    int k = (i * 3 + salt) % 8;
    Bytes b(size_t(n), 0);
    switch (kind) {
    case OV_DT_INT:
    case OV_DT_UINT: {
        unsigned __int128 top = (unsigned __int128) 1 << (8 * n - 1);
        unsigned __int128 v[8] = {0, 1, ~(unsigned __int128) 0, 7, top, top - 1, 0x5a5a5a5a5a5a5a5aull, 3};
        return enc(v[k], n);
    }
    case OV_DT_BOOL: {
        const uint8_t v[8] = {0, 1, 2, 0x80, 0, 1, 0, 0xff};
        b[0] = v[k];
        return b;
    }
    case OV_DT_LOGICAL: {
        const uint32_t v[8] = {0, 1, 2, 0x80000000u, 0, 1, 0, 0x100};
        memcpy(b.data(), &v[k], 4);
        return b;
    }
    case OV_DT_FLOAT:
    case OV_DT_COMPLEX: {
        const long double v[8] = {0, 1, -1, 1.5L, -2.25L, 3, 0.5L, 100};
        if (kind == OV_DT_FLOAT) {
            storef(b.data(), n, v[k]);
        } else {
            storef(b.data(), n / 2, v[k]);
            storef(b.data() + n / 2, n / 2, v[(k + 5) % 8]);
        }
        return b;
    }
    default:
        for (int j = 0; j < n; j++)
            b[size_t(j)] = uint8_t(k * 37 + j * 11 + salt);
        return b;
    }
}

} // namespace

TEST(Acc, ValidityTableEveryCombination)
{
    const int sizes[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 16, 17, 24, 31, 32, 33, 48, 64, 128, 255, 256, 65535};
    int valid = 0, checked = 0;
    for (int op = 0; op < 256; op++)
        for (int kind = 0; kind < 256; kind++)
            for (int size : sizes) {
                bool want = expect_valid(op, kind, size);
                ASSERT_EQ(ov_acc_valid(uint8_t(op), uint8_t(kind), uint16_t(size)), want)
                    << "op " << op << " kind " << kind << " size " << size;
                valid += want;
                checked++;
            }
    EXPECT_EQ(valid, LD80 ? 166 : 156); /* sum over the table in ov_acc.h */
    EXPECT_EQ(checked, 256 * 256 * int(sizeof(sizes) / sizeof(sizes[0])));
    for (int kind = 0; kind < 256; kind++)
        for (int size = 0; size < 300; size++)
            ASSERT_EQ(ov_dtype_valid(uint8_t(kind), uint16_t(size)), sizes_of(kind).count(size) == 1)
                << "kind " << kind << " size " << size;
}

TEST(Acc, InvalidCombinationsTouchNothing)
{
    uint8_t t[64], o[64], keep[64];
    for (int i = 0; i < 64; i++) {
        t[i] = keep[i] = uint8_t(i + 1);
        o[i] = uint8_t(200 - i);
    }
    const int bad[][3] = {{OV_ACC_NONE, OV_DT_INT, 4},   {OV_ACC_MAX_OP, OV_DT_INT, 4}, {OV_ACC_SUM, OV_DT_BOOL, 1},
                          {OV_ACC_SUM, OV_DT_BYTES, 4},  {OV_ACC_MIN, OV_DT_COMPLEX, 8}, {OV_ACC_LAND, OV_DT_FLOAT, 8},
                          {OV_ACC_BAND, OV_DT_FLOAT, 8}, {OV_ACC_SUM, OV_DT_INT, 3},     {OV_ACC_SUM, OV_DT_INT, 16},
                          {OV_ACC_REPLACE, OV_DT_KIND_MAX, 4}, {OV_ACC_LOR, OV_DT_LOGICAL, 1}};
    for (auto &b : bad) {
        ov_acc_apply(uint8_t(b[0]), uint8_t(b[1]), uint16_t(b[2]), t, o, 2);
        ASSERT_EQ(memcmp(t, keep, sizeof(t)), 0) << combo(b[0], b[1], b[2]);
    }
}

/* Every valid (op, kind, size) on 150 elements at odd addresses, against
 * the model, with guard bytes on both sides of the target: at least two of
 * the 64-byte blocks ov_acc.cc computes with SIMD instructions and a ragged
 * tail, for every element size. */
TEST(Acc, EveryValidCombinationMatchesTheModel)
{
    const int N = 150, GUARD = 5;
    int ran = 0;
    for (int op = OV_ACC_SUM; op < OV_ACC_MAX_OP; op++)
        for (int kind = 0; kind < OV_DT_KIND_MAX; kind++)
            for (int size : sizes_of(kind)) {
                if (!expect_valid(op, kind, size))
                    continue;
                Bytes tbuf(size_t(GUARD + N * size + GUARD), 0xee), obuf(size_t(3 + N * size), 0);
                Bytes want = tbuf;
                for (int i = 0; i < N; i++) {
                    Bytes a = value(kind, size, i, 0), b = value(kind, size, i, 5);
                    memcpy(&tbuf[size_t(GUARD + i * size)], a.data(), size_t(size));
                    memcpy(&obuf[size_t(3 + i * size)], b.data(), size_t(size));
                    Bytes r = ref_elem(op, kind, size, a.data(), b.data());
                    memcpy(&want[size_t(GUARD + i * size)], r.data(), size_t(size));
                }
                Bytes ocopy = obuf;
                ov_acc_apply(uint8_t(op), uint8_t(kind), uint16_t(size), &tbuf[GUARD], &obuf[3], N);
                EXPECT_EQ(tbuf, want) << combo(op, kind, size);
                EXPECT_EQ(obuf, ocopy) << combo(op, kind, size) << ": origin modified";
                ran++;
            }
    EXPECT_EQ(ran, LD80 ? 166 : 156);
}

TEST(Acc, HandCheckedEdgeValues)
{
    auto run = [](int op, int kind, int size, auto t, auto o) {
        ov_acc_apply(uint8_t(op), uint8_t(kind), uint16_t(size), &t, &o, 1);
        return t;
    };
    /* wrap-around, no UB (the UBSan build runs this) */
    EXPECT_EQ(run(OV_ACC_SUM, OV_DT_INT, 1, int8_t(127), int8_t(1)), int8_t(-128));
    EXPECT_EQ(run(OV_ACC_PROD, OV_DT_UINT, 1, uint8_t(255), uint8_t(255)), uint8_t(1));
    EXPECT_EQ(run(OV_ACC_PROD, OV_DT_UINT, 2, uint16_t(65535), uint16_t(65535)), uint16_t(1));
    EXPECT_EQ(run(OV_ACC_PROD, OV_DT_INT, 2, int16_t(-32768), int16_t(-1)), int16_t(-32768));
    EXPECT_EQ(run(OV_ACC_SUM, OV_DT_INT, 4, int32_t(INT32_MAX), int32_t(1)), INT32_MIN);
    EXPECT_EQ(run(OV_ACC_PROD, OV_DT_INT, 8, int64_t(INT64_MIN), int64_t(-1)), INT64_MIN);
    EXPECT_EQ(run(OV_ACC_PROD, OV_DT_INT, 4, int32_t(-3), int32_t(7)), -21);
    /* signedness of MIN/MAX */
    EXPECT_EQ(run(OV_ACC_MIN, OV_DT_INT, 1, int8_t(1), int8_t(-1)), int8_t(-1));
    EXPECT_EQ(run(OV_ACC_MIN, OV_DT_UINT, 1, uint8_t(1), uint8_t(0xff)), uint8_t(1));
    EXPECT_EQ(run(OV_ACC_MAX, OV_DT_INT, 8, int64_t(-5), int64_t(-9)), -5);
    EXPECT_EQ(run(OV_ACC_MAX, OV_DT_UINT, 8, uint64_t(5), uint64_t(~0ull)), ~0ull);
    /* logicals: any non-zero is true, results are 0/1 */
    EXPECT_EQ(run(OV_ACC_LXOR, OV_DT_INT, 4, int32_t(2), int32_t(4)), 0);
    EXPECT_EQ(run(OV_ACC_LAND, OV_DT_INT, 4, int32_t(2), int32_t(0x100)), 1);
    EXPECT_EQ(run(OV_ACC_LOR, OV_DT_UINT, 2, uint16_t(0), uint16_t(0)), 0);
    EXPECT_EQ(run(OV_ACC_LXOR, OV_DT_BOOL, 1, uint8_t(2), uint8_t(0)), 1);
    EXPECT_EQ(run(OV_ACC_LAND, OV_DT_LOGICAL, 4, uint32_t(0x80000000u), uint32_t(7)), 1u);
    /* bitwise */
    EXPECT_EQ(run(OV_ACC_BAND, OV_DT_UINT, 4, 0xf0f0f0f0u, 0x0ff00ff0u), 0x00f000f0u);
    EXPECT_EQ(run(OV_ACC_BXOR, OV_DT_INT, 8, int64_t(-1), int64_t(0x00ff)), int64_t(~0xffll));
    /* floating point */
    EXPECT_EQ(run(OV_ACC_SUM, OV_DT_FLOAT, 8, 0.1, 0.2), 0.1 + 0.2);
    EXPECT_EQ(run(OV_ACC_PROD, OV_DT_FLOAT, 4, 1.5f, -4.0f), -6.0f);
    EXPECT_EQ(run(OV_ACC_MIN, OV_DT_FLOAT, 8, 2.0, double(NAN)), 2.0); /* a NaN origin never replaces */
    EXPECT_EQ(run(OV_ACC_MAX, OV_DT_FLOAT, 4, -0.5f, 0.25f), 0.25f);
    struct cf { float re, im; } a{1, 2}, b{3, 4};
    cf p = run(OV_ACC_PROD, OV_DT_COMPLEX, 8, a, b);
    EXPECT_EQ(p.re, -5.0f);
    EXPECT_EQ(p.im, 10.0f);
    struct cd { double re, im; } c = run(OV_ACC_SUM, OV_DT_COMPLEX, 16, cd{1.5, -1}, cd{0.25, 3});
    EXPECT_EQ(c.re, 1.75);
    EXPECT_EQ(c.im, 2.0);
    if (LD80) {
        unsigned char t[16], o[16];
        memset(t, 0xab, sizeof(t)); /* garbage padding */
        memset(o, 0xcd, sizeof(o));
        long double x = 2.5L, y = 0.25L;
        memcpy(t, &x, 10);
        memcpy(o, &y, 10);
        ov_acc_apply(OV_ACC_SUM, OV_DT_FLOAT, 16, t, o, 1);
        long double r;
        memcpy(&r, t, 16);
        EXPECT_EQ(r, 2.75L);
        for (int i = 10; i < 16; i++)
            EXPECT_EQ(t[i], 0) << "padding byte " << i;
    }
}

TEST(Acc, NoOpReadsNoOriginAndOverlapRules)
{
    int32_t t[4] = {1, 2, 3, 4};
    ov_acc_apply(OV_ACC_NO_OP, OV_DT_INT, 4, t, nullptr, 4); /* must not touch the origin */
    EXPECT_EQ(t[3], 4);
    ov_acc_apply(OV_ACC_SUM, OV_DT_INT, 4, t, t, 4); /* origin == target is allowed */
    EXPECT_EQ(t[0], 2);
    EXPECT_EQ(t[3], 8);
    ov_acc_apply(OV_ACC_REPLACE, OV_DT_INT, 4, t, t + 1, 3); /* REPLACE is memmove */
    EXPECT_EQ(t[0], 4);
    EXPECT_EQ(t[2], 8);
    ov_acc_apply(OV_ACC_SUM, OV_DT_INT, 4, t, t, 0); /* zero elements: nothing */
    EXPECT_EQ(t[0], 4);
}

TEST(Acc, CompareAndSwap)
{
    for (uint16_t size = 1; size <= 32; size++) {
        uint8_t tb[34], ob[34], cb[34], oldb[34];
        uint8_t *t = tb + 1, *o = ob + 1, *c = cb + 1, *old = oldb + 1; /* unaligned */
        for (int i = 0; i < 33; i++) {
            t[i] = uint8_t(i + 1);
            o[i] = uint8_t(100 + i);
            c[i] = t[i];
            old[i] = 0;
        }
        c[size - 1] ^= 1; /* differs in the last byte: no swap */
        EXPECT_FALSE(ov_acc_cas(t, o, c, old, size)) << size;
        EXPECT_EQ(memcmp(old, t, size), 0);
        EXPECT_EQ(t[0], 1);
        c[size - 1] ^= 1;
        EXPECT_TRUE(ov_acc_cas(t, o, c, old, size)) << size;
        EXPECT_EQ(memcmp(t, o, size), 0);
        EXPECT_EQ(old[size - 1], uint8_t(size));
        EXPECT_EQ(t[size], uint8_t(size + 1)) << "wrote past the element";
    }
    /* aliasing: result into the target itself, compare == origin */
    uint64_t v = 5, want = 5, nv = 9;
    EXPECT_TRUE(ov_acc_cas(&v, &nv, &want, &v, 8));
    EXPECT_EQ(v, 9u);
    EXPECT_TRUE(ov_acc_cas(&v, &v, &v, &v, 8));
    EXPECT_EQ(v, 9u);
    /* sizes outside 1..32 touch nothing */
    uint8_t big[40] = {1}, big2[40] = {2}, o2[40] = {};
    EXPECT_FALSE(ov_acc_cas(big, big2, big, o2, 0));
    EXPECT_FALSE(ov_acc_cas(big, big2, big, o2, 33));
    EXPECT_EQ(big[0], 1);
    EXPECT_EQ(o2[0], 0);
}
