/*
 * rma_hello — the demo's one-sided program: every rank writes a greeting
 * into its right neighbour's window with MPI_Put, adds its rank into a
 * counter on rank 0 with MPI_Accumulate, and rank 0 prints what arrived and
 * checks it.  Exit code 0 iff every check holds.
 */
#include <mpi.h>

#include <cstdio>
#include <cstring>
#include <unistd.h>

#include <vector>

namespace {
constexpr int kMsg = 128;
struct Slot {
    char greeting[kMsg];
    long counter;
};
} // namespace

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0, size = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    Slot *slot = nullptr;
    MPI_Win win;
    MPI_Win_allocate(sizeof(Slot), 1, MPI_INFO_NULL, MPI_COMM_WORLD, &slot, &win);
    MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
    std::memset(slot, 0, sizeof(Slot));

    char host[64] = {0};
    gethostname(host, sizeof(host) - 1);
    char greeting[kMsg];
    std::snprintf(greeting, sizeof(greeting), "hello from rank %d on %s", rank, host);

    const int right = (rank + 1) % size;
    const long mine = rank + 1;
    int rc = MPI_SUCCESS;
    MPI_Win_fence(0, win);
    rc |= MPI_Put(greeting, kMsg, MPI_CHAR, right, offsetof(Slot, greeting), kMsg, MPI_CHAR, win);
    rc |= MPI_Accumulate(&mine, 1, MPI_LONG, 0, offsetof(Slot, counter), 1, MPI_LONG, MPI_SUM, win);
    MPI_Win_fence(0, win);

    /* rank 0 prints every rank's line: output forwarded from several
     * guests would interleave in any order */
    char line[2 * kMsg];
    std::snprintf(line, sizeof(line), "rank %d on %s received: \"%s\"", rank, host, slot->greeting);
    std::vector<char> lines(rank == 0 ? sizeof(line) * size : 0);
    MPI_Gather(line, sizeof(line), MPI_CHAR, lines.data(), sizeof(line), MPI_CHAR, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        for (int r = 0; r < size; ++r) {
            std::printf("%s\n", &lines[static_cast<size_t>(r) * sizeof(line)]);
        }
    }

    const int left = (rank + size - 1) % size;
    char expect_prefix[64];
    std::snprintf(expect_prefix, sizeof(expect_prefix), "hello from rank %d on ", left);
    int ok = (rc == MPI_SUCCESS) && std::strncmp(slot->greeting, expect_prefix, strlen(expect_prefix)) == 0;
    if (rank == 0) {
        const long expect = static_cast<long>(size) * (size + 1) / 2;
        std::printf("rank 0 counter: %ld (expected %ld)\n", slot->counter, expect);
        ok = ok && slot->counter == expect;
    }
    int all_ok = 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);

    char name[MPI_MAX_OBJECT_NAME];
    int len = 0;
    MPI_Win_get_name(win, name, &len);
    if (rank == 0) {
        std::printf("window served by: %s\n%s\n", name, all_ok ? "RESULT: OK" : "RESULT: FAILED");
    }
    MPI_Win_free(&win);
    MPI_Finalize();
    return all_ok ? 0 : 1;
}
