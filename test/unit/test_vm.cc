/*
 * test_vm.cc — VM guests without QEMU: a backend with --vm g1=FILE and
 * frontends over tcp:127.0.0.1 that map FILE itself (OMPI_VIRT_IVSHMEM_PATH)
 * or find it in a fake /sys/bus/pci/devices (OMPI_VIRT_SYSFS_PCI), which is
 * exactly what QEMU's ivshmem-plain BAR is: the same file, mapped again.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <time.h>

#include <cstdio>
#include <fstream>

#include "harness.h"
#include "ov_frontend_impl.h"
#include "vm.h"

namespace {

/* A raw client whose TCP source address is `src` (any 127.x.y.z is local). */
bool connect_from(Raw &r, const char *src, uint16_t port)
{
    ov_fd s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{}, d{};
    a.sin_family = d.sin_family = AF_INET;
    inet_pton(AF_INET, src, &a.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &d.sin_addr);
    d.sin_port = htons(port);
    if (bind(s.get(), reinterpret_cast<sockaddr *>(&a), sizeof(a)) != 0 ||
        connect(s.get(), reinterpret_cast<sockaddr *>(&d), sizeof(d)) != 0)
        return false;
    r.fd = std::move(s);
    return true;
}

void set_env(const char *k, const std::string &v) { setenv(k, v.c_str(), 1); }

/* A backend declaring VM g1 on DIR/g1.region, reachable on tcp:127.0.0.1:port;
 * frontends of this process map the file directly. */
struct VmFixture : ::testing::Test {
    TempDir tmp;
    std::string file = tmp.path + "/g1.region";
    uint16_t port = free_port();
    std::string uri = "tcp:127.0.0.1:" + std::to_string(port);
    std::unique_ptr<BackendChild> be;

    void SetUp() override
    {
        set_env("OMPI_VIRT_IVSHMEM_PATH", file);
        unsetenv("OMPI_VIRT_SYSFS_PCI");
    }
    void TearDown() override
    {
        be.reset();
        unsetenv("OMPI_VIRT_IVSHMEM_PATH");
        unsetenv("OMPI_VIRT_SYSFS_PCI");
        unlink(file.c_str());
    }
    bool start(const std::string &peer = "127.0.0.1")
    {
        be = std::make_unique<BackendChild>(tmp.path);
        be->opts.tcp = uri;
        be->opts.vms.push_back(ov_vm_decl{"g1", file, peer});
        return be->start();
    }
    ov_fe_t *connect(const char *guest, uint64_t job, uint32_t rank)
    {
        return connect_fe(uri, guest, job, rank);
    }
    /* the region header as the host file holds it */
    void file_hdr(ov_region_hdr *h)
    {
        ov_fd fd(open(file.c_str(), O_RDONLY | O_CLOEXEC));
        EXPECT_EQ(pread(fd.get(), h, sizeof(*h), 0), ssize_t(sizeof(*h)));
    }
};

ov_status_t roundtrip(ov_fe_t *fe, const ov_req_desc &d, int32_t *status)
{
    ov_completion c{};
    ov_status_t s = ov_fe_submit(fe, &d);
    if (s == OV_OK)
        s = ov_fe_wait(fe, &c, 3000);
    *status = c.status;
    return s;
}

/* utime + stime of a process, in clock ticks */
long cpu_ticks(pid_t pid)
{
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    size_t rp = s.rfind(')');
    if (rp == std::string::npos)
        return -1;
    unsigned long ut = 0, st = 0;
    /* after ") " : state(3) ... utime is field 14, stime 15 */
    if (sscanf(s.c_str() + rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return long(ut + st);
}

} // namespace

TEST_F(VmFixture, AttachRingsWindowsAndPutGetGoThroughTheFile)
{
    ASSERT_TRUE(start());
    ov_fe_t *a = connect("g1", 5, 0);
    ov_fe_t *b = connect("g1", 5, 1);
    ASSERT_TRUE(a && b);
    EXPECT_TRUE(a->vm);
    EXPECT_FALSE(a->doorbell.valid()) << "no fds over tcp";
    EXPECT_EQ(ov_fe_region_size(a), 4u << 20);

    /* The backend wrote the same header it writes for a memfd region. */
    ov_region_hdr h;
    file_hdr(&h);
    EXPECT_EQ(ov_region_check(&h, 4u << 20), OV_OK);
    EXPECT_EQ(h.backend_instance, ov_fe_backend_instance(a));
    EXPECT_EQ(h.job_key, ov_job_public_key(ov_job_secret_from_seed(5)));
    EXPECT_STREQ(h.guest, "g1");
    Raw u; /* a memfd region of a container guest, for comparison */
    ASSERT_TRUE(u.connect(be->uri()));
    ASSERT_EQ(u.hello("container", 5, 9), OV_OK);
    ASSERT_EQ(u.attach(), OV_OK);
    ASSERT_TRUE(u.fds[0].valid());
    ov_region_hdr m;
    ASSERT_EQ(pread(u.fds[0].get(), &m, sizeof(m), 0), ssize_t(sizeof(m)));
    EXPECT_EQ(m.heap_off, h.heap_off);
    EXPECT_EQ(m.heap_size, h.heap_size);
    EXPECT_EQ(m.layout_version, h.layout_version);
    EXPECT_EQ(m.ctl_size, h.ctl_size);

    ov_win_t wa, wb;
    ASSERT_EQ(ov_fe_win_create(a, 4096, &wa), OV_OK);
    ASSERT_EQ(ov_fe_win_create(b, 4096, &wb), OV_OK);
    ASSERT_EQ(ov_fe_grant(b, &wb, 0, OV_PERM_READ | OV_PERM_WRITE), OV_OK);
    for (int i = 0; i < 256; i++)
        static_cast<unsigned char *>(wa.base)[i] = uint8_t(i ^ 0x5a);
    int32_t st;
    ASSERT_EQ(roundtrip(a, copy_req(OV_OP_PUT, wb, 128, wa, 0, 256), &st), OV_OK);
    ASSERT_EQ(st, OV_OK);
    EXPECT_EQ(memcmp(static_cast<char *>(wb.base) + 128, wa.base, 256), 0);
    /* the bytes are in the host file, where QEMU's BAR would show them */
    std::vector<unsigned char> raw(256);
    ov_fd fd(open(file.c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_EQ(pread(fd.get(), raw.data(), 256, off_t(wb.offset + 128)), 256);
    EXPECT_EQ(memcmp(raw.data(), wa.base, 256), 0);
    ASSERT_EQ(roundtrip(a, copy_req(OV_OP_GET, wb, 128, wa, 1024, 256), &st), OV_OK);
    ASSERT_EQ(st, OV_OK);
    EXPECT_EQ(memcmp(static_cast<char *>(wa.base) + 1024, wa.base, 256), 0);
    /* validation is the same as for containers */
    ASSERT_EQ(roundtrip(a, copy_req(OV_OP_PUT, wb, 4000, wa, 0, 256), &st), OV_OK);
    EXPECT_EQ(st, OV_ERR_BOUNDS);
    ov_fe_close(b);
    EXPECT_EQ(be->stop(SIGTERM), 0);
    file_hdr(&h);
    EXPECT_EQ(h.state.load(), uint32_t(OV_REGION_SHUTDOWN)) << "a clean exit is seen in the BAR";
    EXPECT_EQ(ov_fe_check_alive(a), OV_ERR_BACKEND_GONE);
    ov_fe_close(a);
}

TEST_F(VmFixture, SleepingBackendIsWokenByAKickAndIdlesWithoutCpu)
{
    ASSERT_TRUE(start());
    ov_fe_t *fe = connect("g1", 6, 0);
    ASSERT_NE(fe, nullptr);
    int64_t t0 = ms_now();
    while (!fe->pctl->backend_sleeping.load() && ms_now() - t0 < 2000)
        usleep(1000);
    ASSERT_EQ(fe->pctl->backend_sleeping.load(), 1u);
    usleep(100000); /* past its re-check: blocked in epoll_wait now */

    long before = cpu_ticks(be->pid);
    ov_req_desc nop{};
    nop.cookie = 1;
    ASSERT_EQ(fe->rq.push(nop), OV_RING_OK); /* published, but no KICK */
    usleep(500000);
    long after = cpu_ticks(be->pid);
    ov_completion c;
    EXPECT_EQ(ov_fe_poll(fe, &c), OV_ERR_AGAIN) << "a sleeping backend must not be polling";
    ASSERT_GE(before, 0);
    EXPECT_LE(after - before, 2) << "idle backend with a VM attached burnt CPU";

    nop.cookie = 2;
    t0 = ms_now();
    ASSERT_EQ(ov_fe_submit(fe, &nop), OV_OK); /* sees backend_sleeping: KICKs */
    ASSERT_EQ(ov_fe_wait(fe, &c, 3000), OV_OK) << ov_fe_last_error(fe);
    EXPECT_EQ(c.cookie, 1u);
    ASSERT_EQ(ov_fe_wait(fe, &c, 3000), OV_OK);
    EXPECT_EQ(c.cookie, 2u);
    EXPECT_LT(ms_now() - t0, 1000);
    EXPECT_EQ(fe->pctl->fe_waiting.load(), 0u) << "VM frontends never ask for a futex wake";
    ov_fe_close(fe);
}

TEST_F(VmFixture, WaitReturnsWhenTheBackendDiesAndARestartServesTheSameFile)
{
    ASSERT_TRUE(start());
    ov_fe_t *old = connect("g1", 7, 0);
    ASSERT_NE(old, nullptr);
    uint64_t first = ov_fe_backend_instance(old);
    be->stop(SIGKILL);
    int64_t t0 = ms_now();
    ov_req_desc nop{};
    ov_completion c;
    ov_status_t s = ov_fe_submit(old, &nop);
    if (s == OV_OK)
        s = ov_fe_wait(old, &c, 5000);
    EXPECT_EQ(s, OV_ERR_BACKEND_GONE);
    EXPECT_LT(ms_now() - t0, 1000);

    ASSERT_TRUE(start());
    ov_fe_t *fe = connect("g1", 7, 0);
    ASSERT_NE(fe, nullptr);
    EXPECT_NE(ov_fe_backend_instance(fe), first);
    ov_region_hdr h;
    file_hdr(&h);
    EXPECT_EQ(h.backend_instance, ov_fe_backend_instance(fe)) << "header rewritten";
    ov_win_t w;
    ASSERT_EQ(ov_fe_win_create(fe, 64, &w), OV_OK);
    for (int i = 0; i < 64; i++)
        EXPECT_EQ(static_cast<char *>(w.base)[i], 0) << "a new job must not see old bytes";
    int32_t st;
    ASSERT_EQ(roundtrip(fe, nop, &st), OV_OK);
    EXPECT_EQ(st, OV_OK);
    EXPECT_EQ(ov_fe_check_alive(old), OV_ERR_BACKEND_GONE);
    ov_fe_close(old);
    ov_fe_close(fe);
}

TEST_F(VmFixture, OnlyTheDeclaredPeerMayClaimTheVm)
{
    ASSERT_TRUE(start("127.0.0.1"));
    Raw other;
    ASSERT_TRUE(connect_from(other, "127.0.0.2", port));
    ASSERT_EQ(other.hello("g1", 1, 0), OV_OK);
    EXPECT_EQ(other.attach(), OV_ERR_DENIED);
    Raw undeclared;
    ASSERT_TRUE(undeclared.connect(uri));
    ASSERT_EQ(undeclared.hello("vm-x", 1, 1), OV_OK);
    EXPECT_EQ(undeclared.attach(), OV_ERR_NO_FD_TRANSPORT) << "tcp without --vm never attaches";
    Raw container;
    ASSERT_TRUE(container.connect(be->uri()));
    ASSERT_EQ(container.hello("g1", 1, 2), OV_OK);
    EXPECT_EQ(container.attach(), OV_ERR_DENIED) << "a VM's name is reserved for tcp";
    Raw right;
    ASSERT_TRUE(right.connect(uri));
    ASSERT_EQ(right.hello("g1", 1, 3), OV_OK);
    EXPECT_EQ(right.attach(), OV_OK);
    EXPECT_EQ(right.nfds, 0);
    EXPECT_EQ(right.rings(), OV_OK);
    EXPECT_EQ(right.nfds, 0) << "no doorbell over tcp";
}

TEST_F(VmFixture, WithoutPeerTheFirstClaimerBindsTheVmUntilItsRegionGoes)
{
    ASSERT_TRUE(start(""));
    auto first = std::make_unique<Raw>();
    ASSERT_TRUE(connect_from(*first, "127.0.0.2", port));
    ASSERT_EQ(first->hello("g1", 1, 0), OV_OK);
    ASSERT_EQ(first->attach(), OV_OK);
    Raw second;
    ASSERT_TRUE(connect_from(second, "127.0.0.3", port));
    ASSERT_EQ(second.hello("g1", 1, 1), OV_OK);
    EXPECT_EQ(second.attach(), OV_ERR_DENIED);
    first.reset(); /* region released */
    int64_t t0 = ms_now();
    ov_status_t s;
    do {
        Raw third;
        ASSERT_TRUE(connect_from(third, "127.0.0.3", port));
        ASSERT_EQ(third.hello("g1", 1, 2), OV_OK);
        s = third.attach();
        if (s != OV_OK)
            usleep(5000);
    } while (s != OV_OK && ms_now() - t0 < 2000);
    EXPECT_EQ(s, OV_OK);
}

TEST_F(VmFixture, ASecondJobInTheVmIsBusyUntilTheFirstIsGone)
{
    ASSERT_TRUE(start());
    ov_fe_t *a = connect("g1", 10, 0);
    ASSERT_NE(a, nullptr);
    ov_fe_params_t p = fe_params(uri, "g1", 11, 0);
    ov_fe_t *b = nullptr;
    ASSERT_EQ(ov_fe_open(&p, &b), OV_OK);
    EXPECT_EQ(ov_fe_attach(b), OV_ERR_BUSY);
    ov_fe_close(b);
    ov_win_t w;
    ASSERT_EQ(ov_fe_win_create(a, 4096, &w), OV_OK);
    memset(w.base, 0x77, 4096); /* job 10's data */
    ov_fe_close(a);
    int64_t t0 = ms_now();
    ov_status_t s;
    do { /* the backend releases job 10 asynchronously */
        b = nullptr;
        s = ov_fe_connect(&p, &b);
        if (s != OV_OK) {
            ov_fe_close(b);
            b = nullptr;
            usleep(5000);
        }
    } while (s != OV_OK && ms_now() - t0 < 2000);
    ASSERT_EQ(s, OV_OK) << ov_fe_last_error(b);
    ov_region_hdr h;
    file_hdr(&h);
    EXPECT_EQ(h.job_key, ov_job_public_key(ov_job_secret_from_seed(11)));
    ASSERT_EQ(ov_fe_win_create(b, 4096, &w), OV_OK);
    std::vector<char> zero(4096, 0);
    EXPECT_EQ(memcmp(w.base, zero.data(), 4096), 0);
    ov_fe_close(b);
}

TEST_F(VmFixture, KickHasNoReplyAndAKickWithPayloadIsAProtocolError)
{
    ASSERT_TRUE(start());
    Raw r;
    ASSERT_TRUE(r.connect(uri));
    ASSERT_EQ(ov_msg_send(r.fd.get(), OV_MSG_KICK, 99, nullptr, 0, nullptr, 0, false), OV_OK);
    EXPECT_EQ(r.hello("g1", 1, 0), OV_OK) << "the next reply is HELLO's, not a KICK's";
    EXPECT_EQ(r.last.seq, r.seq);
    uint64_t junk = 0;
    ov_simple_rep rep{};
    EXPECT_EQ(r.call(OV_MSG_KICK, &junk, sizeof(junk), &rep, sizeof(rep)), OV_ERR_PROTO);
    EXPECT_TRUE(r.closed_by_peer());
}

TEST_F(VmFixture, FrontendFindsItsBarAmongPciDevices)
{
    ASSERT_TRUE(start());
    unsetenv("OMPI_VIRT_IVSHMEM_PATH");
    std::string root = tmp.path + "/pci";
    std::string decoy = tmp.path + "/decoy.region";
    std::vector<std::string> made;
    auto dev = [&](const char *name, const char *vendor, const char *device, const std::string &res2) {
        std::string d = root + "/" + name;
        mkdir(root.c_str(), 0755);
        mkdir(d.c_str(), 0755);
        std::ofstream(d + "/vendor") << vendor << "\n";
        std::ofstream(d + "/device") << device << "\n";
        EXPECT_EQ(symlink(res2.c_str(), (d + "/resource2").c_str()), 0);
        made.insert(made.end(), {d + "/vendor", d + "/device", d + "/resource2", d});
    };
    set_env("OMPI_VIRT_SYSFS_PCI", root);
    ov_fe_params_t p = fe_params(uri, "g1", 12, 0);
    ov_fe_t *fe = nullptr;
    ASSERT_EQ(ov_fe_open(&p, &fe), OV_OK);
    EXPECT_EQ(ov_fe_attach(fe), OV_ERR_NOT_SUPPORTED) << "no ivshmem device at all";
    ov_fe_close(fe);

    { /* another ivshmem device of the same size (not ours), a virtio-net, ours */
        ov_fd d(open(decoy.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
        ASSERT_EQ(ftruncate(d.get(), 4 << 20), 0);
    }
    dev("0000:00:03.0", "0x1af4", "0x1110", decoy);
    dev("0000:00:04.0", "0x1af4", "0x1000", file);
    dev("0000:00:05.0", "0x1af4", "0x1110", file);
    fe = connect("g1", 12, 0);
    ASSERT_NE(fe, nullptr);
    ov_win_t w;
    ASSERT_EQ(ov_fe_win_create(fe, 64, &w), OV_OK);
    memset(w.base, 0x3c, 64);
    unsigned char byte = 0;
    ov_fd f(open(file.c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_EQ(pread(f.get(), &byte, 1, off_t(w.offset)), 1);
    EXPECT_EQ(byte, 0x3c) << "mapped the decoy, not the region";
    ov_fe_close(fe);
    for (const std::string &m : made) /* files, then their directory */
        if (unlink(m.c_str()) != 0)
            rmdir(m.c_str());
    rmdir(root.c_str());
    unlink(decoy.c_str());
}

TEST(VmConfig, DeclarationsAreParsedStrictly)
{
    ov_vm_decl d;
    std::string err;
    ASSERT_EQ(ov_vm_parse("g1=/dev/shm/g1,peer=192.168.7.2", &d, &err), OV_OK) << err;
    EXPECT_EQ(d.name, "g1");
    EXPECT_EQ(d.path, "/dev/shm/g1");
    EXPECT_EQ(d.peer, "192.168.7.2");
    ASSERT_EQ(ov_vm_parse("vm.b-2=/x", &d, &err), OV_OK);
    EXPECT_EQ(d.peer, "");
    ASSERT_EQ(ov_vm_parse("v=/x,peer=localhost", &d, &err), OV_OK);
    EXPECT_EQ(d.peer, "127.0.0.1");
    for (const char *bad : {"", "g1", "=/x", "g 1=/x", "g1=relative", "g1=", "g1=/x,peer=host.example",
                            "g1=/x,port=3", "g1=/x,peer=", "0123456789012345678901234567890123=/x"})
        EXPECT_EQ(ov_vm_parse(bad, &d, &err), OV_ERR_BAD_ARG) << bad;
}

TEST(VmConfig, StartRefusesInconsistentDeclarations)
{
    TempDir tmp;
    std::string file = tmp.path + "/r";
    ov_backend_options o;
    o.dir = tmp.path;
    o.handle_signals = false;
    o.region_size = 4u << 20;
    o.vms.push_back(ov_vm_decl{"g1", file, ""});
    {
        ov_backend b(o); /* --vm without --tcp */
        EXPECT_EQ(b.start(), OV_ERR_BAD_ARG);
    }
    o.tcp = "tcp:127.0.0.1:0";
    o.region_size = 3u << 20;
    {
        ov_backend b(o); /* not a power of two: no PCI BAR has that size */
        EXPECT_EQ(b.start(), OV_ERR_BAD_ARG);
    }
    o.region_size = 4u << 20;
    {
        ov_fd f(open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
        ASSERT_EQ(ftruncate(f.get(), 8 << 20), 0);
        ov_backend b(o); /* QEMU's size= and --region-mb disagree */
        EXPECT_EQ(b.start(), OV_ERR_BAD_ARG);
    }
    unlink(file.c_str());
    {
        ov_backend b(o); /* absent: created, 0600, sized */
        EXPECT_EQ(b.start(), OV_OK);
        struct stat st;
        ASSERT_EQ(stat(file.c_str(), &st), 0);
        EXPECT_EQ(uint64_t(st.st_size), 4u << 20);
        EXPECT_EQ(st.st_mode & 0777, 0600u);
    }
    o.vms.push_back(o.vms[0]);
    {
        ov_backend b(o);
        EXPECT_EQ(b.start(), OV_ERR_BAD_ARG) << "declared twice";
    }
    unlink(file.c_str());
}

#if defined(OV_BACKEND_BIN)
TEST(VmConfig, BackendBinaryTakesVmOptions)
{
    TempDir tmp;
    std::string file = tmp.path + "/g1.region";
    uint16_t port = free_port();
    std::string uri = "tcp:127.0.0.1:" + std::to_string(port);
    int st = 0;
    pid_t bad = spawn({OV_BACKEND_BIN, "--dir", tmp.path, "--tcp", uri, "--vm", "g1=relative"});
    waitpid(bad, &st, 0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 1) << "usage error";
    pid_t be = spawn({OV_BACKEND_BIN, "--dir", tmp.path, "--tcp", uri, "--region-mb", "4", "--vm",
                      "g1=" + file + ",peer=127.0.0.1"});
    set_env("OMPI_VIRT_IVSHMEM_PATH", file);
    ov_fe_params_t p = fe_params(uri, "g1", 3, 0);
    ov_fe_t *fe = nullptr;
    ov_status_t s = OV_ERR_SYS;
    for (int i = 0; i < 300 && s == OV_ERR_SYS; i++) { /* until it listens */
        ov_fe_close(fe);
        fe = nullptr;
        s = ov_fe_connect(&p, &fe);
        if (s == OV_ERR_SYS)
            usleep(10000);
    }
    EXPECT_EQ(s, OV_OK) << ov_fe_last_error(fe);
    ov_fe_close(fe);
    unsetenv("OMPI_VIRT_IVSHMEM_PATH");
    kill(be, SIGTERM);
    waitpid(be, &st, 0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    unlink(file.c_str());
}
#endif
