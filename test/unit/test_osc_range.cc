// Range check of osc virt (ompi/mca/osc/virt/osc_virt_range.h): table-driven
// cases at and around every edge, plus inputs that would overflow 64 bits.
#include "osc_virt_range.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace {

struct RangeCase {
    const char *what;
    uint64_t size;
    int64_t disp_unit, disp, count, extent, true_lb, true_extent;
    bool inside;
};

const RangeCase kCases[] = {
    // what                         size  du  disp count ext lb  text  inside
    {"empty access anywhere",          0,  1,  999,   0,  4,  0,   4,  true},
    {"negative count",               100,  1,    0,  -1,  4,  0,   4,  false},
    {"one int at 0",                   4,  4,    0,   1,  4,  0,   4,  true},
    {"exactly fills the window",      40,  4,    0,  10,  4,  0,   4,  true},
    {"last element ends at size",     40,  4,    9,   1,  4,  0,   4,  true},
    {"one byte past the end",         40,  4,    9,   1,  5,  0,   5,  false},
    {"starts at the end",             40,  4,   10,   1,  4,  0,   4,  false},
    {"count runs past the end",       40,  4,    1,  10,  4,  0,   4,  false},
    {"disp_unit 1 byte offsets",      10,  1,    6,   1,  4,  0,   4,  true},
    {"disp_unit 1 past end",          10,  1,    7,   1,  4,  0,   4,  false},
    {"negative displacement",        100,  4,   -1,   1,  4,  0,   4,  false},
    {"vector: gaps inside",          100,  1,    0,   2, 48,  0,  40,  true},   // 0..88
    {"vector: true extent past end",  87,  1,    0,   2, 48,  0,  40,  false},  // needs 88
    {"type with positive true_lb",    16,  1,    0,   1, 16,  8,   8,  true},
    {"true_lb pushes past end",       15,  1,    0,   1, 16,  8,   8,  false},
    {"negative true_lb before start", 16,  1,    0,   1,  8, -4,   8,  false},
    {"negative true_lb offset by disp",16, 1,    4,   1,  8, -4,   8,  true},
    {"negative extent (resized)",     64,  1,   32,   3, -8,  0,   8,  true},   // 16..40
    {"negative extent before start",  64,  1,    8,   3, -8,  0,   8,  false},  // -8..16
    {"zero-size window",               0,  1,    0,   1,  1,  0,   1,  false},
};

class RangeTable : public ::testing::TestWithParam<RangeCase> {};

TEST_P(RangeTable, MatchesExpectation)
{
    const RangeCase &c = GetParam();
    EXPECT_EQ(c.inside, ov::osc::access_in_window(c.size, c.disp_unit, c.disp, c.count, c.extent,
                                                  c.true_lb, c.true_extent))
        << c.what;
}

INSTANTIATE_TEST_SUITE_P(OscVirt, RangeTable, ::testing::ValuesIn(kCases));

TEST(OscVirtRange, NoOverflowOnHugeInputs)
{
    constexpr int64_t big = std::numeric_limits<int64_t>::max();
    // disp * disp_unit overflows 64 bits: must be outside, not wrap to inside.
    EXPECT_FALSE(ov::osc::access_in_window(1 << 20, big, big, 1, 8, 0, 8));
    // (count-1) * extent overflows 64 bits.
    EXPECT_FALSE(ov::osc::access_in_window(UINT64_MAX, 1, 0, big, big, 0, 8));
    // A window as large as the address space still bounds the access.
    EXPECT_TRUE(ov::osc::access_in_window(UINT64_MAX, 1, big, 1, 1, 0, 1));
}

} // namespace
