// ompi-virt bench: ov_transpose — distributed matrix transpose with MPI_Alltoall
// (stands for the NAS FT all-to-all transpose).  An N x N matrix is distributed
// by rows; each iteration transposes it and scales it by (1 + it/1000).  After K
// iterations A_K(i,j) = f_K*(...*(f_1*A_0(T^K(i,j)))), which rank 0 evaluates serially as
// the reference; every rank also checks each of its elements exactly.
//   ov_transpose [-n N] [-i ITERS]   (N is rounded up to a multiple of the ranks)
#include "miniapp.hpp"

#include <vector>

namespace {
double a0(long i, long j, long n) { return double((i * n + j) % 1009) + 0.5; }
double weight(long i, long j, long n) { return double((i * 31 + j * 17) % 97 + 1) / (double(n) * double(n)); }
}  // namespace

int main(int argc, char **argv) {
    int rank = 0, P = 0;
    if (!ovm::start(argc, argv,
                    "usage: ov_transpose [-n N (default 1024)] [-i ITERS (default 20)]\n",
                    &rank, &P))
        return 0;
    long n = ovm::opt_long(argc, argv, "-n", 1024);
    const long iters = ovm::opt_long(argc, argv, "-i", 20);
    if (n < 1 || iters < 1) {
        if (rank == 0) std::fprintf(stderr, "ov_transpose: bad options\n");
        MPI_Finalize();
        return 2;
    }
    n = (n + P - 1) / P * P;
    const long r = n / P, row0 = rank * r;  // my rows [row0, row0 + r)
    std::vector<double> a(r * n), send(r * n), recv(r * n);
    for (long i = 0; i < r; ++i)
        for (long j = 0; j < n; ++j) a[i * n + j] = a0(row0 + i, j, n);

    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    double scale = 1.0;
    for (long it = 1; it <= iters; ++it) {
        const double f = 1.0 + double(it) / 1000.0;
        // Pack: block p holds my rows x columns [p*r, (p+1)*r), transposed.
        for (int p = 0; p < P; ++p)
            for (long jj = 0; jj < r; ++jj)
                for (long i = 0; i < r; ++i) send[p * r * r + jj * r + i] = a[i * n + p * r + jj];
        MPI_Alltoall(send.data(), int(r * r), MPI_DOUBLE, recv.data(), int(r * r), MPI_DOUBLE, MPI_COMM_WORLD);
        // Block from rank p: new row (row0 + jj), columns [p*r, (p+1)*r).
        for (int p = 0; p < P; ++p)
            for (long jj = 0; jj < r; ++jj)
                for (long i = 0; i < r; ++i) a[jj * n + p * r + i] = f * recv[p * r * r + jj * r + i];
        scale *= f;
    }
    double t = MPI_Wtime() - t0, tmax;
    MPI_Allreduce(&t, &tmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);

    long bad = 0;
    double local = 0, sum = 0;
    for (long i = 0; i < r; ++i)
        for (long j = 0; j < n; ++j) {
            long gi = row0 + i;
            // The same multiplications in the same order: exact equality.
            double expect = iters % 2 ? a0(j, gi, n) : a0(gi, j, n);
            for (long it = 1; it <= iters; ++it) expect = (1.0 + double(it) / 1000.0) * expect;
            if (a[i * n + j] != expect) ++bad;
            local += weight(gi, j, n) * a[i * n + j];
        }
    MPI_Allreduce(&local, &sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    long badall = 0;
    MPI_Allreduce(&bad, &badall, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    double ref = 0;
    if (rank == 0) {
        for (long i = 0; i < n; ++i)
            for (long j = 0; j < n; ++j) ref += weight(i, j, n) * scale * (iters % 2 ? a0(j, i, n) : a0(i, j, n));
    }
    MPI_Bcast(&ref, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    char params[160];
    std::snprintf(params, sizeof params, "n=%ld iters=%ld bad_elements=%ld", n, iters, badall);
    int rc = ovm::report(rank, P, "ov_transpose", params, tmax, badall ? NAN : sum, ref, 1e-10);
    MPI_Finalize();
    return rc;
}
