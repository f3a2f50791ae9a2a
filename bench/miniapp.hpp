// ompi-virt bench: helpers shared by the NAS-like mini-apps (option parsing,
// verification report).  Each mini-app prints one line
//   <app> <params> ranks=P time=<s> checksum=<x> reference=<y> VERIFIED|FAILED
// and exits non-zero when the checksum does not match the reference.
#pragma once

#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace ovm {

// -k VALUE style options: returns the value of `flag` or `def`.
inline long opt_long(int argc, char **argv, const char *flag, long def) {
    for (int i = 1; i + 1 < argc; ++i)
        if (!std::strcmp(argv[i], flag)) return std::strtol(argv[i + 1], nullptr, 10);
    return def;
}
inline std::string opt_str(int argc, char **argv, const char *flag, const char *def) {
    for (int i = 1; i + 1 < argc; ++i)
        if (!std::strcmp(argv[i], flag)) return argv[i + 1];
    return def;
}
inline bool opt_flag(int argc, char **argv, const char *flag) {
    for (int i = 1; i < argc; ++i)
        if (!std::strcmp(argv[i], flag)) return true;
    return false;
}

// Prints the result line on rank 0; returns the exit status (same on all ranks).
// Common main() prologue: MPI_Init, this rank and the rank count.  With -h,
// rank 0 prints `usage`, MPI is finalized and false returned (exit 0).
inline bool start(int &argc, char **&argv, const char *usage, int *rank, int *nprocs) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, nprocs);
    if (opt_flag(argc, argv, "-h")) {
        if (*rank == 0) std::fputs(usage, stdout);
        MPI_Finalize();
        return false;
    }
    return true;
}

inline int report(int rank, int nprocs, const char *app, const std::string &params, double seconds,
                  double checksum, double reference, double rel_tol) {
    double err = std::fabs(checksum - reference) / std::max(1.0, std::fabs(reference));
    int ok = (err <= rel_tol && std::isfinite(checksum)) ? 1 : 0;
    MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        std::printf("%s %s ranks=%d time=%.6f checksum=%.15e reference=%.15e rel_err=%.3e %s\n", app,
                    params.c_str(), nprocs, seconds, checksum, reference, err, ok ? "VERIFIED" : "FAILED");
        std::fflush(stdout);
    }
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}

// Block decomposition of n items over p parts: size and first index of part c.
inline long block_size(long n, int p, int c) { return n / p + (c < n % p ? 1 : 0); }
inline long block_start(long n, int p, int c) { return c * (n / p) + std::min<long>(c, n % p); }

}  // namespace ovm
