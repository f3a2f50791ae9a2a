// ompi-virt bench: osu_cas_latency — OSU-compatible "OSU MPI_Compare_and_swap latency
// Test" (MPI_Compare_and_swap, MPI_LONG_LONG; one 8-byte row).
#include "osu_onesided.hpp"

namespace {
struct CasOps {
    long long s = 0, c = 0, t = 0;
    std::size_t win_bytes(std::size_t, int) const { return sizeof(long long); }
    void setup(std::size_t, int) {}
    void issue(MPI_Win win, int peer, MPI_Aint disp, std::size_t, int) {
        OVB_CHECK(MPI_Compare_and_swap(&s, &c, &t, MPI_LONG_LONG, peer, disp, win));
    }
    void prepare(int rank, int peer, std::size_t, int, ovb::Window &w) {
        s = 42 + rank;
        c = 1000 + peer;  // what the peer's window holds: the swap must happen
        t = 0;
        *reinterpret_cast<long long *>(w.base) = 1000 + rank;
    }
    bool check(int, int peer, std::size_t, int, ovb::Window &w, bool origin, bool target) {
        bool ok = true;
        if (origin) ok = ok && t == 1000 + peer;
        if (target) ok = ok && *reinterpret_cast<long long *>(w.base) == 42 + peer;
        return ok;
    }
};
}  // namespace

int main(int argc, char **argv) {
    ovb::Spec spec{"osu_cas_latency", "OSU MPI_Compare_and_swap latency Test", ovb::Kind::OneSidedLat,
                   {ovb::Sync::Lock, ovb::Sync::Flush, ovb::Sync::FlushLocal, ovb::Sync::LockAll, ovb::Sync::Pscw,
                    ovb::Sync::Fence},
                   ovb::Sync::Flush, ovb::WinType::Allocate, true, 8, "MPI_LONG_LONG"};
    return ovb::run_one_sided<CasOps>(spec, ovb::Pattern::Latency, argc, argv);
}
