// ompi-virt bench: osu_alltoall — OSU-compatible "OSU MPI All-to-All Personalized Exchange Latency Test".
#include "osu_collective.hpp"

int main(int argc, char **argv) {
    ovb::Spec spec{"osu_alltoall", "OSU MPI All-to-All Personalized Exchange Latency Test", ovb::Kind::CollectiveLat,
                   {}};
    return ovb::run_collective(spec, ovb::Collective::Alltoall, argc, argv);
}
