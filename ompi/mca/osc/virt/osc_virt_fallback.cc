/*
 * osc_virt_fallback.cc — loading a fallback osc component and driving it on
 * a shadow window.  Contract: osc_virt_fallback.h.
 */
#include "osc_virt_fallback.h"

#include "osc_virt.h"

#include "ompi/communicator/communicator.h"
#include "ompi/mca/osc/base/base.h"
#include "opal/mca/base/base.h"
#include "opal/mca/base/mca_base_component_repository.h"
#include "opal/util/output.h"
#include "opal/util/show_help.h"

#include <dlfcn.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

namespace ov::osc {

namespace {

std::mutex g_components_lock;
/* Components acquired so far; owned here, released by release_all(). */
std::vector<FallbackComponent *> g_components;

const ompi_osc_base_component_t *find_opened_by_framework(const char *name)
{
    mca_base_component_list_item_t *cli;
    OPAL_LIST_FOREACH (cli, &ompi_osc_base_framework.framework_components,
                       mca_base_component_list_item_t) {
        if (0 == strcmp(cli->cli_component->mca_component_name, name)) {
            return reinterpret_cast<const ompi_osc_base_component_t *>(cli->cli_component);
        }
    }
    return nullptr;
}

/* Path of the DSO for osc component `name` in Open MPI's component
 * repository (which indexes every file on mca_base_component_path, whatever
 * the osc selection variable includes or excludes). */
std::string find_in_repository(const char *name)
{
    opal_list_t *items = nullptr;
    if (OPAL_SUCCESS !=
            mca_base_component_repository_get_components(&ompi_osc_base_framework, &items) ||
        nullptr == items) {
        return {};
    }
    mca_base_component_repository_item_t *ri;
    OPAL_LIST_FOREACH (ri, items, mca_base_component_repository_item_t) {
        if (0 == strcmp(ri->ri_name, name) && nullptr != ri->ri_path) {
            return ri->ri_path;
        }
    }
    return {};
}

bool mca_version_matches(const mca_base_component_t *c, const char *name)
{
    return MCA_BASE_VERSION_MAJOR == c->mca_major_version &&
           MCA_BASE_VERSION_MINOR == c->mca_minor_version &&
           0 == strcmp(c->mca_type_name, "osc") && 0 == strcmp(c->mca_component_name, name);
}

} // namespace

int FallbackComponent::acquire(const char *name, FallbackComponent **out)
{
    std::lock_guard<std::mutex> guard(g_components_lock);
    for (FallbackComponent *fc : g_components) {
        if (0 == strcmp(fc->name(), name)) {
            *out = fc;
            return OMPI_SUCCESS;
        }
    }
    if (0 == strcmp(name, "virt")) {
        /* delegating to ourselves would recurse forever */
        opal_show_help("help-osc-virt.txt", "fallback is virt", true);
        return OMPI_ERR_NOT_SUPPORTED;
    }

    std::unique_ptr<FallbackComponent> fc(new (std::nothrow) FallbackComponent());
    if (!fc) {
        return OMPI_ERR_OUT_OF_RESOURCE;
    }

    if (const ompi_osc_base_component_t *opened = find_opened_by_framework(name)) {
        /* The framework opened and initialized it; it also finalizes it. */
        fc->component_ = opened;
        OSC_VIRT_VERBOSE(10, "fallback '%s': using the instance the osc framework opened", name);
    } else {
        std::string path = find_in_repository(name);
        if (path.empty()) {
            opal_show_help("help-osc-virt.txt", "fallback not found", true, name, name);
            return OMPI_ERR_NOT_FOUND;
        }
        /* The repository stores the path without the DSO suffix (opal_dl adds it). */
        void *handle = dlopen((path + ".so").c_str(), RTLD_NOW | RTLD_LOCAL);
        if (nullptr == handle) {
            handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        }
        if (nullptr == handle) {
            const char *err = dlerror();
            opal_show_help("help-osc-virt.txt", "fallback load failed", true, name, path.c_str(),
                           err ? err : "unknown dlopen error");
            return OMPI_ERR_NOT_FOUND;
        }
        std::string symbol = std::string("mca_osc_") + name + "_component";
        auto *component =
            static_cast<const ompi_osc_base_component_t *>(dlsym(handle, symbol.c_str()));
        if (nullptr == component || !mca_version_matches(&component->osc_version, name)) {
            opal_show_help("help-osc-virt.txt", "fallback load failed", true, name, path.c_str(),
                           component ? "MCA version or component name mismatch"
                                     : "component structure not found");
            dlclose(handle);
            return OMPI_ERR_NOT_SUPPORTED;
        }
        fc->component_ = component;
        fc->dl_handle_ = handle;

        /* Same sequence the framework runs: register, open, init. */
        int ret = OMPI_SUCCESS;
        const mca_base_component_t *v = &component->osc_version;
        if (nullptr != v->mca_register_component_params) {
            ret = v->mca_register_component_params();
        }
        if (OMPI_SUCCESS == ret && nullptr != v->mca_open_component) {
            ret = v->mca_open_component();
        }
        if (OMPI_SUCCESS == ret) {
            ret = component->osc_init(mca_osc_virt_component.enable_progress_threads,
                                      mca_osc_virt_component.enable_mpi_threads);
            if (OMPI_SUCCESS != ret && nullptr != v->mca_close_component) {
                v->mca_close_component();
            }
        }
        if (OMPI_SUCCESS != ret) {
            opal_show_help("help-osc-virt.txt", "fallback load failed", true, name, path.c_str(),
                           "its register/open/init step failed");
            dlclose(handle);
            return ret;
        }
        OSC_VIRT_VERBOSE(10, "fallback '%s': loaded from %s", name, path.c_str());
    }

    try {
        g_components.push_back(fc.get());
    } catch (const std::bad_alloc &) {
        fc->unload();
        return OMPI_ERR_OUT_OF_RESOURCE;
    }
    *out = fc.release();
    return OMPI_SUCCESS;
}

void FallbackComponent::unload()
{
    if (nullptr == dl_handle_) {
        return; /* the framework's instance: the framework finalizes it */
    }
    const mca_base_component_t *v = &component_->osc_version;
    component_->osc_finalize();
    if (nullptr != v->mca_close_component) {
        v->mca_close_component();
    }
    /* Its MCA variables may keep storage inside the DSO (string values):
     * deregister them before it goes, as Open MPI's own unload does, or the
     * framework's close at MPI_Finalize touches unmapped memory. */
    const int group = mca_base_var_group_find(v->mca_project_name, v->mca_type_name,
                                              v->mca_component_name);
    if (group >= 0) {
        (void) mca_base_var_group_deregister(group);
    }
    dlclose(dl_handle_);
    dl_handle_ = nullptr;
}

void FallbackComponent::release_all()
{
    std::lock_guard<std::mutex> guard(g_components_lock);
    /* reverse order of loading */
    for (auto it = g_components.rbegin(); it != g_components.rend(); ++it) {
        (*it)->unload();
        delete *it;
    }
    g_components.clear();
}

int FallbackWindow::create(FallbackComponent *component, ompi_win_t *user_win, void **base,
                           size_t size, int disp_unit, ompi_communicator_t *comm,
                           opal_info_t *info, int flavor, int *model, FallbackWindow **out)
{
    std::unique_ptr<FallbackWindow> fw(new (std::nothrow) FallbackWindow());
    if (!fw) {
        return OMPI_ERR_OUT_OF_RESOURCE;
    }
    fw->component_ = component;

    /* The shadow: what the fallback may read of a window, copied from the
     * user's window.  The constructor gave it the fatal error handler; the
     * fallback never invokes handlers (errors come back as return codes and
     * the MPI layer raises them on the user's window). */
    ompi_win_t *shadow = OBJ_NEW(ompi_win_t);
    if (nullptr == shadow) {
        return OMPI_ERR_OUT_OF_RESOURCE;
    }
    /* The infosubscriber constructor leaves s_info uninitialized (alloc_window
     * in ompi/win/win.c always sets it); the destructor releases it when
     * non-null.  Info queries go to the user's window, so the shadow has none. */
    shadow->super.s_info = nullptr;
    shadow->w_group = user_win->w_group;
    OBJ_RETAIN(shadow->w_group);
    shadow->w_flavor = flavor; /* may differ: allocate windows whose memory we provide */
    shadow->w_flags = user_win->w_flags;
    shadow->w_acc_ops = user_win->w_acc_ops;
    shadow->w_acc_order = user_win->w_acc_order;
    fw->shadow_ = shadow;

    int ret = component->component()->osc_select(shadow, base, size, disp_unit, comm, info,
                                                 flavor, model);
    if (OMPI_SUCCESS != ret) {
        /* select cleans up its own module on failure */
        shadow->w_osc_module = nullptr;
        OBJ_RELEASE(shadow);
        return ret;
    }
    /* Flags the fallback sets (e.g. OMPI_WIN_NO_LOCKS from the no_locks info
     * key) are a property of the user's window too. */
    user_win->w_flags |= shadow->w_flags;
    *out = fw.release();
    return OMPI_SUCCESS;
}

int FallbackWindow::destroy()
{
    int ret = OMPI_SUCCESS;
    if (nullptr != shadow_->w_osc_module) {
        ret = shadow_->w_osc_module->osc_free(shadow_);
    }
    shadow_->w_osc_module = nullptr;
    OBJ_RELEASE(shadow_);
    delete this;
    return ret;
}

} // namespace ov::osc
