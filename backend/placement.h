/*
 * placement.h — hwloc placement (backend only): bind the backend's thread to
 * a core and region memory to that core's NUMA node.  Without hwloc (or when
 * not requested) these do nothing and say so once in the log.
 */
#ifndef OMPI_VIRT_BACKEND_PLACEMENT_H
#define OMPI_VIRT_BACKEND_PLACEMENT_H

#include <cstddef>

/* cpu < 0: no binding.  Returns false (and logs) if binding failed. */
bool ov_place_init(int cpu);
/* Bind [addr, addr+len) to the NUMA node of the bound cpu (no-op if unbound). */
void ov_place_memory(void *addr, size_t len);
void ov_place_fini();

#endif
