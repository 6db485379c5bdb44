/*
 * tlsf/state.h -- TLSF's constants and structures (included by tlsf.c,
 * and by the tests that corrupt them on purpose; see tlsf.c for the design,
 * the mapping and the invariants).
 */
#ifndef MA_TLSF_STATE_H
#define MA_TLSF_STATE_H

#include "../ma_internal.h"

#define T_ALLOC UINT64_C(1)
#define T_PREV UINT64_C(2)
#define T_MASK UINT64_C(15)
#define MIN_BLOCK UINT64_C(32)
#define OVERHEAD UINT64_C(8)
#define SL_MIN 1u
#define SL_MAX 6u
#define FL_COUNT 32u                  /* 2^35 / 16 = 2^31 maps below fl 32 */
#define MAX_ARENA (UINT64_C(1) << 35) /* links are 32-bit offsets / 16 */
#define MIN_ARENA UINT64_C(4096)
#define NIL UINT32_MAX
#define NONE UINT64_MAX

typedef struct tlsf {
    ma_allocator base; /* must come first */
    unsigned k;        /* sl_bits */
    uint64_t growth, prealloc;
    bool trim;
    uint64_t heap, peak_heap;
    uint64_t free_bytes, free_blocks, allocated, alloc_blocks;
    uint32_t fl_map;                         /* bit f: sl_map[f] != 0 */
    uint64_t sl_map[FL_COUNT];               /* bit s: heads[f][s] != NIL */
    uint32_t heads[FL_COUNT][1u << SL_MAX];  /* list heads, offsets / 16 */
} tlsf;

/* The links of a free block, in the first 8 bytes of its payload. */
typedef struct tlink {
    uint32_t next, prev; /* offsets / 16, NIL at the ends */
} tlink;

#endif
