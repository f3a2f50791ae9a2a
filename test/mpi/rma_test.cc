// rma_test - MPI-3 one-sided conformance / integration test with checked results.
//
// Run:  mpirun -np 2 [--mca osc virt] ./rma_test [--flavor create|allocate] [options]
// Output (rank 0, stdout): a header "# rma_test: N ranks, window flavor F", one
// line per case, "PASS <case>", "FAIL <case>: <detail>" or "SKIP <case>: <reason>",
// then exactly "N passed, N failed, N skipped".
// Exit code 0 iff no case failed.  See --help.
//
// Cases live in rma_cases_*.cc; the harness is declared in rma_harness.h.
#include "rma_harness.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace rma {

// ------------------------------------------------------------------ errors
const char* mpi_error_class_name(int ec) {
    switch (ec) {
#define E(x) \
    case x:  \
        return #x;
        E(MPI_SUCCESS) E(MPI_ERR_BUFFER) E(MPI_ERR_COUNT) E(MPI_ERR_TYPE) E(MPI_ERR_TAG)
        E(MPI_ERR_COMM) E(MPI_ERR_RANK) E(MPI_ERR_REQUEST) E(MPI_ERR_ROOT) E(MPI_ERR_GROUP)
        E(MPI_ERR_OP) E(MPI_ERR_TOPOLOGY) E(MPI_ERR_DIMS) E(MPI_ERR_ARG) E(MPI_ERR_UNKNOWN)
        E(MPI_ERR_TRUNCATE) E(MPI_ERR_OTHER) E(MPI_ERR_INTERN) E(MPI_ERR_IN_STATUS)
        E(MPI_ERR_PENDING) E(MPI_ERR_NO_MEM) E(MPI_ERR_BASE) E(MPI_ERR_DISP) E(MPI_ERR_INFO)
        E(MPI_ERR_SIZE) E(MPI_ERR_WIN) E(MPI_ERR_LOCKTYPE) E(MPI_ERR_ASSERT)
        E(MPI_ERR_RMA_CONFLICT) E(MPI_ERR_RMA_SYNC) E(MPI_ERR_RMA_RANGE) E(MPI_ERR_RMA_ATTACH)
        E(MPI_ERR_RMA_SHARED) E(MPI_ERR_RMA_FLAVOR) E(MPI_ERR_NOT_SAME) E(MPI_ERR_UNSUPPORTED_OPERATION)
#undef E
        default:
            return "MPI_ERR_?";
    }
}

std::string mpi_error_string(int rc) {
    int ec = rc;
    if (MPI_Error_class(rc, &ec) != MPI_SUCCESS) ec = rc;
    char buf[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, buf, &len) != MPI_SUCCESS) len = 0;
    buf[len] = '\0';
    return std::string(mpi_error_class_name(ec)) + " (class " + std::to_string(ec) + "): " + buf;
}

const char* flavor_name(Flavor f) { return f == Flavor::Allocate ? "allocate" : "create"; }

const char* op_name(MPI_Op op) {
    if (op == MPI_SUM) return "MPI_SUM";
    if (op == MPI_PROD) return "MPI_PROD";
    if (op == MPI_MAX) return "MPI_MAX";
    if (op == MPI_MIN) return "MPI_MIN";
    if (op == MPI_BAND) return "MPI_BAND";
    if (op == MPI_BOR) return "MPI_BOR";
    if (op == MPI_BXOR) return "MPI_BXOR";
    if (op == MPI_LAND) return "MPI_LAND";
    if (op == MPI_LOR) return "MPI_LOR";
    if (op == MPI_LXOR) return "MPI_LXOR";
    if (op == MPI_REPLACE) return "MPI_REPLACE";
    if (op == MPI_NO_OP) return "MPI_NO_OP";
    return "MPI_Op?";
}

// ------------------------------------------------------------------ Ctx
Ctx::Ctx(MPI_Comm c, const Options& o) : comm(c), opt(o) {
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
}

bool Ctx::mpi(int rc, const char* call, const char* file, int line) {
    if (rc == MPI_SUCCESS) return true;
    const char* base = std::strrchr(file, '/');
    fail(std::string(call) + " returned " + mpi_error_string(rc) + " at " + (base ? base + 1 : file) +
         ":" + std::to_string(line));
    return false;
}

void Ctx::fail(const std::string& msg) {
    if (fail_msg_.empty()) fail_msg_ = msg;
    if (opt.verbose) std::fprintf(stderr, "[rank %d] FAIL detail: %s\n", rank, msg.c_str());
}
void Ctx::skip(const std::string& reason) {
    if (skip_msg_.empty()) skip_msg_ = reason;
    else if (skip_msg_.find(reason) == std::string::npos) skip_msg_ += "; " + reason;
}
void Ctx::info(const std::string& msg) { infos_.push_back(msg); }

bool Ctx::all_ok() {
    int mine = failed() ? 1 : 0, any = 0;
    MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, comm);
    return any == 0;
}

void Ctx::reset() {
    fail_msg_.clear();
    skip_msg_.clear();
    first_mismatch_.clear();
    mismatches_ = 0;
    infos_.clear();
}

Verdict Ctx::verdict() const {
    if (failed()) return Verdict::Fail;
    if (!skip_msg_.empty()) return Verdict::Skip;
    return Verdict::Pass;
}

std::string Ctx::detail() const {
    if (failed()) {
        std::string d = fail_msg_;
        if (mismatches_ > 0) {
            if (!d.empty()) d += "; ";
            d += first_mismatch_;
            if (mismatches_ > 1) d += " (+" + std::to_string(mismatches_ - 1) + " more mismatches)";
        }
        return d;
    }
    return skip_msg_;
}

// ------------------------------------------------------------------ registry
std::vector<CaseInfo>& registry() {
    static std::vector<CaseInfo> r;
    return r;
}
Register::Register(int group, const char* name, const char* desc, CaseFn fn) {
    auto& r = registry();
    r.push_back(CaseInfo{group, static_cast<int>(r.size()), name, desc, fn});
}

// ------------------------------------------------------------------ windows
void Window::free() {
    if (win == MPI_WIN_NULL) return;
    ctx.mpi(MPI_Win_free(&win), "MPI_Win_free", __FILE__, __LINE__);
    win = MPI_WIN_NULL;
}

static void set_errh(Ctx& ctx, Window& w) {
    if (w.win != MPI_WIN_NULL) CK(MPI_Win_set_errhandler(w.win, MPI_ERRORS_RETURN));
}

bool win_create(Ctx& ctx, void* base, MPI_Aint bytes, int disp_unit, Window& w, MPI_Info info) {
    ctx.mpi(MPI_Win_create(base, bytes, disp_unit, info, ctx.comm, &w.win), "MPI_Win_create", __FILE__, __LINE__);
    set_errh(ctx, w);
    return ctx.all_ok();
}

bool win_allocate(Ctx& ctx, MPI_Aint bytes, int disp_unit, void* base_out, Window& w, MPI_Info info) {
    ctx.mpi(MPI_Win_allocate(bytes, disp_unit, info, ctx.comm, base_out, &w.win), "MPI_Win_allocate", __FILE__, __LINE__);
    set_errh(ctx, w);
    return ctx.all_ok();
}

bool win_create_dynamic(Ctx& ctx, Window& w) {
    ctx.mpi(MPI_Win_create_dynamic(MPI_INFO_NULL, ctx.comm, &w.win), "MPI_Win_create_dynamic", __FILE__, __LINE__);
    set_errh(ctx, w);
    return ctx.all_ok();
}

void local_read(Ctx& ctx, MPI_Win win, const std::function<void()>& fn) {
    CK(MPI_Barrier(ctx.comm));
    CK(MPI_Win_lock(MPI_LOCK_SHARED, ctx.rank, 0, win));
    CK(MPI_Win_sync(win));
    fn();
    CK(MPI_Win_unlock(ctx.rank, win));
}

void local_read_in_lock_all(Ctx& ctx, MPI_Win win, const std::function<void()>& fn) {
    CK(MPI_Win_sync(win));
    CK(MPI_Barrier(ctx.comm));
    CK(MPI_Win_sync(win));
    fn();
}

}  // namespace rma

// ====================================================================== driver
namespace {

char g_case[256] = "<startup>";
int g_rank = 0;

extern "C" void on_alarm(int) {
    char buf[400];
    int n = std::snprintf(buf, sizeof buf, "FAIL timeout in case %s\n", g_case);
    if (n > 0) {
        // rank 0 reports on stdout (the runner's stream); others on stderr.
        ssize_t ignored = write(g_rank == 0 ? STDOUT_FILENO : STDERR_FILENO, buf,
                                static_cast<size_t>(std::min(n, static_cast<int>(sizeof buf) - 1)));
        (void)ignored;
    }
    MPI_Abort(MPI_COMM_WORLD, 3);
    _exit(3);
}

void usage(const char* prog) {
    std::printf(
        "usage: mpirun -np N %s [options]   (N >= 2)\n"
        "MPI-3 one-sided conformance test; every case checks its results on every rank.\n"
        "  --help             this text\n"
        "  --list             list case names and exit\n"
        "  --only PATTERN     run only cases whose name contains PATTERN (repeatable: any matches;\n"
        "                     a comma-separated list is also accepted)\n"
        "  --flavor KIND      window memory of the cases not about one flavor: 'create' (default,\n"
        "                     MPI_Win_create over memory the test owns) or 'allocate' (MPI_Win_allocate)\n"
        "  --with-shared      run the MPI_Win_allocate_shared case unconditionally (refusal = FAIL)\n"
        "  --no-shared        skip the MPI_Win_allocate_shared case\n"
        "                     (default: probe; if the component refuses, the case is SKIPped)\n"
        "  --large-mb N       window size per process of the win_large_* cases (default 1024,\n"
        "                     0 = SKIP them)\n"
        "  --timeout SECONDS  per-case watchdog (default 120, 0 = off): prints\n"
        "                     'FAIL timeout in case <name>' and calls MPI_Abort\n"
        "  --verbose          per-case timings, INFO notes and per-rank failure details on stderr\n"
        "Environment: RMA_TEST_INJECT_HANG=<case> makes the last rank hang in <case> (tests the watchdog).\n"
        "Output: a header line '# rma_test: N ranks, window flavor KIND', then\n"
        "'PASS <case>' | 'FAIL <case>: <detail>' | 'SKIP <case>: <reason>' per case, then\n"
        "'N passed, N failed, N skipped'. Exit code 0 iff nothing failed.\n",
        prog);
}

std::vector<std::string> split_commas(const std::string& s) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= s.size()) {
        size_t p = s.find(',', start);
        if (p == std::string::npos) p = s.size();
        if (p > start) out.push_back(s.substr(start, p - start));
        start = p + 1;
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
        std::fprintf(stderr, "MPI_Init failed\n");
        return 2;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    int world_size = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);

    rma::Options opt;
    std::vector<std::string> patterns;
    bool list = false, help = false;
    std::string bad;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto need = [&](const char* what) -> const char* {
            if (i + 1 >= argc) {
                bad = std::string(a) + " needs " + what;
                return "";
            }
            return argv[++i];
        };
        if (a == "--help" || a == "-h") help = true;
        else if (a == "--list") list = true;
        else if (a == "--verbose" || a == "-v") opt.verbose = true;
        else if (a == "--with-shared") opt.shared_mode = 1;
        else if (a == "--no-shared") opt.shared_mode = -1;
        else if (a == "--only") {
            for (auto& p : split_commas(need("a pattern"))) patterns.push_back(p);
        } else if (a.rfind("--only=", 0) == 0) {
            for (auto& p : split_commas(a.substr(7))) patterns.push_back(p);
        } else if (a == "--flavor" || a.rfind("--flavor=", 0) == 0) {
            std::string v = a == "--flavor" ? need("create or allocate") : a.substr(9);
            if (v == "create") opt.flavor = rma::Flavor::Create;
            else if (v == "allocate") opt.flavor = rma::Flavor::Allocate;
            else if (bad.empty()) bad = "bad --flavor value '" + v + "' (want create or allocate)";
        } else if (a == "--large-mb" || a.rfind("--large-mb=", 0) == 0) {
            std::string v = a == "--large-mb" ? need("MiB") : a.substr(11);
            char* end = nullptr;
            long mb = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0' || mb < 0 || mb > (1L << 20)) bad = "bad --large-mb value '" + v + "'";
            else opt.large_mb = static_cast<unsigned>(mb);
        } else if (a == "--timeout" || a.rfind("--timeout=", 0) == 0) {
            std::string v = a == "--timeout" ? need("seconds") : a.substr(10);
            char* end = nullptr;
            long t = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0' || t < 0) bad = "bad --timeout value '" + v + "'";
            else opt.timeout = static_cast<unsigned>(t);
        } else bad = "unknown option '" + a + "'";
    }

    auto cases = rma::registry();
    std::stable_sort(cases.begin(), cases.end(), [](const rma::CaseInfo& x, const rma::CaseInfo& y) {
        return x.group != y.group ? x.group < y.group : x.seq < y.seq;
    });

    if (help || list || !bad.empty()) {
        int rc = bad.empty() ? 0 : 2;
        if (g_rank == 0) {
            if (!bad.empty()) std::fprintf(stderr, "rma_test: %s (try --help)\n", bad.c_str());
            else if (help) usage(argv[0]);
            else
                for (auto& c : cases) std::printf("%-28s %s\n", c.name, c.desc);
            std::fflush(stdout);
        }
        MPI_Finalize();
        return rc;
    }

    if (world_size < 2) {
        if (g_rank == 0) std::printf("FAIL setup: needs at least 2 ranks (got %d)\n0 passed, 1 failed, 0 skipped\n", world_size);
        MPI_Finalize();
        return 1;
    }

    MPI_Comm comm;
    MPI_Comm_dup(MPI_COMM_WORLD, &comm);
    MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    rma::Ctx ctx(comm, opt);

    std::signal(SIGALRM, on_alarm);
    if (g_rank == 0) {
        std::printf("# rma_test: %d ranks, window flavor %s\n", ctx.size, rma::flavor_name(opt.flavor));
        std::fflush(stdout);
        if (opt.verbose) std::fprintf(stderr, "rma_test: %d ranks, timeout %u s per case\n", ctx.size, opt.timeout);
    }

    int npass = 0, nfail = 0, nskip = 0;
    constexpr int kMsg = 1024;
    std::vector<char> all_msgs;
    std::vector<int> all_verdicts;
    if (g_rank == 0) {
        all_msgs.resize(static_cast<size_t>(kMsg) * static_cast<size_t>(ctx.size));
        all_verdicts.resize(static_cast<size_t>(ctx.size));
    }

    for (auto& c : cases) {
        if (!patterns.empty()) {
            bool m = false;
            for (auto& p : patterns) m = m || std::strstr(c.name, p.c_str()) != nullptr;
            if (!m) continue;
        }
        std::snprintf(g_case, sizeof g_case, "%s", c.name);
        ctx.reset();
        MPI_Barrier(comm);
        if (opt.timeout) alarm(opt.timeout);
        auto t0 = std::chrono::steady_clock::now();
        // Test hook for the watchdog: RMA_TEST_INJECT_HANG=<case> makes the last rank hang in it.
        if (const char* h = std::getenv("RMA_TEST_INJECT_HANG"); h && std::strcmp(h, c.name) == 0 && g_rank == ctx.size - 1)
            for (;;) pause();
        c.fn(ctx);
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

        // Combine verdicts: fail on any rank > skip on any rank > pass.
        int mine = static_cast<int>(ctx.verdict()), worst = 0;
        MPI_Allreduce(&mine, &worst, 1, MPI_INT, MPI_MAX, comm);
        char msg[kMsg];
        std::snprintf(msg, sizeof msg, "%s", ctx.detail().c_str());
        MPI_Gather(msg, kMsg, MPI_CHAR, g_rank == 0 ? all_msgs.data() : nullptr, kMsg, MPI_CHAR, 0, comm);
        MPI_Gather(&mine, 1, MPI_INT, g_rank == 0 ? all_verdicts.data() : nullptr, 1, MPI_INT, 0, comm);
        if (opt.verbose) {
            for (auto& s : ctx.infos()) std::fprintf(stderr, "INFO %s [rank %d]: %s\n", c.name, g_rank, s.c_str());
        }
        if (opt.timeout) alarm(0);
        if (worst == static_cast<int>(rma::Verdict::Pass)) ++npass;
        else if (worst == static_cast<int>(rma::Verdict::Skip)) ++nskip;
        else ++nfail;
        if (g_rank == 0) {
            std::string detail;
            int nbad = 0;
            for (int r = 0; r < ctx.size; ++r) {
                if (all_verdicts[static_cast<size_t>(r)] != worst) continue;
                if (nbad++ == 0) {
                    const char* m = &all_msgs[static_cast<size_t>(r) * kMsg];
                    m = m[0] ? m : "(no detail)";
                    detail = worst == static_cast<int>(rma::Verdict::Fail)
                                 ? "rank " + std::to_string(r) + ": " + m
                                 : std::string(m);
                }
            }
            if (worst == static_cast<int>(rma::Verdict::Fail) && nbad > 1)
                detail += " [failed on " + std::to_string(nbad) + " of " + std::to_string(ctx.size) + " ranks]";
            if (worst == static_cast<int>(rma::Verdict::Pass)) std::printf("PASS %s\n", c.name);
            else if (worst == static_cast<int>(rma::Verdict::Skip)) std::printf("SKIP %s: %s\n", c.name, detail.c_str());
            else std::printf("FAIL %s: %s\n", c.name, detail.c_str());
            std::fflush(stdout);
            if (opt.verbose) std::fprintf(stderr, "  %s took %.3f s\n", c.name, secs);
        }
    }
    std::snprintf(g_case, sizeof g_case, "%s", "<finalize>");

    if (g_rank == 0) {
        std::printf("%d passed, %d failed, %d skipped\n", npass, nfail, nskip);
        std::fflush(stdout);
    }
    if (opt.timeout) alarm(opt.timeout);
    MPI_Comm_free(&comm);
    MPI_Finalize();
    return nfail == 0 ? 0 : 1;
}
