// ompi-virt bench: osu_bw — OSU-compatible "OSU MPI Bandwidth Test" (see bench/README.md).
#include "osu_twosided.hpp"

int main(int argc, char **argv) {
    ovb::Spec spec{"osu_bw", "OSU MPI Bandwidth Test", ovb::Kind::TwoSidedBw, {}};
    return ovb::run_two_sided(spec, ovb::TwoSided::Bw, argc, argv);
}
