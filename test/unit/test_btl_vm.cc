/*
 * test_btl_vm.cc — btl vmshm in vm mode without QEMU: a backend with two
 * declared VMs (--vm g1=...,pci=DIR1 and g2=...,pci=DIR2) reached over
 * tcp:127.0.0.1.  DIRn stands for VM n's /sys/bus/pci/devices: the backend
 * plugs the job's segment there as an ivshmem-plain device, and a frontend
 * "in" VM n scans it ($OMPI_VIRT_SYSFS_PCI), as it scans the real sysfs in a
 * QEMU VM.  Two devices over one host file = two VMs sharing its pages.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <fstream>

#include "harness.h"
#include "ov_frontend_btl.h"
#include "vm.h"

namespace {

bool exists(const std::string &p)
{
    struct stat st;
    return lstat(p.c_str(), &st) == 0;
}

/* Entries of a directory (devices under a pci dir), "." and ".." left out. */
std::vector<std::string> entries(const std::string &d)
{
    std::vector<std::string> out;
    if (DIR *dp = opendir(d.c_str())) {
        while (dirent *e = readdir(dp))
            if (e->d_name[0] != '.')
                out.push_back(e->d_name);
        closedir(dp);
    }
    return out;
}

void rm_tree(const std::string &d)
{
    for (const std::string &e : entries(d)) {
        const std::string p = d + "/" + e;
        struct stat st;
        if (lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
            rm_tree(p);
        else
            unlink(p.c_str());
    }
    rmdir(d.c_str());
}

struct BtlVm : ::testing::Test {
    TempDir tmp;
    uint16_t port = free_port();
    std::string uri = "tcp:127.0.0.1:" + std::to_string(port);
    std::string pci1 = tmp.path + "/pci-g1", pci2 = tmp.path + "/pci-g2";
    std::unique_ptr<BackendChild> be;
    std::vector<ov_fe_t *> fes;

    void TearDown() override
    {
        for (ov_fe_t *fe : fes)
            ov_fe_close(fe);
        be.reset();
        unsetenv("OMPI_VIRT_SYSFS_PCI");
        for (const char *f : {"/g1.region", "/g2.region", "/g3.region"})
            unlink((tmp.path + f).c_str());
        rm_tree(pci1);
        rm_tree(pci2);
        rm_tree(tmp.path + "/vm-segments");
        rm_tree(tmp.path + "/fake");
    }
    bool start()
    {
        be = std::make_unique<BackendChild>(tmp.path);
        be->opts.tcp = uri;
        be->opts.vms.push_back(ov_vm_decl{"g1", tmp.path + "/g1.region", "127.0.0.1", pci1});
        be->opts.vms.push_back(ov_vm_decl{"g2", tmp.path + "/g2.region", "127.0.0.1", pci2});
        be->opts.vms.push_back(ov_vm_decl{"g3", tmp.path + "/g3.region", "127.0.0.1", ""}); /* no pci= */
        return be->start();
    }
    /* a BTL connection of (job, rank) from VM `guest` over tcp (or unix) */
    ov_fe_t *open(const char *guest, uint64_t job, uint32_t rank, bool tcp = true)
    {
        ov_fe_params_t p = fe_params(tcp ? uri : be->uri(), guest, job, rank);
        p.role = OV_ROLE_BTL;
        p.timeout_ms = 400; /* the bound of the device scan too */
        ov_fe_t *fe = nullptr;
        ov_status_t s = ov_fe_open(&p, &fe);
        EXPECT_EQ(s, OV_OK) << ov_fe_last_error(fe);
        fes.push_back(fe);
        return s == OV_OK ? fe : nullptr;
    }
    /* ov_fe_btl_segment as if inside VM `pci` (its PCI devices) */
    ov_status_t segment(ov_fe_t *fe, const std::string &pci, uint32_t nranks, ov_fe_btl_seg_t *out)
    {
        setenv("OMPI_VIRT_SYSFS_PCI", pci.c_str(), 1);
        return ov_fe_btl_segment(fe, nranks, out);
    }
    void close(ov_fe_t *fe)
    {
        ov_fe_close(fe);
        fes.erase(std::find(fes.begin(), fes.end(), fe));
    }
};

/* bounded wait for the backend to have acted on a closed connection */
bool eventually(const std::function<bool()> &f)
{
    for (int i = 0; i < 300; ++i) {
        if (f())
            return true;
        usleep(10000);
    }
    return false;
}

} // namespace

TEST(BtlVmLayout, TheBarIsAPowerOfTwoAndCheckedOnAttach)
{
    const ov_bseg_geom g = ov_bseg_geometry(3);
    const uint64_t bar = ov_bseg_bar_size(g.size);
    EXPECT_EQ(bar & (bar - 1), 0u);
    EXPECT_GE(bar, g.size);
    EXPECT_LT(bar / 2, g.size);
    std::vector<char> mem(bar);
    ov_bseg_init_hdr(mem.data(), g, 1, 2, 3);
    ov_bseg_geom out;
    EXPECT_EQ(ov_bseg_check_bar(mem.data(), bar, 3, &out), OV_OK);
    EXPECT_EQ(out.size, g.size);
    EXPECT_EQ(ov_bseg_check_bar(mem.data(), bar * 2, 3, &out), OV_ERR_LAYOUT) << "a BAR of another size";
    EXPECT_EQ(ov_bseg_check_bar(mem.data(), bar, 4, &out), OV_ERR_LAYOUT) << "another job size";
    EXPECT_EQ(ov_bseg_check_bar(mem.data(), bar, 0, &out), OV_ERR_LAYOUT);
    reinterpret_cast<ov_bseg_hdr *>(mem.data())->layout_version = OV_BSEG_LAYOUT_VERSION + 1;
    EXPECT_EQ(ov_bseg_check_bar(mem.data(), bar, 3, &out), OV_ERR_VERSION);
    reinterpret_cast<ov_bseg_hdr *>(mem.data())->magic = 0;
    EXPECT_EQ(ov_bseg_check_bar(mem.data(), bar, 3, &out), OV_ERR_LAYOUT);
}

TEST_F(BtlVm, TwoVmsOfOneJobShareTheSegmentThroughTheirOwnDevices)
{
    ASSERT_TRUE(start());
    ov_fe_t *a = open("g1", 7, 0), *b = open("g2", 7, 1);
    ASSERT_TRUE(a && b);
    ov_fe_btl_seg_t sa{}, sb{};
    ASSERT_EQ(segment(a, pci1, 2, &sa), OV_OK) << ov_fe_last_error(a);
    ASSERT_EQ(segment(b, pci2, 2, &sb), OV_OK) << ov_fe_last_error(b);
    EXPECT_EQ(sa.segment_id, sb.segment_id);
    EXPECT_EQ(entries(pci1).size(), 1u);
    EXPECT_EQ(entries(pci2).size(), 1u);
    /* one pages behind both devices: what rank 0 writes, rank 1 reads */
    ov_bfifo f0(ov_bseg_fifo_at(sa.base, sa.geom, 1), sa.geom.fifo_slots);
    ASSERT_TRUE(f0.push(sa.geom.frags_off));
    ov_bfifo f1(ov_bseg_fifo_at(sb.base, sb.geom, 1), sb.geom.fifo_slots);
    uint64_t v = 0;
    ASSERT_TRUE(f1.pop(&v));
    EXPECT_EQ(v, sa.geom.frags_off);
    EXPECT_NE(ov_bseg_member_at(sb.base, sb.geom, 0)->present.load(), 0u);
    EXPECT_NE(ov_bseg_member_at(sb.base, sb.geom, 1)->present.load(), 0u);

    /* g2's last rank of the job goes: its device is unplugged, g1's stays */
    close(b);
    EXPECT_TRUE(eventually([&] { return entries(pci2).empty(); })) << "g2's device was not unplugged";
    EXPECT_EQ(entries(pci1).size(), 1u);
    EXPECT_EQ(ov_bseg_member_at(sa.base, sa.geom, 1)->present.load(), 0u);
    close(a);
    EXPECT_TRUE(eventually([&] { return entries(pci1).empty() && entries(tmp.path + "/vm-segments").empty(); }))
        << "the last holder's segment (device and file) was not freed";
}

TEST_F(BtlVm, AVmNeverSeesAnotherJobsSegment)
{
    ASSERT_TRUE(start());
    ov_fe_t *a = open("g1", 7, 0), *b = open("g2", 8, 0);
    ASSERT_TRUE(a && b);
    ov_fe_btl_seg_t sa{}, sb{};
    ASSERT_EQ(segment(a, pci1, 2, &sa), OV_OK) << ov_fe_last_error(a);
    ASSERT_EQ(segment(b, pci2, 2, &sb), OV_OK) << ov_fe_last_error(b);
    EXPECT_NE(sa.segment_id, sb.segment_id);
    ASSERT_EQ(entries(pci2).size(), 1u) << "only job 8's device is plugged into g2";
    EXPECT_EQ(entries(pci2)[0], "ovbtl-" + std::to_string(sb.segment_id));
    EXPECT_EQ(entries(pci1)[0], "ovbtl-" + std::to_string(sa.segment_id));

    /* A process of job 8 that reaches job 7's device anyway (in a namespace
     * guest the host file is visible) is refused by the header check: the
     * device holds another job's segment. */
    const std::string fake = tmp.path + "/fake";
    mkdir(fake.c_str(), 0755);
    ASSERT_EQ(symlink((pci1 + "/" + entries(pci1)[0]).c_str(), (fake + "/0000:00:05.0").c_str()), 0);
    ov_fe_t *c = open("g2", 8, 1);
    ov_fe_btl_seg_t sc{};
    EXPECT_EQ(segment(c, fake, 2, &sc), OV_ERR_TIMEOUT);
    EXPECT_NE(strstr(ov_fe_last_error(c), "not segment"), nullptr) << ov_fe_last_error(c);
    EXPECT_EQ(sc.base, nullptr);
}

TEST_F(BtlVm, LayoutIsCheckedOnAttachAndRulesRefuseWhatCannotWork)
{
    ASSERT_TRUE(start());
    ov_fe_t *a = open("g1", 9, 0);
    ASSERT_NE(a, nullptr);
    ov_fe_btl_seg_t sa{};
    ASSERT_EQ(segment(a, pci1, 3, &sa), OV_OK) << ov_fe_last_error(a);
    /* a member scribbles the header: the next rank to attach refuses it */
    reinterpret_cast<ov_bseg_hdr *>(sa.base)->layout_version = 77;
    ov_fe_t *b = open("g2", 9, 1);
    ASSERT_NE(b, nullptr);
    ov_fe_btl_seg_t sb{};
    EXPECT_EQ(segment(b, pci2, 3, &sb), OV_ERR_VERSION) << ov_fe_last_error(b);
    EXPECT_EQ(sb.base, nullptr);

    ov_fe_t *c = open("g3", 10, 0), *d = open("g4", 11, 0), *e = open("g1", 12, 0, false),
            *f = open("c1", 9, 2, false);
    ASSERT_TRUE(c && d && e && f);
    ov_fe_btl_seg_t sc{};
    EXPECT_EQ(segment(c, pci1, 2, &sc), OV_ERR_NOT_SUPPORTED) << "a VM with no pci= cannot receive a device";
    EXPECT_EQ(segment(d, pci1, 2, &sc), OV_ERR_NO_FD_TRANSPORT) << "tcp, not a declared VM";
    EXPECT_EQ(segment(e, pci1, 2, &sc), OV_ERR_DENIED) << "a VM's name over unix";
    EXPECT_EQ(segment(f, pci1, 3, &sc), OV_ERR_NOT_SUPPORTED) << "a container rank of a VM job";
    EXPECT_EQ(sc.base, nullptr);
}
