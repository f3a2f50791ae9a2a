/*
 * osc_virt_bwin.cc — creating and freeing a window's backend path: memory from
 * the guest region, the locality table, grants (contract: osc_virt_bwin.h).
 */
#include "osc_virt.h"
#include "osc_virt_bwin.h"
#include "osc_virt_dtype.h"

#include "ompi/mca/pml/pml.h"
#include "opal/util/info.h"
#include "opal/util/output.h"
#include "opal/util/show_help.h"
#include "ompi/mca/rte/rte.h"

#include <cstring>
#include <memory>
#include <new>

namespace ov::osc {

namespace {

/** What each rank tells the others at creation (one allgather). */
struct Announce {
    uint64_t instance;   /* backend instance; 0: no backend */
    uint64_t guest_hash; /* which region it maps */
    uint64_t job_key;
    uint64_t size;
    int64_t disp_unit;
    uint64_t region_off; /* of its backend window */
    uint32_t win_id, win_epoch; /* 0: its memory is not in a region */
    uint32_t vpid;       /* rank in the job: what grants name */
    uint32_t flags;      /* kEmpty */
};
/* A create-window rank with 0 bytes: nothing registered, but on a backend
 * that serves user windows (its lock slot goes to an anchor window). */
constexpr uint32_t kEmpty = 1;
static_assert(sizeof(Announce) == 64, "allgathered as 8 uint64");

int allgather(ompi_communicator_t *comm, const Announce &mine, std::vector<Announce> *all)
{
    all->assign(ompi_comm_size(comm), Announce{});
    return comm->c_coll->coll_allgather(&mine, 8, MPI_UINT64_T, all->data(), 8, MPI_UINT64_T,
                                        comm, comm->c_coll->coll_allgather_module);
}

bool info_true(opal_info_t *info, const char *key)
{
    if (nullptr == info) {
        return false;
    }
    int flag = 0;
    bool value = false;
    opal_info_get_bool(info, const_cast<char *>(key), &value, &flag);
    return flag && value;
}

/** Where a create window's memory can be served by the backend: a link that
 *  offers user windows.  In vm guest mode nothing is even connected for it. */
BackendLink *create_link()
{
    if (0 == strcmp(mca_osc_virt_component.guest_mode, "vm")) {
        return nullptr;
    }
    return BackendLink::get();
}

/** MPI_Win_create: registers our memory with the backend (or nothing, for 0
 *  bytes) and fills in what we announce.  A rank that cannot register
 *  announces no backend: its peers reach it through the fallback. */
void register_user_memory(BackendLink *link, void *base, size_t size, ov_win_t *mine,
                          Announce *a)
{
    if (!link->user_windows()) {
        /* still an origin through the backend toward peers that registered */
        return;
    }
    if (0 == size) {
        a->flags |= kEmpty;
        return;
    }
    std::unique_lock<LinkMutex> guard(link->mutex());
    ov_status_t s = ov_fe_win_register(link->fe(), base, size, mine);
    if (OV_OK == s) {
        a->win_id = mine->id;
        a->win_epoch = mine->epoch;
        a->region_off = 0;
    } else {
        OSC_VIRT_VERBOSE(10, "registering %zu bytes at %p with the backend failed (%s): this "
                         "rank's window memory is served by the fallback", size, base,
                         ov_fe_last_error(link->fe()));
        a->instance = 0;
    }
}

/** Says (once per window, from the rank that asked) that the region could
 *  not hold a shared window of `bytes`, and which parameter raises the
 *  limit.  The help text is rendered here and written to our stderr rather
 *  than relayed by opal_show_help: one rank says it, so there is nothing to
 *  aggregate, and Open MPI 4.1.4's relay of an application's help message
 *  to mpirun (PMIx log) intermittently loses it ("ORTE_ERROR_LOG: Data
 *  unpack would read past end of buffer in show_help.c"). */
void region_full_help(BackendLink *link, uint64_t bytes)
{
    char want[32], have[32];
    snprintf(want, sizeof(want), "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
    snprintf(have, sizeof(have), "%.1f MiB",
             static_cast<double>(ov_fe_region_size(link->fe())) / (1 << 20));
    char *text = opal_show_help_string("help-osc-virt.txt", "region full", true,
                                       ompi_process_info.nodename, want, have,
                                       ov_fe_last_error(link->fe()));
    if (nullptr != text) {
        opal_output(0, "%s", text);
        free(text);
    }
}

} // namespace

int BackendWindow::create(ompi_win_t *win, void **base, size_t size, int disp_unit,
                          ompi_communicator_t *comm, opal_info_t *info, int flavor,
                          BackendWindow **out)
{
    std::unique_ptr<BackendWindow> bw(new (std::nothrow) BackendWindow());
    if (!bw) {
        return OMPI_ERR_OUT_OF_RESOURCE;
    }
    bw->win_ = win;
    bw->me_ = ompi_comm_rank(comm);
    bw->n_ = ompi_comm_size(comm);
    bw->shared_ = MPI_WIN_FLAVOR_SHARED == flavor;
    bw->user_memory_ = MPI_WIN_FLAVOR_CREATE == flavor;
    BackendLink *link = (MPI_WIN_FLAVOR_ALLOCATE == flavor || MPI_WIN_FLAVOR_SHARED == flavor)
                            ? BackendLink::get()
                            : (MPI_WIN_FLAVOR_CREATE == flavor ? create_link() : nullptr);
    bw->link_ = link;

    Announce mine{};
    mine.size = size;
    mine.disp_unit = disp_unit;
    mine.vpid = OMPI_PROC_MY_NAME->vpid;
    if (nullptr != link) {
        mine.instance = link->instance();
        mine.guest_hash = link->guest_hash();
        mine.job_key = link->job_key();
    }

    /* Allocate windows: each rank's memory is its own, from its region. */
    if (MPI_WIN_FLAVOR_ALLOCATE == flavor && nullptr != link) {
        std::unique_lock<LinkMutex> guard(link->mutex());
        ov_status_t s = ov_fe_win_create(link->fe(), size ? size : 64, &bw->mine_);
        if (OV_OK == s) {
            mine.win_id = bw->mine_.id;
            mine.win_epoch = bw->mine_.epoch;
            mine.region_off = bw->mine_.offset;
            *base = size ? bw->mine_.base : nullptr;
        } else {
            /* Region full: this rank's memory comes from the heap and its
             * peers reach it through the fallback. */
            OSC_VIRT_VERBOSE(10, "region allocation of %zu bytes failed (%s): this rank's "
                             "window memory is served by the fallback", size,
                             ov_fe_last_error(link->fe()));
            mine.instance = 0;
        }
    }
    if (MPI_WIN_FLAVOR_CREATE == flavor && nullptr != link) {
        register_user_memory(link, *base, size, &bw->mine_, &mine);
    }

    std::vector<Announce> all;
    int ret = allgather(comm, mine, &all);
    if (OMPI_SUCCESS != ret) {
        return ret;
    }

    if (bw->shared_) {
        /* Every rank must map the same region. */
        for (const Announce &a : all) {
            if (0 == a.instance || a.instance != all[0].instance ||
                a.guest_hash != all[0].guest_hash || a.job_key != all[0].job_key) {
                OSC_VIRT_VERBOSE(10, "allocate_shared over ranks that do not share one guest "
                                 "region: MPI_ERR_RMA_SHARED");
                return OMPI_ERR_RMA_SHARED;
            }
        }
        const bool noncontig = info_true(info, "alloc_shared_noncontig");
        std::vector<uint64_t> part(bw->n_);
        uint64_t total = 0;
        for (int i = 0; i < bw->n_; ++i) {
            if (noncontig) {
                total = (total + 4095) & ~uint64_t{4095};
            }
            part[i] = total;
            total += all[i].size;
        }
        /* win id, epoch, region offset, ov_status_t; 0 id: failed */
        uint64_t ids[4] = {0, 0, 0, OV_OK};
        if (0 == bw->me_) {
            std::unique_lock<LinkMutex> guard(link->mutex());
            ov_status_t s = ov_fe_win_create(link->fe(), total ? total : 64, &bw->mine_);
            if (OV_OK == s) {
                ids[0] = bw->mine_.id;
                ids[1] = bw->mine_.epoch;
                ids[2] = bw->mine_.offset;
                for (int i = 1; i < bw->n_ && OV_OK == s; ++i) {
                    s = ov_fe_grant(link->fe(), &bw->mine_, all[i].vpid, OV_PERM_READ | OV_PERM_WRITE);
                }
                if (OV_OK != s) {
                    (void) ov_fe_win_free(link->fe(), &bw->mine_);
                    bw->mine_ = ov_win_t{};
                    ids[0] = 0;
                }
            }
            ids[3] = static_cast<uint64_t>(s);
            if (OV_ERR_NOMEM == s) {
                region_full_help(link, total);
            }
        }
        ret = comm->c_coll->coll_bcast(ids, 4, MPI_UINT64_T, 0, comm,
                                       comm->c_coll->coll_bcast_module);
        if (OMPI_SUCCESS != ret) {
            return ret;
        }
        if (0 == ids[0]) {
            /* MPI_ERR_NO_MEM when the region cannot hold it */
            const int err = ompi_error_from_ov(static_cast<int>(ids[3]));
            return OMPI_SUCCESS != err ? err : OMPI_ERROR;
        }
        bw->peers_.resize(bw->n_);
        for (int i = 0; i < bw->n_; ++i) {
            Peer &p = bw->peers_[i];
            p.served = true;
            p.same_guest = true;
            p.win_id = p.lock_win = static_cast<uint32_t>(ids[0]);
            p.win_epoch = p.lock_epoch = static_cast<uint32_t>(ids[1]);
            p.region_off = ids[2];
            p.part_off = part[i];
            p.direct = link->region_base() + ids[2] + part[i];
            p.size = all[i].size;
            p.disp_unit = all[i].disp_unit;
        }
        *base = link->region_base() + ids[2] + part[bw->me_];
        bw->all_local_ = bw->any_served_ = true;
    } else {
        bw->peers_.resize(bw->n_);
        const Announce &self = all[bw->me_];
        /* create windows: ranks exposing 0 bytes keep their lock slot in the
         * lowest rank's registered window (the same choice on every rank) */
        int anchor = -1;
        for (int i = 0; i < bw->n_ && anchor < 0; ++i) {
            if (0 != all[i].win_id && 0 != all[i].instance) {
                anchor = i;
            }
        }
        auto has_memory = [&](const Announce &a) {
            return 0 != a.win_id || (0 != (a.flags & kEmpty) && anchor >= 0 &&
                                     all[anchor].instance == a.instance);
        };
        bool all_local = true;
        for (int i = 0; i < bw->n_; ++i) {
            Peer &p = bw->peers_[i];
            const Announce &a = all[i];
            p.size = a.size;
            p.disp_unit = a.disp_unit;
            p.served = 0 != self.instance && 0 != a.instance && has_memory(a) &&
                       a.instance == self.instance && a.job_key == self.job_key;
            p.win_id = a.win_id;
            p.win_epoch = a.win_epoch;
            /* its lock slot: in its own window, else in the anchor's (none: 0) */
            const Announce &lock_home = (0 != a.win_id || anchor < 0) ? a : all[anchor];
            p.lock_win = lock_home.win_id;
            p.lock_epoch = lock_home.win_epoch;
            p.region_off = a.region_off;
            if (bw->user_memory_) { /* only our own memory is mapped here */
                p.same_guest = p.served && i == bw->me_ && 0 != a.win_id;
                p.direct = p.same_guest ? static_cast<char *>(*base) : nullptr;
            } else {
                p.same_guest = p.served && a.guest_hash == self.guest_hash;
                p.direct = p.same_guest ? link->region_base() + a.region_off : nullptr;
            }
            /* from the table alone, so every rank reaches the same verdict */
            if (0 == a.instance || !has_memory(a) || a.instance != all[0].instance ||
                a.job_key != all[0].job_key) {
                all_local = false;
            }
            bw->any_served_ = bw->any_served_ || (0 != a.win_id && 0 != a.instance);
        }
        bw->all_local_ = all_local;
        /* Grant every served peer access to our memory. */
        if (0 != bw->mine_.id) {
            std::unique_lock<LinkMutex> guard(link->mutex());
            for (int i = 0; i < bw->n_; ++i) {
                if (i != bw->me_ && bw->peers_[i].served) {
                    ov_status_t s = ov_fe_grant(link->fe(), &bw->mine_, all[i].vpid,
                                                OV_PERM_READ | OV_PERM_WRITE);
                    if (OV_OK != s) {
                        OSC_VIRT_VERBOSE(1, "grant to rank %d failed: %s", i,
                                         ov_fe_last_error(link->fe()));
                        return ompi_error_from_ov(s);
                    }
                }
            }
        }
    }

    if (bw->user_memory_ && !bw->any_served_) {
        /* Nobody registered (vm mode, no backend, no user windows): the
         * window is the fallback's alone, as if osc virt had no backend. */
        *out = nullptr;
        return OMPI_SUCCESS;
    }

    bw->tracker_.outstanding.assign(bw->n_, 0);
    bw->tracker_.quiet_seq.assign(bw->n_, 0);
    bw->lock_type_.assign(bw->n_, 0);
    bw->backend_locked_.assign(bw->n_, false);
    bw->fallback_locked_.assign(bw->n_, false);
    bw->lazy_fallback_.assign(bw->n_, false);
    bw->post_reqs_.assign(bw->n_, MPI_REQUEST_NULL);
    bw->access_.assign(bw->n_, false);

    if (bw->any_served_) {
        /* Collective (any_served_ is the same on every rank): the private
         * communicator carries barriers and PSCW notifications. */
        ret = ompi_comm_dup(comm, &bw->comm_);
        if (OMPI_SUCCESS != ret) {
            return ret;
        }
        /* Grants exist before anybody's first request. */
        ret = bw->comm_->c_coll->coll_barrier(bw->comm_, bw->comm_->c_coll->coll_barrier_module);
        if (OMPI_SUCCESS != ret) {
            return ret;
        }
    }
    if (nullptr != link) {
        int colocated = 0;
        for (const Announce &a : all) {
            colocated += 0 != a.instance && a.instance == link->instance();
        }
        std::unique_lock<LinkMutex> guard(link->mutex());
        link->note_colocated(colocated);
    }
    int nserved = 0, nguest = 0;
    for (const Peer &p : bw->peers_) {
        nserved += p.served;
        nguest += p.same_guest;
    }
    OSC_VIRT_VERBOSE(10, "rank %d: %d of %d targets via the backend (%d in this guest by "
                     "load/store)%s", bw->me_, nserved, bw->n_, nguest,
                     bw->all_local_ ? "; locks and accumulates in the backend" : "");
    *out = bw.release();
    return OMPI_SUCCESS;
}

int BackendWindow::destroy()
{
    int ret = OMPI_SUCCESS;
    if (nullptr != link_) {
        ret = drain();
    }
    if (nullptr != comm_) {
        /* Nobody may still be reaching into our memory when it goes back. */
        int r = comm_->c_coll->coll_barrier(comm_, comm_->c_coll->coll_barrier_module);
        if (OMPI_SUCCESS == ret) {
            ret = r;
        }
        ompi_comm_free(&comm_);
    }
    if (nullptr != link_) {
        std::unique_lock<LinkMutex> guard(link_->mutex());
        link_->forget(tracker_); /* drained: no quiet request of ours is left */
        if (0 != mine_.id) {
            (void) ov_fe_win_free(link_->fe(), &mine_);
        }
    }
    delete this;
    return ret;
}

int BackendWindow::shared_query(int rank, size_t *size, int *disp_unit, void *baseptr)
{
    if (!shared_) {
        return OMPI_ERR_NOT_SUPPORTED;
    }
    if (MPI_PROC_NULL == rank) {
        /* the first rank that exposes memory, else rank 0 with size 0 */
        rank = 0;
        for (int i = 0; i < n_; ++i) {
            if (peers_[i].size > 0) {
                rank = i;
                break;
            }
        }
    }
    if (rank < 0 || rank >= n_) {
        return MPI_ERR_RANK;
    }
    const Peer &p = peers_[rank];
    *size = p.size;
    *disp_unit = static_cast<int>(p.disp_unit);
    /* A rank that exposes nothing has no base (as osc sm answers). */
    *static_cast<void **>(baseptr) =
        0 == p.size ? nullptr : link_->region_base() + p.region_off + p.part_off;
    return OMPI_SUCCESS;
}

bool BackendWindow::accumulates_here(int t, ompi_datatype_t *dt) const
{
    uint8_t kind;
    uint16_t size;
    return all_local_ && peers_[t].served && accumulate_kind(dt, &kind, &size);
}

} // namespace ov::osc
