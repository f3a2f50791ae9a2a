/*
 * osc_virt.h — contract of the osc "virt" component (MPI one-sided between
 * co-located guests through the host backend; everything else through a
 * fallback osc component).
 *
 * Lifecycle (driven by Open MPI's osc framework):
 *
 *   register  ompi_osc_virt_register(): registers the MCA parameters below.
 *             Never fails except on out-of-memory.
 *   open      opens the verbose output stream and the help-file directory.
 *   init      ompi_osc_virt_init(progress_threads, mpi_threads): remembers the
 *             thread levels for the fallback; does not load anything yet, so a
 *             job that never creates a window pays nothing.
 *   query     per window: returns osc_virt_priority when every target of the
 *             window can be served (today: by the fallback), a negative value
 *             otherwise (a fallback that cannot be loaded: the reason is shown
 *             once through opal_show_help).  MPI_Win_allocate_shared is
 *             decided collectively in select: the guest region, else
 *             osc_virt_shared_fallback, else MPI_ERR_RMA_SHARED on every rank.
 *   select    per window: creates the module; on any failure everything made
 *             so far is undone and an OMPI_ERR_* code returned — the window
 *             does not exist.
 *   (window operations: see osc_virt_module_impl.h and the
 *             osc_virt_module*.cc files it names; each returns what the serving
 *             path returned, so error classes (MPI_ERR_RMA_SYNC, _RANGE, ...)
 *             reach the window's error handler unchanged)
 *   free      per window: frees the fallback window first, then the module.
 *   finalize  unloads the fallback component if this component loaded it.
 *
 * Paths.  Each target rank of a window is served by exactly one path:
 *   - "backend": a target whose window memory is a window of our host
 *     backend: in a guest region (allocate, allocate_shared) or, for
 *     MPI_Win_create in container mode, the target's own memory registered
 *     with it (osc_virt_bwin.h says exactly which, and which locks and
 *     accumulates the backend keeps);
 *   - "direct": a backend-served target whose memory is mapped here (our
 *     guest's region; for create windows only our own memory), reached by
 *     load/store (put and get);
 *   - "fallback": another osc component driven on a shadow window
 *     (osc_virt_fallback.h): every other target, and accumulates on types the
 *     backend does not compute (pair types).
 *
 * MCA parameters (ompi_info --param osc virt --level 9):
 *   osc_virt_priority  (int, default 5)   selection priority; below osc rdma
 *                      and osc sm so that installing the component changes
 *                      nothing until a user asks for it (--mca osc virt).
 *   osc_virt_verbose   (int, default 0)   >= 10: window creation and path
 *                      decisions, per-window path counts at MPI_Win_free;
 *                      >= 20: one line per operation naming its path.
 *   osc_virt_fallback  (string, default "pt2pt") osc component serving the
 *                      targets the backend does not serve.  Loaded by virt
 *                      itself, so it works even when excluded by the osc
 *                      selection (Debian's default "osc = ^ucx,pt2pt").
 *   osc_virt_shared_fallback (string, default "sm") osc component serving
 *                      an MPI_Win_allocate_shared window that no backend can
 *                      (some rank reaches no backend, or the ranks map
 *                      different regions) when Open MPI sees every rank of
 *                      it on this node; loaded like osc_virt_fallback; ""
 *                      turns it off (the window fails with
 *                      MPI_ERR_RMA_SHARED).
 *   osc_virt_backend_uri (string, default "") backend to use; empty:
 *                      $OMPI_VIRT_URI, else unix:$OMPI_VIRT_DIR/backend.sock,
 *                      OMPI_VIRT_DIR defaulting to /run/ompi-virt.
 *   osc_virt_guest_mode (string, default "auto") container: the backend
 *                      copies origin buffers by address (single copy; needs a
 *                      backend that offers it); vm: every byte is staged
 *                      through the region (what a VM guest can do); auto:
 *                      container when offered, else vm.
 *   osc_virt_single_copy_min (int, default 16 MiB) put/get operations
 *                      smaller than this are staged even in container mode:
 *                      two pipelined memcpys measured faster than the
 *                      backend's process_vm_readv/writev at every size below
 *                      (docs/osc-virt.md); single copy leaves the origin CPU
 *                      free for the largest ones.
 *   osc_virt_stream_min (int, default 1 MiB; 0: never) put and get pieces
 *                      of at least this many bytes are delivered to their
 *                      destination (the target window, or the get's origin
 *                      buffer) with non-temporal stores: the staged path
 *                      copies every byte twice, and the delivering copy then
 *                      stops reading each destination line from memory
 *                      first (ov_stream_copy.h; docs/osc-virt.md).
 *   osc_virt_staging_kb (int, default 8192) staging area per process.
 *   osc_virt_timeout_ms (int, default 10000) how long a silent backend is
 *                      waited for before the operation fails.
 *   osc_virt_quiet     (int, default 1) small puts and accumulates (inline,
 *                      not request-based) ask the backend for no completion
 *                      unless they fail (OV_REQ_QUIET): many before one flush
 *                      cost no completion each; a flush waits for the
 *                      completion of a later request (a NOP if none).  0: a
 *                      completion per request, as before.
 *   osc_virt_batch     (int, default 1) small puts and gets (inline, not
 *                      request-based) to MPI_Win_allocate windows in another
 *                      guest are gathered, up to osc_virt_batch_entries, into
 *                      one OV_REQ_BATCH request, sent when the next request
 *                      of any other kind, a synchronization or a progress
 *                      pass comes (osc_virt_batch.h).  0: one request each.
 *   osc_virt_batch_entries (int, default 64, 1..128) a batch to an
 *                      MPI_Win_allocate window is sent as soon as it holds
 *                      this many operations, so in a long burst the
 *                      backend runs it while the origin issues the next
 *                      ones.  Each batch costs the origin two fences and a
 *                      ring slot: at OSU's window of 64, 32 was slower
 *                      than 64 (docs/osc-virt.md).  A batch to an
 *                      MPI_Win_create window holds 128: each costs the
 *                      backend two system calls.
 *   osc_virt_yield     (int, default -1) -1: yield the CPU while waiting
 *                      (in our waits and in opal_progress) when the ranks
 *                      sharing this backend plus the backend's thread
 *                      outnumber the cores, as mpirun does when
 *                      oversubscribed; 0: never; 1: always.
 *   osc_virt_idle_nap_us (int, default -1) when waits yield: a rank that
 *                      has spun in MPI with no request of ours for 1 ms
 *                      sleeps up to this long on every idle opal_progress
 *                      pass instead of polling, so it leaves its core to
 *                      the backend and the rank streaming to it
 *                      (osc_virt_idle.h says why yielding does not); the
 *                      sleep ends when an event descriptor (tcp) is ready
 *                      (osc_virt_wake.h).  -1: where every transport of
 *                      the rank raises events 50 us, doubling while
 *                      nothing happens up to 10 ms, else off; N > 0: N us
 *                      every time; 0: never.
 */
#ifndef OMPI_OSC_VIRT_H
#define OMPI_OSC_VIRT_H

#include "ompi_cxx_compat.h"

#include "ompi/mca/osc/osc.h"

#include <atomic>
#include <cstdint>

#include <vector>

namespace ov::osc {
class FallbackWindow;
class BackendWindow;
}

extern "C" {

/** The component: exported as mca_osc_virt_component (only exported symbol). */
struct ompi_osc_virt_component_t {
    ompi_osc_base_component_t super;

    /* MCA parameters; written by register, read afterwards. */
    int priority;
    int verbose;
    char *fallback_name;
    char *shared_fallback_name; /* "" : shared windows without a backend fail */
    char *backend_uri;    /* "" : $OMPI_VIRT_URI, else unix:$OMPI_VIRT_DIR/backend.sock */
    char *guest_mode;     /* auto | container | vm */
    int single_copy_min;  /* bytes: smaller pieces are staged even in container mode */
    int stream_min;       /* bytes: staged pieces this large are delivered with streaming stores */
    int staging_kb;       /* per-process staging area in the region */
    int timeout_ms;       /* bound on every wait for the backend */
    int yield;            /* -1 auto, 0 never, 1 always: yield the CPU while waiting */
    int idle_nap_us;      /* when yielding: sleep up to this long per idle progress pass (-1: auto, 0: never) */
    int quiet;            /* 1: small puts/accumulates ask for no completion (OV_REQ_QUIET) */
    int batch;            /* 1: small puts/gets to allocate windows go in OV_REQ_BATCH requests */
    int batch_entries;    /* a batch is sent this full (1..OV_BATCH_ENTRIES_MAX) */

    /** opal_output stream for tracing, opened at open with `verbose`. */
    int output;
    /** Thread levels given to init, handed to the fallback when it is loaded. */
    bool enable_progress_threads;
    bool enable_mpi_threads;
};

extern ompi_osc_virt_component_t mca_osc_virt_component;

} /* extern "C" */

/** Which path served an operation: index into the per-window counters. */
enum class ov_osc_path : int { fallback = 0, backend, direct, count };

/** What an origin knows of each target's window, for the range check
 *  (osc_virt_range.h).  Exchanged once at window creation. */
struct ompi_osc_virt_target_t {
    uint64_t size;      /* bytes exposed */
    int64_t disp_unit;  /* bytes per displacement unit */
};

/** Per-window module.  `super` must stay first: Open MPI casts win->w_osc_module. */
struct ompi_osc_virt_module_t {
    ompi_osc_base_module_t super;
    /** The fallback window serving targets off the backend.  Null only for a
     *  window the backend serves entirely under MPI_THREAD_MULTIPLE (pt2pt
     *  refuses that level); then what would need it fails with
     *  MPI_ERR_UNSUPPORTED_OPERATION (pair-type accumulates).  For a shared
     *  window no backend serves, the osc_virt_shared_fallback component's
     *  window, serving every target (backend is then null). */
    ov::osc::FallbackWindow *fallback;
    /** The backend path (null for dynamic windows, and for create windows
     *  when no rank could register its memory: vm guest mode, no backend, or
     *  a backend without user windows). */
    ov::osc::BackendWindow *backend;
    /** Per target, for windows with a backend path: the fallback has ops in
     *  flight to it (so a flush must reach the fallback too), and a passive
     *  epoch the fallback opened on it has been confirmed (flushed once) so
     *  backend requests may touch its memory. */
    std::vector<bool> fallback_dirty, fallback_confirmed;
    /** Per-target window extents, indexed by rank in the window's group;
     *  null for dynamic windows (attached regions are checked by the path). */
    ompi_osc_virt_target_t *targets;
    int ntargets;
    /** Operations issued per path, for the verbose summary at free. */
    std::atomic<uint64_t> ops_by_path[static_cast<int>(ov_osc_path::count)];
};

/** Exchanges (size, disp_unit) over `comm` into module->targets.  Collective;
 *  returns an OMPI_ERR_* code on failure (module->targets stays null). */
int ompi_osc_virt_module_exchange_extents(ompi_osc_virt_module_t *module,
                                          struct ompi_communicator_t *comm, size_t size,
                                          int disp_unit);

/** Makes MPI_Win_get_info return the window hints MPI defines (no_locks,
 *  accumulate_ordering, accumulate_ops, same_size, same_disp_unit,
 *  alloc_shared_noncontig): the value given at creation or by
 *  MPI_Win_set_info, else MPI's default.  Open MPI keeps only the keys some
 *  component subscribed to, and pt2pt subscribes to none.  Called once the
 *  window is ours (osc_virt_module.cc). */
void ompi_osc_virt_module_keep_info(ompi_win_t *win);

/** Fills `module->super` with the forwarding table (osc_virt_module.cc). */
void ompi_osc_virt_module_init_ops(ompi_osc_virt_module_t *module);

/** Name of a path for traces. */
const char *ompi_osc_virt_path_name(ov_osc_path path);

/** Trace at `level` (see osc_virt_verbose); cheap when disabled. */
#define OSC_VIRT_VERBOSE(level, ...)                                                  \
    do {                                                                              \
        if (mca_osc_virt_component.verbose >= (level)) {                              \
            opal_output(mca_osc_virt_component.output, "osc virt: " __VA_ARGS__);     \
        }                                                                             \
    } while (0)

#endif /* OMPI_OSC_VIRT_H */
