// rma_cases_windows.cc - window flavors (group 10) and synchronization modes (group 20).
#include "rma_harness.h"

#include <algorithm>
#include <cstring>
#include <numeric>

using namespace rma;

namespace {

constexpr int N = 64;

// Check the predefined window attributes.  expect_base == nullptr: skip base check.
void check_attrs(Ctx& ctx, MPI_Win win, const void* expect_base, MPI_Aint size, int disp_unit,
                 int flavor) {
    int flag = 0;
    void* base = nullptr;
    if (CK(MPI_Win_get_attr(win, MPI_WIN_BASE, &base, &flag))) {
        ctx.expect(flag, "MPI_WIN_BASE attribute not set");
        if (expect_base) ctx.expect_eq<const void*>("MPI_WIN_BASE", -1, expect_base, base);
    }
    MPI_Aint* sz = nullptr;
    if (CK(MPI_Win_get_attr(win, MPI_WIN_SIZE, &sz, &flag)) && ctx.expect(flag && sz, "MPI_WIN_SIZE not set"))
        ctx.expect_eq<MPI_Aint>("MPI_WIN_SIZE", -1, size, *sz);
    int* du = nullptr;
    if (CK(MPI_Win_get_attr(win, MPI_WIN_DISP_UNIT, &du, &flag)) && ctx.expect(flag && du, "MPI_WIN_DISP_UNIT not set"))
        ctx.expect_eq("MPI_WIN_DISP_UNIT", -1, disp_unit, *du);
    int* fl = nullptr;
    if (CK(MPI_Win_get_attr(win, MPI_WIN_CREATE_FLAVOR, &fl, &flag)) &&
        ctx.expect(flag && fl, "MPI_WIN_CREATE_FLAVOR not set"))
        ctx.expect_eq("MPI_WIN_CREATE_FLAVOR", -1, flavor, *fl);
    int* model = nullptr;
    if (CK(MPI_Win_get_attr(win, MPI_WIN_MODEL, &model, &flag)) && ctx.expect(flag && model, "MPI_WIN_MODEL not set")) {
        ctx.expect(*model == MPI_WIN_UNIFIED || *model == MPI_WIN_SEPARATE,
                   "MPI_WIN_MODEL has bad value " + std::to_string(*model));
        ctx.info(std::string("memory model ") + (*model == MPI_WIN_UNIFIED ? "unified" : "separate"));
    }
    MPI_Group wg, cg;
    if (CK(MPI_Win_get_group(win, &wg)) && CK(MPI_Comm_group(ctx.comm, &cg))) {
        int res = MPI_UNEQUAL;
        CK(MPI_Group_compare(wg, cg, &res));
        ctx.expect(res == MPI_IDENT, "MPI_Win_get_group differs from the communicator's group");
        MPI_Group_free(&wg);
        MPI_Group_free(&cg);
    }
}

// Ring exchange with fences on a window of n ints at `base` (local window memory).
// Puts the first half into the right neighbour, gets it back, checks both sides.
void ring_fence_check(Ctx& ctx, MPI_Win win, int* base, int n) {
    for (int i = 0; i < n; ++i) base[i] = -1;
    const int h = n / 2;
    std::vector<int> src(h), got(h, -7);
    for (int i = 0; i < h; ++i) src[i] = pat(ctx.rank, i);
    CK(MPI_Win_fence(0, win));
    CK(MPI_Put(src.data(), h, MPI_INT, ctx.right(), 0, h, MPI_INT, win));
    CK(MPI_Win_fence(0, win));
    for (int i = 0; i < h; ++i) ctx.expect_eq("window after put from left", i, pat(ctx.left(), i), base[i]);
    for (int i = h; i < n; ++i) ctx.expect_eq("untouched window", i, -1, base[i]);
    CK(MPI_Get(got.data(), h, MPI_INT, ctx.right(), 0, h, MPI_INT, win));
    CK(MPI_Win_fence(0, win));
    for (int i = 0; i < h; ++i) ctx.expect_eq("get from right", i, src[i], got[i]);
}

MPI_Group make_group(Ctx& ctx, const std::vector<int>& ranks) {
    MPI_Group g = MPI_GROUP_NULL, out = MPI_GROUP_EMPTY;
    CK(MPI_Comm_group(ctx.comm, &g));
    CK(MPI_Group_incl(g, static_cast<int>(ranks.size()), ranks.data(), &out));
    MPI_Group_free(&g);
    return out;
}

}  // namespace

// ===================================================================== flavors
RMA_CASE(10, win_create, "MPI_Win_create: attributes, fence put/get ring") {
    std::vector<int> buf(N, -1);
    Window w(ctx);
    if (!win_create_vec(ctx, buf, w)) return;
    check_attrs(ctx, w.win, buf.data(), N * sizeof(int), sizeof(int), MPI_WIN_FLAVOR_CREATE);
    ring_fence_check(ctx, w.win, buf.data(), N);
}

RMA_CASE(10, win_allocate, "MPI_Win_allocate: attributes, fence put/get ring") {
    int* base = nullptr;
    Window w(ctx);
    if (!win_allocate(ctx, N * sizeof(int), sizeof(int), &base, w)) return;
    ctx.expect(base != nullptr, "MPI_Win_allocate returned a null base");
    if (!ctx.all_ok()) return;
    check_attrs(ctx, w.win, base, N * sizeof(int), sizeof(int), MPI_WIN_FLAVOR_ALLOCATE);
    ring_fence_check(ctx, w.win, base, N);
}

RMA_CASE(10, win_create_dynamic, "MPI_Win_create_dynamic + attach/detach, addresses via MPI_Get_address") {
    Window w(ctx);
    if (!win_create_dynamic(ctx, w)) return;
    check_attrs(ctx, w.win, nullptr, 0, 1, MPI_WIN_FLAVOR_DYNAMIC);
    constexpr int M = 40;
    std::vector<int> a(N, -1), b(M, -2);
    CK(MPI_Win_attach(w.win, a.data(), N * sizeof(int)));
    CK(MPI_Win_attach(w.win, b.data(), M * sizeof(int)));
    MPI_Aint addr[2] = {0, 0};
    CK(MPI_Get_address(a.data(), &addr[0]));
    CK(MPI_Get_address(b.data(), &addr[1]));
    std::vector<MPI_Aint> all(2 * static_cast<size_t>(ctx.size));
    CK(MPI_Allgather(addr, 2, MPI_AINT, all.data(), 2, MPI_AINT, ctx.comm));
    if (!ctx.all_ok()) {
        MPI_Win_detach(w.win, a.data());
        MPI_Win_detach(w.win, b.data());
        return;
    }
    const int r = ctx.right();
    const MPI_Aint ra = all[2 * r], rb = all[2 * r + 1];
    const int h = N / 2, off = 4, m = M - off;
    std::vector<int> s1(h), s2(m), g1(h, -9), g2(m, -9);
    for (int i = 0; i < h; ++i) s1[i] = pat(ctx.rank, i);
    for (int i = 0; i < m; ++i) s2[i] = pat(ctx.rank, i, 2);

    CK(MPI_Win_lock_all(0, w.win));
    CK(MPI_Put(s1.data(), h, MPI_INT, r, ra, h, MPI_INT, w.win));
    CK(MPI_Put(s2.data(), m, MPI_INT, r, MPI_Aint_add(rb, off * sizeof(int)), m, MPI_INT, w.win));
    CK(MPI_Win_flush(r, w.win));
    CK(MPI_Get(g1.data(), h, MPI_INT, r, ra, h, MPI_INT, w.win));
    CK(MPI_Get(g2.data(), m, MPI_INT, r, MPI_Aint_add(rb, off * sizeof(int)), m, MPI_INT, w.win));
    CK(MPI_Win_flush(r, w.win));
    for (int i = 0; i < h; ++i) ctx.expect_eq("get back region a", i, s1[i], g1[i]);
    for (int i = 0; i < m; ++i) ctx.expect_eq("get back region b", i, s2[i], g2[i]);
    local_read_in_lock_all(ctx, w.win, [&] {
        for (int i = 0; i < h; ++i) ctx.expect_eq("attached a", i, pat(ctx.left(), i), a[i]);
        for (int i = h; i < N; ++i) ctx.expect_eq("attached a (untouched)", i, -1, a[i]);
        for (int i = 0; i < off; ++i) ctx.expect_eq("attached b (untouched)", i, -2, b[i]);
        for (int i = 0; i < m; ++i) ctx.expect_eq("attached b", off + i, pat(ctx.left(), i, 2), b[off + i]);
    });
    CK(MPI_Win_unlock_all(w.win));
    CK(MPI_Barrier(ctx.comm));
    CK(MPI_Win_detach(w.win, a.data()));
    CK(MPI_Win_detach(w.win, b.data()));

    // Attach a fresh buffer after detaching and use it with fences.
    std::vector<int> c(N, -3);
    CK(MPI_Win_attach(w.win, c.data(), N * sizeof(int)));
    CK(MPI_Get_address(c.data(), &addr[0]));
    CK(MPI_Allgather(addr, 1, MPI_AINT, all.data(), 1, MPI_AINT, ctx.comm));
    CK(MPI_Win_fence(0, w.win));
    CK(MPI_Put(s1.data(), h, MPI_INT, r, all[r], h, MPI_INT, w.win));
    CK(MPI_Win_fence(0, w.win));
    for (int i = 0; i < h; ++i) ctx.expect_eq("re-attached c", i, pat(ctx.left(), i), c[i]);
    for (int i = h; i < N; ++i) ctx.expect_eq("re-attached c (untouched)", i, -3, c[i]);
    CK(MPI_Barrier(ctx.comm));
    CK(MPI_Win_detach(w.win, c.data()));
}

namespace {
// Body of the shared-window cases on communicator `comm` (rank/size local to it).
void shared_window_case(Ctx& ctx, MPI_Comm comm, const std::string& where) {
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    const int left = (rank - 1 + size) % size, right = (rank + 1) % size;
    const MPI_Aint bytes = N * sizeof(int);
    int* base = nullptr;
    Window w(ctx);
    int rc = MPI_Win_allocate_shared(bytes, sizeof(int), MPI_INFO_NULL, comm, &base, &w.win);
    int ok = rc == MPI_SUCCESS ? 1 : 0, all_ok = 0, any_ok = 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, ctx.comm);
    MPI_Allreduce(&ok, &any_ok, 1, MPI_INT, MPI_MAX, ctx.comm);
    if (!all_ok) {
        std::string err = ok ? std::string("succeeded here but failed on another rank") : mpi_error_string(rc);
        if (any_ok) {
            // Cannot free collectively: leak the window rather than hang.
            ctx.fail("MPI_Win_allocate_shared on " + where + " succeeded on some ranks only: " + err);
        } else if (ctx.opt.shared_mode > 0) {
            ctx.fail("MPI_Win_allocate_shared on " + where + " refused (--with-shared given): " + err);
        } else {
            ctx.skip("MPI_Win_allocate_shared on " + where + " refused by the osc component: " + err);
        }
        w.win = MPI_WIN_NULL;
        return;
    }
    CK(MPI_Win_set_errhandler(w.win, MPI_ERRORS_RETURN));
    {
        int flag = 0, *fl = nullptr;
        if (CK(MPI_Win_get_attr(w.win, MPI_WIN_CREATE_FLAVOR, &fl, &flag)) && flag)
            ctx.expect_eq("MPI_WIN_CREATE_FLAVOR", -1, static_cast<int>(MPI_WIN_FLAVOR_SHARED), *fl);
    }
    std::vector<int*> ptr(static_cast<size_t>(size), nullptr);
    for (int r = 0; r < size; ++r) {
        MPI_Aint sz = -1;
        int du = -1;
        void* p = nullptr;
        if (CK(MPI_Win_shared_query(w.win, r, &sz, &du, &p))) {
            ctx.expect_eq("shared_query size of rank", r, bytes, sz);
            ctx.expect_eq("shared_query disp_unit of rank", r, static_cast<int>(sizeof(int)), du);
            ctx.expect(p != nullptr, "shared_query returned null base for rank " + std::to_string(r));
            ptr[static_cast<size_t>(r)] = static_cast<int*>(p);
        }
    }
    ctx.expect_eq<const void*>("shared_query base of self", -1, base, ptr[static_cast<size_t>(rank)]);
    for (int r = 1; r < size; ++r) {
        if (ptr[r] && ptr[r - 1] && reinterpret_cast<char*>(ptr[r]) != reinterpret_cast<char*>(ptr[r - 1]) + bytes)
            ctx.info("segments are not contiguous between ranks " + std::to_string(r - 1) + " and " + std::to_string(r));
    }
    if (!ctx.all_ok()) return;

    const int h = N / 2;
    for (int i = 0; i < N; ++i) base[i] = -1;
    CK(MPI_Win_lock_all(0, w.win));
    CK(MPI_Win_sync(w.win));
    CK(MPI_Barrier(comm));
    // direct stores into the right neighbour's segment
    for (int i = 0; i < h; ++i) ptr[static_cast<size_t>(right)][i] = pat(rank, i);
    CK(MPI_Win_sync(w.win));
    CK(MPI_Barrier(comm));
    CK(MPI_Win_sync(w.win));
    for (int i = 0; i < h; ++i) ctx.expect_eq("shared: direct store from left", i, pat(left, i), base[i]);
    for (int i = 0; i < h; ++i)
        ctx.expect_eq("shared: direct load from right", i, pat(rank, i), ptr[static_cast<size_t>(right)][i]);
    // RMA put into the neighbour's segment, then direct load on the target
    std::vector<int> src(h);
    for (int i = 0; i < h; ++i) src[i] = pat(rank, i, 1);
    CK(MPI_Put(src.data(), h, MPI_INT, right, h, h, MPI_INT, w.win));
    CK(MPI_Win_flush(right, w.win));
    CK(MPI_Win_sync(w.win));
    CK(MPI_Barrier(comm));
    CK(MPI_Win_sync(w.win));
    for (int i = 0; i < h; ++i) ctx.expect_eq("shared: MPI_Put from left", h + i, pat(left, i, 1), base[h + i]);
    // direct store on self, MPI_Get by the left neighbour
    CK(MPI_Barrier(comm));
    for (int i = 0; i < h; ++i) base[i] = pat(rank, i, 3);
    CK(MPI_Win_sync(w.win));
    CK(MPI_Barrier(comm));
    std::vector<int> got(h, -9);
    CK(MPI_Get(got.data(), h, MPI_INT, right, 0, h, MPI_INT, w.win));
    CK(MPI_Win_flush(right, w.win));
    for (int i = 0; i < h; ++i) ctx.expect_eq("shared: MPI_Get of right's local store", i, pat(right, i, 3), got[i]);
    CK(MPI_Win_unlock_all(w.win));
}
}  // namespace

RMA_CASE(10, win_allocate_shared,
         "MPI_Win_allocate_shared on all ranks + shared_query, direct load/store (probe unless --with-shared)") {
    if (ctx.opt.shared_mode < 0) {
        ctx.skip("disabled by --no-shared");
        return;
    }
    shared_window_case(ctx, ctx.comm, "MPI_COMM_WORLD");
}

RMA_CASE(10, win_allocate_shared_node,
         "MPI_Win_allocate_shared on MPI_COMM_TYPE_SHARED sub-communicators (ranks of one node)") {
    if (ctx.opt.shared_mode < 0) {
        ctx.skip("disabled by --no-shared");
        return;
    }
    MPI_Comm node = MPI_COMM_NULL;
    if (!CK(MPI_Comm_split_type(ctx.comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node))) return;
    MPI_Comm_set_errhandler(node, MPI_ERRORS_RETURN);
    int nsize = 0, minsize = 0;
    MPI_Comm_size(node, &nsize);
    MPI_Allreduce(&nsize, &minsize, 1, MPI_INT, MPI_MIN, ctx.comm);
    if (minsize < 2) {
        ctx.skip("some node hosts a single rank (MPI_COMM_TYPE_SHARED size " + std::to_string(minsize) + ")");
    } else {
        shared_window_case(ctx, node, "MPI_COMM_TYPE_SHARED");
    }
    MPI_Comm_free(&node);
}

// ===================================================================== sync modes
RMA_CASE(20, sync_fence, "fence without asserts: put, get, accumulate over several epochs") {
    WinMem<int> buf;
    Window w(ctx);
    if (!win_vec(ctx, 3 * N, 0, w, buf)) return;
    CK(MPI_Win_fence(0, w.win));
    std::vector<int> src(N), got(N), one(N, 1);
    const int rounds = 3;
    for (int round = 0; round < rounds; ++round) {
        for (int i = 0; i < N; ++i) src[i] = pat(ctx.rank, i, round);
        // region 0: put from left; region 2: accumulate from every rank
        CK(MPI_Put(src.data(), N, MPI_INT, ctx.right(), 0, N, MPI_INT, w.win));
        for (int t = 0; t < ctx.size; ++t) CK(MPI_Accumulate(one.data(), N, MPI_INT, t, 2 * N, N, MPI_INT, MPI_SUM, w.win));
        CK(MPI_Win_fence(0, w.win));
        for (int i = 0; i < N; ++i) ctx.expect_eq("fence put round " + std::to_string(round), i, pat(ctx.left(), i, round), buf[i]);
        for (int i = 0; i < N; ++i) ctx.expect_eq("fence acc round " + std::to_string(round), i, (round + 1) * ctx.size, buf[2 * N + i]);
        // get the right neighbour's region 0 (which I wrote) into got
        CK(MPI_Get(got.data(), N, MPI_INT, ctx.right(), 0, N, MPI_INT, w.win));
        CK(MPI_Win_fence(0, w.win));
        for (int i = 0; i < N; ++i) ctx.expect_eq("fence get round " + std::to_string(round), i, src[i], got[i]);
    }
}

RMA_CASE(20, sync_fence_asserts, "fence with MPI_MODE_NOPRECEDE/NOSTORE/NOPUT/NOSUCCEED") {
    WinMem<int> buf;
    Window w(ctx);
    if (!win_vec(ctx, N, -1, w, buf)) return;
    std::vector<int> src(N), got(N, -9);
    for (int rep = 0; rep < 2; ++rep) {
        for (int i = 0; i < N; ++i) src[i] = pat(ctx.rank, i, rep);
        CK(MPI_Win_fence(MPI_MODE_NOPRECEDE, w.win));
        CK(MPI_Put(src.data(), N, MPI_INT, ctx.right(), 0, N, MPI_INT, w.win));
        // no local stores since the last fence; the next epoch only reads
        CK(MPI_Win_fence(MPI_MODE_NOSTORE | MPI_MODE_NOPUT, w.win));
        CK(MPI_Get(got.data(), N, MPI_INT, ctx.right(), 0, N, MPI_INT, w.win));
        CK(MPI_Win_fence(MPI_MODE_NOSUCCEED | MPI_MODE_NOSTORE | MPI_MODE_NOPUT, w.win));
        for (int i = 0; i < N; ++i) ctx.expect_eq("window after asserted fences, rep " + std::to_string(rep), i, pat(ctx.left(), i, rep), buf[i]);
        for (int i = 0; i < N; ++i) ctx.expect_eq("get in NOPUT epoch, rep " + std::to_string(rep), i, src[i], got[i]);
    }
}

namespace {
void pscw_case(Ctx& ctx, bool use_test) {
    WinMem<int> buf;
    Window w(ctx);
    if (!win_vec(ctx, 2 * N, -1, w, buf)) return;
    auto wait_exposure = [&] {
        if (!use_test) {
            CK(MPI_Win_wait(w.win));
            return;
        }
        int flag = 0;
        long polls = 0;
        while (!flag) {
            if (!CK(MPI_Win_test(w.win, &flag))) break;
            ++polls;
        }
        ctx.info("MPI_Win_test polled " + std::to_string(polls) + " times");
    };
    // Phase 1: ring.  I expose to my left neighbour and access my right one.
    {
        MPI_Group expo = make_group(ctx, {ctx.left()}), acc = make_group(ctx, {ctx.right()});
        std::vector<int> src(N);
        for (int i = 0; i < N; ++i) src[i] = pat(ctx.rank, i);
        CK(MPI_Win_post(expo, 0, w.win));
        CK(MPI_Win_start(acc, 0, w.win));
        CK(MPI_Put(src.data(), N, MPI_INT, ctx.right(), 0, N, MPI_INT, w.win));
        CK(MPI_Win_complete(w.win));
        wait_exposure();
        for (int i = 0; i < N; ++i) ctx.expect_eq("PSCW ring put", i, pat(ctx.left(), i), buf[i]);
        MPI_Group_free(&expo);
        MPI_Group_free(&acc);
    }
    // Phase 2: all peers.  Everyone writes its slot in every other rank's second half.
    {
        std::vector<int> peers;
        for (int r = 0; r < ctx.size; ++r)
            if (r != ctx.rank) peers.push_back(r);
        MPI_Group g = make_group(ctx, peers);
        int mine = pat(ctx.rank, 0, 5);
        CK(MPI_Win_post(g, 0, w.win));
        CK(MPI_Win_start(g, 0, w.win));
        for (int r : peers) CK(MPI_Put(&mine, 1, MPI_INT, r, N + ctx.rank, 1, MPI_INT, w.win));
        CK(MPI_Win_complete(w.win));
        wait_exposure();
        for (int r = 0; r < ctx.size; ++r)
            ctx.expect_eq("PSCW all-peers slot", N + r, r == ctx.rank ? -1 : pat(r, 0, 5), buf[N + r]);
        MPI_Group_free(&g);
    }
    // Phase 3: get in an access epoch (exposure to the left again).
    {
        MPI_Group expo = make_group(ctx, {ctx.left()}), acc = make_group(ctx, {ctx.right()});
        std::vector<int> got(N, -9);
        CK(MPI_Win_post(expo, MPI_MODE_NOPUT, w.win));
        CK(MPI_Win_start(acc, 0, w.win));
        CK(MPI_Get(got.data(), N, MPI_INT, ctx.right(), 0, N, MPI_INT, w.win));
        CK(MPI_Win_complete(w.win));
        wait_exposure();
        for (int i = 0; i < N; ++i) ctx.expect_eq("PSCW get", i, pat(ctx.rank, i), got[i]);
        MPI_Group_free(&expo);
        MPI_Group_free(&acc);
    }
}
}  // namespace

RMA_CASE(20, sync_pscw, "post/start/complete/wait: ring, all peers, get epoch") { pscw_case(ctx, false); }
RMA_CASE(20, sync_pscw_test, "post/start/complete + MPI_Win_test polling instead of wait") { pscw_case(ctx, true); }

namespace {
// Every rank puts its slot into every target under `lock(type, assert)`, one
// target at a time; the target checks all slots afterwards.
void lock_slots_case(Ctx& ctx, int lock_type, int assert_) {
    WinMem<int> buf;
    Window w(ctx);
    if (!win_vec(ctx, static_cast<size_t>(std::max(N, 2 * ctx.size)), -1, w, buf)) return;
    const int rep = ctx.size <= N / 2 ? 2 : 1;
    for (int k = 0; k < ctx.size; ++k) {
        // With NOCHECK each target is accessed by exactly one origin at a time.
        int t = assert_ == MPI_MODE_NOCHECK ? (ctx.rank + 1 + k) % ctx.size : k;
        if (assert_ == MPI_MODE_NOCHECK) CK(MPI_Barrier(ctx.comm));
        std::vector<int> v(rep);
        for (int j = 0; j < rep; ++j) v[j] = pat(ctx.rank, t, j);
        CK(MPI_Win_lock(lock_type, t, assert_, w.win));
        CK(MPI_Put(v.data(), rep, MPI_INT, t, ctx.rank * rep, rep, MPI_INT, w.win));
        CK(MPI_Win_unlock(t, w.win));
    }
    local_read(ctx, w.win, [&] {
        for (int r = 0; r < ctx.size; ++r)
            for (int j = 0; j < rep; ++j) ctx.expect_eq("slot of rank " + std::to_string(r), r * rep + j, pat(r, ctx.rank, j), buf[r * rep + j]);
    });
    // read back the right neighbour's whole slot table
    std::vector<int> got(static_cast<size_t>(ctx.size * rep), -9);
    CK(MPI_Barrier(ctx.comm));
    CK(MPI_Win_lock(lock_type == MPI_LOCK_EXCLUSIVE ? MPI_LOCK_EXCLUSIVE : MPI_LOCK_SHARED, ctx.right(),
                    assert_ == MPI_MODE_NOCHECK ? 0 : assert_, w.win));
    CK(MPI_Get(got.data(), ctx.size * rep, MPI_INT, ctx.right(), 0, ctx.size * rep, MPI_INT, w.win));
    CK(MPI_Win_unlock(ctx.right(), w.win));
    for (int r = 0; r < ctx.size; ++r)
        for (int j = 0; j < rep; ++j) ctx.expect_eq("get of right's slot table", r * rep + j, pat(r, ctx.right(), j), got[r * rep + j]);
}
}  // namespace

RMA_CASE(20, sync_lock_exclusive, "MPI_Win_lock(EXCLUSIVE)/unlock: put to every target, get back") {
    lock_slots_case(ctx, MPI_LOCK_EXCLUSIVE, 0);
}
RMA_CASE(20, sync_lock_shared, "MPI_Win_lock(SHARED)/unlock: put to every target, get back") {
    lock_slots_case(ctx, MPI_LOCK_SHARED, 0);
}
RMA_CASE(20, sync_lock_nocheck, "MPI_Win_lock with MPI_MODE_NOCHECK (no conflicting lockers by construction)") {
    lock_slots_case(ctx, MPI_LOCK_EXCLUSIVE, MPI_MODE_NOCHECK);
}

RMA_CASE(20, sync_lock_all, "MPI_Win_lock_all/unlock_all: all-to-all slots") {
    WinMem<int> buf;
    Window w(ctx);
    if (!win_vec(ctx, N, -1, w, buf)) return;
    std::vector<int> v(static_cast<size_t>(ctx.size));
    CK(MPI_Win_lock_all(0, w.win));
    for (int t = 0; t < ctx.size; ++t) {
        v[t] = pat(ctx.rank, t, 9);
        CK(MPI_Put(&v[t], 1, MPI_INT, t, ctx.rank, 1, MPI_INT, w.win));
    }
    CK(MPI_Win_unlock_all(w.win));
    local_read(ctx, w.win, [&] {
        for (int r = 0; r < ctx.size; ++r) ctx.expect_eq("lock_all slot", r, pat(r, ctx.rank, 9), buf[r]);
    });
    CK(MPI_Barrier(ctx.comm));
    std::vector<int> got(static_cast<size_t>(ctx.size) * ctx.size, -9);
    CK(MPI_Win_lock_all(MPI_MODE_NOCHECK, w.win));
    for (int t = 0; t < ctx.size; ++t) CK(MPI_Get(&got[t * ctx.size], ctx.size, MPI_INT, t, 0, ctx.size, MPI_INT, w.win));
    CK(MPI_Win_unlock_all(w.win));
    for (int t = 0; t < ctx.size; ++t)
        for (int r = 0; r < ctx.size; ++r) ctx.expect_eq("lock_all(NOCHECK) get from " + std::to_string(t), r, pat(r, t, 9), got[t * ctx.size + r]);
}

namespace {
// flush variants: put, flush, get back in the same epoch; the get must see the put.
void flush_case(Ctx& ctx, bool all) {
    WinMem<int> buf;
    Window w(ctx);
    if (!win_vec(ctx, N, -1, w, buf)) return;
    CK(MPI_Win_lock_all(0, w.win));
    std::vector<int> src(static_cast<size_t>(ctx.size)), got(static_cast<size_t>(ctx.size), -9);
    for (int round = 0; round < 4; ++round) {
        for (int t = 0; t < ctx.size; ++t) {
            src[t] = pat(ctx.rank, t, round);
            CK(MPI_Put(&src[t], 1, MPI_INT, t, ctx.rank, 1, MPI_INT, w.win));
            if (!all) CK(MPI_Win_flush(t, w.win));
        }
        if (all) CK(MPI_Win_flush_all(w.win));
        for (int t = 0; t < ctx.size; ++t) {
            CK(MPI_Get(&got[t], 1, MPI_INT, t, ctx.rank, 1, MPI_INT, w.win));
            if (!all) CK(MPI_Win_flush(t, w.win));
        }
        if (all) CK(MPI_Win_flush_all(w.win));
        for (int t = 0; t < ctx.size; ++t)
            ctx.expect_eq("round " + std::to_string(round) + " get after flush from rank", t, src[t], got[t]);
        // everyone's round is remotely complete: targets check their slots
        local_read_in_lock_all(ctx, w.win, [&] {
            for (int r = 0; r < ctx.size; ++r)
                ctx.expect_eq("round " + std::to_string(round) + " slot", r, pat(r, ctx.rank, round), buf[r]);
        });
        CK(MPI_Barrier(ctx.comm));
    }
    CK(MPI_Win_unlock_all(w.win));
}

// flush_local variants: after local completion the origin buffer may be reused;
// the target must still receive the original values.
void flush_local_case(Ctx& ctx, bool all) {
    const int M = 1024;
    WinMem<int> buf;
    Window w(ctx);
    if (!win_vec(ctx, static_cast<size_t>(M) * ctx.size, -1, w, buf)) return;
    // one origin buffer per target, so flush_local_all can cover all of them
    std::vector<std::vector<int>> src(static_cast<size_t>(ctx.size), std::vector<int>(M));
    CK(MPI_Win_lock_all(0, w.win));
    for (int t = 0; t < ctx.size; ++t) {
        for (int i = 0; i < M; ++i) src[t][i] = pat(ctx.rank, i, t);
        CK(MPI_Put(src[t].data(), M, MPI_INT, t, ctx.rank * M, M, MPI_INT, w.win));
        if (!all) {
            CK(MPI_Win_flush_local(t, w.win));
            std::fill(src[t].begin(), src[t].end(), -5);  // reuse the origin buffer
        }
    }
    if (all) {
        CK(MPI_Win_flush_local_all(w.win));
        for (auto& s : src) std::fill(s.begin(), s.end(), -5);
    }
    CK(MPI_Win_unlock_all(w.win));
    local_read(ctx, w.win, [&] {
        for (int r = 0; r < ctx.size; ++r)
            for (int i = 0; i < M; ++i)
                ctx.expect_eq("block from rank " + std::to_string(r), i, pat(r, i, ctx.rank), buf[static_cast<size_t>(r) * M + i]);
    });
}
}  // namespace

RMA_CASE(20, sync_flush, "lock_all + MPI_Win_flush: put then get sees the put") { flush_case(ctx, false); }
RMA_CASE(20, sync_flush_all, "lock_all + MPI_Win_flush_all") { flush_case(ctx, true); }
RMA_CASE(20, sync_flush_local, "MPI_Win_flush_local: reuse origin buffer, target gets the original data") {
    flush_local_case(ctx, false);
}
RMA_CASE(20, sync_flush_local_all, "MPI_Win_flush_local_all: reuse origin buffer after local completion") {
    flush_local_case(ctx, true);
}

RMA_CASE(20, sync_win_sync, "MPI_Win_sync: local stores seen by remote get; remote put seen by local load") {
    WinMem<int> buf;
    Window w(ctx);
    if (!win_vec(ctx, N, -1, w, buf)) return;
    CK(MPI_Win_lock_all(0, w.win));
    for (int round = 0; round < 3; ++round) {
        // local stores, sync, barrier; the left neighbour reads them with MPI_Get
        for (int i = 0; i < N / 2; ++i) buf[i] = pat(ctx.rank, i, 20 + round);
        CK(MPI_Win_sync(w.win));
        CK(MPI_Barrier(ctx.comm));
        std::vector<int> got(N / 2, -9);
        CK(MPI_Get(got.data(), N / 2, MPI_INT, ctx.right(), 0, N / 2, MPI_INT, w.win));
        CK(MPI_Win_flush(ctx.right(), w.win));
        for (int i = 0; i < N / 2; ++i) ctx.expect_eq("get of right's local stores, round " + std::to_string(round), i, pat(ctx.right(), i, 20 + round), got[i]);
        // remote put + flush, barrier, sync; the target loads directly
        std::vector<int> src(N / 2);
        for (int i = 0; i < N / 2; ++i) src[i] = pat(ctx.rank, i, 40 + round);
        CK(MPI_Put(src.data(), N / 2, MPI_INT, ctx.right(), N / 2, N / 2, MPI_INT, w.win));
        CK(MPI_Win_flush(ctx.right(), w.win));
        CK(MPI_Barrier(ctx.comm));
        CK(MPI_Win_sync(w.win));
        for (int i = 0; i < N / 2; ++i) ctx.expect_eq("local load of left's put, round " + std::to_string(round), N / 2 + i, pat(ctx.left(), i, 40 + round), buf[N / 2 + i]);
        CK(MPI_Barrier(ctx.comm));
    }
    CK(MPI_Win_unlock_all(w.win));
}
