// ompi-virt bench: osu_get_latency — OSU-compatible "OSU MPI_Get latency Test" (see bench/README.md).
#include "osu_onesided.hpp"

int main(int argc, char **argv) {
    ovb::Spec spec{"osu_get_latency", "OSU MPI_Get latency Test", ovb::Kind::OneSidedLat, {ovb::Sync::Lock, ovb::Sync::Flush, ovb::Sync::FlushLocal, ovb::Sync::LockAll, ovb::Sync::Pscw, ovb::Sync::Fence}, ovb::Sync::Flush, ovb::WinType::Allocate};
    return ovb::run_one_sided<ovb::GetOps>(spec, ovb::Pattern::Latency, argc, argv);
}
