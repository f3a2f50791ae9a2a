/*
 * fuzz_decode.cc — libFuzzer target for everything the backend decodes from
 * guest-written bytes: control-message streams (header check + every payload
 * decoder + STATUS records) and request descriptors (ring copy + validation).
 * Built by `make fuzz` with clang++ -fsanitize=fuzzer,address,undefined.
 */
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <vector>

#include "exec.h"
#include "ov_comm.h"
#include "ov_ring.h"
#include "validate.h"
#include "wire.h"

namespace {
/* Windows 1 and 2 of job 7 (2 granted to rank 0), window 3 of job 8; each
 * in its own region, at offset 4096.  Window 4 is registered: 1 KiB of proc
 * 2's memory at OWNER, granted to rank 0.  Regions and the fake process
 * memories are heap buffers of exactly their size, so ASan sees any byte
 * outside them. */
const uint64_t CALLER = 0x10000, OWNER = 0x20000;
class Wins : public ov_win_lookup {
public:
    std::map<uint32_t, ov_win_info> w;
    Wins()
    {
        w[1] = {1, 1, 1, 7, 1, 4096, 4096, OV_MEM_REGION};
        w[2] = {2, 5, 2, 7, 2, 4096, 65536, OV_MEM_REGION};
        w[3] = {3, 1, 3, 8, 3, 4096, 1, OV_MEM_REGION};
        w[4] = {4, 2, 2, 7, 0, OWNER + 1024, 1024, OV_MEM_OWNER};
    }
    const ov_win_info *find(uint32_t id) const override
    {
        auto it = w.find(id);
        return it == w.end() ? nullptr : &it->second;
    }
    uint32_t grant(const ov_win_info &i, const ov_requester &who) const override
    {
        return (i.id == 2 || i.id == 4) && who.rank == 0 ? OV_PERM_READ | OV_PERM_WRITE : 0;
    }
};

/* The executor's view: region spans must lie inside a window of that
 * region, and owner memory inside a registered window of that owner (the
 * property); caller memory is 4 KiB at CALLER, proc 2's is 4 KiB at OWNER. */
class Env : public ov_exec_env {
public:
    const Wins &wins;
    std::vector<char> *regions[4];
    std::vector<char> caller = std::vector<char>(4096), owner = std::vector<char>(4096);
    explicit Env(const Wins &w) : wins(w)
    {
        static std::vector<char> r1(8192), r2(4096 + 65536), r3(4097);
        regions[0] = nullptr;
        regions[1] = &r1;
        regions[2] = &r2;
        regions[3] = &r3;
    }
    char *region_span(uint32_t region, uint64_t off, uint64_t len) override
    {
        bool inside = false;
        for (auto &kv : wins.w)
            inside |= kv.second.region == region && off >= kv.second.region_off &&
                      ov_in_bounds(off - kv.second.region_off, len, kv.second.size);
        if (!inside || region == 0 || region > 3)
            __builtin_trap(); /* a validated plan stepped outside every window */
        return regions[region]->data() + off;
    }
    ov_status_t caller_read(uint64_t a, void *dst, uint64_t len) override
    {
        if (a < CALLER || !ov_in_bounds(a - CALLER, len, caller.size()))
            return OV_ERR_LOCAL_ACCESS;
        std::memcpy(dst, caller.data() + (a - CALLER), len);
        return OV_OK;
    }
    ov_status_t caller_write(uint64_t a, const void *src, uint64_t len) override
    {
        if (a < CALLER || !ov_in_bounds(a - CALLER, len, caller.size()))
            return OV_ERR_LOCAL_ACCESS;
        std::memcpy(caller.data() + (a - CALLER), src, len);
        return OV_OK;
    }
    char *owner_span(uint32_t proc, uint64_t a, uint64_t len)
    {
        bool inside = false;
        for (auto &kv : wins.w)
            inside |= kv.second.mem == OV_MEM_OWNER && kv.second.owner_proc == proc && a >= kv.second.region_off &&
                      ov_in_bounds(a - kv.second.region_off, len, kv.second.size);
        if (!inside || proc != 2 || a < OWNER || !ov_in_bounds(a - OWNER, len, owner.size()))
            __builtin_trap(); /* touched owner memory outside its registered windows */
        return owner.data() + (a - OWNER);
    }
    ov_status_t proc_read(uint32_t proc, uint64_t a, void *dst, uint64_t len) override
    {
        std::memcpy(dst, owner_span(proc, a, len), len);
        return OV_OK;
    }
    ov_status_t proc_write(uint32_t proc, uint64_t a, const void *src, uint64_t len) override
    {
        std::memcpy(owner_span(proc, a, len), src, len);
        return OV_OK;
    }
};

void fuzz_control(const uint8_t *p, size_t n)
{
    while (n >= sizeof(ov_msg_hdr)) {
        ov_msg_hdr h;
        std::memcpy(&h, p, sizeof(h));
        p += sizeof(h);
        n -= sizeof(h);
        if (ov_msg_check_hdr(h, false) != OV_OK && ov_msg_check_hdr(h, true) != OV_OK)
            return;
        uint32_t len = h.len <= n ? h.len : uint32_t(n);
        union {
            ov_hello_req hello;
            ov_attach_req attach;
            ov_rings_req rings;
            ov_win_create_req wc;
            ov_win_ref_req wr;
            ov_grant_req g;
            ov_win_register_req reg;
        } u;
        switch (h.type & ~OV_MSG_REPLY) {
        case OV_MSG_HELLO: ov_decode_hello(p, len, &u.hello); break;
        case OV_MSG_ATTACH: ov_decode_attach(p, len, &u.attach); break;
        case OV_MSG_RINGS: ov_decode_rings(p, len, &u.rings); break;
        case OV_MSG_WIN_CREATE: ov_decode_win_create(p, len, &u.wc); break;
        case OV_MSG_WIN_FREE: ov_decode_win_ref(p, len, &u.wr); break;
        case OV_MSG_GRANT:
        case OV_MSG_REVOKE: ov_decode_grant(p, len, &u.g); break;
        case OV_MSG_WIN_REGISTER: ov_decode_fixed(p, len, &u.reg); break;
        case OV_MSG_STATUS: {
            ov_status_snapshot s;
            if (h.type & OV_MSG_REPLY)
                ov_status_decode(p, len, &s);
            else
                ov_decode_empty(p, len);
            break;
        }
        default: ov_decode_empty(p, len);
        }
        p += len;
        n -= len;
    }
}

/* Folds a descriptor's fields into plausible ranges (live windows, right
 * epochs, small offsets, valid sizes) so the fuzzer reaches deep execution
 * paths quickly; hostile values keep coming through the raw mode. */
void normalize(ov_req_desc &d, const Wins &wins)
{
    static const uint16_t sizes[] = {1, 2, 4, 8, 16, 32};
    d.op %= OV_OP_MAX;
    d.flags %= 16; /* LOCAL_VA, EXCLUSIVE, STREAM, INLINE */
    d.target_win = 1 + d.target_win % 4;
    d.target_epoch = wins.w.at(d.target_win).epoch;
    d.target_off %= d.op == OV_OP_LOCK || d.op == OV_OP_UNLOCK ? 4 : 128;
    if (d.flags & OV_REQ_INLINE) {
        /* local_win .. local_off are payload: leave them as they came */
        if (d.result_off & 1)
            d.result_off = 0;
    } else if (d.flags & OV_REQ_LOCAL_VA) {
        d.local_win = d.local_epoch = 0;
        d.local_off = CALLER + d.local_off % 4200; /* now and then past the end */
        d.result_off = CALLER + d.result_off % 4200;
    } else {
        d.local_win = 1 + d.local_win % 4; /* 1: proc 1, 2: proc 2, 3: other job, 4: proc 2 registered */
        d.local_epoch = wins.w.at(d.local_win).epoch;
        d.local_off %= 4112;
        d.result_off %= 4112;
    }
    bool acc = d.op == OV_OP_ACC || d.op == OV_OP_GET_ACC;
    d.acc_op = acc ? d.acc_op % OV_ACC_MAX_OP : 0;
    d.dtype_kind %= OV_DT_KIND_MAX;
    d.dtype_size = sizes[d.dtype_size % 6];
    d.length = d.op == OV_OP_CAS ? d.dtype_size : d.dtype_size * (d.length % 16);
    if (d.op != OV_OP_GET_ACC && d.op != OV_OP_CAS)
        d.result_off = 0;
}

void fuzz_ring(const uint8_t *p, size_t n, bool single_copy, bool plausible)
{
    /* a guest-owned request ring whose index and slots come from the input;
     * the low 4 bits of the index say how many slots carry this lap's
     * stamp (the rest keep the input's stamps) */
    alignas(64) static ov_ring_idx idx;
    static ov_req_desc slots[8];
    if (n < 8)
        return;
    uint64_t tail;
    std::memcpy(&tail, p, 8);
    p += 8;
    n -= 8;
    std::memset(slots, 0, sizeof(slots));
    std::memcpy(slots, p, n < sizeof(slots) ? n : sizeof(slots));
    for (uint64_t i = 0; i < (tail & 15) && i < 8; i++)
        slots[i].stamp = ov_ring_stamp(i, ov_ring_lap_shift(8));
    ov_ring_init(&idx, 0);
    idx.tail.store(tail);
    ov_ring_consumer<ov_req_desc> c(&idx, slots, 8, 0);
    Wins wins;
    Env env(wins);
    ov_lock_table locks(4, 16);
    ov_exec_scratch scratch;
    ov_requester who{1, 7, 0, OV_FEAT_INLINE | (single_copy ? OV_FEAT_SINGLE_COPY : 0u)};
    ov_limits lim;
    lim.max_length = 1 << 17;
    ov_req_desc d;
    for (int i = 0; i < 16 && c.pop(&d) == OV_RING_OK; i++) {
        if (plausible)
            normalize(d, wins);
        /* two requesters take turns, so locks conflict; now and then one
         * dies or a window is freed */
        who.proc_id = 1 + (d.cookie & 1);
        if ((d.cookie & 0x1e) == 0x1e)
            locks.release_process(2);
        if ((d.cookie & 0x3e) == 0x20)
            locks.release_window(uint32_t(d.cookie >> 8) % 4);
        ov_copy_plan plan;
        if (ov_validate(d, who, wins, lim, &plan) != OV_OK)
            continue;
        if ((plan.origin.where == OV_AT_CALLER || plan.result.where == OV_AT_CALLER) &&
            !(who.features & OV_FEAT_SINGLE_COPY))
            __builtin_trap(); /* caller memory without single copy */
        if ((plan.origin.where == OV_AT_INLINE && plan.origin.len > OV_INLINE_ORIGIN_MAX) ||
            (plan.result.where == OV_AT_INLINE && plan.result.len > OV_INLINE_RESULT_MAX))
            __builtin_trap(); /* inline operands longer than the rings carry */
        uint64_t moved = 0;
        /* executes every op on real bytes; region_span() checks the property */
        ov_execute(plan, who.proc_id, env, locks, scratch, &moved);
        if (moved > plan.len)
            __builtin_trap();
    }
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        fuzz_control(data + 1, size - 1);
    else
        fuzz_ring(data + 1, size - 1, (data[0] & 2) != 0, (data[0] & 4) != 0); /* single copy; plausible */
    return 0;
}
