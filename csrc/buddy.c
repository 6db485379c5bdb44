/*
 * buddy.c -- the binary buddy allocator ("twins" in the lecture notes).
 *
 * ==== Layout ================================================================
 * The arena is 2^K bytes; every block is 2^k bytes (m <= k <= K, the minimum
 * block is 2^m) and aligned to its size.  Below, a block's *order* is
 * d = k - m and its *slot* is offset >> m.  The buddy of the block of order d
 * at slot i is at slot i ^ (1 << d): the XOR of its offset with its size.
 *
 * ==== Side table: 4 bits per minimum block, no header in any block ==========
 * One nibble per slot in tags[]: tags[i >> 1], low nibble for even slots,
 * high nibble for odd ones.
 *   - a block of order 0 at slot i: its nibble is TAG_FREE or TAG_ALLOC;
 *   - a block of order d >= 1 starts at an even slot and owns the whole byte
 *     tags[i >> 1] = TAG_BIG | allocated * TAG_BIG_ALLOC | d;
 *   - every other nibble (inside a block) is 0.
 * Order-0 nibbles are at most 2, so a byte with bit 7 set is always a big
 * block's start: the tag of any slot is read in O(1).
 *
 * ==== Free lists ============================================================
 * One doubly linked list per order, LIFO (push and pop at the head), threaded
 * through the free blocks themselves (next and prev offsets in their first
 * 16 bytes): a free block's bytes are nobody's, and allocated blocks stay
 * header-free, so a 64-byte request takes exactly a 64-byte block.  Bit d of
 * `nonempty` is set iff list d is non-empty, so the smallest order that can
 * serve a request is one count-trailing-zeros away.
 *
 * ==== Invariants (buddy_check verifies every one) ===========================
 *   I1  the blocks tile [0, 2^K), each aligned to its size;
 *   I2  every nibble inside a block is 0;
 *   I3  no free block has a free buddy of the same order (full coalescing);
 *   I4  list d holds exactly the free blocks of order d, its links agree both
 *       ways, count[d] is its length, and bit d of nonempty is count[d] > 0;
 *   I5  allocated is the sum of the allocated blocks' sizes, alloc_blocks
 *       their number;
 *   I6  heap is the end of the highest allocated block (0 when none), and
 *       peak_heap >= heap;
 *   I7  every tag in a granule (4 KiB of the table) whose bit in `touched`
 *       is clear is 0: tags are written only at block starts, a start is
 *       new only as the high half of a split (or the arena's first block),
 *       and make_free_new marks its granule; the table was mapped zero or
 *       reset (discarded) since.  So I2's scan reads only touched granules.
 *       (Not checked: it is what spares the check the whole table.)
 *
 * ==== Costs =================================================================
 * malloc, memalign, free and realloc are O(K - m): at most K - m splits or
 * merges, and (when the highest block is freed) one root-to-leaf descent to
 * find the new heap end.  walk is O(blocks); check is O(blocks + touched
 * granules x 4 KiB + 2^(K-m) / 2^18): it reads the tags written so far, not
 * the whole table (a 1 TiB arena of 16-byte minimum blocks has a 32 GiB
 * table, of which a few allocations touch a few pages), and one bit per
 * granule of the rest.
 */
#include "ma_internal.h"
#include "buddy/state.h"

#include <stdlib.h>
#include <string.h>

static inline buddy *as_buddy(ma_allocator *a) { return (buddy *)a; }

static inline uint64_t block_size(const buddy *b, unsigned d)
{
    return UINT64_C(1) << (d + b->m);
}

static inline free_link *link_at(buddy *b, uint64_t off)
{
    return (free_link *)(void *)ma_ptr(&b->base, off);
}

/* ---- the side table ------------------------------------------------------- */

/* Is slot i the start of a block?  If so, give its order and state. */
static bool tag_get(const buddy *b, uint64_t i, unsigned *d, bool *allocated)
{
    uint8_t t = b->tags[i >> 1];
    if (t & TAG_BIG) {
        if (i & 1)
            return false;
        *d = t & TAG_ORDER_MASK;
        *allocated = (t & TAG_BIG_ALLOC) != 0;
        return true;
    }
    unsigned nib = (i & 1) ? (unsigned)t >> 4 : t & 0xfu;
    if (nib != TAG_FREE && nib != TAG_ALLOC)
        return false;
    *d = 0;
    *allocated = nib == TAG_ALLOC;
    return true;
}

/* Is slot i the start of a free block of order exactly d? */
static bool is_free_block(const buddy *b, uint64_t i, unsigned d)
{
    unsigned bd;
    bool allocated;
    return tag_get(b, i, &bd, &allocated) && bd == d && !allocated;
}

/* Mark slot i as a block start (the slot's old tag must be cleared). */
static void tag_set(buddy *b, uint64_t i, unsigned d, bool allocated)
{
    uint8_t *t = &b->tags[i >> 1];
    if (d) {
        *t = (uint8_t)(TAG_BIG | (allocated ? TAG_BIG_ALLOC : 0u) | d);
        return;
    }
    unsigned nib = allocated ? TAG_ALLOC : TAG_FREE;
    *t = (i & 1) ? (uint8_t)((*t & 0x0fu) | nib << 4)
                 : (uint8_t)((*t & 0xf0u) | nib);
}

static void tag_clear(buddy *b, uint64_t i, unsigned d)
{
    uint8_t *t = &b->tags[i >> 1];
    if (d)
        *t = 0;
    else
        *t = (i & 1) ? (uint8_t)(*t & 0x0fu) : (uint8_t)(*t & 0xf0u);
}

/* ---- free lists --------------------------------------------------------------- */

static void list_push(buddy *b, unsigned d, uint64_t off)
{
    free_link *l = link_at(b, off);
    l->next = b->head[d];
    l->prev = MA_NULL;
    if (b->head[d] != MA_NULL)
        link_at(b, b->head[d])->prev = off;
    b->head[d] = off;
    b->count[d]++;
    b->nonempty |= UINT64_C(1) << d;
}

static void list_remove(buddy *b, unsigned d, uint64_t off)
{
    free_link *l = link_at(b, off);
    if (l->prev != MA_NULL)
        link_at(b, l->prev)->next = l->next;
    else
        b->head[d] = l->next;
    if (l->next != MA_NULL)
        link_at(b, l->next)->prev = l->prev;
    if (--b->count[d] == 0)
        b->nonempty &= ~(UINT64_C(1) << d);
}

static void make_free(buddy *b, uint64_t off, unsigned d)
{
    tag_set(b, off >> b->m, d, false);
    list_push(b, d, off);
}

/* A new block start: the high half of a split (or the arena's one block).
 * Tags are written only at block starts, and every other start was once
 * made here, so its granule is marked touched here only (I7). */
static void make_free_new(buddy *b, uint64_t off, unsigned d)
{
    uint64_t g = (off >> (b->m + 1)) >> GRANULE_SHIFT;
    b->touched[g >> 6] |= UINT64_C(1) << (g & 63);
    make_free(b, off, d);
}

/* ---- heap size ------------------------------------------------------------------ */

/*
 * End of the highest allocated block: descend from the root, going right
 * whenever the right half is not one whole free block.  O(top).
 */
static uint64_t highest_end(const buddy *b)
{
    uint64_t start = 0;
    unsigned d = b->top;
    for (;;) {
        unsigned bd;
        bool allocated;
        if (tag_get(b, start >> b->m, &bd, &allocated) && bd == d)
            return allocated ? start + block_size(b, d) : start;
        if (d == 0) /* unreachable in a consistent heap (check reports it) */
            return start + block_size(b, 0);
        d--;
        uint64_t right = start + block_size(b, d);
        if (!is_free_block(b, right >> b->m, d))
            start = right;
    }
}

static void note_allocated(buddy *b, uint64_t off, unsigned d)
{
    uint64_t end = off + block_size(b, d);
    if (end > b->heap) {
        b->heap = end;
        if (end > b->peak_heap)
            b->peak_heap = end;
    }
}

/* ---- operations ------------------------------------------------------------------- */

/* The smallest order whose blocks hold `size` bytes. */
static unsigned order_for(const buddy *b, uint64_t size)
{
    unsigned k = ma_ceil_log2(size ? size : 1);
    return k <= b->m ? 0u : k - b->m;
}

static ma_status buddy_memalign(ma_allocator *a, uint64_t alignment,
                                uint64_t size, uint64_t *addr)
{
    buddy *b = as_buddy(a);
    /* Blocks are aligned to their size: a block as large as the alignment
     * is aligned enough. */
    unsigned d = order_for(b, size > alignment ? size : alignment);
    if (d > b->top)
        return ma_fail(a, MA_ENOMEM, "%llu bytes (alignment %llu) exceed the "
                       "arena of %llu bytes", (unsigned long long)size,
                       (unsigned long long)alignment,
                       (unsigned long long)a->arena_size);
    uint64_t fits = b->nonempty & ~((UINT64_C(1) << d) - 1);
    if (!fits)
        return ma_fail(a, MA_ENOMEM, "no free block of %llu bytes or more",
                       (unsigned long long)block_size(b, d));
    unsigned j = (unsigned)__builtin_ctzll(fits);
    uint64_t off = b->head[j];
    list_remove(b, j, off);
    tag_clear(b, off >> b->m, j);
    while (j > d) { /* split: keep the low half, free the high half */
        j--;
        make_free_new(b, off + block_size(b, j), j);
    }
    tag_set(b, off >> b->m, d, true);
    b->allocated += block_size(b, d);
    b->alloc_blocks++;
    note_allocated(b, off, d);
    *addr = off;
    return MA_OK;
}

/* Find the allocated block at `off`, or report that the tags disagree
 * (*d is 0 then). */
static ma_status allocated_order(buddy *b, uint64_t off, unsigned *d)
{
    bool allocated = false;
    *d = 0;
    if (off >= b->base.arena_size || (off & (block_size(b, 0) - 1)) ||
        !tag_get(b, off >> b->m, d, &allocated) || !allocated)
        return ma_fail(&b->base, MA_ECORRUPT,
                       "0x%llx is a live allocation, but the side table has "
                       "no allocated block there", (unsigned long long)off);
    return MA_OK;
}

/* Free the block of order d at off and merge it with its free buddies. */
static void release(buddy *b, uint64_t off, unsigned d)
{
    uint64_t end = off + block_size(b, d);
    uint64_t i = off >> b->m;
    b->allocated -= block_size(b, d);
    b->alloc_blocks--;
    tag_clear(b, i, d);
    while (d < b->top) {
        uint64_t j = i ^ (UINT64_C(1) << d);
        if (!is_free_block(b, j, d))
            break;
        list_remove(b, d, j << b->m);
        tag_clear(b, j, d);
        i &= ~(UINT64_C(1) << d);
        d++;
    }
    make_free(b, i << b->m, d);
    if (end == b->heap)
        b->heap = highest_end(b);
}

static ma_status buddy_free(ma_allocator *a, uint64_t off)
{
    buddy *b = as_buddy(a);
    unsigned d;
    ma_status st = allocated_order(b, off, &d);
    if (st == MA_OK)
        release(b, off, d);
    return st;
}

/* Can the block of order d at slot i grow to order nd by absorbing the free
 * buddies above it (it must be the lower buddy at every level)? */
static bool can_grow(const buddy *b, uint64_t i, unsigned d, unsigned nd)
{
    for (unsigned j = d; j < nd; j++) {
        uint64_t bit = UINT64_C(1) << j;
        if ((i & bit) || !is_free_block(b, i + bit, j))
            return false;
    }
    return true;
}

static ma_status buddy_realloc(ma_allocator *a, uint64_t off, uint64_t size,
                               uint64_t *new_addr)
{
    buddy *b = as_buddy(a);
    unsigned d;
    ma_status st = allocated_order(b, off, &d);
    if (st != MA_OK)
        return st;
    unsigned nd = order_for(b, size);
    uint64_t i = off >> b->m;
    if (nd <= d) { /* shrink in place: give back the upper halves */
        uint64_t old_end = off + block_size(b, d);
        tag_clear(b, i, d);
        for (unsigned j = d; j > nd;) {
            j--;
            make_free_new(b, off + block_size(b, j), j);
        }
        tag_set(b, i, nd, true);
        b->allocated -= block_size(b, d) - block_size(b, nd);
        if (nd < d && old_end == b->heap)
            b->heap = highest_end(b);
        *new_addr = off;
        return MA_OK;
    }
    if (nd <= b->top && can_grow(b, i, d, nd)) { /* grow in place */
        tag_clear(b, i, d);
        for (unsigned j = d; j < nd; j++) {
            uint64_t s = i + (UINT64_C(1) << j);
            list_remove(b, j, s << b->m);
            tag_clear(b, s, j);
        }
        tag_set(b, i, nd, true);
        b->allocated += block_size(b, nd) - block_size(b, d);
        note_allocated(b, off, nd);
        *new_addr = off;
        return MA_OK;
    }
    uint64_t moved;
    st = buddy_memalign(a, MA_ALIGN, size, &moved);
    if (st != MA_OK)
        return st;
    memcpy(ma_ptr(a, moved), ma_ptr(a, off), (size_t)block_size(b, d));
    release(b, off, d);
    *new_addr = moved;
    return MA_OK;
}

static ma_status buddy_usable_size(ma_allocator *a, uint64_t off,
                                   uint64_t *size)
{
    buddy *b = as_buddy(a);
    unsigned d;
    ma_status st = allocated_order(b, off, &d);
    if (st == MA_OK)
        *size = block_size(b, d);
    return st;
}

/*
 * Free blocks count "inside the heap" only below heap_size.  Above it the
 * arena is one run of free blocks whose sizes are the set bits of
 * (arena - heap), since coalescing is complete.
 */
static void buddy_stats(ma_allocator *a, ma_stats *st)
{
    buddy *b = as_buddy(a);
    uint64_t above = (a->arena_size - b->heap) >> b->m; /* in slots */
    uint64_t blocks = 0;
    st->largest_free = 0;
    for (unsigned d = 0; d <= b->top; d++) {
        uint64_t inside = b->count[d] - ((above >> d) & 1);
        blocks += inside;
        if (inside)
            st->largest_free = block_size(b, d);
    }
    st->allocated_bytes = b->allocated;
    st->free_bytes = b->heap - b->allocated;
    st->free_blocks = blocks;
    st->heap_size = b->heap;
    st->peak_heap_size = b->peak_heap;
    st->metadata_bytes = b->map_len + sizeof *b;
}

static ma_status buddy_walk(ma_allocator *a, ma_walk_fn fn, void *ctx)
{
    buddy *b = as_buddy(a);
    for (uint64_t i = 0; i < b->nslots;) {
        unsigned d;
        bool allocated;
        if (!tag_get(b, i, &d, &allocated))
            return ma_fail(a, MA_ECORRUPT, "offset 0x%llx starts no block",
                           (unsigned long long)(i << b->m));
        uint64_t span = UINT64_C(1) << d;
        if ((i & (span - 1)) || d > b->top || span > b->nslots - i)
            return ma_fail(a, MA_ECORRUPT,
                           "block at 0x%llx of %llu bytes is misaligned or "
                           "passes the arena's end",
                           (unsigned long long)(i << b->m),
                           (unsigned long long)block_size(b, d));
        uint64_t off = i << b->m;
        ma_block blk = {off, block_size(b, d), allocated ? off : MA_NULL, 0,
                        allocated};
        if (fn(&blk, ctx))
            break;
        i += span;
    }
    return MA_OK;
}

/* ---- check --------------------------------------------------------------------------- */

static bool bytes_zero(const uint8_t *p, uint64_t n)
{
    for (; n && ((uintptr_t)p & 7); n--, p++)
        if (*p)
            return false;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        if (w)
            return false;
    }
    for (; n; n--, p++)
        if (*p)
            return false;
    return true;
}

/* The first touched granule in [g, end), or end. */
static uint64_t next_touched(const buddy *b, uint64_t g, uint64_t end)
{
    while (g < end) {
        uint64_t w = b->touched[g >> 6] >> (g & 63);
        if (w) {
            g += (uint64_t)__builtin_ctzll(w);
            return g < end ? g : end;
        }
        g = (g | 63) + 1;
    }
    return end;
}

/* Whether tags [lo, hi) are all 0, reading the touched granules only (I7). */
static bool tags_zero(const buddy *b, uint64_t lo, uint64_t hi)
{
    if (lo >= hi)
        return true;
    uint64_t end = ((hi - 1) >> GRANULE_SHIFT) + 1;
    for (uint64_t g = next_touched(b, lo >> GRANULE_SHIFT, end); g < end;
         g = next_touched(b, g + 1, end)) {
        uint64_t s = g << GRANULE_SHIFT, e = (g + 1) << GRANULE_SHIFT;
        s = s > lo ? s : lo;
        e = e < hi ? e : hi;
        if (!bytes_zero(b->tags + s, e - s))
            return false;
    }
    return true;
}

struct buddy_census {
    buddy *b;
    uint64_t count[MAX_ORDERS];
    uint64_t allocated, alloc_blocks, highest_end;
    ma_status st;
};

static int census_block(const ma_block *blk, void *p)
{
    struct buddy_census *c = p;
    buddy *b = c->b;
    uint64_t i = blk->offset >> b->m;
    unsigned d = ma_log2(blk->size) - b->m;
    if (d && !tags_zero(b, (i >> 1) + 1, (i >> 1) + ((UINT64_C(1) << d) >> 1))) { /* I2 */
        c->st = ma_fail(&b->base, MA_ECORRUPT,
                        "the side table marks a block start inside the "
                        "block at 0x%llx", (unsigned long long)blk->offset);
        return 1;
    }
    if (blk->allocated) {
        c->allocated += blk->size;
        c->alloc_blocks++;
        c->highest_end = blk->offset + blk->size;
        return 0;
    }
    c->count[d]++;
    if (d < b->top && is_free_block(b, i ^ (UINT64_C(1) << d), d)) { /* I3 */
        c->st = ma_fail(&b->base, MA_ECORRUPT,
                        "free buddies at 0x%llx and 0x%llx (%llu bytes) are "
                        "not merged", (unsigned long long)blk->offset,
                        (unsigned long long)((i ^ (UINT64_C(1) << d)) << b->m),
                        (unsigned long long)blk->size);
        return 1;
    }
    return 0;
}

static ma_status check_list(buddy *b, unsigned d, uint64_t expected)
{
    ma_allocator *a = &b->base;
    uint64_t prev = MA_NULL, n = 0;
    for (uint64_t off = b->head[d]; off != MA_NULL;) {
        if (n == expected)
            return ma_fail(a, MA_ECORRUPT, "free list of %llu-byte blocks is "
                           "longer than the %llu free blocks of that size (or "
                           "cyclic)", (unsigned long long)block_size(b, d),
                           (unsigned long long)expected);
        if (off >= a->arena_size || (off & (block_size(b, d) - 1)) ||
            !is_free_block(b, off >> b->m, d))
            return ma_fail(a, MA_ECORRUPT, "free list of %llu-byte blocks "
                           "holds 0x%llx, which is not a free block of that "
                           "size", (unsigned long long)block_size(b, d),
                           (unsigned long long)off);
        free_link *l = link_at(b, off);
        if (l->prev != prev)
            return ma_fail(a, MA_ECORRUPT, "free block 0x%llx: back link "
                           "0x%llx, expected 0x%llx", (unsigned long long)off,
                           (unsigned long long)l->prev,
                           (unsigned long long)prev);
        prev = off;
        off = l->next;
        n++;
    }
    if (n != expected || b->count[d] != expected)
        return ma_fail(a, MA_ECORRUPT, "%llu free blocks of %llu bytes, the "
                       "list holds %llu and counts %llu",
                       (unsigned long long)expected,
                       (unsigned long long)block_size(b, d),
                       (unsigned long long)n, (unsigned long long)b->count[d]);
    if (((b->nonempty >> d) & 1) != (expected > 0))
        return ma_fail(a, MA_ECORRUPT, "non-empty mask wrong for order %u", d);
    return MA_OK;
}

static ma_status buddy_check(ma_allocator *a)
{
    buddy *b = as_buddy(a);
    struct buddy_census c;
    memset(&c, 0, sizeof c);
    c.b = b;
    c.st = MA_OK;
    ma_status st = buddy_walk(a, census_block, &c); /* I1 */
    if (st != MA_OK)
        return st;
    if (c.st != MA_OK)
        return c.st;
    for (unsigned d = 0; d < MAX_ORDERS; d++) { /* I4 */
        if (d > b->top) {
            if (b->count[d] || b->head[d] != MA_NULL || (b->nonempty >> d) & 1)
                return ma_fail(a, MA_ECORRUPT, "free list beyond the top order");
            continue;
        }
        if ((st = check_list(b, d, c.count[d])) != MA_OK)
            return st;
    }
    if (c.allocated != b->allocated || c.alloc_blocks != b->alloc_blocks)
        return ma_fail(a, MA_ECORRUPT, "allocated bytes %llu (blocks %llu), "
                       "recount %llu (%llu)", (unsigned long long)b->allocated,
                       (unsigned long long)b->alloc_blocks,
                       (unsigned long long)c.allocated,
                       (unsigned long long)c.alloc_blocks); /* I5 */
    if (c.highest_end != b->heap || b->peak_heap < b->heap)
        return ma_fail(a, MA_ECORRUPT, "heap size %llu (peak %llu), the "
                       "highest allocated block ends at %llu",
                       (unsigned long long)b->heap,
                       (unsigned long long)b->peak_heap,
                       (unsigned long long)c.highest_end); /* I6 */
    return MA_OK;
}

/* ---- life cycle ------------------------------------------------------------------------- */

static void buddy_init_state(buddy *b)
{
    for (unsigned d = 0; d < MAX_ORDERS; d++) {
        b->head[d] = MA_NULL;
        b->count[d] = 0;
    }
    b->nonempty = 0;
    b->allocated = b->alloc_blocks = 0;
    b->heap = b->peak_heap = 0;
    make_free_new(b, 0, b->top);
}

static ma_status buddy_reset(ma_allocator *a)
{
    buddy *b = as_buddy(a);
    ma_arena_discard(a, 0, a->arena_size);
    /* The table and its touched bits are their own mapping: discarding
     * whole pages zeroes them. */
    ma_discard(b->tags, ma_round_up(b->map_len, ma_page_size()));
    buddy_init_state(b);
    return MA_OK;
}

static void buddy_release(ma_allocator *a)
{
    buddy *b = as_buddy(a);
    ma_unmap(b->tags, b->map_len);
    b->tags = NULL;
}

static const ma_ops buddy_ops = {
    .name = "buddy",
    .memalign = buddy_memalign,
    .realloc = buddy_realloc,
    .free = buddy_free,
    .usable_size = buddy_usable_size,
    .stats = buddy_stats,
    .walk = buddy_walk,
    .check = buddy_check,
    .reset = buddy_reset,
    .release = buddy_release,
};

ma_status ma_buddy_create(uint64_t arena_size, uint64_t min_block,
                          ma_allocator **out)
{
    if (!out)
        return ma_fail(NULL, MA_EINVAL, "ma_buddy_create: out is NULL");
    *out = NULL;
    if (!ma_is_pow2(arena_size) || arena_size < MIN_ARENA || arena_size > MAX_ARENA)
        return ma_fail(NULL, MA_EINVAL, "arena_size must be a power of two "
                       "from %llu to %llu, got %llu",
                       (unsigned long long)MIN_ARENA, (unsigned long long)MAX_ARENA,
                       (unsigned long long)arena_size);
    if (!ma_is_pow2(min_block) || min_block < MA_ALIGN || min_block > arena_size)
        return ma_fail(NULL, MA_EINVAL, "min_block must be a power of two "
                       "from %u to arena_size (%llu), got %llu", MA_ALIGN,
                       (unsigned long long)arena_size,
                       (unsigned long long)min_block);
    buddy *b = calloc(1, sizeof *b);
    if (!b)
        return ma_fail(NULL, MA_ENOMEM, "no memory for the instance");
    /* Align the arena to its size: offsets and pointers align alike. */
    ma_status st = ma_base_init(&b->base, &buddy_ops, arena_size, arena_size);
    if (st != MA_OK) {
        free(b);
        return st;
    }
    b->m = ma_log2(min_block);
    b->top = ma_log2(arena_size) - b->m;
    b->nslots = UINT64_C(1) << b->top;
    b->tags_len = (b->nslots + 1) / 2;
    uint64_t granules = ((b->tags_len - 1) >> GRANULE_SHIFT) + 1;
    b->map_len = ma_round_up(b->tags_len, 8) + (granules + 63) / 64 * 8;
    b->tags = ma_map_zero(b->map_len);
    if (!b->tags) {
        uint64_t len = b->map_len; /* b is freed by ma_destroy */
        ma_destroy(&b->base);
        return ma_fail(NULL, MA_ESYS, "mmap refused to reserve %llu bytes "
                       "for the block tags", (unsigned long long)len);
    }
    b->touched = (uint64_t *)(void *)(b->tags + ma_round_up(b->tags_len, 8));
    b->base.heap_size_at = &b->heap;
    b->base.allocated_at = &b->allocated;
    buddy_init_state(b);
    *out = &b->base;
    return MA_OK;
}
