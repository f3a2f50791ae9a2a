// ompi-virt bench: osu_put_latency — OSU-compatible "OSU MPI_Put Latency Test" (see bench/README.md).
#include "osu_onesided.hpp"

int main(int argc, char **argv) {
    ovb::Spec spec{"osu_put_latency", "OSU MPI_Put Latency Test", ovb::Kind::OneSidedLat, {ovb::Sync::Lock, ovb::Sync::Flush, ovb::Sync::FlushLocal, ovb::Sync::LockAll, ovb::Sync::Pscw, ovb::Sync::Fence}, ovb::Sync::Flush, ovb::WinType::Allocate};
    return ovb::run_one_sided<ovb::PutOps>(spec, ovb::Pattern::Latency, argc, argv);
}
