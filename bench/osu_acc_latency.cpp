// ompi-virt bench: osu_acc_latency — OSU-compatible "OSU MPI_Accumulate latency Test"
// (MPI_Accumulate, MPI_CHAR, MPI_SUM; see bench/README.md).
#include "osu_onesided.hpp"

namespace {
struct AccOps {
    ovb::Buffer *sbuf = nullptr;
    ~AccOps() { delete sbuf; }
    std::size_t win_bytes(std::size_t size, int) const { return size; }
    void setup(std::size_t size, int) { sbuf = new ovb::Buffer(size); }
    void issue(MPI_Win win, int peer, MPI_Aint disp, std::size_t size, int) {
        OVB_CHECK(MPI_Accumulate(sbuf->p, int(size), MPI_CHAR, peer, disp, int(size), MPI_CHAR, MPI_SUM, win));
    }
    void prepare(int rank, int, std::size_t size, int, ovb::Window &w) {
        ovb::fill_pattern(sbuf->p, size, rank, size);
        std::memset(w.base, 0, size);
    }
    // One accumulate onto zeros leaves exactly the origin's pattern.
    bool check(int, int peer, std::size_t size, int, ovb::Window &w, bool, bool target) {
        return !target || ovb::check_pattern(w.base, size, peer, size);
    }
};
}  // namespace

int main(int argc, char **argv) {
    ovb::Spec spec{"osu_acc_latency", "OSU MPI_Accumulate latency Test", ovb::Kind::OneSidedLat,
                   {ovb::Sync::Lock, ovb::Sync::Flush, ovb::Sync::FlushLocal, ovb::Sync::LockAll, ovb::Sync::Pscw,
                    ovb::Sync::Fence},
                   ovb::Sync::Flush, ovb::WinType::Allocate};
    return ovb::run_one_sided<AccOps>(spec, ovb::Pattern::Latency, argc, argv);
}
