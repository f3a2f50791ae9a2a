// ompi-virt bench: osu_bibw — OSU-compatible "OSU MPI Bi-Directional Bandwidth Test" (see bench/README.md).
#include "osu_twosided.hpp"

int main(int argc, char **argv) {
    ovb::Spec spec{"osu_bibw", "OSU MPI Bi-Directional Bandwidth Test", ovb::Kind::TwoSidedBw, {}};
    return ovb::run_two_sided(spec, ovb::TwoSided::BiBw, argc, argv);
}
