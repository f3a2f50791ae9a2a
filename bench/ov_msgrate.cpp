// ompi-virt bench: ov_msgrate — aggregate one-sided message rate, as IMB-RMA's
// aggregate mode measures it (Unidir_put/Unidir_get/Accumulate with -aggregate):
// many small operations to one target, then ONE MPI_Win_flush; the time per
// operation is the total over the operations issued.
//
// Why: osu_put_latency flushes after every put (a round trip per put) and
// osu_put_bw flushes after a window of 64; this one issues `-n` operations
// (default 1000, IMB's aggregate count for small sizes) per flush, so it
// measures what an unflushed operation costs the origin: how fast a process
// can issue puts, gets or accumulates, not how fast one comes back.
//
// Method: 2 ranks, windows of n * size bytes (-w allocate: MPI_Win_allocate,
// the default; -w create: MPI_Win_create over a buffer of the program's, as
// IMB-RMA creates its windows); rank 0 locks
// rank 1 (MPI_LOCK_SHARED) once, then per iteration issues n operations
// of `size` bytes to consecutive offsets of rank 1's window and flushes;
// rank 1 waits in MPI_Barrier.  Warm-up iterations (-x) are not timed.  Every
// repetition (-r) times -i iterations; the row is the median repetition's
// time per operation in microseconds (-P digits).  Operations:
//   put  MPI_Put of MPI_CHAR
//   get  MPI_Get of MPI_CHAR
//   acc  MPI_Accumulate of MPI_INT (size / 4 elements), MPI_SUM
//   gacc MPI_Get_accumulate of MPI_INT, MPI_SUM
// -c checks the data after the timed loop (put/acc: target window; get:
// origin buffer), outside the timing.  -s splits each iteration's time into
// issuing the n operations and the flush that completes them, and adds two
// columns: the median iteration's issue time per operation and its flush
// time (µs), which tell the origin's cost from a wait for the backend.
//
// Output (parsed by bench/compare like an OSU latency): a header, then
//   "<size> <us per operation>"
// per size; exit 1 if -c found wrong data.
//
// Usage: ov_msgrate [-o put|get|acc|gacc] [-m MIN[:MAX]] [-n OPS] [-i ITERS]
//                   [-x WARMUP] [-r REPS] [-P DIGITS] [-w allocate|create] [-c] [-s]
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

#define CHECK(call)                                                                   \
    do {                                                                              \
        int rc_ = (call);                                                             \
        if (rc_ != MPI_SUCCESS) {                                                     \
            char msg_[MPI_MAX_ERROR_STRING];                                          \
            int len_ = 0;                                                             \
            MPI_Error_string(rc_, msg_, &len_);                                       \
            std::fprintf(stderr, "ov_msgrate: %s failed: %s\n", #call, msg_);         \
            MPI_Abort(MPI_COMM_WORLD, 2);                                             \
        }                                                                             \
    } while (0)

enum class Op { Put, Get, Acc, GetAcc };

struct Opts {
    Op op = Op::Put;
    std::size_t min_size = 8, max_size = 8;
    long ops = 1000, iters = 100, warmup = 10, reps = 5;
    int precision = 4;
    bool validate = false;
    bool split = false;   // -s: issue and flush times of the median iteration
    bool create = false; // -w create: MPI_Win_create (IMB-RMA); else MPI_Win_allocate
};

const char *op_name(Op op)
{
    switch (op) {
    case Op::Put: return "MPI_Put";
    case Op::Get: return "MPI_Get";
    case Op::Acc: return "MPI_Accumulate (MPI_INT, MPI_SUM)";
    default: return "MPI_Get_accumulate (MPI_INT, MPI_SUM)";
    }
}

bool parse(int argc, char **argv, Opts &o)
{
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : nullptr;
        if (a == "-c") {
            o.validate = true;
            continue;
        }
        if (a == "-s") {
            o.split = true;
            continue;
        }
        if (!v)
            return false;
        ++i;
        if (a == "-o") {
            std::string s = v;
            if (s == "put") o.op = Op::Put;
            else if (s == "get") o.op = Op::Get;
            else if (s == "acc") o.op = Op::Acc;
            else if (s == "gacc") o.op = Op::GetAcc;
            else return false;
        } else if (a == "-w") {
            std::string s = v;
            if (s == "create") o.create = true;
            else if (s == "allocate") o.create = false;
            else return false;
        } else if (a == "-m") {
            char *end = nullptr;
            unsigned long long lo = std::strtoull(v, &end, 10), hi = lo;
            if (*end == ':') hi = std::strtoull(end + 1, &end, 10);
            if (*end != '\0' || lo == 0 || hi < lo) return false;
            o.min_size = lo;
            o.max_size = hi;
        } else if (a == "-n") {
            o.ops = std::atol(v);
        } else if (a == "-i") {
            o.iters = std::atol(v);
        } else if (a == "-x") {
            o.warmup = std::atol(v);
        } else if (a == "-r") {
            o.reps = std::atol(v);
        } else if (a == "-P") {
            o.precision = std::atoi(v);
        } else {
            return false;
        }
    }
    return o.ops > 0 && o.iters > 0 && o.warmup >= 0 && o.reps > 0 && o.precision >= 0;
}

struct Run {
    const Opts &o;
    std::size_t size;
    MPI_Win win;
    char *base;              // our window
    std::vector<char> src;   // origin operands
    std::vector<char> dst;   // get / get_accumulate results
    std::vector<double> issue_us, flush_us; // -s: per timed iteration

    void issue_all()
    {
        const int count = o.op == Op::Acc || o.op == Op::GetAcc ? int(size / sizeof(int)) : int(size);
        const MPI_Datatype dt = o.op == Op::Acc || o.op == Op::GetAcc ? MPI_INT : MPI_CHAR;
        const double t0 = MPI_Wtime();
        for (long j = 0; j < o.ops; ++j) {
            const MPI_Aint disp = MPI_Aint(j * size);
            char *s = src.data() + j * size, *d = dst.data() + j * size;
            switch (o.op) {
            case Op::Put: CHECK(MPI_Put(s, count, dt, 1, disp, count, dt, win)); break;
            case Op::Get: CHECK(MPI_Get(d, count, dt, 1, disp, count, dt, win)); break;
            case Op::Acc: CHECK(MPI_Accumulate(s, count, dt, 1, disp, count, dt, MPI_SUM, win)); break;
            case Op::GetAcc:
                CHECK(MPI_Get_accumulate(s, count, dt, d, count, dt, 1, disp, count, dt, MPI_SUM, win));
                break;
            }
        }
        const double t1 = MPI_Wtime();
        CHECK(MPI_Win_flush(1, win));
        if (o.split) {
            issue_us.push_back((t1 - t0) * 1e6);
            flush_us.push_back((MPI_Wtime() - t1) * 1e6);
        }
    }
};

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
}

// Pattern byte of offset i: depends on i so a misplaced operation shows.
char pattern(std::size_t i) { return char(1 + i % 61); }

} // namespace

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0, nranks = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    Opts o;
    if (!parse(argc, argv, o) || nranks != 2 ||
        ((o.op == Op::Acc || o.op == Op::GetAcc) && o.min_size % sizeof(int) != 0)) {
        if (rank == 0)
            std::fprintf(stderr, "usage: ov_msgrate [-o put|get|acc|gacc] [-m MIN[:MAX]] [-n OPS] "
                                 "[-i ITERS] [-x WARMUP] [-r REPS] [-P DIGITS] [-w allocate|create] "
                                 "[-c] [-s]  (2 ranks; "
                                 "acc/gacc: sizes multiple of 4)\n");
        MPI_Finalize();
        return 1;
    }
    if (rank == 0) {
        std::printf("# ov_msgrate: aggregate %s, %ld operations per MPI_Win_flush\n", op_name(o.op), o.ops);
        std::printf("# %ld iterations x %ld repetitions (median), %ld warm-up, %s\n", o.iters, o.reps,
                    o.warmup, o.create ? "MPI_Win_create" : "MPI_Win_allocate");
        std::printf("# %-8s%18s", "Size", "Per-op (us)");
        if (o.split)
            std::printf("%18s%18s", "Issue/op (us)", "Flush (us)");
        std::printf("\n");
        std::fflush(stdout);
    }
    bool all_ok = true;
    for (std::size_t size = o.min_size; size <= o.max_size; size *= 2) {
        const std::size_t bytes = size * std::size_t(o.ops);
        Run r{o, size, MPI_WIN_NULL, nullptr, std::vector<char>(bytes), std::vector<char>(bytes), {}, {}};
        std::vector<char> user(o.create ? bytes : 0);
        if (o.create) {
            r.base = user.data();
            CHECK(MPI_Win_create(r.base, MPI_Aint(bytes), 1, MPI_INFO_NULL, MPI_COMM_WORLD, &r.win));
        } else {
            CHECK(MPI_Win_allocate(MPI_Aint(bytes), 1, MPI_INFO_NULL, MPI_COMM_WORLD, &r.base, &r.win));
        }
        std::memset(r.base, 0, bytes);
        for (std::size_t i = 0; i < bytes; ++i)
            r.src[i] = pattern(i);
        CHECK(MPI_Barrier(MPI_COMM_WORLD));
        std::vector<double> per_op;
        double issue_med = 0, flush_med = 0; // -s
        if (rank == 0) {
            CHECK(MPI_Win_lock(MPI_LOCK_SHARED, 1, 0, r.win));
            for (long i = 0; i < o.warmup; ++i)
                r.issue_all();
            r.issue_us.clear();
            r.flush_us.clear();
            for (long rep = 0; rep < o.reps; ++rep) {
                const double t0 = MPI_Wtime();
                for (long i = 0; i < o.iters; ++i)
                    r.issue_all();
                const double t1 = MPI_Wtime();
                per_op.push_back((t1 - t0) * 1e6 / double(o.iters) / double(o.ops));
            }
            CHECK(MPI_Win_unlock(1, r.win));
            issue_med = median(r.issue_us) / double(o.ops);
            flush_med = median(r.flush_us);
        }
        CHECK(MPI_Barrier(MPI_COMM_WORLD));
        int valid = 1;
        if (o.validate) {
            // One more flush of operations on known data, outside the timing.
            if (rank == 1) {
                CHECK(MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 1, 0, r.win));
                for (std::size_t i = 0; i < bytes; ++i)
                    r.base[i] = o.op == Op::Get ? pattern(i + 7) : 0;
                CHECK(MPI_Win_unlock(1, r.win));
            }
            CHECK(MPI_Barrier(MPI_COMM_WORLD));
            if (rank == 0) {
                std::fill(r.dst.begin(), r.dst.end(), 0);
                CHECK(MPI_Win_lock(MPI_LOCK_SHARED, 1, 0, r.win));
                r.issue_all();
                r.issue_all(); // accumulates: twice, so the sum is 2 * origin
                CHECK(MPI_Win_unlock(1, r.win));
                if (o.op == Op::Get || o.op == Op::GetAcc) {
                    for (std::size_t i = 0; i < bytes / sizeof(int) && o.op == Op::GetAcc; ++i) {
                        int got, want;
                        std::memcpy(&got, r.dst.data() + i * sizeof(int), sizeof(int));
                        std::memcpy(&want, r.src.data() + i * sizeof(int), sizeof(int));
                        valid &= got == want; // the second fetch sees the first sum
                    }
                    for (std::size_t i = 0; i < bytes && o.op == Op::Get; ++i)
                        valid &= r.dst[i] == pattern(i + 7);
                }
            }
            CHECK(MPI_Barrier(MPI_COMM_WORLD));
            if (rank == 1 && o.op != Op::Get) {
                for (std::size_t i = 0; i < bytes / sizeof(int) && o.op != Op::Put; ++i) {
                    int got, want;
                    std::memcpy(&got, r.base + i * sizeof(int), sizeof(int));
                    std::memcpy(&want, r.src.data() + i * sizeof(int), sizeof(int));
                    valid &= got == 2 * want;
                }
                for (std::size_t i = 0; i < bytes && o.op == Op::Put; ++i)
                    valid &= r.base[i] == pattern(i);
            }
            int all = 0;
            CHECK(MPI_Allreduce(&valid, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD));
            valid = all;
            all_ok &= valid != 0;
        }
        if (rank == 0) {
            std::sort(per_op.begin(), per_op.end());
            std::printf("%-10zu%18.*f", size, o.precision, per_op[per_op.size() / 2]);
            if (o.split)
                std::printf("%18.*f%18.*f", o.precision, issue_med, o.precision, flush_med);
            if (o.validate)
                std::printf("%18s", valid ? "Pass" : "Fail");
            std::printf("\n");
            std::fflush(stdout);
        }
        CHECK(MPI_Win_free(&r.win));
    }
    MPI_Finalize();
    return all_ok ? 0 : 1;
}
