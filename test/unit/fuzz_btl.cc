/*
 * fuzz_btl.cc — libFuzzer target for btl vmshm's receive side: whatever a
 * hostile rank of the job can write into the segment (FIFO slots and
 * values, fragment headers, fast-box indices and entries, member words),
 * then the receiving rank's vmshm_channel::poll.  Every delivery must lie
 * inside the segment and within the size limits; the segment is a heap
 * buffer of exactly its size, so ASan sees any byte read outside it.
 * Built by `make fuzz` with clang++ -fsanitize=fuzzer,address,undefined.
 */
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "ov_btl_segment.h"
#include "vmshm_channel.h"

namespace {

const uint32_t kRanks = 3;
const ov_bseg_geom g = ov_bseg_geometry(kRanks);
char *seg = nullptr;
uint64_t sink = 0;

void deliver(void *, uint32_t src, uint8_t, const char *data, uint32_t len)
{
    if (src >= kRanks || src == 0 || len > OV_BSEG_FRAG_PAYLOAD || data < seg || data + len > seg + g.size)
        abort();
    for (uint32_t i = 0; i < len; ++i) /* touch every byte: ASan checks each */
        sink += uint8_t(data[i]);
}

void returned(void *ctx, uint32_t index)
{
    if (index >= g.frags_per_rank)
        abort();
    static_cast<vmshm_channel *>(ctx)->release(index);
}

/* Copy n fuzz bytes to segment offset off (clamped inside the segment). */
void poke(uint64_t off, const uint8_t *p, size_t n)
{
    off %= g.size;
    if (n > g.size - off)
        n = size_t(g.size - off);
    std::memcpy(seg + off, p, n);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (seg == nullptr)
        seg = static_cast<char *>(std::malloc(g.size));
    std::memset(seg, 0, g.size);
    ov_bseg_init_hdr(seg, g, 1, 2, 3);
    vmshm_channel ch;
    if (ch.init(seg, g, 0, deliver, returned, &ch) != OV_OK)
        abort();
    ch.watch(1);
    ch.watch(2);
    /* a few fragments of ours in flight, so returns can be legitimate */
    for (int i = 0; i < 3; ++i) {
        int f = ch.alloc();
        if (f >= 0)
            (void) ch.post(uint32_t(f), 1 + uint32_t(i % 2), 1, 16);
    }
    ov_bfifo peer(ov_bseg_fifo_at(seg, g, 0), g.fifo_slots);
    size_t i = 0;
    while (i + 2 <= size) {
        const uint8_t op = data[i] % 6, arg = data[i + 1];
        i += 2;
        const size_t n = size - i < 24 ? size - i : 24;
        uint64_t v = 0;
        std::memcpy(&v, data + i, n < 8 ? n : 8);
        switch (op) {
        case 0: /* a value pushed the honest way: any 8 bytes */
            (void) peer.push(v);
            break;
        case 1: /* a fragment offset (maybe a return) pushed the honest way */
            (void) peer.push(ov_bseg_frag_off(g, arg % kRanks, (arg / kRanks) % g.frags_per_rank) |
                             (v & 1 ? OV_BSEG_FIFO_RETURN : 0));
            break;
        case 2: /* raw bytes into our FIFO's control words and slots */
            poke(g.fifos_off + uint64_t(arg) * 8, data + i, n);
            break;
        case 3: /* a fragment header of rank 1 or 2 */
            poke(ov_bseg_frag_off(g, 1 + arg % 2, (arg >> 1) % g.frags_per_rank), data + i, n);
            break;
        case 4: /* fast box 1->0 or 2->0: indices or entries */
            poke(g.fboxes_off + uint64_t(1 + arg % 2) * g.fbox_stride + (v >> 8) % g.fbox_stride, data + i + (n > 8 ? 8 : n),
                 n > 8 ? n - 8 : 0);
            break;
        case 5:
            ch.poll(1 + arg % 64);
            break;
        }
        i += n;
    }
    ch.poll(64);
    return 0;
}
