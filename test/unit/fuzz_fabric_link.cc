/*
 * fuzz_fabric_link.cc — libFuzzer target for the backend-to-backend decoder
 * (backend/fabric_link.h): whatever a hostile peer backend, or anyone who
 * can reach the fabric listener, sends.  The input is a byte stream cut into
 * frames as a link reads it, first in the clear (the handshake), then under a
 * session key; each frame is decoded by its type.  Every decoded length must
 * lie inside the input; ASan sees any read outside it.  A second pass signs
 * the fuzz bytes as a frame with the right MAC, so the decoders behind the
 * MAC check get arbitrary payloads too.
 * Built by `make fuzz` with clang++ -fsanitize=fuzzer,address,undefined.
 */
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "fabric_link.h"

namespace {

const unsigned char kSession[kLinkMac] = {1, 2, 3, 4, 5, 6, 7, 8};
uint64_t sink = 0;

void decode(const ov_link_hdr &h, const uint8_t *p, const uint8_t *end)
{
    if (p + h.len > end || h.len > kLinkMaxPayload)
        abort();
    ov_link_hello hello;
    ov_link_challenge ch;
    ov_link_auth au;
    ov_link_map m;
    ov_link_ctrl c;
    ov_link_unmap u;
    const uint8_t *blob = nullptr;
    switch (link_type(h.type)) {
    case link_type::hello:
        if (ov_link_decode_hello(p, h.len, &hello) == OV_OK) {
            unsigned char mac[kLinkMac];
            ov_link_handshake_mac(kSession, 'R', hello, hello.nonce, mac);
            sink += mac[0];
        }
        break;
    case link_type::challenge: sink += ov_link_decode_challenge(p, h.len, &ch); break;
    case link_type::auth: sink += ov_link_decode_auth(p, h.len, &au); break;
    case link_type::map:
        if (ov_link_decode_map(p, h.len, &m, &blob) == OV_OK) {
            if (blob + m.len > end || m.len == 0 || m.len > OV_FABRIC_BLOB_MAX || m.vid >= kLinkMaxVid)
                abort();
            for (uint32_t i = 0; i < m.len; i++)
                sink += blob[i];
        }
        break;
    case link_type::ctrl:
        if (ov_link_decode_ctrl(p, h.len, &c, &blob) == OV_OK) {
            if (blob + c.len > end || c.len == 0 || c.dest >= kLinkMaxVid || c.from >= kLinkMaxVid)
                abort();
            for (uint32_t i = 0; i < c.len; i++)
                sink += blob[i];
        }
        break;
    case link_type::unmap: sink += ov_link_decode_unmap(p, h.len, &u); break;
    default: abort(); /* ov_link_parse let an unknown type through */
    }
}

void stream(const uint8_t *data, size_t size, const unsigned char *session)
{
    size_t off = 0;
    uint64_t seq = 0;
    for (;;) {
        ov_link_hdr h;
        const uint8_t *p;
        size_t used;
        int r = ov_link_parse(data + off, size - off, session, seq, &h, &p, &used);
        if (r <= 0)
            return;
        if (used > size - off || used < sizeof(h))
            abort();
        decode(h, p, data + size);
        off += used;
        seq++;
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    stream(data, size, nullptr);
    stream(data, size, kSession);
    if (size >= 2) { /* the bytes as one signed frame of the type byte 0 names */
        link_type t = link_type(1 + data[0] % 6);
        const void *parts[] = {data + 1};
        const size_t lens[] = {size - 1 > kLinkMaxPayload ? kLinkMaxPayload : size - 1};
        std::vector<uint8_t> f;
        ov_link_encode(t, parts, lens, 1, kSession, 0, &f);
        stream(f.data(), f.size(), kSession);
    }
    return 0;
}
