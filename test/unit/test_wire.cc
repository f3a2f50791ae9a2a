/*
 * test_wire.cc — control message decoding (header checks, payload decoders,
 * guest names, STATUS records) and URI parsing.
 */
#include <gtest/gtest.h>

#include "ov_comm.h"
#include "wire.h"

TEST(Wire, HeaderChecks)
{
    ov_msg_hdr h{OV_MSG_MAGIC, OV_PROTOCOL_VERSION, OV_MSG_HELLO, 64, 1};
    EXPECT_EQ(ov_msg_check_hdr(h, false), OV_OK);
    EXPECT_EQ(ov_msg_check_hdr(h, true), OV_ERR_PROTO);
    h.type |= OV_MSG_REPLY;
    EXPECT_EQ(ov_msg_check_hdr(h, true), OV_OK);
    h = {OV_MSG_MAGIC + 1, OV_PROTOCOL_VERSION, OV_MSG_HELLO, 0, 0};
    EXPECT_EQ(ov_msg_check_hdr(h, false), OV_ERR_PROTO);
    h = {OV_MSG_MAGIC, OV_PROTOCOL_VERSION + 1, OV_MSG_HELLO, 0, 0};
    EXPECT_EQ(ov_msg_check_hdr(h, false), OV_ERR_VERSION);
    h = {OV_MSG_MAGIC, OV_PROTOCOL_VERSION, 0, 0, 0};
    EXPECT_EQ(ov_msg_check_hdr(h, false), OV_ERR_PROTO);
    h = {OV_MSG_MAGIC, OV_PROTOCOL_VERSION, OV_MSG_TYPE_MAX, 0, 0};
    EXPECT_EQ(ov_msg_check_hdr(h, false), OV_ERR_PROTO);
    h = {OV_MSG_MAGIC, OV_PROTOCOL_VERSION, OV_MSG_HELLO, OV_MSG_MAX_PAYLOAD + 1, 0};
    EXPECT_EQ(ov_msg_check_hdr(h, false), OV_ERR_PROTO);
}

TEST(Wire, GuestNames)
{
    char f[OV_GUEST_NAME_MAX] = {};
    auto set = [&](const char *s) {
        memset(f, 0, sizeof(f));
        memcpy(f, s, strlen(s));
    };
    set("node-1.example_a");
    EXPECT_TRUE(ov_guest_name_ok(f, sizeof(f)));
    set("");
    EXPECT_FALSE(ov_guest_name_ok(f, sizeof(f)));
    set("a/b");
    EXPECT_FALSE(ov_guest_name_ok(f, sizeof(f)));
    set("a b");
    EXPECT_FALSE(ov_guest_name_ok(f, sizeof(f)));
    memset(f, 'a', sizeof(f)); /* unterminated */
    EXPECT_FALSE(ov_guest_name_ok(f, sizeof(f)));
    set("abc");
    f[10] = 'x'; /* garbage after the NUL */
    EXPECT_FALSE(ov_guest_name_ok(f, sizeof(f)));
}

TEST(Wire, PayloadDecoders)
{
    ov_hello_req h{};
    memset(h.job_secret, 0xa5, sizeof(h.job_secret));
    strcpy(h.guest, "g1");
    ov_hello_req out;
    EXPECT_EQ(ov_decode_hello(&h, sizeof(h), &out), OV_OK);
    EXPECT_EQ(memcmp(out.job_secret, h.job_secret, sizeof(h.job_secret)), 0);
    EXPECT_EQ(ov_decode_hello(&h, sizeof(h) - 1, &out), OV_ERR_PROTO);
    h.reserved[0] = 1;
    EXPECT_EQ(ov_decode_hello(&h, sizeof(h), &out), OV_ERR_PROTO);
    h.reserved[0] = 0;
    h.role = OV_ROLE_BTL;
    EXPECT_EQ(ov_decode_hello(&h, sizeof(h), &out), OV_OK);
    h.role = OV_ROLE_MAX;
    EXPECT_EQ(ov_decode_hello(&h, sizeof(h), &out), OV_ERR_PROTO);
    h.role = 0;
    ov_btl_segment_req b{4, 0, 0}, bo;
    EXPECT_EQ(ov_decode_btl_segment(&b, sizeof(b), &bo), OV_OK);
    EXPECT_EQ(bo.nranks, 4u);
    b.reserved = 1;
    EXPECT_EQ(ov_decode_btl_segment(&b, sizeof(b), &bo), OV_ERR_PROTO);
    ov_grant_req g{1, 1, 0, 4};
    ov_grant_req go;
    EXPECT_EQ(ov_decode_grant(&g, sizeof(g), &go), OV_ERR_PROTO); /* unknown perm bit */
    g.perms = OV_PERM_READ;
    EXPECT_EQ(ov_decode_grant(&g, sizeof(g), &go), OV_OK);
    ov_win_create_req w{10, 1};
    ov_win_create_req wo;
    EXPECT_EQ(ov_decode_win_create(&w, sizeof(w), &wo), OV_ERR_PROTO);
    uint64_t z = 0, nz = 1;
    EXPECT_EQ(ov_decode_empty(&z, 8), OV_OK);
    EXPECT_EQ(ov_decode_empty(&nz, 8), OV_ERR_PROTO);
    EXPECT_EQ(ov_decode_empty(&z, 4), OV_ERR_PROTO);
}

TEST(Wire, StatusRoundTripAndTruncation)
{
    ov_status_snapshot s;
    s.head.backend_pid = 42;
    s.guests.push_back(ov_status_guest{});
    strcpy(s.guests[0].name, "g");
    s.procs.push_back(ov_status_proc{});
    s.wins.push_back(ov_status_win{3, 1, 2, 0, 4096, 7});
    std::vector<uint8_t> buf;
    ov_status_encode(s, &buf);
    ov_status_snapshot o;
    ASSERT_EQ(ov_status_decode(buf.data(), uint32_t(buf.size()), &o), OV_OK);
    EXPECT_EQ(o.head.backend_pid, 42u);
    EXPECT_EQ(o.wins.at(0).size, 4096u);
    EXPECT_EQ(ov_status_decode(buf.data(), uint32_t(buf.size() - 1), &o), OV_ERR_PROTO);
    buf[sizeof(ov_status_head) + sizeof(ov_status_guest) + 4] = 9; /* proc's guest_idx out of range */
    EXPECT_EQ(ov_status_decode(buf.data(), uint32_t(buf.size()), &o), OV_ERR_PROTO);
}

TEST(Wire, Uris)
{
    ov_comm_uri u;
    ASSERT_EQ(ov_comm_parse_uri("unix:/run/ompi-virt/backend.sock", &u), OV_OK);
    EXPECT_EQ(u.kind, OV_COMM_UNIX);
    EXPECT_EQ(u.path, "/run/ompi-virt/backend.sock");
    ASSERT_EQ(ov_comm_parse_uri("tcp:127.0.0.1:4567", &u), OV_OK);
    EXPECT_EQ(u.kind, OV_COMM_TCP);
    EXPECT_EQ(u.port, 4567);
    ASSERT_EQ(ov_comm_parse_uri("tcp:localhost:1", &u), OV_OK);
    EXPECT_EQ(u.host, "127.0.0.1");
    for (const char *bad : {"", "unix:", "tcp:1.2.3.4", "tcp::5", "tcp:1.2.3.4:", "tcp:1.2.3.4:70000",
                            "tcp:host.example:5", "vsock:3:5", "/run/x.sock"})
        EXPECT_EQ(ov_comm_parse_uri(bad, &u), OV_ERR_BAD_ARG) << bad;
    EXPECT_EQ(ov_comm_parse_uri(nullptr, &u), OV_ERR_BAD_ARG);
}
