// ompi-virt bench: shared harness of the OSU-compatible benchmarks.
#include "osu_harness.hpp"

#include <getopt.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ovb {

const char *win_info(WinType w) {
    switch (w) {
        case WinType::Create: return "MPI_Win_create";
        case WinType::Allocate: return "MPI_Win_allocate";
        case WinType::Dynamic: return "MPI_Win_create_dynamic";
    }
    return "?";
}

const char *sync_info(Sync s) {
    switch (s) {
        case Sync::Lock: return "MPI_Win_lock/unlock";
        case Sync::Flush: return "MPI_Win_flush";
        case Sync::FlushLocal: return "MPI_Win_flush_local";
        case Sync::LockAll: return "MPI_Win_lock_all/unlock_all";
        case Sync::Pscw: return "MPI_Win_post/start/complete/wait";
        case Sync::Fence: return "MPI_Win_fence";
    }
    return "?";
}

const char *sync_name(Sync s) {
    switch (s) {
        case Sync::Lock: return "lock";
        case Sync::Flush: return "flush";
        case Sync::FlushLocal: return "flush_local";
        case Sync::LockAll: return "lock_all";
        case Sync::Pscw: return "pscw";
        case Sync::Fence: return "fence";
    }
    return "?";
}

static const char *sync_help(Sync s) {
    switch (s) {
        case Sync::Lock: return "use MPI_Win_lock/unlock synchronizations calls";
        case Sync::Flush: return "use MPI_Win_flush synchronization call";
        case Sync::FlushLocal: return "use MPI_Win_flush_local synchronization call";
        case Sync::LockAll: return "use MPI_Win_lock_all/unlock_all synchronization calls";
        case Sync::Pscw: return "use Post/Start/Complete/Wait synchronization calls ";
        case Sync::Fence: return "use MPI_Win_fence synchronization call";
    }
    return "";
}

[[noreturn]] void mpi_fail(const char *what, const char *file, int line, int rc) {
    char msg[MPI_MAX_ERROR_STRING] = {0};
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    std::fprintf(stderr, "%s:%d: %s failed: %s\n", file, line, what, msg);
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::abort();
}

bool start_program(const Spec &spec, int &argc, char **&argv, Options &opt, int *rank,
                   int *exit_status) {
    MPI_Init(&argc, &argv);
    int nprocs = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nprocs);
    int po = parse_options(spec, argc, argv, opt, *rank);
    if (po != 0) {
        MPI_Finalize();
        *exit_status = po < 0 ? EXIT_SUCCESS : EXIT_FAILURE;
        return false;
    }
    if (spec.kind == Kind::CollectiveLat ? nprocs < 2 : nprocs != 2) {
        if (*rank == 0)
            std::fprintf(stderr, spec.kind == Kind::CollectiveLat ? "This test requires at least two processes\n"
                                                                  : "This test requires exactly two processes\n");
        MPI_Finalize();
        *exit_status = EXIT_FAILURE;
        return false;
    }
    return true;
}

static bool is_one_sided(Kind k) { return k == Kind::OneSidedLat || k == Kind::OneSidedBw; }
static bool is_bw(Kind k) { return k == Kind::OneSidedBw || k == Kind::TwoSidedBw; }

static void usage(const Spec &spec) {
    std::printf("Usage: ./%s [options]\n", spec.prog);
    if (is_one_sided(spec.kind)) {
        std::printf("Usage: ./%s -w <win_option>  -s < sync_option> [-x ITER] [-i ITER]\n", spec.prog);
    }
    std::printf("options:\n");
    if (!spec.fixed_size) {
        std::printf("  -m, --message-size          [MIN:]MAX  set the minimum and/or the maximum message size to MIN and/or MAX\n"
                    "                              bytes respectively. Examples:\n"
                    "                              -m 128      // min = default, max = 128\n"
                    "                              -m 2:128    // min = 2, max = 128\n"
                    "                              -m 2:       // min = 2, max = default\n");
    }
    if (is_bw(spec.kind)) {
        std::printf("  -W, --window-size SIZE      set number of messages to send before synchronization (default 64)\n");
    }
    std::printf("  -x, --warmup ITER           number of warmup iterations to skip before timing\n"
                "                              (default %s)\n",
                is_bw(spec.kind) ? "10 for small messages, 2 for large messages"
                                 : "100 for small messages, 10 for large messages");
    std::printf("  -i, --iterations ITER       number of iterations for timing\n"
                "                              (default %s;\n"
                "                              messages > %zu bytes use min(ITER, large default))\n",
                is_bw(spec.kind) ? "100 for small messages, 20 for large messages"
                                 : "10000 for small messages, 1000 for large messages",
                kLargeMessageSize);
    std::printf("  -c, --validation            validates exchanged data\n");
    std::printf("  -P, --precision DIGITS      digits after the decimal point (default %d, as OSU;\n"
                "                              not an OSU option)\n", kFloatPrecision);
    std::printf("  -h, --help                  print this help\n");
    std::printf("  -v, --version               print version info\n");
    if (is_one_sided(spec.kind)) {
        std::printf("\nwin_option:\n"
                    "  create            use MPI_Win_create to create an MPI Window object\n"
                    "  allocate          use MPI_Win_allocate to create an MPI Window object\n"
                    "  dynamic           use MPI_Win_create_dynamic to create an MPI Window object\n"
                    "  (default: %s)\n",
                    spec.default_win == WinType::Create ? "create" : "allocate");
        std::printf("\nsync_option:\n");
        for (Sync s : spec.allowed) std::printf("  %-17s %s\n", sync_name(s), sync_help(s));
        std::printf("  (default: %s)\n", sync_name(spec.default_sync));
    }
    std::printf("\n");
    std::fflush(stdout);
}

static bool parse_size(const char *s, std::size_t &out) {
    if (!s || !*s) return false;
    errno = 0;
    char *end = nullptr;
    unsigned long long v = std::strtoull(s, &end, 10);
    if (errno || *end) return false;
    out = static_cast<std::size_t>(v);
    return true;
}

static bool parse_long(const char *s, long &out) {
    if (!s || !*s) return false;
    errno = 0;
    char *end = nullptr;
    long v = std::strtol(s, &end, 10);
    if (errno || *end || v < 0) return false;
    out = v;
    return true;
}

int parse_options(const Spec &spec, int argc, char **argv, Options &opt, int rank) {
    const bool bw = is_bw(spec.kind);
    opt.win = spec.default_win;
    opt.sync = spec.default_sync;
    const bool coll = spec.kind == Kind::CollectiveLat;
    // OSU 7.x collectives: 1000/200 iterations/warm-up, 100/10 above 8 KiB, up to 1 MiB
    opt.iterations = bw ? 100 : coll ? 1000 : 10000;
    opt.skip = bw ? 10 : coll ? 200 : 100;
    opt.iterations_large = bw ? 20 : coll ? 100 : 1000;
    opt.skip_large = bw ? 2 : 10;
    opt.window_size = 64;
    opt.min_size = coll ? 4 : 1;
    opt.max_size = std::size_t(1) << (coll ? 20 : 22);
    if (spec.fixed_size) opt.min_size = opt.max_size = spec.fixed_bytes;

    static const struct option longopts[] = {
        {"help", no_argument, nullptr, 'h'},
        {"version", no_argument, nullptr, 'v'},
        {"message-size", required_argument, nullptr, 'm'},
        {"iterations", required_argument, nullptr, 'i'},
        {"warmup", required_argument, nullptr, 'x'},
        {"window-size", required_argument, nullptr, 'W'},
        {"validation", no_argument, nullptr, 'c'},
        {"win-option", required_argument, nullptr, 'w'},
        {"sync-option", required_argument, nullptr, 's'},
        {"precision", required_argument, nullptr, 'P'},
        {nullptr, 0, nullptr, 0},
    };
    auto bad = [&](const char *msg, int c, const char *arg) {
        if (rank == 0) {
            if (arg) std::fprintf(stderr, "%s [-%c %s]\n\n", msg, c, arg);
            else std::fprintf(stderr, "%s [-%c]\n\n", msg, c);
            usage(spec);
        }
        return 1;
    };
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+hvm:i:x:W:cw:s:P:", longopts, nullptr)) != -1) {
        switch (c) {
            case 'h':
                if (rank == 0) usage(spec);
                return -1;
            case 'v':
                if (rank == 0) std::printf("# %s v%s\n", spec.title, kVersion);
                return -1;
            case 'm': {
                if (spec.fixed_size) break;  // OSU ignores -m for fop/cas
                std::string a(optarg);
                auto colon = a.find(':');
                std::size_t lo = opt.min_size, hi = opt.max_size;
                if (colon == std::string::npos) {
                    if (!parse_size(a.c_str(), hi)) return bad("Invalid Message Size", 'm', optarg);
                } else {
                    std::string l = a.substr(0, colon), h = a.substr(colon + 1);
                    if (!l.empty() && !parse_size(l.c_str(), lo)) return bad("Invalid Message Size", 'm', optarg);
                    if (!h.empty() && !parse_size(h.c_str(), hi)) return bad("Invalid Message Size", 'm', optarg);
                }
                if (lo < 1 || hi < lo) return bad("Invalid Message Size", 'm', optarg);
                opt.min_size = lo;
                opt.max_size = hi;
                break;
            }
            case 'i': {
                long v;
                if (!parse_long(optarg, v) || v < 1) return bad("Invalid Number of Iterations", 'i', optarg);
                opt.iterations = v;
                opt.iterations_large = std::min(opt.iterations_large, v);
                break;
            }
            case 'x': {
                long v;
                if (!parse_long(optarg, v)) return bad("Invalid Number of Warmup Iterations", 'x', optarg);
                opt.skip = v;
                opt.skip_large = std::min(opt.skip_large, v);
                break;
            }
            case 'W': {
                long v;
                if (!bw || !parse_long(optarg, v) || v < 1 || v > 1 << 20) return bad("Invalid Window Size", 'W', optarg);
                opt.window_size = static_cast<int>(v);
                break;
            }
            case 'c':
                opt.validate = true;
                break;
            case 'P': {
                long v;
                if (!parse_long(optarg, v) || v > 9) return bad("Invalid Precision", 'P', optarg);
                opt.precision = static_cast<int>(v);
                break;
            }
            case 'w':
                if (!is_one_sided(spec.kind)) return bad("Invalid Option", 'w', optarg);
                if (!std::strcmp(optarg, "create")) opt.win = WinType::Create;
                else if (!std::strcmp(optarg, "allocate")) opt.win = WinType::Allocate;
                else if (!std::strcmp(optarg, "dynamic")) opt.win = WinType::Dynamic;
                else return bad("Invalid Window Type", 'w', optarg);
                break;
            case 's': {
                if (!is_one_sided(spec.kind)) return bad("Invalid Option", 's', optarg);
                bool found = false;
                for (Sync s : spec.allowed)
                    if (!std::strcmp(optarg, sync_name(s))) { opt.sync = s; found = true; }
                if (!found) return bad("Invalid Synchronization Type", 's', optarg);
                break;
            }
            default:
                return bad("Invalid Option", optopt ? optopt : '?', nullptr);
        }
    }
    if (optind < argc) return bad("Invalid Option", '?', argv[optind]);
    return 0;
}

void print_header(const Spec &spec, const Options &opt) {
    const bool bw = is_bw(spec.kind);
    std::printf("# %s v%s\n", spec.title, kVersion);
    if (is_one_sided(spec.kind)) {
        std::printf("# Window creation: %s\n", win_info(opt.win));
        std::printf("# Synchronization: %s\n", sync_info(opt.sync));
    }
    const char *col = bw ? "Bandwidth (MB/s)" : spec.kind == Kind::CollectiveLat ? "Avg Latency(us)" : "Latency (us)";
    if (opt.validate) std::printf("%-*s%*s%*s\n", 10, "# Size", kFieldWidth, col, kFieldWidth, "Validation");
    else std::printf("%-*s%*s\n", 10, "# Size", kFieldWidth, col);
    if (!is_one_sided(spec.kind)) std::printf("# Datatype: %s.\n", spec.datatype);
    std::fflush(stdout);
}

void print_row(const Options &opt, std::size_t size, double value, int valid) {
    if (opt.validate && valid >= 0)
        std::printf("%-*zu%*.*f%*s\n", 10, size, kFieldWidth, opt.precision, value, kFieldWidth,
                    valid ? "Pass" : "Fail");
    else
        std::printf("%-*zu%*.*f\n", 10, size, kFieldWidth, opt.precision, value);
    std::fflush(stdout);
}

Buffer::Buffer(std::size_t bytes) : n(bytes) {
    void *q = nullptr;
    if (posix_memalign(&q, 4096, std::max<std::size_t>(bytes, 64)) != 0) {
        std::fprintf(stderr, "cannot allocate %zu bytes\n", bytes);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    std::memset(q, 0, std::max<std::size_t>(bytes, 64));
    p = static_cast<char *>(q);
}

Buffer::~Buffer() { std::free(p); }

Window::Window(WinType t, std::size_t nbytes, int peer, MPI_Comm comm) : type(t), bytes(nbytes) {
    const MPI_Aint sz = static_cast<MPI_Aint>(std::max<std::size_t>(nbytes, 64));
    switch (t) {
        case WinType::Create: {
            void *q = nullptr;
            if (posix_memalign(&q, 4096, sz) != 0) MPI_Abort(comm, 1);
            owned_ = static_cast<char *>(q);
            base = owned_;
            std::memset(base, 0, sz);
            OVB_CHECK(MPI_Win_create(base, sz, 1, MPI_INFO_NULL, comm, &win));
            disp = 0;
            break;
        }
        case WinType::Allocate:
            OVB_CHECK(MPI_Win_allocate(sz, 1, MPI_INFO_NULL, comm, &base, &win));
            std::memset(base, 0, sz);
            disp = 0;
            break;
        case WinType::Dynamic: {
            void *q = nullptr;
            if (posix_memalign(&q, 4096, sz) != 0) MPI_Abort(comm, 1);
            owned_ = static_cast<char *>(q);
            base = owned_;
            std::memset(base, 0, sz);
            OVB_CHECK(MPI_Win_create_dynamic(MPI_INFO_NULL, comm, &win));
            OVB_CHECK(MPI_Win_attach(win, base, sz));
            MPI_Aint mine = 0;
            OVB_CHECK(MPI_Get_address(base, &mine));
            OVB_CHECK(MPI_Sendrecv(&mine, 1, MPI_AINT, peer, 77, &disp, 1, MPI_AINT, peer, 77, comm,
                                   MPI_STATUS_IGNORE));
            break;
        }
    }
    OVB_CHECK(MPI_Barrier(comm));
}

Window::~Window() {
    if (win != MPI_WIN_NULL) {
        if (type == WinType::Dynamic) MPI_Win_detach(win, base);
        MPI_Win_free(&win);
    }
    std::free(owned_);
}

void fill_pattern(char *p, std::size_t n, int rank, std::size_t size) {
    for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<char>(pattern(rank, size, i));
}

bool check_pattern(const char *p, std::size_t n, int rank, std::size_t size) {
    for (std::size_t i = 0; i < n; ++i)
        if (static_cast<unsigned char>(p[i]) != pattern(rank, size, i)) return false;
    return true;
}

int all_ok(bool ok, MPI_Comm comm) {
    int in = ok ? 1 : 0, out = 0;
    OVB_CHECK(MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_MIN, comm));
    return out;
}

}  // namespace ovb
