/*
 * ibvirt_wire.h — the control blobs ib-virt NICs exchange through the
 * caller's control path (internal). A blob from another process is hostile:
 * decode_ctrl() copies and validates it before anything acts on it.
 *
 *   CtrlHeader                       every blob
 *   + WireKey[nkeys]                 PUBLISH only: my remote-access regions
 * The address travels in the header (IBVIRT_ADDR_MAX bytes, addrlen used).
 */
#ifndef IBVIRT_WIRE_H
#define IBVIRT_WIRE_H

#include "ib_virt.h"

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace ibvirt {

constexpr uint32_t kCtrlMagic = 0x69627674; /* "ibvt" */
constexpr uint16_t kCtrlVersion = 1;

enum class CtrlType : uint16_t {
    suspend = 1,     /* from is moving: stop posting to it */
    suspend_ack = 2, /* from stopped; count = tagged sends it completed to you */
    publish = 3,     /* from's mapping: address + keys (after a move, or first time) */
    publish_ack = 4  /* from installed your new mapping */
};

struct CtrlHeader {
    uint32_t magic;
    uint16_t version;
    uint16_t type;    /* CtrlType */
    uint32_t from;    /* sender's vid */
    uint32_t epoch;   /* sender's relocation count */
    uint64_t count;   /* suspend_ack: tagged sends completed to the receiver */
    uint32_t addrlen; /* publish: bytes of addr used */
    uint32_t nkeys;   /* publish: WireKey entries that follow */
    uint8_t addr[IBVIRT_ADDR_MAX];
};
static_assert(sizeof(CtrlHeader) == 32 + IBVIRT_ADDR_MAX, "CtrlHeader has no padding");
static_assert(std::is_standard_layout_v<CtrlHeader>, "CtrlHeader is copied as bytes");

struct WireKey {
    uint32_t vkey;
    uint32_t pad; /* 0 */
    uint64_t key, base, len;
};
static_assert(sizeof(WireKey) == 32, "WireKey has no padding");

/* A validated control blob. */
struct Ctrl {
    CtrlHeader h;
    std::vector<WireKey> keys;
};

/* Copy and validate buf: magic, version, type, from < max_peers and != self,
 * addrlen <= IBVIRT_ADDR_MAX, nkeys <= max_keys, exact length, every
 * vkey < max_keys and len != 0, pad 0. IBVIRT_OK or IBVIRT_ERR_INVAL. */
int decode_ctrl(const void *buf, size_t len, uint32_t self, uint32_t max_peers, uint32_t max_keys,
                Ctrl *out);

/* Encode c into bytes (appends to out). */
void encode_ctrl(const Ctrl &c, std::vector<char> *out);

} // namespace ibvirt
#endif
