// rma_cases_ops.cc - operations (group 30), derived datatypes (group 40),
// large / fragmented transfers (group 50).
#include "rma_harness.h"

#include <cstring>

using namespace rma;

namespace {

// ----------------------------------------------------------------- put/get per type
template <class T>
void put_get_type(Ctx& ctx) {
    const int n = 37;  // odd count on purpose
    WinMem<T> buf;
    Window w(ctx);
    if (!win_vec(ctx, 2 * n, T(0), w, buf)) return;
    const std::string tn = std::string("put/get ") + std::to_string(sizeof(T)) + "-byte type ";
    std::vector<T> src(n), got(n, T(0));
    for (int i = 0; i < n; ++i) src[i] = static_cast<T>(pat(ctx.rank, i) % 100 + (std::is_floating_point_v<T> ? 0.25 : 0));
    CK(MPI_Win_lock(MPI_LOCK_EXCLUSIVE, ctx.right(), 0, w.win));
    CK(MPI_Put(src.data(), n, mpi_type<T>(), ctx.right(), n, n, mpi_type<T>(), w.win));
    CK(MPI_Win_unlock(ctx.right(), w.win));
    local_read(ctx, w.win, [&] {
        for (int i = 0; i < n; ++i) ctx.expect_eq(tn + "target (from left)", n + i, static_cast<T>(pat(ctx.left(), i) % 100 + (std::is_floating_point_v<T> ? 0.25 : 0)), buf[n + i]);
        for (int i = 0; i < n; ++i) ctx.expect_eq(tn + "untouched", i, T(0), buf[i]);
    });
    CK(MPI_Barrier(ctx.comm));
    CK(MPI_Win_lock(MPI_LOCK_SHARED, ctx.right(), 0, w.win));
    CK(MPI_Get(got.data(), n, mpi_type<T>(), ctx.right(), n, n, mpi_type<T>(), w.win));
    CK(MPI_Win_unlock(ctx.right(), w.win));
    for (int i = 0; i < n; ++i) ctx.expect_eq(tn + "get back", i, src[i], got[i]);
}

// ----------------------------------------------------------------- accumulate
template <class T>
T acc_init(MPI_Op op, int rank, int k) {
    long long v;
    if (op == MPI_SUM) v = k * 3 + rank;
    else if (op == MPI_PROD) v = 1 + k % 3;
    else if (op == MPI_MAX || op == MPI_MIN) v = (k * 37 + rank * 11) % 50 - (std::is_signed_v<T> ? 25 : 0);
    else if (op == MPI_BAND || op == MPI_BOR || op == MPI_BXOR) v = ((k * 0x35 + rank * 0x1b) & 0xff) | 0x1100;
    else if (op == MPI_LAND || op == MPI_LOR || op == MPI_LXOR) v = (k % 3 == 0) ? 0 : k;
    else v = 7;  // REPLACE
    T t = static_cast<T>(v);
    if constexpr (std::is_floating_point_v<T>)
        if (op != MPI_PROD) t += T(0.5);
    return t;
}

template <class T>
T acc_contrib(MPI_Op op, int origin, int target, int k) {
    long long v;
    if (op == MPI_SUM) v = origin * 7 + k + 1 + target;
    else if (op == MPI_PROD) v = 1 + (origin + k) % 3;
    else if (op == MPI_MAX || op == MPI_MIN) v = (origin * 13 + k * 29 + target) % 50 - (std::is_signed_v<T> ? 25 : 0);
    else if (op == MPI_BAND || op == MPI_BOR || op == MPI_BXOR) v = (origin * 0x5b + k * 0x17 + 0x11) & 0x7f7f;
    else if (op == MPI_LAND || op == MPI_LOR || op == MPI_LXOR) v = ((origin + k) % 2) ? 0 : origin + k + 1;
    else v = pat(origin, k, target) % 30000;  // REPLACE
    T t = static_cast<T>(v);
    if constexpr (std::is_floating_point_v<T>)
        if (op == MPI_SUM || op == MPI_MAX || op == MPI_MIN) t += T(0.25);
    return t;
}

// Every origin accumulates into every target (commutative ops, result exact in any
// order); MPI_REPLACE only from the left neighbour (deterministic).  Fence epochs.
template <class T>
void acc_case(Ctx& ctx) {
    std::vector<MPI_Op> ops = {MPI_SUM, MPI_PROD, MPI_MAX, MPI_MIN, MPI_REPLACE};
    if constexpr (std::is_integral_v<T>) {
        for (MPI_Op o : {MPI_BAND, MPI_BOR, MPI_BXOR, MPI_LAND, MPI_LOR, MPI_LXOR}) ops.push_back(o);
    }
    const int K = 16, nops = static_cast<int>(ops.size());
    std::vector<T> buf0(static_cast<size_t>(nops) * K);
    for (int o = 0; o < nops; ++o)
        for (int k = 0; k < K; ++k) buf0[o * K + k] = acc_init<T>(ops[o], ctx.rank, k);
    WinMem<T> buf;
    Window w(ctx);
    if (!win_vec(ctx, buf0, w, buf)) return;
    // contributions stay alive until the closing fence
    std::vector<std::vector<T>> contrib(static_cast<size_t>(nops * ctx.size), std::vector<T>(K));
    for (int rep = 0; rep < 2; ++rep) {
        CK(MPI_Win_fence(0, w.win));
        for (int o = 0; o < nops; ++o) {
            for (int t = 0; t < ctx.size; ++t) {
                if (ops[o] == MPI_REPLACE && t != ctx.right()) continue;
                auto& c = contrib[o * ctx.size + t];
                for (int k = 0; k < K; ++k) c[k] = acc_contrib<T>(ops[o], ctx.rank, t, k);
                CK(MPI_Accumulate(c.data(), K, mpi_type<T>(), t, o * K, K, mpi_type<T>(), ops[o], w.win));
            }
        }
        CK(MPI_Win_fence(0, w.win));
        for (int o = 0; o < nops; ++o) {
            for (int k = 0; k < K; ++k) {
                T e = acc_init<T>(ops[o], ctx.rank, k);
                for (int r = 0; r <= rep; ++r) {
                    if (ops[o] == MPI_REPLACE) {
                        e = acc_contrib<T>(ops[o], ctx.left(), ctx.rank, k);
                    } else {
                        for (int src = 0; src < ctx.size; ++src) e = apply_op(ops[o], e, acc_contrib<T>(ops[o], src, ctx.rank, k));
                    }
                }
                ctx.expect_eq(std::string(type_name<T>()) + " " + op_name(ops[o]) + " rep " + std::to_string(rep), k, e, buf[o * K + k]);
            }
        }
    }
}

// ----------------------------------------------------------------- get_accumulate
template <class T>
void get_acc_type(Ctx& ctx) {
    const int K = 8;
    const std::string tn = type_name<T>();
    std::vector<T> buf0(4 * K);
    auto init = [](int rank, int region, int k) { return static_cast<T>(rank * 100 + region * 10 + k); };
    for (int g = 0; g < 4; ++g)
        for (int k = 0; k < K; ++k) buf0[g * K + k] = init(ctx.rank, g, k);
    WinMem<T> buf;
    Window w(ctx);
    if (!win_vec(ctx, buf0, w, buf)) return;
    const int r = ctx.right();
    std::vector<T> c(K), res0(K), res1(K), res2(K), res3(K), res0b(K);
    for (int k = 0; k < K; ++k) c[k] = static_cast<T>(k * 3 + 1 + ctx.rank);
    const MPI_Datatype ty = mpi_type<T>();
    CK(MPI_Win_lock_all(0, w.win));
    CK(MPI_Get_accumulate(c.data(), K, ty, res0.data(), K, ty, r, 0 * K, K, ty, MPI_SUM, w.win));
    CK(MPI_Get_accumulate(nullptr, 0, ty, res1.data(), K, ty, r, 1 * K, K, ty, MPI_NO_OP, w.win));
    CK(MPI_Get_accumulate(c.data(), K, ty, res2.data(), K, ty, r, 2 * K, K, ty, MPI_REPLACE, w.win));
    CK(MPI_Get_accumulate(c.data(), K, ty, res3.data(), K, ty, r, 3 * K, K, ty, MPI_MAX, w.win));
    // same origin, same location: accumulate ordering makes this see the SUM
    CK(MPI_Get_accumulate(nullptr, 0, ty, res0b.data(), K, ty, r, 0 * K, K, ty, MPI_NO_OP, w.win));
    CK(MPI_Win_flush(r, w.win));
    for (int k = 0; k < K; ++k) {
        ctx.expect_eq(tn + " get_acc SUM fetched", k, init(r, 0, k), res0[k]);
        ctx.expect_eq(tn + " get_acc NO_OP fetched", k, init(r, 1, k), res1[k]);
        ctx.expect_eq(tn + " get_acc REPLACE fetched", k, init(r, 2, k), res2[k]);
        ctx.expect_eq(tn + " get_acc MAX fetched", k, init(r, 3, k), res3[k]);
        ctx.expect_eq(tn + " get_acc NO_OP after SUM fetched", k, static_cast<T>(init(r, 0, k) + c[k]), res0b[k]);
    }
    local_read_in_lock_all(ctx, w.win, [&] {
        const int l = ctx.left();
        for (int k = 0; k < K; ++k) {
            T cl = static_cast<T>(k * 3 + 1 + l);
            ctx.expect_eq(tn + " target after SUM", k, static_cast<T>(init(ctx.rank, 0, k) + cl), buf[0 * K + k]);
            ctx.expect_eq(tn + " target after NO_OP", k, init(ctx.rank, 1, k), buf[1 * K + k]);
            ctx.expect_eq(tn + " target after REPLACE", k, cl, buf[2 * K + k]);
            T m = init(ctx.rank, 3, k);
            ctx.expect_eq(tn + " target after MAX", k, cl > m ? cl : m, buf[3 * K + k]);
        }
    });
    CK(MPI_Win_unlock_all(w.win));
}

// ----------------------------------------------------------------- fetch_and_op
template <class T>
void fetch_op_type(Ctx& ctx) {
    const std::string tn = type_name<T>();
    std::vector<T> buf0(4, T(0));
    buf0[0] = static_cast<T>(100 + ctx.rank);
    WinMem<T> buf;
    Window w(ctx);
    if (!win_vec(ctx, buf0, w, buf)) return;
    struct Step { MPI_Op op; T operand; };
    std::vector<Step> steps = {{MPI_SUM, T(5)},  {MPI_NO_OP, T(0)}, {MPI_REPLACE, T(42)}, {MPI_MAX, T(10)},
                               {MPI_MIN, T(10)}, {MPI_PROD, T(3)}};
    if constexpr (std::is_integral_v<T>) {
        steps.push_back({MPI_BXOR, T(0x0f)});
        steps.push_back({MPI_BOR, T(0x40)});
        steps.push_back({MPI_BAND, T(0x5c)});
    }
    std::vector<T> res(steps.size(), T(-1));
    const int r = ctx.right();
    CK(MPI_Win_lock_all(0, w.win));
    for (size_t s = 0; s < steps.size(); ++s)
        CK(MPI_Fetch_and_op(&steps[s].operand, &res[s], mpi_type<T>(), r, 0, steps[s].op, w.win));
    CK(MPI_Win_flush(r, w.win));
    auto simulate = [&](int target, std::vector<T>* fetched) {
        T v = static_cast<T>(100 + target);
        for (auto& st : steps) {
            if (fetched) fetched->push_back(v);
            v = apply_op(st.op, v, st.operand);
        }
        return v;
    };
    std::vector<T> exp;
    simulate(r, &exp);
    for (size_t s = 0; s < steps.size(); ++s)
        ctx.expect_eq(tn + " fetch_and_op " + op_name(steps[s].op) + " fetched (step)", static_cast<long>(s), exp[s], res[s]);
    local_read_in_lock_all(ctx, w.win, [&] {
        ctx.expect_eq(tn + " fetch_and_op final target value", 0, simulate(ctx.rank, nullptr), buf[0]);
    });
    CK(MPI_Win_unlock_all(w.win));
}

// ----------------------------------------------------------------- compare_and_swap
template <class T>
void cas_type(Ctx& ctx, bool self) {
    const std::string tn = std::string(type_name<T>()) + (self ? " CAS(self)" : " CAS");
    std::vector<T> buf0(2, T(0));
    buf0[0] = static_cast<T>(1000 + ctx.rank);
    WinMem<T> buf;
    Window w(ctx);
    if (!win_vec(ctx, buf0, w, buf)) return;
    const int t = self ? ctx.rank : ctx.right();
    T o1 = static_cast<T>(ctx.rank * 10 + 1), c1 = static_cast<T>(1000 + t), r1 = T(-1);
    T o2 = T(777), c2 = T(12345), r2 = T(-1);
    T o3 = static_cast<T>(ctx.rank * 10 + 2), c3 = o1, r3 = T(-1);
    CK(MPI_Win_lock(MPI_LOCK_EXCLUSIVE, t, 0, w.win));
    CK(MPI_Compare_and_swap(&o1, &c1, &r1, mpi_type<T>(), t, 0, w.win));
    CK(MPI_Compare_and_swap(&o2, &c2, &r2, mpi_type<T>(), t, 0, w.win));
    CK(MPI_Compare_and_swap(&o3, &c3, &r3, mpi_type<T>(), t, 0, w.win));
    CK(MPI_Win_unlock(t, w.win));
    ctx.expect_eq(tn + " #1 (match) fetched", -1, c1, r1);
    ctx.expect_eq(tn + " #2 (no match) fetched", -1, o1, r2);
    ctx.expect_eq(tn + " #3 (match) fetched", -1, o1, r3);
    const int from = self ? ctx.rank : ctx.left();
    local_read(ctx, w.win, [&] {
        ctx.expect_eq(tn + " final target value", 0, static_cast<T>(from * 10 + 2), buf[0]);
        ctx.expect_eq(tn + " neighbour element untouched", 1, T(0), buf[1]);
    });
}

}  // namespace

// ===================================================================== operations
RMA_CASE(30, op_put_get, "MPI_Put/MPI_Get of char, short, int, long long, float, double (lock/unlock)") {
    put_get_type<char>(ctx);
    put_get_type<short>(ctx);
    put_get_type<int>(ctx);
    put_get_type<long long>(ctx);
    put_get_type<float>(ctx);
    put_get_type<double>(ctx);
}

RMA_CASE(30, acc_int, "MPI_Accumulate int: SUM PROD MAX MIN REPLACE BAND BOR BXOR LAND LOR LXOR") { acc_case<int>(ctx); }
RMA_CASE(30, acc_unsigned, "MPI_Accumulate unsigned: all integer ops") { acc_case<unsigned>(ctx); }
RMA_CASE(30, acc_short, "MPI_Accumulate short: all integer ops") { acc_case<short>(ctx); }
RMA_CASE(30, acc_longlong, "MPI_Accumulate long long: all integer ops") { acc_case<long long>(ctx); }
RMA_CASE(30, acc_float, "MPI_Accumulate float: SUM PROD MAX MIN REPLACE") { acc_case<float>(ctx); }
RMA_CASE(30, acc_double, "MPI_Accumulate double: SUM PROD MAX MIN REPLACE") { acc_case<double>(ctx); }

RMA_CASE(30, op_get_accumulate, "MPI_Get_accumulate SUM/NO_OP/REPLACE/MAX, int + long long + double") {
    get_acc_type<int>(ctx);
    get_acc_type<long long>(ctx);
    get_acc_type<double>(ctx);
}

RMA_CASE(30, op_fetch_and_op, "MPI_Fetch_and_op op sequence on one element, int + long long + double") {
    fetch_op_type<int>(ctx);
    fetch_op_type<long long>(ctx);
    fetch_op_type<double>(ctx);
}

RMA_CASE(30, op_compare_and_swap, "MPI_Compare_and_swap match / no match on the right neighbour") {
    cas_type<int>(ctx, false);
    cas_type<long long>(ctx, false);
    cas_type<unsigned long long>(ctx, false);
}

RMA_CASE(30, op_compare_and_swap_self, "MPI_Compare_and_swap targeting the calling rank itself") {
    cas_type<int>(ctx, true);
    cas_type<long long>(ctx, true);
}

RMA_CASE(30, op_rput_rget, "MPI_Rput/MPI_Rget with MPI_Wait, MPI_Waitall and MPI_Test") {
    const int n = 100;
    WinMem<int> buf;
    Window w(ctx);
    if (!win_vec(ctx, static_cast<size_t>(n) * (ctx.size + 1), -1, w, buf)) return;
    const int r = ctx.right();
    std::vector<int> src(n), keep(n), got(n, -9);
    for (int i = 0; i < n; ++i) keep[i] = src[i] = pat(ctx.rank, i, 11);
    CK(MPI_Win_lock_all(0, w.win));
    MPI_Request req = MPI_REQUEST_NULL;
    CK(MPI_Rput(src.data(), n, MPI_INT, r, 0, n, MPI_INT, w.win, &req));
    CK(MPI_Wait(&req, MPI_STATUS_IGNORE));
    std::fill(src.begin(), src.end(), -5);  // local completion: origin buffer reusable
    CK(MPI_Win_flush(r, w.win));
    CK(MPI_Rget(got.data(), n, MPI_INT, r, 0, n, MPI_INT, w.win, &req));
    int flag = 0;
    while (!flag)
        if (!CK(MPI_Test(&req, &flag, MPI_STATUS_IGNORE))) break;
    for (int i = 0; i < n; ++i) ctx.expect_eq("rget after rput+flush", i, keep[i], got[i]);
    // one rput into every target's slot block, completed with MPI_Waitall
    std::vector<MPI_Request> reqs(static_cast<size_t>(ctx.size), MPI_REQUEST_NULL);
    std::vector<std::vector<int>> blocks(static_cast<size_t>(ctx.size), std::vector<int>(n));
    for (int t = 0; t < ctx.size; ++t) {
        for (int i = 0; i < n; ++i) blocks[t][i] = pat(ctx.rank, i, t);
        CK(MPI_Rput(blocks[t].data(), n, MPI_INT, t, static_cast<MPI_Aint>(n) * (1 + ctx.rank), n, MPI_INT, w.win, &reqs[t]));
    }
    CK(MPI_Waitall(ctx.size, reqs.data(), MPI_STATUSES_IGNORE));
    CK(MPI_Win_flush_all(w.win));
    local_read_in_lock_all(ctx, w.win, [&] {
        for (int i = 0; i < n; ++i) ctx.expect_eq("rput from left", i, pat(ctx.left(), i, 11), buf[i]);
        for (int s = 0; s < ctx.size; ++s)
            for (int i = 0; i < n; ++i)
                ctx.expect_eq("rput block of rank " + std::to_string(s), i, pat(s, i, ctx.rank), buf[static_cast<size_t>(n) * (1 + s) + i]);
    });
    CK(MPI_Win_unlock_all(w.win));
}

RMA_CASE(30, op_raccumulate, "MPI_Raccumulate + MPI_Rget_accumulate with MPI_Wait / MPI_Test") {
    const int n = 32;
    std::vector<long long> buf0(n);
    for (int i = 0; i < n; ++i) buf0[i] = 1000LL * ctx.rank + i;
    WinMem<long long> buf;
    Window w(ctx);
    if (!win_vec(ctx, buf0, w, buf)) return;
    const int r = ctx.right();
    std::vector<long long> c(n), d(n), f1(n, -1), f2(n, -1);
    for (int i = 0; i < n; ++i) {
        c[i] = 7LL * i + ctx.rank;
        d[i] = 3;
    }
    CK(MPI_Win_lock_all(0, w.win));
    MPI_Request req = MPI_REQUEST_NULL;
    CK(MPI_Raccumulate(c.data(), n, MPI_LONG_LONG, r, 0, n, MPI_LONG_LONG, MPI_SUM, w.win, &req));
    CK(MPI_Wait(&req, MPI_STATUS_IGNORE));
    CK(MPI_Win_flush(r, w.win));
    CK(MPI_Rget_accumulate(nullptr, 0, MPI_LONG_LONG, f1.data(), n, MPI_LONG_LONG, r, 0, n, MPI_LONG_LONG, MPI_NO_OP, w.win, &req));
    int flag = 0;
    while (!flag)
        if (!CK(MPI_Test(&req, &flag, MPI_STATUS_IGNORE))) break;
    CK(MPI_Rget_accumulate(d.data(), n, MPI_LONG_LONG, f2.data(), n, MPI_LONG_LONG, r, 0, n, MPI_LONG_LONG, MPI_PROD, w.win, &req));
    CK(MPI_Wait(&req, MPI_STATUS_IGNORE));
    for (int i = 0; i < n; ++i) {
        long long e = 1000LL * r + i + c[i];
        ctx.expect_eq("rget_accumulate NO_OP fetched", i, e, f1[i]);
        ctx.expect_eq("rget_accumulate PROD fetched", i, e, f2[i]);
    }
    CK(MPI_Win_flush(r, w.win));
    local_read_in_lock_all(ctx, w.win, [&] {
        const int l = ctx.left();
        for (int i = 0; i < n; ++i) ctx.expect_eq("target after raccumulate SUM + PROD", i, (1000LL * ctx.rank + i + 7LL * i + l) * 3, buf[i]);
    });
    CK(MPI_Win_unlock_all(w.win));
}

// ===================================================================== datatypes
RMA_CASE(40, dtype_vector, "MPI_Type_vector on target (put, accumulate) and on origin (get)") {
    const int W = 256;
    std::vector<int> buf0(W);
    auto init = [](int rank, int i) { return i < 128 ? -1 : i < 200 ? 10 : 1000 + rank * 100 + (i - 200); };
    for (int i = 0; i < W; ++i) buf0[i] = init(ctx.rank, i);
    WinMem<int> buf;
    Window w(ctx);
    if (!win_vec(ctx, buf0, w, buf)) return;
    MPI_Datatype tv1, ov2, tv3;
    CK(MPI_Type_vector(32, 1, 4, MPI_INT, &tv1));  // 32 ints, stride 4
    CK(MPI_Type_vector(16, 2, 3, MPI_INT, &ov2));  // origin: 16 blocks of 2, stride 3
    CK(MPI_Type_vector(8, 2, 5, MPI_INT, &tv3));   // target of accumulate
    for (MPI_Datatype* t : {&tv1, &ov2, &tv3}) CK(MPI_Type_commit(t));
    std::vector<int> src(32), acc(16), got(16 * 3, -9);
    for (int j = 0; j < 32; ++j) src[j] = pat(ctx.rank, j, 1);
    for (int j = 0; j < 16; ++j) acc[j] = j + 1 + ctx.rank;
    CK(MPI_Win_fence(0, w.win));
    CK(MPI_Put(src.data(), 32, MPI_INT, ctx.right(), 2, 1, tv1, w.win));
    CK(MPI_Get(got.data(), 1, ov2, ctx.right(), 200, 32, MPI_INT, w.win));
    CK(MPI_Accumulate(acc.data(), 16, MPI_INT, ctx.right(), 130, 1, tv3, MPI_SUM, w.win));
    CK(MPI_Win_fence(0, w.win));
    const int l = ctx.left();
    for (int i = 0; i < W; ++i) {
        int e = init(ctx.rank, i);
        if (i >= 2 && i < 2 + 32 * 4 && (i - 2) % 4 == 0) e = pat(l, (i - 2) / 4, 1);
        if (i >= 130 && i < 130 + 8 * 5 && (i - 130) % 5 < 2) e += ((i - 130) / 5) * 2 + (i - 130) % 5 + 1 + l;
        ctx.expect_eq("vector target window", i, e, buf[i]);
    }
    for (int j = 0; j < 48; ++j) {
        int e = (j % 3 < 2) ? init(ctx.right(), 200 + (j / 3) * 2 + j % 3) : -9;
        ctx.expect_eq("vector origin of get", j, e, got[j]);
    }
    for (MPI_Datatype* t : {&tv1, &ov2, &tv3}) MPI_Type_free(t);
}

RMA_CASE(40, dtype_indexed, "MPI_Type_indexed / create_subarray on target and origin (put, get, accumulate)") {
    const int W = 128;
    std::vector<int> buf0(W, -1);
    for (int i = 64; i < W; ++i) buf0[i] = 500 * ctx.rank + i;
    WinMem<int> buf;
    Window w(ctx);
    if (!win_vec(ctx, buf0, w, buf)) return;
    const int lens[4] = {1, 3, 2, 4}, disps[4] = {0, 2, 7, 12};
    MPI_Datatype idx, sub;
    CK(MPI_Type_indexed(4, lens, disps, MPI_INT, &idx));
    const int sizes[2] = {8, 8}, subs[2] = {3, 4}, starts[2] = {2, 3};
    CK(MPI_Type_create_subarray(2, sizes, subs, starts, MPI_ORDER_C, MPI_INT, &sub));
    CK(MPI_Type_commit(&idx));
    CK(MPI_Type_commit(&sub));
    std::vector<int> src(10), g(16, -9), sa(12);
    for (int j = 0; j < 10; ++j) src[j] = pat(ctx.rank, j, 2);
    for (int j = 0; j < 12; ++j) sa[j] = j + 1;
    CK(MPI_Win_fence(0, w.win));
    CK(MPI_Put(src.data(), 10, MPI_INT, ctx.right(), 0, 1, idx, w.win));          // indexed target
    CK(MPI_Get(g.data(), 1, idx, ctx.right(), 64, 10, MPI_INT, w.win));           // indexed origin
    CK(MPI_Accumulate(sa.data(), 12, MPI_INT, ctx.right(), 64, 1, sub, MPI_SUM, w.win));  // subarray target
    CK(MPI_Win_fence(0, w.win));
    const int l = ctx.left();
    std::vector<int> e(W, -1);
    for (int i = 64; i < W; ++i) e[i] = 500 * ctx.rank + i;
    int j = 0;
    for (int b = 0; b < 4; ++b)
        for (int q = 0; q < lens[b]; ++q) e[disps[b] + q] = pat(l, j++, 2);
    for (int y = 0; y < 3; ++y)
        for (int x = 0; x < 4; ++x) e[64 + (2 + y) * 8 + 3 + x] += y * 4 + x + 1;
    for (int i = 0; i < W; ++i) ctx.expect_eq("indexed/subarray target window", i, e[i], buf[i]);
    std::vector<int> eg(16, -9);
    j = 0;
    for (int b = 0; b < 4; ++b)
        for (int q = 0; q < lens[b]; ++q) eg[disps[b] + q] = 500 * ctx.right() + 64 + j++;
    for (int i = 0; i < 16; ++i) ctx.expect_eq("indexed origin of get", i, eg[i], g[i]);
    MPI_Type_free(&idx);
    MPI_Type_free(&sub);
}

namespace {
struct Rec {
    int id;
    double val;
    char tag[3];
};
}  // namespace

RMA_CASE(40, dtype_struct, "MPI_Type_create_struct (+resized) records on origin and target (put, get)") {
    MPI_Datatype rt0, rt;
    const int bl[3] = {1, 1, 3};
    const MPI_Aint dp[3] = {offsetof(Rec, id), offsetof(Rec, val), offsetof(Rec, tag)};
    const MPI_Datatype ty[3] = {MPI_INT, MPI_DOUBLE, MPI_CHAR};
    CK(MPI_Type_create_struct(3, bl, dp, ty, &rt0));
    CK(MPI_Type_create_resized(rt0, 0, sizeof(Rec), &rt));
    CK(MPI_Type_commit(&rt));
    const int W = 16, n = 8, at = 4;
    std::vector<Rec> win0(W), src(n), got(n);
    auto mk = [](int rank, int i) {
        Rec r;
        std::memset(&r, 0, sizeof r);
        r.id = rank * 100 + i;
        r.val = rank + i * 0.5;
        r.tag[0] = static_cast<char>('a' + rank % 26);
        r.tag[1] = static_cast<char>('0' + i % 10);
        r.tag[2] = 'z';
        return r;
    };
    for (int i = 0; i < W; ++i) win0[i] = Rec{-1, -1.0, {'-', '-', '-'}};
    for (int i = 0; i < n; ++i) {
        src[i] = mk(ctx.rank, i);
        got[i] = Rec{-9, -9.0, {'?', '?', '?'}};
    }
    WinMem<Rec> win;
    Window w(ctx);
    if (win_vec(ctx, win0, w, win)) {
        CK(MPI_Win_lock(MPI_LOCK_EXCLUSIVE, ctx.right(), 0, w.win));
        CK(MPI_Put(src.data(), n, rt, ctx.right(), at, n, rt, w.win));
        CK(MPI_Win_unlock(ctx.right(), w.win));
        CK(MPI_Barrier(ctx.comm));
        CK(MPI_Win_lock(MPI_LOCK_SHARED, ctx.right(), 0, w.win));
        CK(MPI_Get(got.data(), n, rt, ctx.right(), at, n, rt, w.win));
        CK(MPI_Win_unlock(ctx.right(), w.win));
        auto cmp = [&](const std::string& what, int i, const Rec& e, const Rec& a) {
            ctx.expect_eq(what + ".id", i, e.id, a.id);
            ctx.expect_eq(what + ".val", i, e.val, a.val);
            ctx.expect_eq(what + ".tag", i, std::string(e.tag, 3), std::string(a.tag, 3));
        };
        for (int i = 0; i < n; ++i) cmp("struct get", i, src[i], got[i]);
        local_read(ctx, w.win, [&] {
            for (int i = 0; i < W; ++i) {
                Rec e = (i >= at && i < at + n) ? mk(ctx.left(), i - at) : Rec{-1, -1.0, {'-', '-', '-'}};
                cmp("struct target window", i, e, win[i]);
            }
        });
    }
    MPI_Type_free(&rt);
    MPI_Type_free(&rt0);
}

// ===================================================================== large
RMA_CASE(50, large_put_get, "4 MiB put/get (fragmentation): fence and lock epochs") {
    const size_t n = (4u << 20) / sizeof(unsigned);
    unsigned* base = nullptr;
    Window w(ctx);
    if (!win_allocate(ctx, static_cast<MPI_Aint>(n * sizeof(unsigned)), sizeof(unsigned), &base, w)) return;
    auto p = [](int rank, size_t i, unsigned salt) {
        return static_cast<unsigned>(i * 2654435761u) ^ (static_cast<unsigned>(rank) << 24) ^ salt;
    };
    for (size_t i = 0; i < n; ++i) base[i] = 0xdeadbeefu;
    std::vector<unsigned> src(n), got(n, 0);
    for (size_t i = 0; i < n; ++i) src[i] = p(ctx.rank, i, 1);
    const int cnt = static_cast<int>(n);
    CK(MPI_Win_fence(0, w.win));
    CK(MPI_Put(src.data(), cnt, MPI_UNSIGNED, ctx.right(), 0, cnt, MPI_UNSIGNED, w.win));
    CK(MPI_Win_fence(0, w.win));
    for (size_t i = 0; i < n; ++i) ctx.expect_eq("4 MiB fence put", static_cast<long>(i), p(ctx.left(), i, 1), base[i]);
    CK(MPI_Get(got.data(), cnt, MPI_UNSIGNED, ctx.right(), 0, cnt, MPI_UNSIGNED, w.win));
    CK(MPI_Win_fence(0, w.win));
    for (size_t i = 0; i < n; ++i) ctx.expect_eq("4 MiB fence get", static_cast<long>(i), src[i], got[i]);
    // 3 MiB + 12 bytes at an odd offset under an exclusive lock
    const size_t off = 5, m = (3u << 20) / sizeof(unsigned) + 3;
    for (size_t i = 0; i < m; ++i) src[i] = p(ctx.rank, i, 2);
    CK(MPI_Win_fence(MPI_MODE_NOSUCCEED, w.win));
    CK(MPI_Win_lock(MPI_LOCK_EXCLUSIVE, ctx.right(), 0, w.win));
    CK(MPI_Put(src.data(), static_cast<int>(m), MPI_UNSIGNED, ctx.right(), off, static_cast<int>(m), MPI_UNSIGNED, w.win));
    CK(MPI_Win_unlock(ctx.right(), w.win));
    local_read(ctx, w.win, [&] {
        for (size_t i = 0; i < n; ++i) {
            unsigned e = (i >= off && i < off + m) ? p(ctx.left(), i - off, 2) : p(ctx.left(), i, 1);
            ctx.expect_eq("3 MiB lock put", static_cast<long>(i), e, base[i]);
        }
    });
    CK(MPI_Barrier(ctx.comm));
    std::fill(got.begin(), got.end(), 0u);
    CK(MPI_Win_lock(MPI_LOCK_SHARED, ctx.right(), 0, w.win));
    CK(MPI_Get(got.data(), static_cast<int>(m), MPI_UNSIGNED, ctx.right(), off, static_cast<int>(m), MPI_UNSIGNED, w.win));
    CK(MPI_Win_unlock(ctx.right(), w.win));
    for (size_t i = 0; i < m; ++i) ctx.expect_eq("3 MiB lock get", static_cast<long>(i), src[i], got[i]);
}

RMA_CASE(50, large_accumulate, "1 MiB MPI_Accumulate(SUM) and 1 MiB MPI_Get_accumulate(REPLACE)") {
    const int n = (1 << 20) / static_cast<int>(sizeof(int));
    std::vector<int> buf0(2 * static_cast<size_t>(n));
    for (int i = 0; i < 2 * n; ++i) buf0[i] = i % 1000 + ctx.rank;
    WinMem<int> buf;
    Window w(ctx);
    if (!win_vec(ctx, buf0, w, buf)) return;
    std::vector<int> c(n), res(n, -1);
    for (int i = 0; i < n; ++i) c[i] = (i * 7 + ctx.rank) % 5000;
    const int r = ctx.right(), l = ctx.left();
    CK(MPI_Win_fence(0, w.win));
    CK(MPI_Accumulate(c.data(), n, MPI_INT, r, 0, n, MPI_INT, MPI_SUM, w.win));
    CK(MPI_Win_fence(0, w.win));
    for (int i = 0; i < n; ++i) ctx.expect_eq("1 MiB accumulate SUM", i, i % 1000 + ctx.rank + (i * 7 + l) % 5000, buf[i]);
    CK(MPI_Win_fence(MPI_MODE_NOSUCCEED, w.win));
    CK(MPI_Win_lock_all(0, w.win));
    CK(MPI_Get_accumulate(c.data(), n, MPI_INT, res.data(), n, MPI_INT, r, n, n, MPI_INT, MPI_REPLACE, w.win));
    CK(MPI_Win_flush(r, w.win));
    for (int i = 0; i < n; ++i) ctx.expect_eq("1 MiB get_accumulate fetched", i, (n + i) % 1000 + r, res[i]);
    local_read_in_lock_all(ctx, w.win, [&] {
        for (int i = 0; i < n; ++i) ctx.expect_eq("1 MiB get_accumulate REPLACE target", n + i, (i * 7 + l) % 5000, buf[static_cast<size_t>(n) + i]);
    });
    CK(MPI_Win_unlock_all(w.win));
}
