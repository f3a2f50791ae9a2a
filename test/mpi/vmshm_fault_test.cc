/*
 * vmshm_fault_test.cc — the two-sided faults btl vmshm must turn into an
 * error, never a hang.  Run by test/mpi/vmshm-faults.sh, which bounds every
 * run and judges it; this program alone never ends by itself in either mode.
 *
 *   peer-death    rank 0 receives 1 MiB (and 8 MiB) messages from the last
 *                 rank in a loop; after 2 s the last rank kills itself
 *                 (SIGKILL) with a message posted and in flight.  Rank 0 is
 *                 inside a receive when its peer dies.
 *   backend-gone  rank 0 and the last rank exchange 0 B .. 8 MiB messages
 *                 until a call fails; the script kills the host backend
 *                 once "running" is printed.
 *
 * MPI_ERRORS_RETURN is set, so an error reaching the program is printed as
 * "rank R: <call> failed: <MPI error string>" and the rank exits 3; Open MPI
 * may instead end the job itself (ob1 aborts on a fatal BTL error, mpirun
 * on a rank's death), with its own message.  Never exits 0.
 */
#include <mpi.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <vector>

#include <unistd.h>

namespace {

int g_rank = 0, g_size = 0;

void fail_call(const char *what, int rc)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    printf("rank %d: %s failed: %s\n", g_rank, what, msg);
    fflush(stdout);
    _exit(3);
}

#define CALL(x)                                                                                                 \
    do {                                                                                                        \
        const int rc_ = (x);                                                                                    \
        if (MPI_SUCCESS != rc_)                                                                                 \
            fail_call(#x, rc_);                                                                                 \
    } while (0)

double seconds_since(std::chrono::steady_clock::time_point t0)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/* Rank 0 receives from `last` forever; `last` sends and dies after 2 s. */
void peer_death()
{
    const int last = g_size - 1;
    std::vector<char> buf(8u << 20, 1);
    const auto t0 = std::chrono::steady_clock::now();
    for (unsigned long i = 0;; i++) {
        const int n = (i % 2) ? int(buf.size()) : (1 << 20);
        if (g_rank == 0) {
            CALL(MPI_Recv(buf.data(), n, MPI_BYTE, last, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
        } else if (g_rank == last) {
            MPI_Request r;
            CALL(MPI_Isend(buf.data(), n, MPI_BYTE, 0, 1, MPI_COMM_WORLD, &r));
            if (seconds_since(t0) > 2.0) {
                int done = 0;
                CALL(MPI_Test(&r, &done, MPI_STATUS_IGNORE)); /* started, not finished: mid-transfer */
                printf("rank %d: killing myself with message %lu (%d bytes) in flight\n", g_rank, i, n);
                fflush(stdout);
                raise(SIGKILL);
            }
            CALL(MPI_Wait(&r, MPI_STATUS_IGNORE));
        } else {
            return; /* other ranks wait in MPI_Finalize */
        }
    }
}

/* Ping-pong of every size class until a call fails. */
void backend_gone()
{
    const int last = g_size - 1;
    if (g_rank != 0 && g_rank != last)
        return;
    const int peer = g_rank == 0 ? last : 0;
    const int sizes[] = {0, 8, 4096, 65536, 1 << 20, 8 << 20};
    std::vector<char> out(8u << 20, 2), in(8u << 20);
    for (unsigned long round = 0;; round++) {
        for (int n : sizes) {
            if (g_rank == 0) {
                CALL(MPI_Send(out.data(), n, MPI_BYTE, peer, 2, MPI_COMM_WORLD));
                CALL(MPI_Recv(in.data(), n, MPI_BYTE, peer, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
            } else {
                CALL(MPI_Recv(in.data(), n, MPI_BYTE, peer, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
                CALL(MPI_Send(out.data(), n, MPI_BYTE, peer, 2, MPI_COMM_WORLD));
            }
        }
        if (round == 0 && g_rank == 0) {
            printf("running\n");
            fflush(stdout);
        }
    }
}

} // namespace

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (argc != 2 || g_size < 2) {
        if (g_rank == 0)
            printf("usage: vmshm_fault_test peer-death|backend-gone (2 ranks or more)\n");
        MPI_Finalize();
        return 2;
    }
    if (0 == strcmp(argv[1], "peer-death"))
        peer_death();
    else if (0 == strcmp(argv[1], "backend-gone"))
        backend_gone();
    else if (g_rank == 0)
        printf("usage: vmshm_fault_test peer-death|backend-gone\n");
    MPI_Finalize();
    return 2; /* a fault test that ends normally has failed */
}
