/*
 * ov_stream_copy.h — copy that delivers bytes to their final place with
 * non-temporal (cache-bypassing) stores.
 *
 * Why: a put or get across guests copies every byte twice, once into the
 * staging area and once to its destination.  The staging area is reused and
 * should stay in cache; the destination, for large transfers, is written
 * once and read (if ever) by another process on another core.  With ordinary
 * stores the delivering copy first reads every destination line from memory
 * (read-for-ownership), then writes it back: on top of the staging copy's
 * own traffic, as much memory traffic as osc sm's whole single memcpy.
 * Streaming stores skip that read, as a DMA engine would.  Below a few
 * hundred KiB the destination usually stays in cache and ordinary stores
 * are faster, so callers choose by size (ov_stream_worth()).
 *
 * Contract:
 *   ov_stream_copy(dst, src, n) has memcpy's effect for non-overlapping
 *   ranges of any alignment and length.  It ends with a store fence, so a
 *   release store the calling thread makes afterwards (a completion flag)
 *   is not visible before the data.  On targets without SSE2 it is memcpy.
 */
#ifndef OMPI_VIRT_COMMON_OV_STREAM_COPY_H
#define OMPI_VIRT_COMMON_OV_STREAM_COPY_H

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Pieces at least this long are delivered with streaming stores unless the
 * caller was configured otherwise (osc_virt_stream_min). */
constexpr uint64_t kOvStreamMinDefault = uint64_t(1) << 20;

/* min 0 means "never stream". */
inline bool ov_stream_worth(uint64_t len, uint64_t min) { return min != 0 && len >= min; }

inline void ov_stream_copy(void *dst, const void *src, size_t n)
{
    char *d = static_cast<char *>(dst);
    const char *s = static_cast<const char *>(src);
#if defined(__SSE2__)
    /* Head: ordinary stores up to the next 64-byte boundary of dst. */
    size_t head = (64 - (reinterpret_cast<uintptr_t>(d) & 63)) & 63;
    if (head > n)
        head = n;
    std::memcpy(d, s, head);
    d += head;
    s += head;
    n -= head;
    /* Body: whole cache lines, so the write-combining buffers flush full. */
    for (; n >= 64; n -= 64, d += 64, s += 64) {
        __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i *>(s));
        __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i *>(s + 16));
        __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i *>(s + 32));
        __m128i e = _mm_loadu_si128(reinterpret_cast<const __m128i *>(s + 48));
        _mm_stream_si128(reinterpret_cast<__m128i *>(d), a);
        _mm_stream_si128(reinterpret_cast<__m128i *>(d + 16), b);
        _mm_stream_si128(reinterpret_cast<__m128i *>(d + 32), c);
        _mm_stream_si128(reinterpret_cast<__m128i *>(d + 48), e);
    }
    std::memcpy(d, s, n); /* tail */
    _mm_sfence();
#else
    std::memcpy(d, s, n);
#endif
}

#endif
