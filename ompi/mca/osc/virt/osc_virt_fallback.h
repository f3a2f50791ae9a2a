/*
 * osc_virt_fallback.h — the one seam through which osc virt delegates the
 * targets it does not serve itself to another osc component.
 *
 * Why a seam: Open MPI 4.1's pt2pt is the only component that works over any
 * PML, but Debian disables it by default (`osc = ^ucx,pt2pt`) and Open MPI 5
 * removed it.  Everything pt2pt-specific lives behind FallbackComponent and
 * FallbackWindow, so switching to osc rdma later touches only the .cc file.
 *
 * FallbackComponent — a loaded osc component.
 *   acquire(name) loads it on first use:
 *     - if the osc framework already opened it (the user did not exclude it),
 *       the framework's instance is used and the framework finalizes it;
 *     - otherwise the DSO is found through the MCA component repository
 *       (the same search path Open MPI uses), dlopen'ed, its MCA version and
 *       names checked, and its register/open/init run by us; release_all()
 *       (from our finalize) runs finalize/close and dlclose.
 *   Returns OMPI_SUCCESS, OMPI_ERR_NOT_FOUND (no such component: message via
 *   opal_show_help once), OMPI_ERR_NOT_SUPPORTED (wrong MCA version or name
 *   is "virt"), or the component's own init error.  Thread safe (an internal
 *   mutex): with MPI_THREAD_MULTIPLE two threads may create windows at once.
 *
 * FallbackWindow — the fallback component's module for one window.
 *   The fallback's entry points find their module through win->w_osc_module,
 *   which for the user's window is ours.  So the fallback is given a private
 *   *shadow* ompi_win_t (same group, flavor, flags and accumulate info; never
 *   visible to the user) and every call is forwarded with the shadow.
 *   create(): collective over `comm` exactly like the component's select;
 *   on failure nothing is left behind.  destroy(): the fallback's free, then
 *   the shadow is released.
 */
#ifndef OMPI_OSC_VIRT_FALLBACK_H
#define OMPI_OSC_VIRT_FALLBACK_H

#include "ompi_cxx_compat.h"

#include "ompi/mca/osc/osc.h"
#include "ompi/win/win.h"

namespace ov::osc {

class FallbackComponent {
public:
    /** Load (once) and return the component called `name`. */
    static int acquire(const char *name, FallbackComponent **out);
    /** Finalize/close/unload everything acquire() loaded itself. */
    static void release_all();

    const char *name() const { return component_->osc_version.mca_component_name; }
    const ompi_osc_base_component_t *component() const { return component_; }

private:
    FallbackComponent() = default;
    /** Finalize, close and dlclose what acquire() loaded itself; no-op otherwise. */
    void unload();
    const ompi_osc_base_component_t *component_ = nullptr;
    /* Non-null when we loaded the DSO ourselves, and so also ran its
     * register/open/init and must run finalize/close. */
    void *dl_handle_ = nullptr;
};

class FallbackWindow {
public:
    /** Same arguments as osc_select; `user_win` is the window being created. */
    static int create(FallbackComponent *component, ompi_win_t *user_win, void **base,
                      size_t size, int disp_unit, ompi_communicator_t *comm,
                      opal_info_t *info, int flavor, int *model, FallbackWindow **out);
    /** The fallback's free; deletes this object whatever it returns. */
    int destroy();

    /** The window to pass to ops() entry points. */
    ompi_win_t *shadow() const { return shadow_; }
    /** The fallback module's function table. */
    const ompi_osc_base_module_t *ops() const { return shadow_->w_osc_module; }
    const char *component_name() const { return component_->name(); }

private:
    FallbackWindow() = default;
    FallbackComponent *component_ = nullptr;
    ompi_win_t *shadow_ = nullptr;
};

} // namespace ov::osc

#endif /* OMPI_OSC_VIRT_FALLBACK_H */
