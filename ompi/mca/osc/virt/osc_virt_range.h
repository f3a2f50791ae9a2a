/*
 * osc_virt_range.h — is a one-sided access inside the target's window?
 *
 * MPI-free so the unit tests can drive it.  osc virt checks every access at
 * the origin, before any path sees it, because osc pt2pt does not: an access
 * past the end of a window would otherwise write into whatever follows it in
 * the target's memory.  A failed check is MPI_ERR_RMA_RANGE (MPI-3.1 11.7).
 *
 * Contract of access_in_window():
 *   window_size   bytes the target exposed (MPI_Win_create/allocate `size`)
 *   disp_unit     the target's displacement unit (> 0)
 *   target_disp   displacement in units of disp_unit (may be any value;
 *                 negative is rejected by the MPI layer before we are called)
 *   count         number of target datatype elements (>= 0; 0 is always inside)
 *   extent, true_lb, true_extent   of the target datatype, in bytes
 *                 (extent may be negative for exotic resized types)
 * Returns true iff every byte the access touches, i.e.
 *   [base + true_lb + min(0, (count-1)*extent),
 *    base + true_lb + true_extent + max(0, (count-1)*extent))
 * with base = target_disp * disp_unit, lies in [0, window_size).  Computed in
 * 128-bit arithmetic: no input can overflow it.
 */
#ifndef OMPI_OSC_VIRT_RANGE_H
#define OMPI_OSC_VIRT_RANGE_H

#include <cstdint>

namespace ov::osc {

inline bool access_in_window(uint64_t window_size, int64_t disp_unit, int64_t target_disp,
                             int64_t count, int64_t extent, int64_t true_lb, int64_t true_extent)
{
    if (count <= 0) {
        return count == 0;
    }
    using wide = __int128;
    const wide base = static_cast<wide>(target_disp) * disp_unit;
    const wide span = static_cast<wide>(count - 1) * extent;
    const wide first = base + true_lb + (span < 0 ? span : 0);
    const wide end = base + true_lb + true_extent + (span > 0 ? span : 0);
    return first >= 0 && end <= static_cast<wide>(window_size) && first <= end;
}

} // namespace ov::osc

#endif /* OMPI_OSC_VIRT_RANGE_H */
