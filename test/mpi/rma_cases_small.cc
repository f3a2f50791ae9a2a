// rma_cases_small.cc - small put/get in passive epochs (group 35): the sizes,
// displacements and datatypes around the edges of osc virt's quick path
// (BackendWindow::quick_copy: one contiguous run, same type and count on
// both sides, inline-sized, backend-held lock), so that an operation it
// takes and one it declines to the general path both land exactly where
// MPI says, and nothing next to them moves.
#include "rma_harness.h"

#include <cstring>

using namespace rma;

namespace {

constexpr int kBytes = 64;  // each rank's window: 64 bytes, disp_unit 1
constexpr unsigned char kUntouched = 0xEE;

unsigned char byte_pat(int rank, int i, int salt) { return static_cast<unsigned char>(pat(rank, i, salt) & 0x7f); }

// One put of `len` bytes at byte `at` of the right neighbour, described as
// count x type on both sides (or origin/target types differing), then a get
// of the same bytes back, under `lock_all` or a shared lock, with a flush
// between.  The target checks its window: the put's bytes, kUntouched
// elsewhere.  Collective.
struct Shape {
    const char* what;
    int len;                  // bytes moved
    MPI_Datatype origin_type, target_type;
    int origin_count, target_count;
};

void put_get_at(Ctx& ctx, const Shape& s, int at, bool lock_all, int salt) {
    const std::string tag = std::string(s.what) + " at byte " + std::to_string(at) +
                            (lock_all ? " (lock_all)" : " (lock shared)");
    WinMem<unsigned char> buf;
    Window w(ctx);
    if (!win_vec(ctx, kBytes, kUntouched, w, buf)) return;
    const int t = ctx.right();
    std::vector<unsigned char> src(static_cast<size_t>(s.len)), got(static_cast<size_t>(s.len), 0);
    for (int i = 0; i < s.len; ++i) src[i] = byte_pat(ctx.rank, i, salt);
    if (lock_all) {
        CK(MPI_Win_lock_all(0, w.win));
    } else {
        CK(MPI_Win_lock(MPI_LOCK_SHARED, t, 0, w.win));
    }
    CK(MPI_Put(src.data(), s.origin_count, s.origin_type, t, at, s.target_count, s.target_type, w.win));
    CK(MPI_Win_flush(t, w.win));
    CK(MPI_Get(got.data(), s.origin_count, s.origin_type, t, at, s.target_count, s.target_type, w.win));
    CK(MPI_Win_flush(t, w.win));
    if (lock_all) {
        CK(MPI_Win_unlock_all(w.win));
    } else {
        CK(MPI_Win_unlock(t, w.win));
    }
    for (int i = 0; i < s.len; ++i) ctx.expect_eq(tag + ": get returns the put", i, src[i], got[i]);
    local_read(ctx, w.win, [&] {
        for (int i = 0; i < kBytes; ++i) {
            const bool covered = i >= at && i < at + s.len;
            ctx.expect_eq(tag + (covered ? ": target byte from left" : ": target byte untouched"), i,
                          covered ? byte_pat(ctx.left(), i - at, salt) : kUntouched, buf[i]);
        }
    });
}

}  // namespace

RMA_CASE(35, op_small_put_get, "small MPI_Put/MPI_Get + flush: 1-24 bytes, at the window's first and last bytes, "
                               "lock and lock_all") {
    int salt = 0;
    for (int len : {1, 2, 4, 8, 9, 16, 17, 24}) {  // 8 and 16: the inline limits of get and put
        const Shape s{"bytes", len, MPI_BYTE, MPI_BYTE, len, len};
        for (int at : {0, 3, kBytes - len}) {
            put_get_at(ctx, s, at, false, ++salt);
            put_get_at(ctx, s, at, true, ++salt);
        }
    }
}

RMA_CASE(35, op_small_put_get_types, "small MPI_Put/MPI_Get whose types differ between origin and target, or "
                                     "whose data does not start at its lower bound") {
    MPI_Datatype shifted = MPI_DATATYPE_NULL, two_ints = MPI_DATATYPE_NULL;
    // 4 bytes at offset 4 of an 8-byte extent: contiguous, true lower bound 4
    const int blen = 4;
    const MPI_Aint disp = 4;
    MPI_Datatype byte_t = MPI_BYTE;
    CK(MPI_Type_create_struct(1, &blen, &disp, &byte_t, &shifted));
    CK(MPI_Type_commit(&shifted));
    CK(MPI_Type_contiguous(8, MPI_BYTE, &two_ints));
    CK(MPI_Type_commit(&two_ints));
    if (!ctx.all_ok()) return;
    int salt = 100;
    // 8 bytes: 8 x BYTE at the origin, one 8-byte contiguous type at the target
    const Shape mixed{"8 x MPI_BYTE -> 1 x contiguous(8)", 8, MPI_BYTE, two_ints, 8, 1};
    for (int at : {0, kBytes - 8}) {
        put_get_at(ctx, mixed, at, false, ++salt);
        put_get_at(ctx, mixed, at, true, ++salt);
    }
    // The same derived type on both sides: 4 bytes at offset 4 of the origin
    // buffer and of the target displacement.
    {
        const std::string tag = "struct with true_lb 4";
        WinMem<unsigned char> buf;
        Window w(ctx);
        if (win_vec(ctx, kBytes, kUntouched, w, buf)) {
            const int t = ctx.right();
            unsigned char src[8], got[8];
            for (int i = 0; i < 8; ++i) {
                src[i] = byte_pat(ctx.rank, i, 7);
                got[i] = 0;
            }
            const int at = kBytes - 8;  // its data: bytes 60..63, the window's last
            CK(MPI_Win_lock(MPI_LOCK_SHARED, t, 0, w.win));
            CK(MPI_Put(src, 1, shifted, t, at, 1, shifted, w.win));
            CK(MPI_Win_flush(t, w.win));
            CK(MPI_Get(got, 1, shifted, t, at, 1, shifted, w.win));
            CK(MPI_Win_unlock(t, w.win));
            for (int i = 0; i < 4; ++i) ctx.expect_eq(tag + ": origin bytes before the data untouched", i, static_cast<unsigned char>(0), got[i]);
            for (int i = 4; i < 8; ++i) ctx.expect_eq(tag + ": get returns the put", i, src[i], got[i]);
            local_read(ctx, w.win, [&] {
                for (int i = 0; i < kBytes; ++i) {
                    const bool covered = i >= kBytes - 4;
                    ctx.expect_eq(tag + (covered ? ": target byte from left" : ": target byte untouched"), i,
                                  covered ? byte_pat(ctx.left(), i - at, 7) : kUntouched, buf[i]);
                }
            });
        }
    }
    CK(MPI_Type_free(&shifted));
    CK(MPI_Type_free(&two_ints));
}
