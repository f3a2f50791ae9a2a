/*
 * test_btl_segment.cc — btl vmshm's shared structures without MPI: the
 * segment layout check, the multi-producer FIFO, the fast box, and the
 * channel of two ranks on one segment (order across both ways, fragment
 * return, hostile values).
 */
#include <gtest/gtest.h>

#include <sys/mman.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "ov_btl_segment.h"
#include "vmshm_channel.h"

namespace {

/* A zeroed anonymous shared mapping of one segment's size, header written. */
struct Seg {
    ov_bseg_geom g;
    char *base = nullptr;
    explicit Seg(uint32_t nranks) : g(ov_bseg_geometry(nranks))
    {
        void *p = mmap(nullptr, g.size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            abort();
        base = static_cast<char *>(p);
        ov_bseg_init_hdr(base, g, 7, 0x1234, 1);
    }
    ~Seg() { munmap(base, g.size); }
    ov_bseg_hdr *hdr() { return reinterpret_cast<ov_bseg_hdr *>(base); }
};

} // namespace

TEST(BtlSegment, GeometryIsInsideTheSegmentAndAligned)
{
    for (uint32_t n : {1u, 2u, 3u, 4u, 17u, OV_BSEG_MAX_RANKS}) {
        const ov_bseg_geom g = ov_bseg_geometry(n);
        EXPECT_GE(g.fifo_slots, n * OV_BSEG_FRAGS_PER_RANK);
        EXPECT_EQ(g.fifo_slots & (g.fifo_slots - 1), 0u);
        EXPECT_LT(g.members_off, g.fifos_off);
        EXPECT_LE(g.fifos_off + n * g.fifo_stride, g.frags_off);
        EXPECT_LE(g.frags_off + uint64_t(n) * g.frags_per_rank * g.frag_size, g.fboxes_off);
        EXPECT_LE(g.fboxes_off + uint64_t(n) * n * g.fbox_stride, g.size);
        EXPECT_EQ(g.size % 4096, 0u);
        EXPECT_EQ(g.frags_off % OV_BSEG_LINE, 0u);
        EXPECT_EQ(g.fbox_stride % OV_BSEG_LINE, 0u);
    }
}

TEST(BtlSegment, HeaderCheckedOnce)
{
    Seg s(4);
    ov_bseg_geom g;
    EXPECT_EQ(ov_bseg_check(s.base, s.g.size, 4, &g), OV_OK);
    EXPECT_EQ(g.fboxes_off, s.g.fboxes_off);
    EXPECT_EQ(ov_bseg_check(s.base, s.g.size, 3, &g), OV_ERR_LAYOUT);     /* another job size */
    EXPECT_EQ(ov_bseg_check(s.base, s.g.size - 4096, 4, &g), OV_ERR_LAYOUT); /* mapped size */
    EXPECT_EQ(ov_bseg_check(s.base, s.g.size, 0, &g), OV_ERR_LAYOUT);
    s.hdr()->fifos_off += 64; /* a scribbled offset table */
    EXPECT_EQ(ov_bseg_check(s.base, s.g.size, 4, &g), OV_ERR_LAYOUT);
    s.hdr()->fifos_off -= 64;
    s.hdr()->layout_version = OV_BSEG_LAYOUT_VERSION + 1;
    EXPECT_EQ(ov_bseg_check(s.base, s.g.size, 4, &g), OV_ERR_VERSION);
    s.hdr()->magic = 0;
    EXPECT_EQ(ov_bseg_check(s.base, s.g.size, 4, &g), OV_ERR_LAYOUT);
}

TEST(BtlSegment, LocateFragAcceptsOnlyFragmentBoundaries)
{
    const ov_bseg_geom g = ov_bseg_geometry(4);
    uint32_t owner, index;
    bool back;
    ASSERT_TRUE(ov_bseg_locate_frag(g, ov_bseg_frag_off(g, 2, 5), &owner, &index, &back));
    EXPECT_EQ(owner, 2u);
    EXPECT_EQ(index, 5u);
    EXPECT_FALSE(back);
    ASSERT_TRUE(ov_bseg_locate_frag(g, ov_bseg_frag_off(g, 3, 31) | OV_BSEG_FIFO_RETURN, &owner, &index, &back));
    EXPECT_TRUE(back);
    EXPECT_EQ(owner, 3u);
    EXPECT_FALSE(ov_bseg_locate_frag(g, ov_bseg_frag_off(g, 2, 5) + 8, &owner, &index, &back));
    EXPECT_FALSE(ov_bseg_locate_frag(g, g.frags_off - g.frag_size, &owner, &index, &back));
    EXPECT_FALSE(ov_bseg_locate_frag(g, ov_bseg_frag_off(g, 4, 0), &owner, &index, &back)); /* past the last */
    EXPECT_FALSE(ov_bseg_locate_frag(g, ~0ull, &owner, &index, &back));
    EXPECT_FALSE(ov_bseg_locate_frag(g, 0, &owner, &index, &back));
}

TEST(BtlFifo, EmptyFullAndWrapAround)
{
    Seg s(1); /* 32 slots */
    ov_bfifo prod(ov_bseg_fifo_at(s.base, s.g, 0), s.g.fifo_slots);
    ov_bfifo cons(ov_bseg_fifo_at(s.base, s.g, 0), s.g.fifo_slots);
    uint64_t v;
    EXPECT_FALSE(cons.pop(&v));
    uint64_t next_in = 0, next_out = 0;
    for (int lap = 0; lap < 50; ++lap) { /* 50 laps of a 32-slot ring, varying fill */
        const uint32_t fill = lap % 2 ? s.g.fifo_slots : 1 + lap % 7;
        for (uint32_t i = 0; i < fill; ++i)
            ASSERT_TRUE(prod.push(next_in++));
        if (fill == s.g.fifo_slots)
            EXPECT_FALSE(prod.push(999)); /* full */
        for (uint32_t i = 0; i < fill; ++i) {
            ASSERT_TRUE(cons.pop(&v));
            ASSERT_EQ(v, next_out++);
        }
        EXPECT_FALSE(cons.pop(&v));
    }
}

TEST(BtlFifo, ManyProducerThreadsLoseNothing)
{
    Seg s(4); /* 128 slots */
    const int producers = 4, per = 20000;
    ov_bfifo cons(ov_bseg_fifo_at(s.base, s.g, 1), s.g.fifo_slots);
    std::atomic<bool> stop{false};
    std::vector<std::thread> th;
    for (int p = 0; p < producers; ++p)
        th.emplace_back([&, p] {
            ov_bfifo prod(ov_bseg_fifo_at(s.base, s.g, 1), s.g.fifo_slots);
            for (int i = 0; i < per && !stop.load();) {
                if (prod.push((uint64_t(p) << 32) | uint64_t(i)))
                    ++i;
                else
                    std::this_thread::yield();
            }
        });
    std::vector<int> next(producers, 0);
    int got = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (got < producers * per && std::chrono::steady_clock::now() < deadline) {
        uint64_t v;
        if (!cons.pop(&v))
            continue;
        const int p = int(v >> 32), i = int(v & 0xffffffff);
        ASSERT_LT(p, producers);
        ASSERT_EQ(i, next[p]) << "producer " << p; /* each producer's values stay in order */
        ++next[p];
        ++got;
    }
    stop = true;
    for (auto &t : th)
        t.join();
    EXPECT_EQ(got, producers * per);
}

TEST(BtlFifo, ScribbledIndicesNeitherHangNorInventOrder)
{
    Seg s(1);
    ov_bfifo_ctl *ctl = ov_bseg_fifo_at(s.base, s.g, 0);
    auto *slots = reinterpret_cast<ov_bfifo_slot *>(ctl + 1);
    ov_bfifo prod(ctl, s.g.fifo_slots), cons(ctl, s.g.fifo_slots);
    ctl->tail.store(12345); /* a peer moved the producers' tail */
    EXPECT_FALSE(prod.push(1)); /* slot sequence disagrees: refused, bounded, no spin */
    uint64_t v;
    EXPECT_FALSE(cons.pop(&v)); /* the consumer's head is private: nothing appears */
    ctl->tail.store(0);
    slots[0].rseq.store(1); /* a forged "ready" slot: pop returns it, the value is validated by the caller */
    slots[0].value.store(~0ull);
    ASSERT_TRUE(cons.pop(&v));
    EXPECT_EQ(v, ~0ull);
    for (uint32_t i = 0; i < s.g.fifo_slots; ++i) /* garbage everywhere */
        slots[i].rseq.store(0xdeadbeefull * (i + 1));
    EXPECT_FALSE(prod.push(2));
    for (int i = 0; i < 4; ++i)
        (void) cons.pop(&v); /* returns quickly whatever it finds */
}

TEST(BtlFbox, MessagesWrapAroundWithSkips)
{
    Seg s(2);
    ov_bfbox_writer w(ov_bseg_fbox_at(s.base, s.g, 0, 1));
    ov_bfbox_reader r(ov_bseg_fbox_at(s.base, s.g, 0, 1));
    ov_bfbox_reader::message m;
    EXPECT_EQ(r.peek(&m), ov_bfbox_reader::EMPTY);
    uint32_t seq = 0, want = 0;
    for (int i = 0; i < 5000; ++i) { /* sizes 0..511 walk the ring many times */
        const uint32_t len = uint32_t(i * 37) % OV_BSEG_FBOX_MAX;
        char *p = w.reserve(len);
        while (p == nullptr) { /* full (a skip may need more than one entry's room): drain and retry */
            ASSERT_EQ(r.peek(&m), ov_bfbox_reader::MESSAGE);
            ASSERT_EQ(m.seq, want++);
            r.consume();
            p = w.reserve(len);
        }
        ASSERT_NE(p, nullptr);
        memset(p, int(seq & 0xff), len);
        w.commit(len, uint8_t(seq), seq);
        ++seq;
        if (i % 3 == 0) {
            ASSERT_EQ(r.peek(&m), ov_bfbox_reader::MESSAGE);
            ASSERT_EQ(m.seq, want);
            const uint32_t l = (want * 37) % OV_BSEG_FBOX_MAX;
            ASSERT_EQ(m.size, l);
            for (uint32_t k = 0; k < l; ++k)
                ASSERT_EQ(uint8_t(m.payload[k]), uint8_t(want & 0xff));
            ++want;
            r.consume();
        }
    }
    while (r.peek(&m) == ov_bfbox_reader::MESSAGE) {
        ASSERT_EQ(m.seq, want++);
        r.consume();
    }
    EXPECT_EQ(want, seq);
    EXPECT_EQ(w.reserve(OV_BSEG_FBOX_MAX + 1), nullptr); /* too large for a box */
}

TEST(BtlFbox, FullBoxRefusesUntilRead)
{
    Seg s(2);
    ov_bfbox_writer w(ov_bseg_fbox_at(s.base, s.g, 1, 0));
    ov_bfbox_reader r(ov_bseg_fbox_at(s.base, s.g, 1, 0));
    int n = 0;
    while (char *p = w.reserve(100)) {
        (void) p;
        w.commit(100, 1, uint32_t(n++));
    }
    EXPECT_EQ(n, int(OV_BSEG_FBOX_DATA / ov_bfbox_entry_bytes(100)));
    ov_bfbox_reader::message m;
    ASSERT_EQ(r.peek(&m), ov_bfbox_reader::MESSAGE);
    r.consume();
    /* The next entry wraps to offset 0 and the writer zeroes the 8 bytes
     * after it (layout 2): with only the first entry read, that zero would
     * land on the unread second one, so the box still refuses. */
    EXPECT_EQ(w.reserve(100), nullptr);
    ASSERT_EQ(r.peek(&m), ov_bfbox_reader::MESSAGE);
    EXPECT_EQ(m.seq, 1u);
    r.consume();
    char *p = w.reserve(100);
    ASSERT_NE(p, nullptr);
    memset(p, 0xab, 100);
    w.commit(100, 2, uint32_t(n));
    /* the reader still sees every message in order, then the wrapped one */
    for (int want = 2; want < n; ++want) {
        ASSERT_EQ(r.peek(&m), ov_bfbox_reader::MESSAGE);
        EXPECT_EQ(m.seq, uint32_t(want));
        r.consume();
    }
    ASSERT_EQ(r.peek(&m), ov_bfbox_reader::MESSAGE);
    EXPECT_EQ(m.seq, uint32_t(n));
    EXPECT_EQ(m.tag, 2);
    EXPECT_EQ(static_cast<unsigned char>(m.payload[99]), 0xab);
    r.consume();
    EXPECT_EQ(r.peek(&m), ov_bfbox_reader::EMPTY);
}

TEST(BtlFbox, HostileWriterIsCaughtAndTheBoxStaysShut)
{
    Seg s(2);
    ov_bfbox_ctl *ctl = ov_bseg_fbox_at(s.base, s.g, 0, 1);
    char *data = reinterpret_cast<char *>(ctl + 1);
    ov_bfbox_reader::message m;
    auto put = [&](uint32_t off, ov_bfbox_entry e) { memcpy(data + off, &e, sizeof(e)); };
    {   /* a skip at offset 0: an entry always fits there */
        ov_bfbox_reader r(ctl);
        put(0, ov_bfbox_entry{0, 0, OV_BFBOX_SKIP, 0});
        EXPECT_EQ(r.peek(&m), ov_bfbox_reader::CORRUPT);
        memset(data, 0, 8);
        EXPECT_EQ(r.peek(&m), ov_bfbox_reader::CORRUPT); /* sticky */
    }
    {   /* an entry longer than allowed */
        ov_bfbox_reader r(ctl);
        put(0, ov_bfbox_entry{uint16_t(OV_BSEG_FBOX_MAX + 8), 1, OV_BFBOX_MSG, 0});
        EXPECT_EQ(r.peek(&m), ov_bfbox_reader::CORRUPT);
    }
    {   /* an entry running past the ring's end, reached through a skip the
         * honest way: a writer fills the ring up to its last 512 bytes */
        memset(data, 0, OV_BSEG_FBOX_DATA);
        ctl->tail.store(0);
        ov_bfbox_writer w(ctl);
        ov_bfbox_reader r(ctl);
        uint32_t n = 0;
        while (n < (OV_BSEG_FBOX_DATA - OV_BSEG_FBOX_MAX) / 8) { /* 8-byte messages: 16 bytes each */
            ASSERT_NE(w.reserve(8), nullptr);
            w.commit(8, 1, n);
            ASSERT_EQ(r.peek(&m), ov_bfbox_reader::MESSAGE);
            ASSERT_EQ(m.seq, n++);
            r.consume();
            if (n * 16 >= OV_BSEG_FBOX_DATA - OV_BSEG_FBOX_MAX)
                break;
        }
        const uint32_t off = n * 16; /* the reader's tail, 8-aligned, < 512 bytes from the end */
        ASSERT_LT(OV_BSEG_FBOX_DATA - off, ov_bfbox_entry_bytes(OV_BSEG_FBOX_MAX));
        put(off, ov_bfbox_entry{uint16_t(OV_BSEG_FBOX_MAX), 1, OV_BFBOX_MSG, n});
        EXPECT_EQ(r.peek(&m), ov_bfbox_reader::CORRUPT);
    }
    {   /* an unknown kind */
        ov_bfbox_reader r(ctl);
        put(0, ov_bfbox_entry{0, 1, 77, 0});
        EXPECT_EQ(r.peek(&m), ov_bfbox_reader::CORRUPT);
    }
    {   /* a skip whose entry at 0 is an unknown kind */
        memset(data, 0, OV_BSEG_FBOX_DATA);
        ov_bfbox_writer w(ctl);
        ov_bfbox_reader r(ctl);
        ASSERT_NE(w.reserve(8), nullptr);
        w.commit(8, 1, 0);
        ASSERT_EQ(r.peek(&m), ov_bfbox_reader::MESSAGE);
        r.consume();
        put(16, ov_bfbox_entry{0, 0, OV_BFBOX_SKIP, 0});
        put(0, ov_bfbox_entry{8, 1, 9, 1});
        EXPECT_EQ(r.peek(&m), ov_bfbox_reader::CORRUPT);
    }
    {   /* a writer whose reader "consumed" more than was written, then moved
         * its tail backwards: the writer reads the tail only when its cached
         * one leaves no room, and refuses both */
        ctl->tail.store(4096 * 3);
        ov_bfbox_writer w(ctl);
        const uint32_t fit = OV_BSEG_FBOX_DATA / ov_bfbox_entry_bytes(64); /* before the first wrap */
        uint32_t sent = 0;
        for (char *p; sent <= fit && (p = w.reserve(64)) != nullptr; ++sent)
            w.commit(64, 1, sent);
        EXPECT_EQ(sent, fit);
        EXPECT_EQ(w.reserve(64), nullptr);
        ctl->tail.store(10 * ov_bfbox_entry_bytes(64)); /* an honest tail: room again */
        ASSERT_NE(w.reserve(64), nullptr);
        w.commit(64, 1, sent++);
        ctl->tail.store(ov_bfbox_entry_bytes(64)); /* backwards */
        for (uint32_t i = 0; i < fit && w.reserve(64) != nullptr; ++i)
            w.commit(64, 1, sent++);
        EXPECT_EQ(w.reserve(64), nullptr);
    }
}

/* ---------------------------------------------------------------- channel */

namespace {

struct Got {
    uint32_t src;
    uint8_t tag;
    std::string data;
};

struct Rank {
    vmshm_channel ch;
    std::vector<Got> got;
    std::vector<uint32_t> back;
    static void deliver(void *ctx, uint32_t src, uint8_t tag, const char *d, uint32_t len)
    {
        static_cast<Rank *>(ctx)->got.push_back({src, tag, std::string(d, len)});
    }
    static void returned(void *ctx, uint32_t index)
    {
        auto *r = static_cast<Rank *>(ctx);
        r->back.push_back(index);
        r->ch.release(index);
    }
    Rank(Seg &s, uint32_t me) { EXPECT_EQ(ch.init(s.base, s.g, me, deliver, returned, this), OV_OK); }
    bool send_frag(uint32_t dest, uint8_t tag, const std::string &d)
    {
        int i = ch.alloc();
        if (i < 0)
            return false;
        memcpy(ch.payload(uint32_t(i)), d.data(), d.size());
        return ch.post(uint32_t(i), dest, tag, uint32_t(d.size()));
    }
    bool send_box(uint32_t dest, uint8_t tag, const std::string &d)
    {
        char *p = ch.fbox_reserve(dest, uint32_t(d.size()));
        if (!p)
            return false;
        memcpy(p, d.data(), d.size());
        ch.fbox_commit(dest, tag, uint32_t(d.size()));
        return true;
    }
};

} // namespace

TEST(BtlChannel, BothWaysDeliverInSendOrderAndFragmentsComeBack)
{
    Seg s(2);
    Rank a(s, 0), b(s, 1);
    b.ch.watch(0);
    std::vector<std::string> sent;
    for (int i = 0; i < 200; ++i) { /* interleave box and FIFO without polling in between */
        std::string d = "m" + std::to_string(i) + std::string(size_t(i % 5 == 0 ? 3000 : 10), char('a' + i % 26));
        bool ok = i % 5 == 0 ? a.send_frag(1, 65, d) : a.send_box(1, 65, d);
        if (!ok) {
            b.ch.poll();
            a.ch.poll(); /* fragments back */
            ok = i % 5 == 0 ? a.send_frag(1, 65, d) : a.send_box(1, 65, d);
        }
        ASSERT_TRUE(ok) << i;
        sent.push_back(d);
    }
    for (int k = 0; k < 100 && b.got.size() < sent.size(); ++k)
        b.ch.poll();
    a.ch.poll();
    ASSERT_EQ(b.got.size(), sent.size());
    for (size_t i = 0; i < sent.size(); ++i) {
        EXPECT_EQ(b.got[i].data, sent[i]) << i;
        EXPECT_EQ(b.got[i].src, 0u);
    }
    EXPECT_EQ(a.ch.in_flight(), 0u);
    EXPECT_EQ(a.back.size(), 40u);
    EXPECT_EQ(b.ch.stats().rejected, 0u);
}

TEST(BtlChannel, FragmentArrivingFirstWaitsForEarlierBoxMessages)
{
    Seg s(2);
    Rank a(s, 0), b(s, 1); /* b has not watched a's box yet: the fragment makes it */
    ASSERT_TRUE(a.send_box(1, 1, "first"));
    ASSERT_TRUE(a.send_frag(1, 1, "second"));
    ASSERT_TRUE(a.send_box(1, 1, "third"));
    for (int k = 0; k < 4; ++k)
        b.ch.poll();
    ASSERT_EQ(b.got.size(), 3u);
    EXPECT_EQ(b.got[0].data, "first");
    EXPECT_EQ(b.got[1].data, "second");
    EXPECT_EQ(b.got[2].data, "third");
}

TEST(BtlChannel, ForgedFifoValuesAreRejected)
{
    Seg s(3);
    Rank a(s, 0), b(s, 1);
    ov_bfifo to_b(ov_bseg_fifo_at(s.base, s.g, 1), s.g.fifo_slots);
    ASSERT_TRUE(to_b.push(12345));                                      /* not a fragment */
    ASSERT_TRUE(to_b.push(ov_bseg_frag_off(s.g, 1, 0)));                /* b's own fragment "sent" to b */
    ASSERT_TRUE(to_b.push(ov_bseg_frag_off(s.g, 1, 3) | OV_BSEG_FIFO_RETURN)); /* a return of one not in flight */
    ASSERT_TRUE(to_b.push(ov_bseg_frag_off(s.g, 0, 2) | OV_BSEG_FIFO_RETURN)); /* a return of someone else's */
    ov_bfrag_hdr h{};
    h.len = OV_BSEG_FRAG_PAYLOAD + 1; /* a fragment of a claiming too much */
    memcpy(s.base + ov_bseg_frag_off(s.g, 0, 7), &h, sizeof(h));
    ASSERT_TRUE(to_b.push(ov_bseg_frag_off(s.g, 0, 7)));
    b.ch.poll();
    EXPECT_TRUE(b.got.empty());
    EXPECT_TRUE(b.back.empty());
    EXPECT_EQ(b.ch.stats().rejected, 5u);
    /* the channel still works afterwards */
    ASSERT_TRUE(a.send_frag(1, 2, "ok"));
    b.ch.poll();
    ASSERT_EQ(b.got.size(), 1u);
    EXPECT_EQ(b.got[0].data, "ok");
}

TEST(BtlChannel, FragmentsRunOutAndReturn)
{
    Seg s(2);
    Rank a(s, 0), b(s, 1);
    int sent = 0;
    while (a.send_frag(1, 3, "x"))
        ++sent;
    EXPECT_EQ(sent, int(OV_BSEG_FRAGS_PER_RANK));
    EXPECT_EQ(a.ch.in_flight(), OV_BSEG_FRAGS_PER_RANK);
    b.ch.poll(64);
    a.ch.poll(64);
    EXPECT_EQ(a.ch.in_flight(), 0u);
    EXPECT_TRUE(a.send_frag(1, 3, "again"));
}
