/*
 * placement.cc — hwloc thread and memory binding.
 */
#include "placement.h"

#include "config.h"
#include "log.h"

#ifdef HAVE_HWLOC
#include <hwloc.h>

static hwloc_topology_t topo;
static hwloc_bitmap_t nodeset;

bool ov_place_init(int cpu)
{
    if (cpu < 0)
        return true;
    if (hwloc_topology_init(&topo) != 0 || hwloc_topology_load(topo) != 0) {
        OV_LOG_ERR("hwloc topology load failed");
        return false;
    }
    hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(topo, unsigned(cpu));
    if (!pu) {
        OV_LOG_ERR("cpu %d not in the hwloc topology", cpu);
        return false;
    }
    if (hwloc_set_cpubind(topo, pu->cpuset, HWLOC_CPUBIND_THREAD) != 0) {
        OV_LOG_ERR("binding the backend thread to cpu %d failed", cpu);
        return false;
    }
    nodeset = hwloc_bitmap_dup(pu->nodeset);
    char buf[64];
    hwloc_bitmap_snprintf(buf, sizeof(buf), nodeset);
    OV_LOG_INFO("bound to cpu %d; regions placed on NUMA nodeset %s", cpu, buf);
    return true;
}

void ov_place_memory(void *addr, size_t len)
{
    if (!nodeset)
        return;
    if (hwloc_set_area_membind(topo, addr, len, nodeset, HWLOC_MEMBIND_BIND,
                               HWLOC_MEMBIND_BYNODESET) != 0)
        OV_LOG_WARN("hwloc memory binding of a region failed (continuing unbound)");
}

void ov_place_fini()
{
    if (nodeset) {
        hwloc_bitmap_free(nodeset);
        nodeset = nullptr;
        hwloc_topology_destroy(topo);
    }
}
#else
bool ov_place_init(int cpu)
{
    if (cpu >= 0)
        OV_LOG_WARN("built without hwloc: --bind-cpu %d ignored", cpu);
    return true;
}
void ov_place_memory(void *, size_t) {}
void ov_place_fini() {}
#endif
