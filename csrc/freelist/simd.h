/*
 * freelist/simd.h -- sixteen unsigned 32-bit entries at a time: one node of
 * the position tree, a 64-byte line (part of freelist.c).
 *
 * With SSE2 the entries are compared four to a register; unsigned order
 * comes from signed compares by flipping the top bit (a bias of 2^31) of
 * both sides.  Without SSE2 a plain loop gives the same answers.  The
 * functions read a[0..15] only and keep no state.
 */
#ifndef MA_FREELIST_SIMD_H
#define MA_FREELIST_SIMD_H

#include <stdbool.h>
#include <stdint.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Bit j set iff a[j] >= need (>= 1), for j in 0..15. */
static inline unsigned ge_mask(const uint32_t *a, uint32_t need)
{
    unsigned mask = 0;
#if defined(__SSE2__)
    const __m128i bias = _mm_set1_epi32(INT32_MIN);
    const __m128i lim = _mm_set1_epi32((int)(int32_t)((need - 1) ^ UINT32_C(0x80000000)));
    for (unsigned i = 0; i < 4; i++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(a + 4 * i));
        __m128i gt = _mm_cmpgt_epi32(_mm_xor_si128(v, bias), lim);
        mask |= (unsigned)_mm_movemask_ps(_mm_castsi128_ps(gt)) << (4 * i);
    }
#else
    for (unsigned j = 0; j < 16; j++)
        mask |= (unsigned)(a[j] >= need) << j;
#endif
    return mask;
}

/* Bits of the 16 entries strictly after entry j in the order: above j
 * (upward) or below it (downward). */
static inline unsigned after_mask(unsigned j, bool down)
{
    return down ? (1u << j) - 1 : (~0u << (j + 1)) & 0xffffu;
}

/* The first of the entries allowed by `allowed`, in the order, that is
 * >= need; 16 if none. */
static inline unsigned pick_ge(const uint32_t *a, uint32_t need, unsigned allowed,
                               bool down)
{
    unsigned mask = ge_mask(a, need) & allowed;
    if (!mask)
        return 16;
    return down ? 31u - (unsigned)__builtin_clz(mask) : (unsigned)__builtin_ctz(mask);
}

#if defined(__SSE2__)
/* The largest of sixteen lanes biased by 2^31 (unsigned maxima from signed
 * compares: select, then unbias). */
static inline uint32_t max_biased(__m128i v[4])
{
    for (unsigned i = 0; i < 2; i++) {
        __m128i gt = _mm_cmpgt_epi32(v[i], v[i + 2]);
        v[i] = _mm_or_si128(_mm_and_si128(gt, v[i]), _mm_andnot_si128(gt, v[i + 2]));
    }
    __m128i m = v[0], o = v[1], gt;
    gt = _mm_cmpgt_epi32(m, o);
    m = _mm_or_si128(_mm_and_si128(gt, m), _mm_andnot_si128(gt, o));
    o = _mm_shuffle_epi32(m, _MM_SHUFFLE(1, 0, 3, 2));
    gt = _mm_cmpgt_epi32(m, o);
    m = _mm_or_si128(_mm_and_si128(gt, m), _mm_andnot_si128(gt, o));
    o = _mm_shuffle_epi32(m, _MM_SHUFFLE(2, 3, 0, 1));
    gt = _mm_cmpgt_epi32(m, o);
    m = _mm_or_si128(_mm_and_si128(gt, m), _mm_andnot_si128(gt, o));
    return (uint32_t)_mm_cvtsi128_si32(m) ^ UINT32_C(0x80000000);
}
#endif

static inline uint32_t max16(const uint32_t *a)
{
#if defined(__SSE2__)
    const __m128i bias = _mm_set1_epi32(INT32_MIN);
    __m128i v[4];
    for (unsigned i = 0; i < 4; i++)
        v[i] = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(a + 4 * i)), bias);
    return max_biased(v);
#else
    uint32_t m = 0;
    for (unsigned j = 0; j < 16; j++)
        m = a[j] > m ? a[j] : m;
    return m;
#endif
}

/* The largest of a[0..15] but a[j]. */
static inline uint32_t max16_but(const uint32_t *a, unsigned j)
{
#if defined(__SSE2__)
    const __m128i bias = _mm_set1_epi32(INT32_MIN), lane = _mm_set_epi32(3, 2, 1, 0);
    __m128i v[4];
    for (unsigned i = 0; i < 4; i++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(a + 4 * i));
        __m128i skip = _mm_cmpeq_epi32(_mm_add_epi32(lane, _mm_set1_epi32((int)(4 * i))),
                                       _mm_set1_epi32((int)j));
        v[i] = _mm_xor_si128(_mm_andnot_si128(skip, x), bias); /* a[j] counts as 0 */
    }
    return max_biased(v);
#else
    uint32_t m = 0;
    for (unsigned i = 0; i < 16; i++)
        m = i != j && a[i] > m ? a[i] : m;
    return m;
#endif
}

#endif /* MA_FREELIST_SIMD_H */
