// ompi-virt bench: osu_latency — OSU-compatible "OSU MPI Latency Test" (see bench/README.md).
#include "osu_twosided.hpp"

int main(int argc, char **argv) {
    ovb::Spec spec{"osu_latency", "OSU MPI Latency Test", ovb::Kind::TwoSidedLat, {}};
    return ovb::run_two_sided(spec, ovb::TwoSided::Latency, argc, argv);
}
