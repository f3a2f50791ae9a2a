/*
 * test_stream_copy.cc — ov_stream_copy (common/ov_stream_copy.h) is memcpy
 * for every alignment of source and destination and every length around the
 * 64-byte line, and touches nothing outside the destination range.
 */
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "ov_stream_copy.h"

namespace {
void fill(std::vector<char> &v, unsigned seed)
{
    for (size_t i = 0; i < v.size(); i++)
        v[i] = char((i * 2654435761u + seed) >> 13);
}
} // namespace

TEST(StreamCopy, EqualsMemcpyAtEveryAlignmentAndLength)
{
    const size_t kPad = 128;
    std::vector<size_t> lengths;
    for (size_t n = 0; n <= 200; n++)
        lengths.push_back(n);
    for (size_t n : {size_t(4095), size_t(4096), size_t(65537), size_t(1) << 20})
        lengths.push_back(n);
    for (size_t n : lengths) {
        for (size_t dalign : {0, 1, 15, 16, 33, 63}) {
            for (size_t salign : {0, 7, 32}) {
                std::vector<char> src(n + kPad), dst(n + 2 * kPad), want;
                fill(src, unsigned(n));
                fill(dst, 99);
                want = dst;
                memcpy(want.data() + kPad + dalign, src.data() + salign, n);
                ov_stream_copy(dst.data() + kPad + dalign, src.data() + salign, n);
                ASSERT_EQ(memcmp(dst.data(), want.data(), dst.size()), 0)
                    << "n " << n << " dst align " << dalign << " src align " << salign;
            }
        }
    }
}

TEST(StreamCopy, WorthOnlyFromTheThresholdAndNeverWithZero)
{
    EXPECT_FALSE(ov_stream_worth(1 << 20, 0)) << "0 means never";
    EXPECT_FALSE(ov_stream_worth((1 << 20) - 1, 1 << 20));
    EXPECT_TRUE(ov_stream_worth(1 << 20, 1 << 20));
    EXPECT_TRUE(ov_stream_worth(uint64_t(1) << 40, kOvStreamMinDefault));
}
