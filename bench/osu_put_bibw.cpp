// ompi-virt bench: osu_put_bibw — OSU-compatible "OSU MPI_Put Bi-directional Bandwidth Test" (see bench/README.md).
#include "osu_onesided.hpp"

int main(int argc, char **argv) {
    ovb::Spec spec{"osu_put_bibw", "OSU MPI_Put Bi-directional Bandwidth Test", ovb::Kind::OneSidedBw, {ovb::Sync::Pscw, ovb::Sync::Fence}, ovb::Sync::Pscw, ovb::WinType::Allocate};
    return ovb::run_one_sided<ovb::PutOps>(spec, ovb::Pattern::BiBandwidth, argc, argv);
}
