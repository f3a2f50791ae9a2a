// ompi-virt bench: osu_get_acc_latency — OSU-compatible "OSU MPI_Get_accumulate latency
// Test" (MPI_Get_accumulate, MPI_CHAR, MPI_SUM; defaults create + lock as in OSU).
#include "osu_onesided.hpp"

namespace {
// Values stay in 0..63 so that the MPI_SUM on (signed) MPI_CHAR never overflows:
// Open MPI 4.1.4's op/avx component adds int8 vectors (>= 16 elements) with
// saturation, so wrapping sums would differ between sizes (see README).
int small(int rank, std::size_t size, std::size_t i) { return ovb::pattern(rank, size, i) & 0x3f; }
// The target's initial data uses "rank + 2" as pattern seed, the origin's operand "rank".
struct GetAccOps {
    ovb::Buffer *sbuf = nullptr, *cbuf = nullptr;
    ~GetAccOps() { delete sbuf; delete cbuf; }
    std::size_t win_bytes(std::size_t size, int) const { return size; }
    void setup(std::size_t size, int) { sbuf = new ovb::Buffer(size); cbuf = new ovb::Buffer(size); }
    void issue(MPI_Win win, int peer, MPI_Aint disp, std::size_t size, int) {
        OVB_CHECK(MPI_Get_accumulate(sbuf->p, int(size), MPI_CHAR, cbuf->p, int(size), MPI_CHAR, peer, disp,
                                     int(size), MPI_CHAR, MPI_SUM, win));
    }
    void prepare(int rank, int, std::size_t size, int, ovb::Window &w) {
        for (std::size_t i = 0; i < size; ++i) {
            sbuf->p[i] = static_cast<char>(small(rank, size, i));
            w.base[i] = static_cast<char>(small(rank + 2, size, i));
        }
        std::memset(cbuf->p, 0, size);
    }
    bool check(int rank, int peer, std::size_t size, int, ovb::Window &w, bool origin, bool target) {
        bool ok = true;
        if (origin)  // fetched the old value
            for (std::size_t i = 0; i < size && ok; ++i) ok = cbuf->p[i] == static_cast<char>(small(peer + 2, size, i));
        if (target)
            for (std::size_t i = 0; i < size && ok; ++i)
                ok = w.base[i] == static_cast<char>(small(rank + 2, size, i) + small(peer, size, i));
        return ok;
    }
};
}  // namespace

int main(int argc, char **argv) {
    ovb::Spec spec{"osu_get_acc_latency", "OSU MPI_Get_accumulate latency Test", ovb::Kind::OneSidedLat,
                   {ovb::Sync::Lock, ovb::Sync::Flush, ovb::Sync::FlushLocal, ovb::Sync::LockAll, ovb::Sync::Pscw,
                    ovb::Sync::Fence},
                   ovb::Sync::Lock, ovb::WinType::Create};
    return ovb::run_one_sided<GetAccOps>(spec, ovb::Pattern::Latency, argc, argv);
}
