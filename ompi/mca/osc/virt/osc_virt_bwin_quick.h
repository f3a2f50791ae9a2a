/*
 * osc_virt_bwin_quick.h — the quick path of put and get (contract:
 * BackendWindow::quick_copy in osc_virt_bwin.h), inline: included only by
 * osc_virt_module_comm.cc, whose virt_put and virt_get call it.
 *
 * Why it exists: an 8-byte put + flush is a round trip to the backend's
 * core, and every instruction the origin runs between the flush seeing the
 * last completion and the next descriptor's stamp is on that round trip.
 * The general path (check_access, route_copy, copy, issue_check, one_run)
 * took ~200 more instructions per 8-byte MPI_Put (callgrind: 719 -> 515)
 * to decide what this file decides in a few loads: one contiguous run on
 * both sides, small enough to ride inline, to a target whose lock the
 * backend holds and which is not in our guest.
 * Anything else is kNotQuick, and the general path, which raises every
 * error, takes the call unchanged.
 *
 * Why inline: a burst of small puts before one flush (osu_put_bw, IMB's
 * aggregate mode) costs the origin these instructions per operation; as
 * calls across files, with BackendLink::batch_add, the prologues and
 * argument passing were about a fifth of them (docs/osc-virt.md).
 */
#ifndef OMPI_OSC_VIRT_BWIN_QUICK_H
#define OMPI_OSC_VIRT_BWIN_QUICK_H

#include "osc_virt_bwin.h"
#include "osc_virt_range.h"

#include "ompi/datatype/ompi_datatype.h"

namespace ov::osc {

inline int BackendWindow::quick_copy(bool to_target, void *o, int count, ompi_datatype_t *dt, int t,
                              ptrdiff_t disp)
{
    std::unique_lock<LinkMutex> guard = hold();
    /* A passive epoch whose lock the backend holds: no PSCW post to wait
     * for, no fallback lock to confirm (locks_here: the fallback never
     * holds t's lock). */
    if (t < 0 || t >= n_ || count <= 0 || !locks_here(t) || (0 == lock_type_[t] && !lock_all_)) {
        return kNotQuick;
    }
    const Peer &p = peers_[t];
    const opal_datatype_t &type = dt->super;
    if (p.same_guest || 0 != type.true_lb || type.size > OV_INLINE_ORIGIN_MAX ||
        !opal_datatype_is_contiguous_memory_layout(&type, count)) {
        return kNotQuick;
    }
    const uint64_t n = type.size * static_cast<uint64_t>(count);
    /* One run of n bytes from byte disp * disp_unit: a range error is the
     * general path's to report (with its message). */
    if (!link_->inline_fits(to_target ? n : 0, to_target ? 0 : n) || n > link_->chunk() ||
        link_->single_copy_for(n) || !access_in_window(p.size, p.disp_unit, disp, 1, 0, 0, n)) {
        return kNotQuick;
    }
    const uint64_t toff = static_cast<uint64_t>(disp * p.disp_unit);
    if (batches()) {
        /* What issue_copy_piece would do, without building the descriptor
         * and completion record a batch entry does not use (81 of the 430
         * instructions of an 8-byte MPI_Put; docs/osc-virt.md). */
        return link_->batch_add(tracker_, t, p.win_id, p.win_epoch, to_target, static_cast<char *>(o),
                                p.part_off + toff, static_cast<uint32_t>(n), user_memory_);
    }
    return issue_copy_piece(to_target, t, static_cast<char *>(o), toff, n, false, nullptr);
}

} // namespace ov::osc

#endif /* OMPI_OSC_VIRT_BWIN_QUICK_H */
