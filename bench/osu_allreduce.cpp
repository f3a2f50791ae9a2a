// ompi-virt bench: osu_allreduce — OSU-compatible "OSU MPI Allreduce Latency Test" (see bench/README.md).
#include "osu_collective.hpp"

int main(int argc, char **argv) {
    ovb::Spec spec{"osu_allreduce", "OSU MPI Allreduce Latency Test", ovb::Kind::CollectiveLat, {}};
    spec.datatype = "MPI_FLOAT";
    return ovb::run_collective(spec, ovb::Collective::Allreduce, argc, argv);
}
