// ompi-virt bench: the small shared harness of the OSU-compatible benchmarks.
//
// Option parsing, defaults, header/row printing and window set-up follow the OSU
// micro-benchmarks 7.x (one-sided: osu_util_mpi.c print_header_one_sided(),
// process_options(); two-sided: print_header()/print_stats()). Deviations are
// listed in bench/README.md ("Deviations from OSU").
#pragma once

#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1  // C API only; avoids the deprecated C++ bindings
#endif
#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ovb {

// Version string printed in the "# OSU ... Test vX" header.  The "-ompi-virt"
// suffix keeps the line parseable by OSU tooling while telling a reader that
// these are not OSU's own binaries.
constexpr const char *kVersion = "7.3-ompi-virt";
constexpr int kFieldWidth = 18;     // OSU FIELD_WIDTH (7.0 - 7.3)
constexpr int kFloatPrecision = 2;  // OSU FLOAT_PRECISION
constexpr std::size_t kLargeMessageSize = 8192;  // OSU LARGE_MESSAGE_SIZE

enum class WinType { Create, Allocate, Dynamic };
enum class Sync { Lock, Flush, FlushLocal, LockAll, Pscw, Fence };
// CollectiveLat: any number of ranks >= 2 (every other kind needs exactly 2).
enum class Kind { OneSidedLat, OneSidedBw, TwoSidedLat, TwoSidedBw, CollectiveLat };

const char *win_info(WinType w);   // "MPI_Win_create", ...
const char *sync_info(Sync s);     // "MPI_Win_lock/unlock", ...
const char *sync_name(Sync s);     // "lock", "flush", ...  (the -s argument)

// What a benchmark is: everything the harness needs to parse, default and print.
struct Spec {
    const char *prog;            // "osu_put_latency"
    const char *title;           // "OSU MPI_Put Latency Test"
    Kind kind;
    std::vector<Sync> allowed;   // empty for two-sided
    Sync default_sync = Sync::Flush;
    WinType default_win = WinType::Allocate;
    bool fixed_size = false;     // fop/cas: one 8-byte row, -m ignored
    std::size_t fixed_bytes = 8;
    const char *datatype = "MPI_CHAR";
};

struct Options {
    WinType win = WinType::Allocate;
    Sync sync = Sync::Flush;
    std::size_t min_size = 1;
    std::size_t max_size = std::size_t(1) << 22;
    long iterations = 0, skip = 0;
    long iterations_large = 0, skip_large = 0;
    int window_size = 64;        // bandwidth tests (-W)
    bool validate = false;       // -c
    int precision = kFloatPrecision;  // -P: digits after the point (not in OSU)
    // Iterations/skip for a given message size (OSU: size > LARGE_MESSAGE_SIZE
    // switches to the large-message counts).
    long iters_for(std::size_t size) const { return size > kLargeMessageSize ? iterations_large : iterations; }
    long skip_for(std::size_t size) const { return size > kLargeMessageSize ? skip_large : skip; }
};

// Parse argv after MPI_Init. Returns 0 to run, or an exit status (0 after -h/-v,
// 1 after bad usage); messages are printed on rank 0 only.
int parse_options(const Spec &spec, int argc, char **argv, Options &opt, int rank);

// Header exactly as OSU 7.3 prints it (see README for the one-sided/two-sided
// differences OSU itself has).
void print_header(const Spec &spec, const Options &opt);
// One data row: "%-10zu%18.2f" (+ "%18s" Pass/Fail when -c); -P sets the
// digits after the point.
void print_row(const Options &opt, std::size_t size, double value, int valid /* -1: no -c */);

// Aligned, zeroed scratch buffer.
struct Buffer {
    char *p = nullptr;
    std::size_t n = 0;
    explicit Buffer(std::size_t bytes);
    ~Buffer();
    Buffer(const Buffer &) = delete;
    Buffer &operator=(const Buffer &) = delete;
};

// An MPI window of `bytes` bytes made with the requested flavor.  `base` is the
// local memory; `disp` the displacement to use when targeting the peer (for
// dynamic windows the peer's absolute address, OSU's disp_remote).
struct Window {
    MPI_Win win = MPI_WIN_NULL;
    char *base = nullptr;
    MPI_Aint disp = 0;
    WinType type;
    std::size_t bytes;
    Window(WinType t, std::size_t nbytes, int peer, MPI_Comm comm = MPI_COMM_WORLD);
    ~Window();
    Window(const Window &) = delete;
    Window &operator=(const Window &) = delete;
  private:
    char *owned_ = nullptr;
};

// Deterministic byte pattern used by -c: depends on the writer rank, the message
// size and the offset, so stale data from an earlier size never passes.
inline unsigned char pattern(int rank, std::size_t size, std::size_t i) {
    return static_cast<unsigned char>((i * 31u + size * 7u + unsigned(rank) * 101u + 1u) & 0xffu);
}
void fill_pattern(char *p, std::size_t n, int rank, std::size_t size);
bool check_pattern(const char *p, std::size_t n, int rank, std::size_t size);

// Logical AND of `ok` over the communicator (1 = all ranks passed).
int all_ok(bool ok, MPI_Comm comm = MPI_COMM_WORLD);

// Abort with a message if an MPI call fails (OSU's MPI_CHECK).
#define OVB_CHECK(call)                                                            \
    do {                                                                           \
        int ovb_rc_ = (call);                                                      \
        if (ovb_rc_ != MPI_SUCCESS) ::ovb::mpi_fail(#call, __FILE__, __LINE__, ovb_rc_); \
    } while (0)
[[noreturn]] void mpi_fail(const char *what, const char *file, int line, int rc);

// Common main() prologue of every OSU program: MPI_Init, parse the options,
// require exactly two ranks (as OSU does; collectives: at least two).  Returns true to run; false after
// -h/-v, bad usage or a wrong rank count, with MPI already finalized and
// *exit_status set.
bool start_program(const Spec &spec, int &argc, char **&argv, Options &opt, int *rank,
                   int *exit_status);

}  // namespace ovb
