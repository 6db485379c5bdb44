/*
 * buddy/state.h -- the buddy allocator's constants and structures
 * (included by buddy.c, and by the tests that corrupt them on purpose; see
 * buddy.c for the design and the invariants).
 */
#ifndef MA_BUDDY_STATE_H
#define MA_BUDDY_STATE_H

#include "../ma_internal.h"

#define MAX_ORDERS 64
#define TAG_FREE 1u
#define TAG_ALLOC 2u
#define TAG_BIG 0x80u
#define TAG_BIG_ALLOC 0x40u
#define TAG_ORDER_MASK 0x3fu

#define MAX_ARENA (UINT64_C(1) << 40)
#define MIN_ARENA (UINT64_C(1) << 10)

/* One bit of `touched` per granule of 4 KiB of tags. */
#define GRANULE_SHIFT 12

typedef struct buddy {
    ma_allocator base;        /* must come first */
    unsigned m;               /* log2(minimum block) */
    unsigned top;             /* order of the whole arena: K - m */
    uint64_t nslots;          /* 2^(K-m) */
    uint8_t *tags;            /* the side table, (nslots + 1) / 2 bytes */
    uint64_t tags_len;
    uint64_t head[MAX_ORDERS];  /* first free block of each order */
    uint64_t count[MAX_ORDERS]; /* free blocks of each order */
    uint64_t nonempty;          /* bit d: count[d] > 0 */
    uint64_t allocated;         /* bytes in allocated blocks */
    uint64_t alloc_blocks;
    uint64_t heap, peak_heap;
    uint64_t *touched;        /* bit g: a tag in granule g was written since
                               * the table was mapped or reset (I7) */
    uint64_t map_len;         /* tags and touched share one mapping */
} buddy;

/* Links kept in the first 16 bytes of a free block. */
typedef struct free_link {
    uint64_t next, prev;
} free_link;

#endif
