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
#include <sys/un.h>

#include <fstream>

#include "harness.h"
#include "ov_frontend_btl.h"
#include "vm.h"
#include "vm_plug.h"

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
    /* rank 0 of job ja in g1 and rank rb of job jb in g2, each mapping its
     * 2-rank job's segment */
    void in_two_vms(uint64_t ja, uint64_t jb, uint32_t rb, ov_fe_t **a, ov_fe_t **b, ov_fe_btl_seg_t *sa,
                    ov_fe_btl_seg_t *sb)
    {
        ASSERT_TRUE(start());
        *a = open("g1", ja, 0);
        *b = open("g2", jb, rb);
        ASSERT_TRUE(*a && *b);
        ASSERT_EQ(segment(*a, pci1, 2, sa), OV_OK) << ov_fe_last_error(*a);
        ASSERT_EQ(segment(*b, pci2, 2, sb), OV_OK) << ov_fe_last_error(*b);
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
    ov_fe_t *a = nullptr, *b = nullptr;
    ov_fe_btl_seg_t sa{}, sb{};
    ASSERT_NO_FATAL_FAILURE(in_two_vms(7, 7, 1, &a, &b, &sa, &sb));
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
    ov_fe_t *a = nullptr, *b = nullptr;
    ov_fe_btl_seg_t sa{}, sb{};
    ASSERT_NO_FATAL_FAILURE(in_two_vms(7, 8, 0, &a, &b, &sa, &sb));
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

namespace {

/* A stand-in QEMU monitor in a child process: greets, logs every command
 * line to `log`, answers each with an event then a return (or an error for
 * device_add when fail_device_add, and QEMU's "in use" error for the first
 * refuse_object_del object-dels, as while a guest has not yet acknowledged
 * an eject); serves sessions until killed (10 s cap). */
pid_t fake_monitor(const std::string &sock, const std::string &log, bool fail_device_add, int refuse_object_del = 0)
{
    ov_fd l(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock.c_str());
    if (bind(l.get(), reinterpret_cast<sockaddr *>(&a), sizeof(a)) != 0 || listen(l.get(), 4) != 0)
        return -1;
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    alarm(10);
    FILE *out = fopen(log.c_str(), "w");
    for (;;) {
        ov_fd c(accept(l.get(), nullptr, nullptr));
        if (!c.valid())
            _exit(1);
        const char *greet = "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n";
        (void) !write(c.get(), greet, strlen(greet));
        std::string buf;
        char ch;
        while (read(c.get(), &ch, 1) == 1) {
            if (ch != '\n') {
                buf += ch;
                continue;
            }
            fprintf(out, "%s\n", buf.c_str());
            fflush(out);
            std::string rep = "{\"event\": \"RESUME\"}\r\n";
            if (fail_device_add && buf.find("device_add") != std::string::npos)
                rep += "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Bus 'pci.0' does not support hotplugging\"}}\r\n";
            else if (buf.find("object-del") != std::string::npos && refuse_object_del-- > 0)
                rep += "{\"error\": {\"class\": \"GenericError\", \"desc\": \"object 'ovbtl-7' is in use, can not be deleted\"}}\r\n";
            else
                rep += "{\"return\": {}}\r\n";
            (void) !write(c.get(), rep.data(), rep.size());
            buf.clear();
        }
    }
}

std::string slurp(const std::string &path)
{
    std::ifstream f(path);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

} // namespace

TEST(BtlVmQmp, PlugAndUnplugAreTheMonitorsCommands)
{
    TempDir tmp;
    const std::string sock = tmp.path + "/qmp.sock", log = tmp.path + "/qmp.log";
    pid_t mon = fake_monitor(sock, log, false);
    ASSERT_GT(mon, 0);
    ov_vm_decl d{"vm1", tmp.path + "/r", "", "", sock};
    EXPECT_TRUE(ov_vm_can_plug(d));
    EXPECT_EQ(ov_vm_plug_segment(d, 7, "/seg/with\"quote", 2u << 20), OV_OK);
    ov_vm_unplug_segment(d, 7);
    kill(mon, SIGKILL);
    waitpid(mon, nullptr, 0);
    const std::string got = slurp(log);
    EXPECT_EQ(got,
              "{\"execute\":\"qmp_capabilities\"}\n"
              "{\"execute\":\"object-add\",\"arguments\":{\"qom-type\":\"memory-backend-file\",\"id\":\"ovbtl-7\","
              "\"mem-path\":\"/seg/with\\\"quote\",\"size\":2097152,\"share\":true}}\n"
              "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"ivshmem-plain\",\"id\":\"ovbtl-7-dev\","
              "\"memdev\":\"ovbtl-7\"}}\n"
              "{\"execute\":\"qmp_capabilities\"}\n"
              "{\"execute\":\"device_del\",\"arguments\":{\"id\":\"ovbtl-7-dev\"}}\n"
              "{\"execute\":\"qmp_capabilities\"}\n"
              "{\"execute\":\"object-del\",\"arguments\":{\"id\":\"ovbtl-7\"}}\n");
    unlink(sock.c_str());
    unlink(log.c_str());
}

/* Under a real QEMU the guest acknowledges device_del's eject later, so the
 * object-del right after it is refused ("in use"): the memory backend, and
 * the segment file it maps, would stay in QEMU for the VM's life.  The
 * VM's next session deletes it. */
TEST(BtlVmQmp, AnObjectDelRefusedWhileTheGuestEjectsIsRetriedByTheNextSession)
{
    TempDir tmp;
    const std::string sock = tmp.path + "/qmp.sock", log = tmp.path + "/qmp.log";
    pid_t mon = fake_monitor(sock, log, false, 1);
    ASSERT_GT(mon, 0);
    ov_vm_decl d{"vm1", tmp.path + "/r", "", "", sock};
    ASSERT_EQ(ov_vm_plug_segment(d, 7, "/seg7", 2u << 20), OV_OK);
    ov_vm_unplug_segment(d, 7); /* object-del refused: deferred */
    ASSERT_EQ(ov_vm_plug_segment(d, 8, "/seg8", 2u << 20), OV_OK);
    ov_vm_unplug_segment(d, 8);
    ov_vm_unplug_segment(d, 9); /* nothing deferred any more: no second retry of 7 */
    kill(mon, SIGKILL);
    waitpid(mon, nullptr, 0);
    const std::string got = slurp(log);
    const std::string del7 = "{\"execute\":\"object-del\",\"arguments\":{\"id\":\"ovbtl-7\"}}";
    const size_t first = got.find(del7), retry = got.find(del7, first + 1);
    ASSERT_NE(retry, std::string::npos) << "ovbtl-7's refused object-del is never retried:\n" << got;
    EXPECT_LT(retry, got.find("\"id\":\"ovbtl-8\"")) << "retried before the next plug's commands:\n" << got;
    EXPECT_EQ(got.find(del7, retry + 1), std::string::npos) << "deleted once, forgotten:\n" << got;
    EXPECT_NE(got.find("{\"execute\":\"object-del\",\"arguments\":{\"id\":\"ovbtl-8\"}}"), std::string::npos);
    unlink(sock.c_str());
    unlink(log.c_str());
}

TEST(BtlVmQmp, ARefusedHotPlugFailsCleanlyAndNoMonitorIsNoPlug)
{
    TempDir tmp;
    const std::string sock = tmp.path + "/qmp.sock", log = tmp.path + "/qmp.log";
    pid_t mon = fake_monitor(sock, log, true);
    ASSERT_GT(mon, 0);
    ov_vm_decl d{"vm1", tmp.path + "/r", "", "", sock};
    EXPECT_EQ(ov_vm_plug_segment(d, 3, "/seg", 2u << 20), OV_ERR_SYS);
    kill(mon, SIGKILL);
    waitpid(mon, nullptr, 0);
    const std::string got = slurp(log);
    EXPECT_NE(got.find("device_add"), std::string::npos);
    EXPECT_NE(got.find("{\"execute\":\"object-del\",\"arguments\":{\"id\":\"ovbtl-3\"}}"), std::string::npos)
        << "the memory backend added before the refused device_add is removed again:\n" << got;
    unlink(sock.c_str());
    unlink(log.c_str());

    ov_vm_decl gone{"vm2", tmp.path + "/r", "", "", tmp.path + "/no-such.sock"};
    int64_t t0 = ms_now();
    EXPECT_EQ(ov_vm_plug_segment(gone, 4, "/seg", 2u << 20), OV_ERR_SYS);
    EXPECT_LT(ms_now() - t0, 3 * OV_VM_QMP_TIMEOUT_MS);
    EXPECT_FALSE(ov_vm_can_plug(ov_vm_decl{"vm3", "/r", "", "", ""}));
    EXPECT_EQ(ov_vm_plug_segment(ov_vm_decl{"vm3", "/r", "", "", ""}, 5, "/seg", 2u << 20), OV_ERR_NOT_SUPPORTED);
}

TEST(BtlVmQmp, DeclarationsNameTheMonitorAndThePciDirectory)
{
    ov_vm_decl d;
    std::string err;
    ASSERT_EQ(ov_vm_parse("g1=/f,peer=10.0.0.2,qmp=/run/g1.qmp,pci=/run/g1-pci", &d, &err), OV_OK) << err;
    EXPECT_EQ(d.qmp, "/run/g1.qmp");
    EXPECT_EQ(d.pci, "/run/g1-pci");
    EXPECT_EQ(d.peer, "10.0.0.2");
    for (const char *bad : {"g1=/f,qmp=", "g1=/f,qmp=rel.sock", "g1=/f,pci=", "g1=/f,pci=rel"})
        EXPECT_EQ(ov_vm_parse(bad, &d, &err), OV_ERR_BAD_ARG) << bad;
}
