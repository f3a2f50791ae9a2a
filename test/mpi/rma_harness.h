// rma_harness.h - small test harness for the MPI-3 one-sided conformance
// program (rma_test).  Every case runs on all ranks of a communicator; each
// rank records its own verdict (pass / skip / fail + detail) and the driver
// combines them with MPI_Allreduce, so a failure on any rank fails the case.
//
// Rules for case authors:
//  * Never return early between collective calls unless every rank does so
//    (use ctx.all_ok(), which is itself collective, to bail out together).
//  * Wrap every MPI call in CK(...): a non-success return code is recorded as
//    a failure (with the call text and the MPI error string) and CK yields
//    false; execution continues so the other ranks are not left hanging.
//  * Use ctx.expect_eq(...) for element checks: the first mismatch is kept
//    (what, index, expected, actual) and further mismatches are counted.
//  * Unless a case is about one window flavor, make its window with win_vec()
//    and use the WinMem it fills: --flavor selects MPI_Win_create or
//    MPI_Win_allocate for every such case.
#pragma once

// Plain MPI C API: keep the deprecated C++ bindings (and their warnings) out.
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

namespace rma {

enum class Verdict : int { Pass = 0, Skip = 1, Fail = 2 };

// How the cases that are not about one window flavor get their window memory
// (--flavor): MPI_Win_create over storage the test owns, or MPI_Win_allocate.
enum class Flavor : int { Create = 0, Allocate = 1 };
const char* flavor_name(Flavor f);

struct Options {
    bool verbose = false;
    Flavor flavor = Flavor::Create;
    int shared_mode = 0;  // 0: probe, 1: forced (--with-shared), -1: off (--no-shared)
    unsigned timeout = 120;
    unsigned large_mb = 1024;  // --large-mb: per-process size of the large-window cases (0: skip)
    std::string only;
};

// Printable value: chars as numbers, floats with full precision.
template <class T>
std::string to_str(const T& v) {
    std::ostringstream os;
    if constexpr (std::is_same_v<T, char> || std::is_same_v<T, signed char> ||
                  std::is_same_v<T, unsigned char>) {
        os << static_cast<int>(v);
    } else if constexpr (std::is_floating_point_v<T>) {
        os.precision(17);
        os << v;
    } else if constexpr (std::is_pointer_v<T>) {
        os << static_cast<const void*>(v);
    } else {
        os << v;
    }
    return os.str();
}

std::string mpi_error_string(int rc);  // "MPI_ERR_RMA_SYNC (class 45): <text>"
const char* mpi_error_class_name(int eclass);

class Ctx {
public:
    Ctx(MPI_Comm c, const Options& o);

    MPI_Comm comm;
    int rank = 0;
    int size = 1;
    const Options& opt;

    int left() const { return (rank - 1 + size) % size; }
    int right() const { return (rank + 1) % size; }

    // Record the result of an MPI call; returns true on MPI_SUCCESS.
    bool mpi(int rc, const char* call, const char* file, int line);
    // Record a failure / skip / info (first failure and first skip are kept).
    void fail(const std::string& msg);
    void skip(const std::string& reason);
    void info(const std::string& msg);
    bool expect(bool cond, const std::string& msg) {
        if (!cond) fail(msg);
        return cond;
    }
    template <class T>
    bool expect_eq(const std::string& what, long idx, const T& expected, const T& actual) {
        if (expected == actual) return true;
        std::string m = what + (idx >= 0 ? "[" + std::to_string(idx) + "]" : std::string()) +
                        ": expected " + to_str(expected) + ", got " + to_str(actual);
        if (mismatches_++ == 0) first_mismatch_ = m;
        if (opt.verbose && mismatches_ <= 20) std::fprintf(stderr, "[rank %d] mismatch: %s\n", rank, m.c_str());
        return false;
    }
    // Collective: true iff no rank has recorded a failure so far.
    bool all_ok();
    bool failed() const { return !fail_msg_.empty() || mismatches_ > 0; }

    // Driver interface.
    void reset();
    Verdict verdict() const;
    std::string detail() const;  // failure detail or skip reason
    const std::vector<std::string>& infos() const { return infos_; }

private:
    std::string fail_msg_;
    std::string skip_msg_;
    std::string first_mismatch_;
    long mismatches_ = 0;
    std::vector<std::string> infos_;
};

#define CK(call) ctx.mpi((call), #call, __FILE__, __LINE__)

// ---------------------------------------------------------------- registry
using CaseFn = void (*)(Ctx&);
struct CaseInfo {
    int group;  // ordering key (file / topic), then registration order
    int seq;
    const char* name;
    const char* desc;
    CaseFn fn;
};
std::vector<CaseInfo>& registry();
struct Register {
    Register(int group, const char* name, const char* desc, CaseFn fn);
};

#define RMA_CASE(group, name, desc)                                              \
    static void rma_case_##name(::rma::Ctx& ctx);                               \
    static ::rma::Register rma_reg_##name(group, #name, desc, rma_case_##name); \
    static void rma_case_##name(::rma::Ctx& ctx)

// ---------------------------------------------------------------- types
template <class T> MPI_Datatype mpi_type();
template <> inline MPI_Datatype mpi_type<char>() { return MPI_CHAR; }
template <> inline MPI_Datatype mpi_type<signed char>() { return MPI_SIGNED_CHAR; }
template <> inline MPI_Datatype mpi_type<unsigned char>() { return MPI_UNSIGNED_CHAR; }
template <> inline MPI_Datatype mpi_type<short>() { return MPI_SHORT; }
template <> inline MPI_Datatype mpi_type<int>() { return MPI_INT; }
template <> inline MPI_Datatype mpi_type<unsigned>() { return MPI_UNSIGNED; }
template <> inline MPI_Datatype mpi_type<long>() { return MPI_LONG; }
template <> inline MPI_Datatype mpi_type<long long>() { return MPI_LONG_LONG; }
template <> inline MPI_Datatype mpi_type<unsigned long long>() { return MPI_UNSIGNED_LONG_LONG; }
template <> inline MPI_Datatype mpi_type<float>() { return MPI_FLOAT; }
template <> inline MPI_Datatype mpi_type<double>() { return MPI_DOUBLE; }

template <class T> const char* type_name();
template <> inline const char* type_name<short>() { return "short"; }
template <> inline const char* type_name<int>() { return "int"; }
template <> inline const char* type_name<unsigned>() { return "unsigned"; }
template <> inline const char* type_name<long long>() { return "long long"; }
template <> inline const char* type_name<unsigned long long>() { return "unsigned long long"; }
template <> inline const char* type_name<float>() { return "float"; }
template <> inline const char* type_name<double>() { return "double"; }

const char* op_name(MPI_Op op);

// Reference semantics of an accumulate op: new target value = op(target, origin).
template <class T>
T apply_op(MPI_Op op, T target, T origin) {
    if (op == MPI_SUM) return static_cast<T>(target + origin);
    if (op == MPI_PROD) return static_cast<T>(target * origin);
    if (op == MPI_MAX) return target > origin ? target : origin;
    if (op == MPI_MIN) return target < origin ? target : origin;
    if (op == MPI_REPLACE) return origin;
    if (op == MPI_NO_OP) return target;
    if (op == MPI_LAND) return static_cast<T>((target != 0) && (origin != 0));
    if (op == MPI_LOR) return static_cast<T>((target != 0) || (origin != 0));
    if (op == MPI_LXOR) return static_cast<T>((target != 0) != (origin != 0));
    if constexpr (std::is_integral_v<T>) {
        if (op == MPI_BAND) return static_cast<T>(target & origin);
        if (op == MPI_BOR) return static_cast<T>(target | origin);
        if (op == MPI_BXOR) return static_cast<T>(target ^ origin);
    }
    return target;  // unsupported: callers never ask
}

// ---------------------------------------------------------------- windows
// RAII window: freed (collectively) when it goes out of scope.  Every window
// made through the helpers below has MPI_ERRORS_RETURN installed.
struct Window {
    explicit Window(Ctx& c) : ctx(c) {}
    ~Window() { free(); }
    Window(const Window&) = delete;
    Window& operator=(const Window&) = delete;
    void free();
    MPI_Win win = MPI_WIN_NULL;
    Ctx& ctx;
};

// Each returns ctx.all_ok() (collective) so callers can bail out together.
bool win_create(Ctx& ctx, void* base, MPI_Aint bytes, int disp_unit, Window& w,
                MPI_Info info = MPI_INFO_NULL);
bool win_allocate(Ctx& ctx, MPI_Aint bytes, int disp_unit, void* base_out, Window& w,
                  MPI_Info info = MPI_INFO_NULL);
bool win_create_dynamic(Ctx& ctx, Window& w);

// Typed convenience: window over a std::vector.
template <class T>
bool win_create_vec(Ctx& ctx, std::vector<T>& v, Window& w) {
    return win_create(ctx, v.data(), static_cast<MPI_Aint>(v.size() * sizeof(T)),
                      static_cast<int>(sizeof(T)), w);
}

// ------------------------------------------------------------ window memory
// The local memory of a window made by win_vec(): n elements of T, either
// owned here (Flavor::Create) or allocated by MPI (Flavor::Allocate; valid
// until the window is freed).  Declare it BEFORE its Window, so the window is
// freed first.  Cases read and write it like the std::vector it replaces.
template <class T>
class WinMem {
public:
    WinMem() = default;
    WinMem(const WinMem&) = delete;
    WinMem& operator=(const WinMem&) = delete;
    T* data() { return p_; }
    const T* data() const { return p_; }
    size_t size() const { return n_; }
    T* begin() { return p_; }
    T* end() { return p_ + n_; }
    T& operator[](size_t i) { return p_[i]; }
    const T& operator[](size_t i) const { return p_[i]; }

private:
    template <class U>
    friend bool win_vec(Ctx&, std::vector<U>, Window&, WinMem<U>&);
    std::vector<T> own_;  // Flavor::Create only
    T* p_ = nullptr;
    size_t n_ = 0;
};

// Window of init.size() elements of T (disp_unit sizeof(T)) holding init, made
// according to ctx.opt.flavor.  Create: MPI_Win_create over storage in `m`
// that is initialised before creation (as the cases always did).  Allocate:
// MPI_Win_allocate, then every rank stores init into its memory before any
// epoch and calls MPI_Win_fence(NOPRECEDE | NOSUCCEED), which makes them public
// (separate model too) and opens no epoch, so the case may start with fence,
// PSCW or locks; a barrier then keeps every access after every rank's fence.
// (Fence rather than a lock on self: the case's own first synchronization
// then decides what it tests.)  Returns ctx.all_ok() (collective); on false,
// m is empty on the ranks where creation failed.
template <class T>
bool win_vec(Ctx& ctx, std::vector<T> init, Window& w, WinMem<T>& m) {
    static_assert(std::is_trivially_copyable_v<T>, "window elements are copied bytewise");
    const size_t n = init.size();
    const MPI_Aint bytes = static_cast<MPI_Aint>(n * sizeof(T));
    const int du = static_cast<int>(sizeof(T));
    if (ctx.opt.flavor == Flavor::Create) {
        m.own_ = std::move(init);
        m.p_ = m.own_.data();
        m.n_ = n;
        return win_create(ctx, m.p_, bytes, du, w);
    }
    T* base = nullptr;
    if (!win_allocate(ctx, bytes, du, &base, w)) return false;
    m.p_ = base;
    m.n_ = n;
    if (n) std::memcpy(static_cast<void*>(base), init.data(), n * sizeof(T));
    CK(MPI_Win_fence(MPI_MODE_NOPRECEDE | MPI_MODE_NOSUCCEED, w.win));
    CK(MPI_Barrier(ctx.comm));
    return ctx.all_ok();
}

template <class T>
struct NoDeduce {
    using type = T;
};
// Same, every element = v.
template <class T>
bool win_vec(Ctx& ctx, size_t n, const typename NoDeduce<T>::type& v, Window& w, WinMem<T>& m) {
    return win_vec(ctx, std::vector<T>(n, v), w, m);
}

// Read the local window memory after remote passive-target updates:
// barrier (all origins finished their unlock/flush), lock self (shared),
// MPI_Win_sync, run fn, unlock.  Must be called outside any epoch.
void local_read(Ctx& ctx, MPI_Win win, const std::function<void()>& fn);
// Same, but for use inside a lock_all epoch (barrier + MPI_Win_sync).
void local_read_in_lock_all(Ctx& ctx, MPI_Win win, const std::function<void()>& fn);

// Deterministic test patterns.
inline int pat(int rank, long i, int salt = 0) {
    return static_cast<int>((static_cast<unsigned>(rank) * 1000003u + static_cast<unsigned>(i) * 7919u +
                             static_cast<unsigned>(salt) * 104729u) %
                            1000000u);
}

}  // namespace rma
