/*
 * freelist.c -- one boundary-tag heap, twelve placement policies:
 * best / first / next / worst fit, each with the free blocks in address
 * (AO), LIFO or FIFO order.
 *
 * ==== Free-list order ==========================================================
 * AO orders blocks by offset.  LIFO and FIFO order them by a stamp, a counter
 * taken when a block becomes free (freed, created by growth, split off as a
 * remainder, or formed by coalescing): FIFO oldest first, LIFO newest first.
 * Each fit has the index that answers its question fastest: best and worst
 * fit keep size bins (freelist/bins.h, freelist/treap.h), first and next fit
 * a position tree (freelist/ptree.h).
 *
 * ==== The parts ================================================================
 * This file is the family's one translation unit: it includes its parts,
 * the headers in csrc/freelist/, which hold static and static inline
 * functions only, so that the hot paths are inlined across the parts as
 * within one file.  Each part opens with the structure it keeps and that
 * structure's invariants.
 *   freelist/state.h  the instance (struct fl), the pool node, the limits;
 *   freelist/block.h  the block layout: header, footer, tag and its copy;
 *   freelist/treap.h  best and worst fit: pool nodes, the large blocks' treap;
 *   freelist/bins.h   best and worst fit: exact bins, their bitmap, lists
 *                     and pairing heaps, node stamps;
 *   freelist/simd.h   sixteen 32-bit bounds at a time (SSE2 or plain C);
 *   freelist/ptree.h  first and next fit: the position tree;
 *   freelist/index.h  the index for every policy; next fit's rover;
 *   freelist/heap.h   the heap: growth, trimming, placement, coalescing, and
 *                     the allocator's operations;
 *   freelist/check.h  fl_check: every invariant below;
 *   this file         the life cycle: configuration, creation, reset, release.
 *
 * ==== Invariants (fl_check verifies every one) ==============================
 *   I1  the blocks tile [0, heap): sizes multiples of 16, >= min_block;
 *   I2  F_PREV of every block equals the allocated state of its predecessor;
 *   I3  every free block's footer equals its header's size, and the copy of
 *       its tag equals the tag (where tags are used);
 *   I4  no two free blocks are adjacent (coalescing is immediate);
 *   I5  the index holds exactly the free blocks.  Position tree: each free
 *       block's bit is set (and psize/poff describe it), no other bit is,
 *       psize is 0 at empty positions, every bound is at least the largest
 *       block or bound beneath it.  Bins: every node names the free block
 *       that owns it, in the right bin; treaps: keys strictly increasing,
 *       parent priority >= child priority, aug correct; pairing heaps:
 *       links consistent, children after their parent; lists: links
 *       consistent, stamps in order (oldest first in FIFO, else newest); the
 *       bin bitmap and its summary match;
 *   I6  free_bytes, free_blocks, allocated and alloc_blocks equal a recount;
 *       top_free says whether the last block is free; peak_heap >= heap;
 *   I7  the rover is PNONE or the position of a free block; stamps are below
 *       the next stamp.
 *
 * ==== Costs ==================================================================
 * malloc, free, realloc, memalign: O(log n) in the number of free blocks n.
 * Best and worst fit: O(1) in list bins, amortised O(log n) in pairing
 * heaps, expected O(log n) in the large treap.  First and next fit:
 * O(log_16 of the positions in use) per query, plus two groups of at most
 * 16 blocks, amortised over the bound tightenings and compactions.
 */
#include "freelist/state.h"
#include "freelist/block.h"
#include "freelist/treap.h"
#include "freelist/bins.h"
#include "freelist/simd.h"
#include "freelist/ptree.h"
#include "freelist/index.h"
#include "freelist/heap.h"
#include "freelist/check.h"

/* ---- life cycle ---- */

static void fl_init_state(fl *h)
{
    for (uint32_t r = 0; r <= NBINS; r++)
        h->roots[r] = NIL;
    for (uint32_t r = 0; r < NBINS; r++)
        h->tails[r] = NIL;
    memset(h->nonempty, 0, sizeof h->nonempty);
    memset(h->heaped, 0, sizeof h->heaped);
    h->nonempty_words = 0;
    h->rover = PNONE;
    h->path_ok = false;
    h->spare = NIL;
    h->pool_top = 0;
    h->next_stamp = 1;
    h->pstamp = h->pstamp_hw = 0;
    h->ktop = 0;
    h->heap = h->peak_heap = 0;
    h->top_free = false;
    h->free_bytes = h->free_blocks = h->allocated = h->alloc_blocks = 0;
    if (h->prealloc) {
        h->heap = h->peak_heap = h->prealloc;
        index_add(h, 0, h->prealloc, F_PREV);
        h->top_free = true;
    }
}

static ma_status fl_reset(ma_allocator *a)
{
    fl *h = as_fl(a);
    ma_arena_discard(a, 0, a->map_len);
    if (h->pool)
        ma_discard(h->pool, h->pool_len);
    if (h->pmap)
        ma_discard(h->pmap, h->pmap_len);
    fl_init_state(h);
    return MA_OK;
}

static void fl_release(ma_allocator *a)
{
    fl *h = as_fl(a);
    if (h->pool)
        ma_unmap(h->pool, h->pool_len);
    if (h->pmap)
        ma_unmap(h->pmap, h->pmap_len);
    h->pool = NULL;
    h->pmap = NULL;
}

static const ma_ops freelist_ops = {
    .name = "free-list",
    .memalign = fl_memalign,
    .realloc = fl_realloc,
    .free = fl_free,
    .usable_size = fl_usable_size,
    .stats = fl_stats,
    .walk = fl_walk,
    .check = fl_check,
    .reset = fl_reset,
    .release = fl_release,
};

static const char *const fit_names[] = {"best", "first", "next", "worst"};
static const char *const order_names[] = {"ao", "lifo", "fifo"};

ma_freelist_config ma_freelist_config_default(void)
{
    ma_freelist_config c = {
        .arena_size = UINT64_C(1) << 30,
        .fit = MA_FIT_BEST,
        .order = MA_ORDER_ADDRESS,
        .growth = 4096,
        .prealloc = 0,
        .min_block = 32,
        .trim = 0,
        .stamp_limit = 0,
    };
    return c;
}

/* Every field of a config in its range; MA_EINVAL names the first that is not. */
static ma_status check_config(const ma_freelist_config *c)
{
    unsigned long long arena = c->arena_size;
    if ((c->arena_size & 15) || c->arena_size < 4096 || c->arena_size > MAX_ARENA)
        return ma_fail(NULL, MA_EINVAL, "arena_size must be a multiple of 16 "
                       "from 4096 to %llu, got %llu",
                       (unsigned long long)MAX_ARENA, arena);
    if (c->fit < MA_FIT_BEST || c->fit > MA_FIT_WORST)
        return ma_fail(NULL, MA_EINVAL, "fit must be MA_FIT_BEST, _FIRST, "
                       "_NEXT or _WORST (0 to 3), got %d", c->fit);
    if (c->order < MA_ORDER_ADDRESS || c->order > MA_ORDER_FIFO)
        return ma_fail(NULL, MA_EINVAL, "order must be MA_ORDER_ADDRESS, "
                       "_LIFO or _FIFO (0 to 2), got %d", c->order);
    if ((c->growth & 15) || c->growth < 16 || c->growth > c->arena_size)
        return ma_fail(NULL, MA_EINVAL, "growth must be a multiple of 16 from "
                       "16 to arena_size (%llu), got %llu", arena,
                       (unsigned long long)c->growth);
    if ((c->min_block & 15) || c->min_block < 32 || c->min_block > c->arena_size)
        return ma_fail(NULL, MA_EINVAL, "min_block must be a multiple of 16 "
                       "from 32 to arena_size (%llu), got %llu", arena,
                       (unsigned long long)c->min_block);
    if (c->prealloc && ((c->prealloc & 15) || c->prealloc < c->min_block ||
                        c->prealloc > c->arena_size))
        return ma_fail(NULL, MA_EINVAL, "prealloc must be 0 or a multiple of "
                       "16 from min_block (%llu) to arena_size (%llu), got %llu",
                       (unsigned long long)c->min_block, arena,
                       (unsigned long long)c->prealloc);
    if (c->trim != 0 && c->trim != 1)
        return ma_fail(NULL, MA_EINVAL, "trim must be 0 (off) or 1 (on), got %d",
                       c->trim);
    if (c->stamp_limit > STAMP_LIMIT)
        return ma_fail(NULL, MA_EINVAL, "stamp_limit must be 0 (the built-in "
                       "limits) or from 1 to %llu, got %llu",
                       (unsigned long long)STAMP_LIMIT,
                       (unsigned long long)c->stamp_limit);
    return MA_OK;
}

ma_status ma_freelist_create(const ma_freelist_config *cfg, ma_allocator **out)
{
    if (!out || !cfg)
        return ma_fail(NULL, MA_EINVAL, "ma_freelist_create: config or out is NULL");
    *out = NULL;
    ma_status st = check_config(cfg);
    if (st != MA_OK)
        return st;
    uint64_t growth = cfg->growth, min_block = cfg->min_block;
    fl *h = calloc(1, sizeof *h);
    if (!h)
        return ma_fail(NULL, MA_ENOMEM, "no memory for the instance");
    st = ma_base_init(&h->base, &freelist_ops, cfg->arena_size, ma_page_size());
    if (st != MA_OK) {
        free(h);
        return st;
    }
    h->fit = cfg->fit;
    h->order = cfg->order;
    h->kind = cfg->fit == MA_FIT_BEST || cfg->fit == MA_FIT_WORST ? IX_BINS : IX_PTREE;
    h->lists = h->kind == IX_BINS && cfg->order != MA_ORDER_ADDRESS;
    h->lazy = cfg->fit == MA_FIT_WORST && !h->lists;
    h->growth = growth;
    h->min_block = min_block;
    h->prealloc = cfg->prealloc;
    h->trim = cfg->trim != 0;
    h->stamp_limit = cfg->stamp_limit ? (uint32_t)cfg->stamp_limit : STAMP_LIMIT;
    h->pt_floor = cfg->stamp_limit ? cfg->stamp_limit : PT_FLOOR;
    bool mapped;
    if (h->kind == IX_BINS) {
        /* Free blocks are never adjacent: at most one per 2 * min_block bytes. */
        uint64_t slots = cfg->arena_size / (2 * min_block) + 2;
        h->scratch = (uint32_t)(slots - 1); /* slots ever used <= slots - 1 */
        h->pool_len = ma_round_up(slots * sizeof(fnode), ma_page_size());
        h->pool = ma_map_zero(h->pool_len);
        mapped = h->pool != NULL;
    } else {
        mapped = pt_create(h, cfg->arena_size, min_block);
    }
    if (!mapped) {
        ma_destroy(&h->base);
        return ma_fail(NULL, MA_ESYS, "mmap refused to reserve address space "
                       "for the free-block index");
    }
    snprintf(h->name, sizeof h->name, "%s-%s", fit_names[cfg->fit],
             order_names[cfg->order]);
    h->base.name = h->name;
    h->base.heap_size_at = &h->heap;
    h->base.allocated_at = &h->allocated;
    fl_init_state(h);
    *out = &h->base;
    return MA_OK;
}
