/*
 * zones/state.h -- the zones allocator's structures (included by zones.c
 * only; see zones.c for the design and the invariants).
 */
#ifndef MA_ZONES_STATE_H
#define MA_ZONES_STATE_H

#include "../ma_internal.h"

/* Every zone holds at least this many blocks of its class's size (42). */
#define ZONE_MIN_BLOCKS 100u
/* Enough for 64 TINY classes of 16-byte steps and 4 SMALL classes per
 * doubling from 1 KiB to 64 KiB, the widest the options allow. */
#define MAX_CLASSES 96u
#define MAX_TINY 1024u
#define MAX_SMALL 65536u
#define MIN_SMALL 256u
#define MIN_ARENA (UINT64_C(1) << 20)
#define MAX_ARENA (UINT64_C(1) << 36)

/* What a span of pages is. */
enum { SPAN_NONE = 0, SPAN_FREE = 1, SPAN_LARGE = 2, SPAN_ZONE = 3 };

/*
 * One run of whole pages: a zone, a LARGE region or a run of the free page
 * pool.  Spans live in a side table indexed by a 32-bit id (0 is "none").
 * `a` and `b` are links whose meaning depends on the kind: a zone's previous
 * and next zone in its class's list of non-full zones; a free run's left
 * and right child in the pool's treap; an unused id's next unused id (b).
 */
typedef struct span {
    uint64_t start;     /* byte offset of the first page */
    uint64_t free_head; /* zone: its first free block (offset), MA_NULL none */
    uint32_t pages;
    uint32_t used;      /* zone: allocated blocks */
    uint32_t bump;      /* zone: blocks below this index have been handed out
                           at least once; the rest were never touched */
    uint32_t a, b;
    uint8_t kind;       /* SPAN_* */
    uint8_t cls;        /* zone: its class */
    uint16_t pad;
} span;

typedef struct zclass {
    uint32_t size;    /* block size: a multiple of 16 */
    uint32_t nblocks; /* blocks per zone: at least ZONE_MIN_BLOCKS */
    uint32_t pages;   /* pages per zone */
    uint32_t slack;   /* zone bytes past its last block (< size) */
    uint32_t head, tail; /* the class's non-full zones, most recent first */
    uint32_t empty;   /* the class's one empty zone kept, 0 none */
    uint32_t kind;    /* MA_ZONE_TINY or MA_ZONE_SMALL */
    uint64_t zones;   /* zones of this class */
    uint64_t free_slots; /* free blocks in them */
} zclass;

typedef struct zones {
    ma_allocator base; /* must come first */
    uint64_t ps;       /* page size */
    unsigned pshift;
    uint64_t npages;   /* pages of the arena */
    uint64_t tiny_max, small_max;
    int mode;          /* MA_ZONES_FINE or MA_ZONES_POW2 */
    unsigned nclasses;
    zclass cls[MAX_CLASSES];
    uint8_t class_of[MAX_SMALL / 16 + 1]; /* (size + 15) / 16 -> class */
    span *spans;       /* ids 1 .. npages */
    uint64_t spans_len;
    uint32_t nspans;   /* ids ever used: 1 .. nspans */
    uint32_t free_ids; /* unused ids below nspans, linked through b */
    uint32_t *pm;      /* page -> span id (see zones.c: which pages) */
    uint64_t pm_len;
    uint64_t *bits;    /* bit addr / 16: an allocated zone block starts here */
    uint64_t bits_len;
    uint32_t root;     /* the free page pool's treap */
    uint64_t nruns;    /* runs in the pool */
    uint64_t nlarge;   /* LARGE regions */
    uint64_t top, peak_top; /* end of the pages in use (heap_size) */
    uint64_t allocated;     /* bytes of allocated blocks */
} zones;

static inline span *S(zones *z, uint32_t id) { return &z->spans[id]; }

static inline uint64_t span_end(const zones *z, const span *s)
{
    return s->start + ((uint64_t)s->pages << z->pshift);
}

#endif /* MA_ZONES_STATE_H */
