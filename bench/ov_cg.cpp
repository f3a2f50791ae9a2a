// ompi-virt bench: ov_cg — conjugate gradient on the 2-D Poisson matrix (5-point
// stencil, n^2 unknowns), rows of the grid distributed over the ranks (stands for
// NAS CG: sparse matrix-vector products with neighbour exchange plus global dot
// products).  b = A*1, so x converges to all ones.  The checksum ||x||_2 after a
// fixed number of iterations is compared with a serial CG computed on rank 0.
//   ov_cg [-n N] [-i ITERS]
#include "miniapp.hpp"

#include <vector>

namespace {
// y = A x on rows [0, lx) of an lx x n block; x has one ghost row on each side.
void spmv(long lx, long n, const std::vector<double> &x, std::vector<double> &y) {
    for (long i = 0; i < lx; ++i)
        for (long j = 0; j < n; ++j) {
            const double *c = &x[(i + 1) * n + j];
            double v = 4.0 * c[0] - c[-n] - c[n];
            if (j > 0) v -= c[-1];
            if (j < n - 1) v -= c[1];
            y[i * n + j] = v;
        }
}

double cg(long lx, long n, long iters, MPI_Comm comm, int up, int down, double *rnorm) {
    const long m = lx * n;
    std::vector<double> x(m, 0.0), r(m), p((lx + 2) * n, 0.0), q(m), ones((lx + 2) * n, 0.0);
    for (long k = n; k < (lx + 1) * n; ++k) ones[k] = 1.0;
    auto halo = [&](std::vector<double> &v) {
        MPI_Sendrecv(&v[n], int(n), MPI_DOUBLE, up, 1, &v[(lx + 1) * n], int(n), MPI_DOUBLE, down, 1, comm,
                     MPI_STATUS_IGNORE);
        MPI_Sendrecv(&v[lx * n], int(n), MPI_DOUBLE, down, 2, &v[0], int(n), MPI_DOUBLE, up, 2, comm,
                     MPI_STATUS_IGNORE);
    };
    auto dot = [&](const double *a, const double *b) {
        double s = 0, g = 0;
        for (long k = 0; k < m; ++k) s += a[k] * b[k];
        MPI_Allreduce(&s, &g, 1, MPI_DOUBLE, MPI_SUM, comm);
        return g;
    };
    halo(ones);
    spmv(lx, n, ones, r);  // r = b - A*0 = b
    for (long k = 0; k < m; ++k) p[n + k] = r[k];
    double rho = dot(r.data(), r.data());
    for (long it = 0; it < iters; ++it) {
        halo(p);
        spmv(lx, n, p, q);
        const double alpha = rho / dot(&p[n], q.data());
        for (long k = 0; k < m; ++k) {
            x[k] += alpha * p[n + k];
            r[k] -= alpha * q[k];
        }
        const double rho2 = dot(r.data(), r.data());
        const double beta = rho2 / rho;
        rho = rho2;
        for (long k = 0; k < m; ++k) p[n + k] = r[k] + beta * p[n + k];
    }
    *rnorm = std::sqrt(rho);
    return std::sqrt(dot(x.data(), x.data()));
}
}  // namespace

int main(int argc, char **argv) {
    int rank = 0, P = 0;
    if (!ovm::start(argc, argv,
                    "usage: ov_cg [-n N (grid side, default 256)] [-i ITERS (default 100)]\n",
                    &rank, &P))
        return 0;
    const long n = ovm::opt_long(argc, argv, "-n", 256), iters = ovm::opt_long(argc, argv, "-i", 100);
    if (n < P || iters < 1) {
        if (rank == 0) std::fprintf(stderr, "ov_cg: bad options (need n >= ranks)\n");
        MPI_Finalize();
        return 2;
    }
    const long lx = ovm::block_size(n, P, rank);
    const int up = rank > 0 ? rank - 1 : MPI_PROC_NULL, down = rank < P - 1 ? rank + 1 : MPI_PROC_NULL;
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    double rn = 0;
    const double xnorm = cg(lx, n, iters, MPI_COMM_WORLD, up, down, &rn);
    double t = MPI_Wtime() - t0, tmax;
    MPI_Allreduce(&t, &tmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    double ref = 0, rref = 0;
    if (rank == 0) ref = cg(n, n, iters, MPI_COMM_SELF, MPI_PROC_NULL, MPI_PROC_NULL, &rref);
    MPI_Bcast(&ref, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    char params[160];
    std::snprintf(params, sizeof params, "n=%ld iters=%ld residual=%.3e", n, iters, rn);
    // Dot products are summed in a different order than serially: 1e-8 relative.
    int rc = ovm::report(rank, P, "ov_cg", params, tmax, xnorm, ref, 1e-8);
    MPI_Finalize();
    return rc;
}
