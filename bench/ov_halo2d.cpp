// ompi-virt bench: ov_halo2d — 2-D Jacobi with halo exchange (stands for the NAS
// stencil codes: MG/SP/BT/LU halo traffic).  Variants: MPI_Put + fence,
// MPI_Put + post/start/complete/wait, and MPI_Sendrecv.  The checksum (sum of
// the grid) is verified against a serial Jacobi computed on rank 0.
//   ov_halo2d [-n N] [-i ITERS] [-m put-fence|put-pscw|sendrecv|all]
#include "miniapp.hpp"

#include <vector>

namespace {

// Boundary value outside the global domain: a hot top edge, cold elsewhere.
double boundary(long gi, long gj, long n) { return gi < 0 ? 1.0 : 0.0; (void)gj; (void)n; }
double initial(long gi, long gj) { return double((gi * 7 + gj * 13) % 100) / 100.0; }

double serial_reference(long n, long iters) {
    const long s = n + 2;
    std::vector<double> u(s * s), v(s * s);
    for (long i = -1; i <= n; ++i)
        for (long j = -1; j <= n; ++j) {
            bool in = i >= 0 && i < n && j >= 0 && j < n;
            u[(i + 1) * s + (j + 1)] = in ? initial(i, j) : boundary(i, j, n);
        }
    v = u;
    for (long it = 0; it < iters; ++it) {
        for (long i = 1; i <= n; ++i)
            for (long j = 1; j <= n; ++j)
                v[i * s + j] = 0.25 * (u[(i - 1) * s + j] + u[(i + 1) * s + j] + u[i * s + j - 1] + u[i * s + j + 1]);
        for (long i = 1; i <= n; ++i)
            for (long j = 1; j <= n; ++j) u[i * s + j] = v[i * s + j];
    }
    double sum = 0;
    for (long i = 1; i <= n; ++i)
        for (long j = 1; j <= n; ++j) sum += u[i * s + j];
    return sum;
}

struct Grid {
    MPI_Comm cart;
    int dims[2] = {0, 0}, coords[2] = {0, 0};
    int nb[4];       // north (x-1), south (x+1), west (y-1), east (y+1)
    long lx, ly, x0, y0, n;
    long stride() const { return ly + 2; }
    long nlx(int r) const { int c[2]; MPI_Cart_coords(cart, r, 2, c); return ovm::block_size(n, dims[0], c[0]); }
    long nly(int r) const { int c[2]; MPI_Cart_coords(cart, r, 2, c); return ovm::block_size(n, dims[1], c[1]); }
};

// Halo exchange by MPI_Put: my edge row/column goes into the neighbour's ghost
// row/column.  Target offsets use the neighbour's block sizes.
void put_halo(const Grid &g, double *u, MPI_Win win) {
    const long s = g.stride();
    for (int d = 0; d < 4; ++d) {
        int r = g.nb[d];
        if (r == MPI_PROC_NULL) continue;
        long tlx = g.nlx(r), tly = g.nly(r), ts = tly + 2;
        if (d < 2) {  // rows: contiguous
            long src_row = d == 0 ? 1 : g.lx;        // send my first row north, my last row south
            long dst_row = d == 0 ? tlx + 1 : 0;     // into its bottom / top ghost row
            MPI_Put(u + src_row * s + 1, int(g.ly), MPI_DOUBLE, r, dst_row * ts + 1, int(tly), MPI_DOUBLE, win);
        } else {      // columns: strided
            long src_col = d == 2 ? 1 : g.ly;
            long dst_col = d == 2 ? tly + 1 : 0;
            MPI_Datatype st, tt;
            MPI_Type_vector(int(g.lx), 1, int(s), MPI_DOUBLE, &st);
            MPI_Type_vector(int(tlx), 1, int(ts), MPI_DOUBLE, &tt);
            MPI_Type_commit(&st);
            MPI_Type_commit(&tt);
            MPI_Put(u + 1 * s + src_col, 1, st, r, 1 * ts + dst_col, 1, tt, win);
            MPI_Type_free(&st);
            MPI_Type_free(&tt);
        }
    }
}

void sendrecv_halo(const Grid &g, double *u) {
    const long s = g.stride();
    MPI_Datatype col;
    MPI_Type_vector(int(g.lx), 1, int(s), MPI_DOUBLE, &col);
    MPI_Type_commit(&col);
    // north-south
    MPI_Sendrecv(u + 1 * s + 1, int(g.ly), MPI_DOUBLE, g.nb[0], 1, u + (g.lx + 1) * s + 1, int(g.ly), MPI_DOUBLE,
                 g.nb[1], 1, g.cart, MPI_STATUS_IGNORE);
    MPI_Sendrecv(u + g.lx * s + 1, int(g.ly), MPI_DOUBLE, g.nb[1], 2, u + 0 * s + 1, int(g.ly), MPI_DOUBLE, g.nb[0],
                 2, g.cart, MPI_STATUS_IGNORE);
    // west-east
    MPI_Sendrecv(u + s + 1, 1, col, g.nb[2], 3, u + s + g.ly + 1, 1, col, g.nb[3], 3, g.cart, MPI_STATUS_IGNORE);
    MPI_Sendrecv(u + s + g.ly, 1, col, g.nb[3], 4, u + s + 0, 1, col, g.nb[2], 4, g.cart, MPI_STATUS_IGNORE);
    MPI_Type_free(&col);
}

int run(const std::string &mode, long n, long iters, double reference, int rank, int nprocs) {
    Grid g;
    g.n = n;
    MPI_Dims_create(nprocs, 2, g.dims);
    int periods[2] = {0, 0};
    MPI_Cart_create(MPI_COMM_WORLD, 2, g.dims, periods, 0, &g.cart);
    int crank;
    MPI_Comm_rank(g.cart, &crank);
    MPI_Cart_coords(g.cart, crank, 2, g.coords);
    MPI_Cart_shift(g.cart, 0, 1, &g.nb[0], &g.nb[1]);
    MPI_Cart_shift(g.cart, 1, 1, &g.nb[2], &g.nb[3]);
    g.lx = ovm::block_size(n, g.dims[0], g.coords[0]);
    g.ly = ovm::block_size(n, g.dims[1], g.coords[1]);
    g.x0 = ovm::block_start(n, g.dims[0], g.coords[0]);
    g.y0 = ovm::block_start(n, g.dims[1], g.coords[1]);
    const long s = g.stride(), cells = (g.lx + 2) * s;

    double *u = nullptr;
    MPI_Win win = MPI_WIN_NULL;
    std::vector<double> own;
    if (mode == "sendrecv") {
        own.resize(cells);
        u = own.data();
    } else {
        MPI_Win_allocate(MPI_Aint(cells * sizeof(double)), sizeof(double), MPI_INFO_NULL, g.cart, &u, &win);
    }
    for (long i = 0; i < g.lx + 2; ++i)
        for (long j = 0; j < s; ++j) {
            long gi = g.x0 + i - 1, gj = g.y0 + j - 1;
            bool in = gi >= 0 && gi < n && gj >= 0 && gj < n;
            u[i * s + j] = in ? initial(gi, gj) : boundary(gi, gj, n);
        }
    std::vector<double> v(cells);

    // Neighbour group for PSCW.
    MPI_Group cgroup, ngroup;
    MPI_Comm_group(g.cart, &cgroup);
    int nbr[4], nn = 0;
    for (int d = 0; d < 4; ++d) {
        if (g.nb[d] == MPI_PROC_NULL) continue;
        bool dup = false;
        for (int k = 0; k < nn; ++k) dup = dup || nbr[k] == g.nb[d];
        if (!dup) nbr[nn++] = g.nb[d];
    }
    MPI_Group_incl(cgroup, nn, nbr, &ngroup);
    if (win != MPI_WIN_NULL) MPI_Win_fence(0, win);

    MPI_Barrier(g.cart);
    const double t0 = MPI_Wtime();
    for (long it = 0; it < iters; ++it) {
        if (mode == "put-fence") {
            put_halo(g, u, win);
            MPI_Win_fence(0, win);
        } else if (mode == "put-pscw") {
            MPI_Win_post(ngroup, 0, win);
            MPI_Win_start(ngroup, 0, win);
            put_halo(g, u, win);
            MPI_Win_complete(win);
            MPI_Win_wait(win);
        } else {
            sendrecv_halo(g, u);
        }
        for (long i = 1; i <= g.lx; ++i)
            for (long j = 1; j <= g.ly; ++j)
                v[i * s + j] = 0.25 * (u[(i - 1) * s + j] + u[(i + 1) * s + j] + u[i * s + j - 1] + u[i * s + j + 1]);
        for (long i = 1; i <= g.lx; ++i)
            for (long j = 1; j <= g.ly; ++j) u[i * s + j] = v[i * s + j];
        // fence variant: the interior update must finish on every rank before the
        // next epoch reads it (it is the source of the next puts): the fence at the
        // top of the loop body's put epoch is the one above, so close with another.
        if (mode == "put-fence") MPI_Win_fence(0, win);
    }
    const double t = MPI_Wtime() - t0;
    double local = 0, sum = 0;
    for (long i = 1; i <= g.lx; ++i)
        for (long j = 1; j <= g.ly; ++j) local += u[i * s + j];
    MPI_Allreduce(&local, &sum, 1, MPI_DOUBLE, MPI_SUM, g.cart);
    double tmax = 0;
    MPI_Allreduce(&t, &tmax, 1, MPI_DOUBLE, MPI_MAX, g.cart);
    if (win != MPI_WIN_NULL) MPI_Win_free(&win);
    MPI_Group_free(&ngroup);
    MPI_Group_free(&cgroup);
    MPI_Comm_free(&g.cart);
    char params[128];
    std::snprintf(params, sizeof params, "mode=%s n=%ld iters=%ld", mode.c_str(), n, iters);
    return ovm::report(rank, nprocs, "ov_halo2d", params, tmax, sum, reference, 1e-10);
}

}  // namespace

int main(int argc, char **argv) {
    int rank = 0, nprocs = 0;
    if (!ovm::start(argc, argv,
                    "usage: ov_halo2d [-n N (grid, default 512)] [-i ITERS (default 200)]\n"
                    "                 [-m put-fence|put-pscw|sendrecv|all (default all)]\n",
                    &rank, &nprocs))
        return 0;
    const long n = ovm::opt_long(argc, argv, "-n", 512), iters = ovm::opt_long(argc, argv, "-i", 200);
    const std::string m = ovm::opt_str(argc, argv, "-m", "all");
    if (n < 2 || iters < 1 || (m != "all" && m != "put-fence" && m != "put-pscw" && m != "sendrecv")) {
        if (rank == 0) std::fprintf(stderr, "ov_halo2d: bad options (see -h)\n");
        MPI_Finalize();
        return 2;
    }
    double reference = rank == 0 ? serial_reference(n, iters) : 0.0;
    MPI_Bcast(&reference, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    int rc = 0;
    for (const char *mode : {"put-fence", "put-pscw", "sendrecv"})
        if (m == "all" || m == mode) rc |= run(mode, n, iters, reference, rank, nprocs);
    MPI_Finalize();
    return rc;
}
