/*
 * exec.cc — execution of a validated plan (contract in exec.h).
 *
 * Every region pointer comes from env.region_span() with the exact length
 * this file then touches, so even a wrong plan cannot make it step outside
 * a region.
 */
#include "exec.h"

#include <cstring>

#include "copy_crew.h"
#include "ov_acc.h"
#include "ov_stream_copy.h"

namespace {

bool overlap(const char *a, const char *b, uint64_t len)
{
    uintptr_t x = uintptr_t(a), y = uintptr_t(b);
    return a && b && len && x < y + len && y < x + len;
}

bool reserve(std::vector<char> &v, uint64_t len) noexcept
{
    try {
        if (v.size() < len)
            v.resize(len);
        return true;
    } catch (...) { /* bad_alloc, or length_error for an absurd --max-request */
        return false;
    }
}

/* An OV_AT_INLINE operand's bytes: in the descriptor (origin) or the
 * scratch's inline_result (result), both backend memory. */
char *inline_bytes(const ov_operand &o) { return reinterpret_cast<char *>(static_cast<uintptr_t>(o.off)); }

/* len bytes src -> dst between resolved pointers: memmove, or (`stream`,
 * only for ranges that do not overlap) non-temporal stores, fenced so they
 * are done before the part is reported. */
void deliver(char *dst, const char *src, uint64_t len, bool stream)
{
    if (stream)
        ov_stream_copy(dst, src, len);
    else
        std::memmove(dst, src, len);
}

/* origin bytes (caller or region) -> dst; `stream`: region bytes that do not
 * overlap dst are written with non-temporal stores (OV_REQ_STREAM) */
ov_status_t read_origin(const ov_operand &o, uint64_t len, ov_exec_env &env, char *dst, bool stream = false)
{
    if (o.where == OV_AT_CALLER)
        return env.caller_read(o.off, dst, len);
    if (o.where == OV_AT_INLINE) {
        std::memcpy(dst, inline_bytes(o), len);
        return OV_OK;
    }
    const char *src = env.region_span(o.region, o.off, len);
    if (!src)
        return OV_ERR_BOUNDS;
    deliver(dst, src, len, stream);
    return OV_OK;
}

/* src -> result bytes (caller or region; copy_data() serves inline ones) */
ov_status_t write_result(const ov_operand &r, uint64_t len, ov_exec_env &env, const char *src)
{
    if (r.where == OV_AT_CALLER)
        return env.caller_write(r.off, src, len);
    char *dst = env.region_span(r.region, r.off, len);
    if (!dst)
        return OV_ERR_BOUNDS;
    deliver(dst, src, len, false);
    return OV_OK;
}

/* The result bytes the executor writes by pointer, resolved before anything
 * changes: a region span, or the inline bytes; NULL for a caller's result
 * (written through env) or none. */
ov_status_t result_span(const ov_copy_plan &p, uint64_t len, ov_exec_env &env, char **r)
{
    *r = nullptr;
    if (p.result.where == OV_AT_INLINE)
        *r = inline_bytes(p.result);
    else if (p.result.where == OV_AT_REGION && !(*r = env.region_span(p.result.region, p.result.off, len)))
        return OV_ERR_BOUNDS;
    return OV_OK;
}

/* The element arithmetic of one accumulate over [off, +n) of its bytes:
 * GET_ACC's old target bytes to r first, when r is given.  The parts of a
 * split accumulate are disjoint and whole elements (copy-crew parts start at
 * multiples of 4096, which every element size divides), and the backend
 * starts no other request before the last part returns: each element is
 * still updated exactly once, by one thread, in the same order relative to
 * every other request (atomic per element, one origin's accumulates in ring
 * order). */
struct split_acc {
    const ov_copy_plan *p;
    char *t;
    const char *o;
    char *r; /* GET_ACC: a result span that overlaps neither t nor o; else NULL */
};

ov_status_t acc_part(void *ctx, uint64_t off, uint64_t n)
{
    const split_acc &a = *static_cast<split_acc *>(ctx);
    if (a.r)
        std::memcpy(a.r + off, a.t + off, n);
    ov_acc_apply(a.p->acc_op, a.p->dtype_kind, a.p->dtype_size, a.t + off, a.o + off, n / a.p->dtype_size);
    return OV_OK;
}

/* ACC and GET_ACC on target t (p.len bytes). */
ov_status_t accumulate(const ov_copy_plan &p, char *t, ov_exec_env &env, ov_exec_scratch &s, uint64_t *moved,
                       bool *changed)
{
    const uint64_t len = p.len;
    if (p.dtype_size == 0)
        return OV_ERR_BAD_DTYPE;
    char *r; /* result in a region, or inline */
    if (ov_status_t st = result_span(p, len, env, &r); st != OV_OK)
        return st;
    const char *o = nullptr; /* origin bytes nothing below overwrites */
    if (p.origin.where == OV_AT_CALLER) {
        if (!reserve(s.origin, len))
            return OV_ERR_NOMEM;
        ov_status_t st = env.caller_read(p.origin.off, s.origin.data(), len);
        if (st != OV_OK)
            return st;
        o = s.origin.data();
    } else if (p.origin.where == OV_AT_INLINE) {
        o = inline_bytes(p.origin); /* the descriptor: nothing else points there */
    } else if (p.origin.where == OV_AT_REGION) {
        const char *src = env.region_span(p.origin.region, p.origin.off, len);
        if (!src)
            return OV_ERR_BOUNDS;
        o = src; /* exactly the target is fine: element-wise in place */
        if ((src != t && overlap(src, t, len)) || overlap(src, r, len)) {
            if (!reserve(s.origin, len))
                return OV_ERR_NOMEM;
            std::memcpy(s.origin.data(), src, len);
            o = s.origin.data();
        }
    }
    const uint64_t n = len / p.dtype_size;
    /* A large accumulate the crew shares (more than 2 cores): origin and
     * result apart from the target, so the parts are independent. */
    if (o && s.crew && s.crew->splits(len) && 4096 % p.dtype_size == 0 && (o == t || !overlap(o, t, len)) &&
        (p.op == OV_OP_ACC || (r && !overlap(r, t, len) && !overlap(r, o, len)))) {
        split_acc a{&p, t, o, p.op == OV_OP_GET_ACC ? r : nullptr};
        *changed = true;
        *moved = len;
        return s.crew->run(len, acc_part, &a);
    }
    if (p.op == OV_OP_GET_ACC) {
        if (p.result.where == OV_AT_CALLER) {
            ov_status_t st = env.caller_write(p.result.off, t, len); /* before the target changes */
            if (st != OV_OK)
                return st;
        } else if (overlap(r, t, len)) {
            if (!reserve(s.old, len))
                return OV_ERR_NOMEM;
            std::memcpy(s.old.data(), t, len);
            if (o)
                ov_acc_apply(p.acc_op, p.dtype_kind, p.dtype_size, t, o, n);
            std::memmove(r, s.old.data(), len); /* result bytes win */
            *moved = len;
            *changed = o != nullptr;
            return OV_OK;
        } else {
            std::memcpy(r, t, len);
        }
    }
    if (o) /* NULL only for NO_OP, which changes nothing */
        ov_acc_apply(p.acc_op, p.dtype_kind, p.dtype_size, t, o, n);
    *changed = o != nullptr;
    *moved = p.op == OV_OP_ACC && p.acc_op == OV_ACC_NO_OP ? 0 : len;
    return OV_OK;
}

ov_status_t cas(const ov_copy_plan &p, char *t, ov_exec_env &env, uint64_t *moved, bool *changed)
{
    const uint16_t sz = p.dtype_size;
    unsigned char ops[64], old[32], ignored[32]; /* origin then compare; old target */
    if (sz == 0 || sz > sizeof(old) || p.len != sz)
        return OV_ERR_BAD_DTYPE;
    char *r; /* result in a region, or inline */
    ov_status_t st = result_span(p, sz, env, &r);
    if (st != OV_OK)
        return st;
    if ((st = read_origin(p.origin, 2 * uint64_t(sz), env, reinterpret_cast<char *>(ops))) != OV_OK)
        return st;
    std::memcpy(old, t, sz);
    if (p.result.where == OV_AT_CALLER && (st = env.caller_write(p.result.off, old, sz)) != OV_OK)
        return st; /* before the target changes */
    *changed = ov_acc_cas(t, ops, ops + sz, ignored, sz);
    if (r)
        std::memmove(r, old, sz); /* last: result bytes win an overlap */
    *moved = sz;
    return OV_OK;
}

/* PUT (origin -> t) or GET (t -> result) of p.len bytes, split across the
 * copy crew when there is one; a region operand overlapping t is copied in
 * one piece (memmove semantics).  `stream`: a PUT from region bytes that
 * asked for it (OV_REQ_STREAM) and overlaps nothing is written to t with
 * non-temporal stores. */
struct split_copy {
    const ov_operand *o;
    ov_exec_env *env;
    char *t;
    bool put, stream;
};

ov_status_t copy_part(void *ctx, uint64_t off, uint64_t n)
{
    const split_copy &c = *static_cast<split_copy *>(ctx);
    ov_operand o = *c.o;
    o.off += off;
    return c.put ? read_origin(o, n, *c.env, c.t + off, c.stream) : write_result(o, n, *c.env, c.t + off);
}

ov_status_t copy_data(const ov_copy_plan &p, char *t, bool t_in_region, ov_exec_env &env, ov_exec_scratch &s,
                      bool put)
{
    const ov_operand &o = put ? p.origin : p.result;
    if (o.where == OV_AT_REGION || o.where == OV_AT_INLINE) {
        /* Bytes we reach by pointer: a region span, or a few inline bytes in
         * our own memory (never streamed, never split). */
        const bool inl = o.where == OV_AT_INLINE;
        char *span = inl ? inline_bytes(o) : env.region_span(o.region, o.off, p.len);
        if (!span)
            return OV_ERR_BOUNDS;
        const bool overlaps = overlap(span, t, p.len);
        const bool stream = put && p.stream && t_in_region && !inl && !overlaps;
        /* One piece (small, no crew, or overlapping): copy it here, with the
         * span already resolved; a small put or get is mostly this call. */
        if (inl || overlaps || !s.crew || !s.crew->splits(p.len)) {
            deliver(put ? t : span, put ? span : t, p.len, stream);
            return OV_OK;
        }
        split_copy c{&o, &env, t, put, stream};
        return s.crew->run(p.len, copy_part, &c);
    }
    split_copy c{&o, &env, t, put, false};
    if (!s.crew)
        return copy_part(&c, 0, p.len);
    return s.crew->run(p.len, copy_part, &c);
}

/* The data ops on target bytes at t: region memory (t_in_region), or a
 * copy that is read again at once (a registered window's bytes). */
ov_status_t run_on(const ov_copy_plan &p, char *t, bool t_in_region, ov_exec_env &env, ov_exec_scratch &s,
                   uint64_t *moved, bool *changed)
{
    ov_status_t st;
    switch (p.op) {
    case OV_OP_PUT:
        st = copy_data(p, t, t_in_region, env, s, true); /* caller: straight into the target */
        *changed = true;
        break;
    case OV_OP_GET:
        st = copy_data(p, t, t_in_region, env, s, false);
        break;
    case OV_OP_ACC:
    case OV_OP_GET_ACC: return accumulate(p, t, env, s, moved, changed);
    case OV_OP_CAS: return cas(p, t, env, moved, changed);
    default: return OV_ERR_BAD_OP;
    }
    if (st == OV_OK)
        *moved = p.len;
    return st;
}

/* A registered target window: work on a copy of its bytes. */
ov_status_t on_owner_memory(const ov_copy_plan &p, ov_exec_env &env, ov_exec_scratch &s, uint64_t *moved)
{
    const uint32_t owner = p.target.region;
    if (p.len == 0)
        return OV_OK;
    if (!reserve(s.target, p.len))
        return OV_ERR_NOMEM;
    char *t = s.target.data();
    auto target_status = [](ov_status_t e) { return e == OV_ERR_LOCAL_ACCESS ? OV_ERR_BOUNDS : e; };
    ov_status_t st;
    if (p.op != OV_OP_PUT && (st = env.proc_read(owner, p.target.off, t, p.len)) != OV_OK)
        return target_status(st);
    bool changed = false;
    st = run_on(p, t, false, env, s, moved, &changed);
    if (st == OV_OK && changed && (st = env.proc_write(owner, p.target.off, t, p.len)) != OV_OK) {
        *moved = 0;
        return target_status(st);
    }
    return st;
}

} // namespace

ov_status_t ov_execute(const ov_copy_plan &p, uint32_t proc, ov_exec_env &env, ov_lock_table &locks,
                       ov_exec_scratch &s, uint64_t *moved) noexcept
{
    *moved = 0;
    if (p.result.where == OV_AT_INLINE && p.result.off == 0) {
        if (p.result.len > sizeof(s.inline_result))
            return OV_ERR_TOO_LARGE; /* validated plans never are */
        ov_copy_plan inl = p; /* the result goes to the scratch, then the completion */
        inl.result.off = reinterpret_cast<uintptr_t>(s.inline_result);
        return ov_execute(inl, proc, env, locks, s, moved);
    }
    switch (p.op) {
    case OV_OP_NOP: return OV_OK;
    case OV_OP_LOCK: return locks.lock(p.lock_win, p.lock_slot, proc, p.exclusive);
    case OV_OP_UNLOCK: return locks.unlock(p.lock_win, p.lock_slot, proc);
    }
    if (p.target.where == OV_AT_PROC)
        return on_owner_memory(p, env, s, moved);
    char *t = env.region_span(p.target.region, p.target.off, p.len);
    if (!t)
        return OV_ERR_BOUNDS;
    if (p.len == 0) /* validated, nothing to move: no caller access, no staging */
        return OV_OK;
    bool changed = false;
    return run_on(p, t, true, env, s, moved, &changed);
}
