/*
 * freelist/state.h -- the instance of a free-list allocator (part of
 * freelist.c, its only includer).
 *
 * struct fl holds all of an allocator's state, no global: the heap's extent
 * and counters, the policy, and the fields of its index kind, IX_BINS (best
 * and worst fit: bins of pool nodes) or IX_PTREE (first and next fit: the
 * position tree).  The fields of the other kind stay unused.  The large
 * structures (the node pool, the position tree's arrays) are reservations
 * of address space outside the struct, so the struct's size is fixed.
 *
 * Limits, and why:
 *   MAX_ARENA    a block's offset / 16 fits a node's 32-bit field;
 *   MAX_DEPTH    the checks give up on a treap deeper than this (a cycle);
 *   STAMP_LIMIT  node stamps are 32-bit and renumbered before this;
 *   NBINS        exact bins for size / 16 below it, one treap above;
 *   PT_LEVELS    the position tree's levels (16-ary over 64-bit groups);
 *   PT_FLOOR     the position tree compacts its stamps no sooner than this.
 *
 * fnode is 32 bytes, so two share a cache line and none crosses one.
 */
#ifndef MA_FREELIST_STATE_H
#define MA_FREELIST_STATE_H

#include "ma_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAYLOAD 16u  /* an address is its block's offset + 16 */
#define OVERHEAD 8u  /* an allocated block's cost: usable = size - 8 */
#define F_ALLOC UINT64_C(1)
#define F_PREV UINT64_C(2)
#define F_MASK UINT64_C(15)
#define NIL UINT32_MAX
#define PNONE UINT64_MAX              /* no position */
#define MAX_ARENA (UINT64_C(1) << 35) /* node names are 32-bit offset/16 */
#define MAX_DEPTH 512                 /* check: deeper than this is a cycle */
#define STAMP_LIMIT (UINT32_MAX - (UINT32_C(1) << 20))
#define NBINS 1024u       /* bins: exact bins for size / 16 < NBINS */
#define BITMAP_WORDS ((NBINS + 1 + 63) / 64)
_Static_assert(BITMAP_WORDS <= 32, "nonempty_words has a bit per bitmap word");
#define PT_LEVELS 10      /* position tree: levels at most (8 for 2^31) */
#define PT_FLOOR (UINT64_C(1) << 16) /* compaction: never below this many stamps */

/* 32 bytes: two to a line, never across one.  A node's key and treap
 * priority are computed (compute_key, prio_of), not stored. */
typedef struct fnode {
    uint32_t off16;       /* the block's offset / 16 */
    uint32_t left, right; /* children or list links; left links the spares */
    uint32_t up;          /* pairing heaps: the parent or previous sibling */
    uint32_t size16;      /* the block's size / 16 */
    uint32_t stamp;       /* when the block became free */
    uint32_t aug;         /* largest size / 16 in this subtree */
    uint32_t pad;
} fnode;
_Static_assert(sizeof(fnode) == 32, "two pool nodes to a cache line");

enum { IX_BINS, IX_PTREE }; /* best and worst fit; first and next fit */

typedef struct fl {
    ma_allocator base; /* must come first */
    int fit, order;
    uint64_t growth, prealloc, min_block;
    bool trim;
    uint64_t heap, peak_heap;
    bool top_free;
    uint64_t free_bytes, free_blocks, allocated, alloc_blocks;
    int kind;                   /* IX_BINS or IX_PTREE */
    /* best and worst fit: bins of pool nodes */
    bool lists;                 /* LIFO/FIFO: exact bins are lists */
    uint32_t roots[NBINS + 1];  /* bins (treap roots or list heads), then the large blocks */
    uint32_t tails[NBINS];      /* lists: the last node of each bin */
    uint64_t nonempty[BITMAP_WORDS]; /* bit b set iff roots[b] != NIL */
    uint32_t nonempty_words;    /* bit w set iff nonempty[w] != 0 */
    bool lazy;                  /* worst-ao: a bin is a list until first taken from */
    uint64_t heaped[NBINS / 64]; /* lazy: bit b set iff bin b is a pairing heap */
    uint32_t next_stamp, stamp_limit;
    fnode *pool;        /* the side pool of nodes */
    uint64_t pool_len;  /* bytes reserved for it */
    uint32_t pool_top;  /* slots ever used (high-water mark) */
    uint32_t spare;     /* first reusable slot, NIL: none */
    uint32_t scratch;   /* a slot never handed out: ph_link's blind writes */
    /* first and next fit: the position tree */
    uint64_t *pbits;
    uint32_t *psize, *poff;     /* LIFO/FIFO only, else NULL */
    uint32_t *lv[PT_LEVELS];
    uint64_t lvlen[PT_LEVELS];  /* entries per level (multiples of 16) */
    int nlv;
    int ktop;                   /* the top level in use: lv[ktop][0] covers all */
    uint64_t pcap;              /* positions */
    uint64_t pstamp;            /* LIFO/FIFO: the next stamp */
    uint64_t pstamp_hw;         /* LIFO/FIFO: the most stamps ever in use */
    uint64_t pt_floor;          /* compaction: not below this many stamps */
    void *pmap;
    uint64_t pmap_len;
    uint64_t rover;             /* next fit: a position, PNONE: the start */
    /* first-ao: the last search from the root (see pt_refresh) */
    uint64_t path_group;        /* the group it ended in */
    uint32_t path_rest;         /* the largest level-0 bound beside that group */
    bool path_ok;               /* the two describe that search */
    char name[16];
} fl;

static inline fl *as_fl(ma_allocator *a) { return (fl *)a; }

#endif /* MA_FREELIST_STATE_H */
