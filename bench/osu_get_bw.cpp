// ompi-virt bench: osu_get_bw — OSU-compatible "OSU MPI_Get Bandwidth Test" (see bench/README.md).
#include "osu_onesided.hpp"

int main(int argc, char **argv) {
    ovb::Spec spec{"osu_get_bw", "OSU MPI_Get Bandwidth Test", ovb::Kind::OneSidedBw, {ovb::Sync::Lock, ovb::Sync::Flush, ovb::Sync::FlushLocal, ovb::Sync::LockAll, ovb::Sync::Pscw, ovb::Sync::Fence}, ovb::Sync::Flush, ovb::WinType::Allocate};
    return ovb::run_one_sided<ovb::GetOps>(spec, ovb::Pattern::Bandwidth, argc, argv);
}
