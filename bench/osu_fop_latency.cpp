// ompi-virt bench: osu_fop_latency — OSU-compatible "OSU MPI_Fetch_and_op latency Test"
// (MPI_Fetch_and_op, MPI_LONG_LONG, MPI_SUM; one 8-byte row).
#include "osu_onesided.hpp"

namespace {
struct FopOps {
    long long s = 0, t = 0;
    std::size_t win_bytes(std::size_t, int) const { return sizeof(long long); }
    void setup(std::size_t, int) {}
    void issue(MPI_Win win, int peer, MPI_Aint disp, std::size_t, int) {
        OVB_CHECK(MPI_Fetch_and_op(&s, &t, MPI_LONG_LONG, peer, disp, MPI_SUM, win));
    }
    void prepare(int rank, int, std::size_t, int, ovb::Window &w) {
        s = 5 + rank;
        t = 0;
        *reinterpret_cast<long long *>(w.base) = 1000 + rank;
    }
    bool check(int rank, int peer, std::size_t, int, ovb::Window &w, bool origin, bool target) {
        bool ok = true;
        if (origin) ok = ok && t == 1000 + peer;
        if (target) ok = ok && *reinterpret_cast<long long *>(w.base) == 1000 + rank + 5 + peer;
        return ok;
    }
};
}  // namespace

int main(int argc, char **argv) {
    ovb::Spec spec{"osu_fop_latency", "OSU MPI_Fetch_and_op latency Test", ovb::Kind::OneSidedLat,
                   {ovb::Sync::Lock, ovb::Sync::Flush, ovb::Sync::FlushLocal, ovb::Sync::LockAll, ovb::Sync::Pscw,
                    ovb::Sync::Fence},
                   ovb::Sync::Flush, ovb::WinType::Allocate, true, 8, "MPI_LONG_LONG"};
    return ovb::run_one_sided<FopOps>(spec, ovb::Pattern::Latency, argc, argv);
}
