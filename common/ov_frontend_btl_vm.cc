/*
 * ov_frontend_btl_vm.cc — vm mode of BTL_SEGMENT on the frontend side: the
 * segment is an ivshmem BAR the backend plugged into this VM.  Contract:
 * ov_frontend_btl.h; the search is the one osc virt's region uses
 * (ov_frontend.cc, map_ivshmem), with the segment's own header check.
 */
#include "ov_frontend_btl.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "ov_frontend_impl.h"

namespace {

int64_t now_ms()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

/* One candidate BAR: of `bar` bytes, holding the segment `rep` names for this
 * job and backend.  OV_OK and *m mapped; else why (appended). */
ov_status_t try_bar(const ov_fe *fe, const std::string &path, const ov_btl_segment_rep &rep, uint32_t nranks,
                    uint64_t bar, ov_mapping *m, ov_bseg_geom *g, std::string *why)
{
    char buf[192];
    ov_fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    struct stat st;
    if (!fd.valid() || fstat(fd.get(), &st) != 0) {
        snprintf(buf, sizeof(buf), "; %s: %s", path.c_str(), strerror(errno));
        *why += buf;
        return OV_ERR_SYS;
    }
    if (uint64_t(st.st_size) != bar)
        return OV_ERR_LAYOUT; /* another device (the osc region, another job's segment): not ours, not news */
    ov_mapping cand;
    if (!cand.map(fd.get(), size_t(bar))) {
        snprintf(buf, sizeof(buf), "; %s: mmap: %s", path.c_str(), strerror(errno));
        *why += buf;
        return OV_ERR_SYS;
    }
    ov_status_t s = ov_bseg_check_bar(cand.data(), bar, nranks, g);
    ov_bseg_hdr h;
    std::memcpy(static_cast<void *>(&h), cand.data(), sizeof(h)); /* copied once; identity only */
    if (s == OV_OK && (h.segment_id != rep.segment_id || h.backend_instance != fe->backend_instance ||
                       h.job_key != fe->job_key))
        s = OV_ERR_LAYOUT;
    if (s != OV_OK) {
        snprintf(buf, sizeof(buf), "; %s: not segment %llu of this job and backend (%s)", path.c_str(),
                 (unsigned long long) rep.segment_id, ov_strerror(s));
        *why += buf;
        return s;
    }
    *m = std::move(cand);
    return OV_OK;
}

} // namespace

ov_status_t ov_fe_btl_map_bar(ov_fe *fe, const ov_btl_segment_rep &rep, uint32_t nranks, ov_fe_btl_seg *out) noexcept
{
    try {
        const uint64_t size = ov_bseg_geometry(nranks).size;
        if (nranks == 0 || nranks > OV_BSEG_MAX_RANKS || rep.segment_size != size)
            return ov_fe_fail(fe, OV_ERR_PROTO, "vm-mode btl segment of %llu bytes for %u ranks",
                              (unsigned long long) rep.segment_size, nranks);
        const uint64_t bar = ov_bseg_bar_size(size);
        const char *root = ov_fe_pci_root();
        const int64_t deadline = now_ms() + fe->params.timeout_ms;
        /* a hot-plugged device appears some time after the reply: rescan
         * with a growing pause, bounded by the handle's timeout */
        for (useconds_t pause = 1000;; pause = pause < 64000 ? pause * 2 : pause) {
            std::string why;
            ov_status_t last = OV_ERR_NOT_SUPPORTED;
            for (const std::string &c : ov_fe_ivshmem_devices(root)) {
                ov_mapping m;
                ov_bseg_geom g;
                last = try_bar(fe, c, rep, nranks, bar, &m, &g, &why);
                if (last == OV_OK)
                    return ov_fe_btl_adopt(fe, std::move(m), g, rep.segment_id, out);
            }
            if (last == OV_ERR_VERSION)
                return ov_fe_fail(fe, OV_ERR_VERSION, "btl segment device is not layout %u%s",
                                  OV_BSEG_LAYOUT_VERSION, why.c_str());
            if (now_ms() >= deadline)
                return ov_fe_fail(fe, OV_ERR_TIMEOUT,
                                  "no ivshmem device (1af4:1110) of %llu bytes under %s holds btl segment %llu "
                                  "after %u ms%s",
                                  (unsigned long long) bar, root, (unsigned long long) rep.segment_id,
                                  fe->params.timeout_ms, why.c_str());
            usleep(pause);
        }
    } catch (...) {
        return ov_fe_fail(fe, OV_ERR_NOMEM, "ivshmem scan for the btl segment");
    }
}
