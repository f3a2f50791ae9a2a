/*
 * fabric_link.h — the backend-to-backend protocol that carries fabric
 * mappings between hosts (fabric_mappings.h), and its authentication per job.
 * Pure functions over bytes: no sockets, no state (fuzzed:
 * test/unit/fuzz_fabric_link.cc).
 *
 * A link is one TCP connection from one backend (the initiator) to another
 * (the responder), for one job; data flows initiator -> responder only (each
 * backend opens its own link to each peer for each job it serves, so per
 * direction there is one ordered stream).
 *
 *   initiator                                   responder
 *   HELLO {job_key, nonce_i, addr}     ->       knows job_key (a process of the
 *                                               job published here)? else close
 *                                      <-       CHALLENGE {nonce_r, mac_r}
 *   checks mac_r, else close
 *   AUTH {mac_i}                       ->       checks mac_i, else close
 *   MAP / UNMAP / CTRL, each + MAC     ->       checks each frame's MAC
 *
 *   link key  K   = HMAC(SHA-256(job secret), "ompi-virt fabric link 1")
 *                   (a backend keeps only the digest of a job's secret;
 *                   neither the secret nor K ever crosses the wire)
 *   mac_r         = HMAC(K, "R" | job_key | nonce_i | nonce_r | addr)
 *   mac_i         = HMAC(K, "I" | job_key | nonce_i | nonce_r | addr)
 *   session key S = HMAC(K, "S" | nonce_i | nonce_r)
 *   frame MAC     = HMAC(S, seq | header | payload), seq = 0, 1, ... per link
 * Different labels for the two sides, so neither side's answer can be
 * replayed as the other's; fresh nonces on both sides, so no old transcript
 * authenticates a new link; the per-frame MAC with its sequence number, so
 * nobody on the network can inject, drop, reorder or replay a frame after the
 * handshake without the link failing.  `addr` is the initiator's own
 * listening address ("HOST:PORT"), which the responder must know as one of
 * its configured peers.  Nonces: 32 bytes from getrandom.
 *
 * Everything received is hostile: ov_link_parse copies the header, checks
 * magic, version, type, reserved 0, len <= kLinkMaxPayload, and (after the
 * handshake) the MAC; each ov_link_decode_* checks exact lengths, reserved
 * fields, vid < kLinkMaxVid, blob 1..OV_FABRIC_BLOB_MAX, addr NUL-terminated.
 */
#ifndef OMPI_VIRT_BACKEND_FABRIC_LINK_H
#define OMPI_VIRT_BACKEND_FABRIC_LINK_H

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ov_protocol.h"
#include "ov_sha256.h"

constexpr uint32_t kLinkMagic = 0x4f564c31u; /* "OVL1" */
constexpr uint16_t kLinkVersion = 1;
constexpr uint32_t kLinkMaxVid = 1u << 20; /* = IBVIRT_MAX_PEERS */
constexpr size_t kLinkNonce = 32, kLinkMac = OV_SHA256_BYTES, kLinkAddr = 48;

enum class link_type : uint16_t { hello = 1, challenge = 2, auth = 3, map = 4, unmap = 5, ctrl = 6 };

struct ov_link_hdr {
    uint32_t magic;
    uint16_t version;
    uint16_t type;
    uint32_t len; /* payload bytes (the MAC, when there is one, follows them) */
    uint32_t reserved;
};
struct ov_link_hello {
    uint64_t job_key;
    unsigned char nonce[kLinkNonce];
    char addr[kLinkAddr]; /* NUL-terminated, zero-padded */
};
struct ov_link_challenge {
    unsigned char nonce[kLinkNonce];
    unsigned char mac[kLinkMac];
};
struct ov_link_auth {
    unsigned char mac[kLinkMac];
};
struct ov_link_map { /* + len blob bytes: rank vid's record */
    uint32_t vid, epoch, len, reserved;
};
struct ov_link_ctrl { /* + len blob bytes: from rank `from` to rank `dest` */
    uint32_t from, dest, len, reserved;
};
struct ov_link_unmap {
    uint32_t vid, epoch;
};

constexpr size_t kLinkMaxPayload = sizeof(ov_link_map) + OV_FABRIC_BLOB_MAX;

/* The keys of one link. */
struct ov_link_keys {
    unsigned char link[kLinkMac];    /* K */
    unsigned char session[kLinkMac]; /* S (after the nonces are known) */
};

/* K from the digest of the job's secret. */
void ov_link_key(const unsigned char job_digest[OV_SHA256_BYTES], unsigned char out[kLinkMac]) noexcept;
/* mac_r (side 'R') or mac_i (side 'I') over the handshake transcript. */
void ov_link_handshake_mac(const unsigned char key[kLinkMac], char side, const ov_link_hello &h,
                           const unsigned char nonce_r[kLinkNonce], unsigned char out[kLinkMac]) noexcept;
void ov_link_session_key(const unsigned char key[kLinkMac], const unsigned char nonce_i[kLinkNonce],
                         const unsigned char nonce_r[kLinkNonce], unsigned char out[kLinkMac]) noexcept;

/* Append one frame to out: header, payload (parts concatenated), and when
 * session != nullptr its MAC under (session, seq). */
void ov_link_encode(link_type t, const void *const *parts, const size_t *lens, size_t n,
                    const unsigned char *session, uint64_t seq, std::vector<uint8_t> *out);

/* One frame from the front of buf.  Returns 1 with *hdr, *payload (pointing
 * into buf) and *consumed set; 0 when more bytes are needed; OV_ERR_PROTO when
 * the bytes can never make a valid frame (bad magic/version/type/reserved,
 * len > kLinkMaxPayload, or with session != nullptr a wrong MAC). */
int ov_link_parse(const uint8_t *buf, size_t len, const unsigned char *session, uint64_t seq, ov_link_hdr *hdr,
                  const uint8_t **payload, size_t *consumed) noexcept;

/* Payload decoders: OV_OK or OV_ERR_PROTO. */
ov_status_t ov_link_decode_hello(const uint8_t *p, size_t len, ov_link_hello *out) noexcept;
ov_status_t ov_link_decode_challenge(const uint8_t *p, size_t len, ov_link_challenge *out) noexcept;
ov_status_t ov_link_decode_auth(const uint8_t *p, size_t len, ov_link_auth *out) noexcept;
/* MAP and CTRL: *blob points into p. */
ov_status_t ov_link_decode_map(const uint8_t *p, size_t len, ov_link_map *out, const uint8_t **blob) noexcept;
ov_status_t ov_link_decode_ctrl(const uint8_t *p, size_t len, ov_link_ctrl *out, const uint8_t **blob) noexcept;
ov_status_t ov_link_decode_unmap(const uint8_t *p, size_t len, ov_link_unmap *out) noexcept;

#endif
