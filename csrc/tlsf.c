/*
 * tlsf.c -- two-level segregated fit (TLSF, Masmano, Ripoll, Crespo and Real,
 * ECRTS 2004): a good fit in O(1), with immediate coalescing.
 *
 * ==== Blocks: 8 bytes of overhead (the glibc / dlmalloc layout) ==============
 * The heap is [0, heap) at the start of the arena; blocks tile it, each at a
 * multiple of 16 with a size that is a multiple of 16, at least MIN_BLOCK.
 * A block at offset b of size s:
 *   b + 0   the footer of the block before it (its size) when that one is
 *           free; else the last 8 bytes of that block's payload;
 *   b + 8   the size word: s | T_ALLOC (allocated) | T_PREV (the block
 *           before it is allocated, or b is 0);
 *   b + 16  the payload (the address malloc returns), up to b + s + 8: the
 *           first word of the next block belongs to this one while it is
 *           allocated, so usable_size is s - 8;
 *   free:   b + 16 holds the list links (32-bit offsets / 16) and b + s the
 *           footer.
 * A request of n bytes takes a block of max(MIN_BLOCK, round_up(n + 8, 16)).
 * An epilogue word at heap + 8 (T_ALLOC | T_PREV when the last block is
 * allocated or the heap empty) ends the tiling, so that every block has a
 * successor's size word to read.  Both the last block's payload and the
 * epilogue lie up to 16 bytes past the heap: the arena reserved is
 * arena_size + 16 bytes (the heap itself may reach arena_size).
 *
 * ==== Size classes: the mapping (k = sl_bits, 1 <= k <= 6) ===================
 * In units of 16 bytes, u = size / 16 (u >= 2):
 *   u <  2^k:  fl = 0,          sl = u
 *   u >= 2^k:  f = floor(log2 u), fl = f - k + 1, sl = (u >> (f - k)) - 2^k
 * (sl: the k bits after u's leading one).  Class (0, sl) holds exactly the
 * size 16 sl; class (fl >= 1, sl) the sizes 16 [(2^k + sl) 2^(fl-1),
 * (2^k + sl + 1) 2^(fl-1)): 2^k classes per power of two, each 2^(fl-1)
 * units wide.  With k = 5: 496 -> (0, 31), 512 -> (1, 0), 1008 -> (1, 31),
 * 1024 -> (2, 0) (32 bytes wide), 2^35 -> (27, 0).
 * A free block is listed in the class of its size (rounded down).  A search
 * for u first rounds u UP to a multiple of its class's width, so that it
 * names the lowest class whose every block fits; it then takes the first
 * non-empty class at or above that one (two bitmaps, two find-first-set),
 * and from its list the head: lists are LIFO (a block becomes free when it
 * is freed, split off as a remainder, created by growth, or formed by
 * coalescing).  When no such class has a block, the heap's free top block
 * is used when it holds u, else the heap grows until its top does.
 * ma_tlsf_mapping (memalloc.h) gives both mappings to the tests.
 *
 * ==== Invariants (tlsf_check verifies every one) =============================
 *   T1  the blocks tile [0, heap): sizes multiples of 16, >= MIN_BLOCK; heap
 *       is a multiple of 16 with prealloc <= heap <= arena_size and
 *       heap <= peak_heap;
 *   T2  T_PREV of every block (and of the epilogue) equals the allocated
 *       state of the block before it (set for the first block);
 *   T3  every free block's footer equals its size;
 *   T4  no two free blocks are adjacent (coalescing is immediate);
 *   T5  list (fl, sl) holds exactly the free blocks whose size maps to
 *       (fl, sl), linked consistently both ways; bit sl of sl_map[fl] is set
 *       iff that list is non-empty, bit fl of fl_map iff sl_map[fl] != 0,
 *       and no bit or list exists beyond 2^k classes per level;
 *   T6  free_bytes, free_blocks, allocated and alloc_blocks equal a recount.
 *
 * ==== Costs ==================================================================
 * malloc, memalign, free and realloc: O(1) (a bounded number of bitmap and
 * list operations; realloc's move copies the block).  stats' largest_free
 * scans the highest non-empty class's list.  walk: O(blocks).  check:
 * O(blocks + free blocks x log(free blocks)): the walk collects the free
 * blocks' offsets in address order into one array (MA_ENOMEM when there
 * is no memory for it), and every listed block is looked up there.
 */
#include "ma_internal.h"
#include "tlsf/state.h"

#include <stdlib.h>
#include <string.h>

static inline tlsf *as_tlsf(ma_allocator *a) { return (tlsf *)a; }

static inline uint64_t *word(const tlsf *h, uint64_t off)
{
    return (uint64_t *)(void *)ma_ptr(&h->base, off);
}

static inline uint64_t *size_word(const tlsf *h, uint64_t off)
{
    return word(h, off + 8);
}

static inline tlink *link_of(const tlsf *h, uint64_t off)
{
    return (tlink *)(void *)ma_ptr(&h->base, off + 16);
}

/* ---- the mapping ---------------------------------------------------------- */

/* The class of u (units of 16 bytes, u >= 1), rounded down. */
static inline void class_of(unsigned k, uint64_t u, unsigned *fl, unsigned *sl)
{
    if (u < (UINT64_C(1) << k)) {
        *fl = 0;
        *sl = (unsigned)u;
    } else {
        unsigned f = ma_log2(u);
        *fl = f - k + 1;
        *sl = (unsigned)(u >> (f - k)) - (1u << k);
    }
}

/* u rounded up to the lower bound of a class (a multiple of its width). */
static inline uint64_t round_to_class(unsigned k, uint64_t u)
{
    if (u < (UINT64_C(1) << k))
        return u;
    uint64_t w = (UINT64_C(1) << (ma_log2(u) - k)) - 1;
    return (u + w) & ~w;
}

ma_status ma_tlsf_mapping(unsigned sl_bits, uint64_t size, int search,
                          unsigned *fl, unsigned *sl)
{
    if (!fl || !sl)
        return ma_fail(NULL, MA_EINVAL, "ma_tlsf_mapping: fl or sl is NULL");
    if (sl_bits < SL_MIN || sl_bits > SL_MAX)
        return ma_fail(NULL, MA_EINVAL, "sl_bits must be from %u to %u, got %u",
                       SL_MIN, SL_MAX, sl_bits);
    if ((size & 15) || size < MIN_BLOCK || size > MAX_ARENA)
        return ma_fail(NULL, MA_EINVAL, "size must be a block size: a multiple "
                       "of 16 from %llu to %llu, got %llu",
                       (unsigned long long)MIN_BLOCK, (unsigned long long)MAX_ARENA,
                       (unsigned long long)size);
    uint64_t u = size >> 4;
    class_of(sl_bits, search ? round_to_class(sl_bits, u) : u, fl, sl);
    return MA_OK;
}

/* ---- free lists ------------------------------------------------------------ */

/* Make [off, off + size) a free block in its list: its size word (its
 * predecessor is allocated, by T4, or it is the first block), its footer. */
static void insert_free(tlsf *h, uint64_t off, uint64_t size)
{
    unsigned fl, sl;
    class_of(h->k, size >> 4, &fl, &sl);
    *size_word(h, off) = size | T_PREV;
    *word(h, off + size) = size;
    uint32_t o16 = (uint32_t)(off >> 4), head = h->heads[fl][sl];
    tlink *l = link_of(h, off);
    l->next = head;
    l->prev = NIL;
    if (head != NIL)
        link_of(h, (uint64_t)head << 4)->prev = o16;
    h->heads[fl][sl] = o16;
    h->sl_map[fl] |= UINT64_C(1) << sl;
    h->fl_map |= 1u << fl;
    h->free_bytes += size;
    h->free_blocks++;
}

static void remove_free(tlsf *h, uint64_t off, uint64_t size)
{
    unsigned fl, sl;
    class_of(h->k, size >> 4, &fl, &sl);
    tlink *l = link_of(h, off);
    if (l->prev != NIL) {
        link_of(h, (uint64_t)l->prev << 4)->next = l->next;
    } else {
        h->heads[fl][sl] = l->next;
        if (l->next == NIL) {
            h->sl_map[fl] &= ~(UINT64_C(1) << sl);
            if (!h->sl_map[fl])
                h->fl_map &= ~(1u << fl);
        }
    }
    if (l->next != NIL)
        link_of(h, (uint64_t)l->next << 4)->prev = l->prev;
    h->free_bytes -= size;
    h->free_blocks--;
}

/* The head of the first non-empty class at or above the class of u
 * rounded up; NONE when there is none. */
static uint64_t find_block(const tlsf *h, uint64_t u)
{
    unsigned fl, sl;
    class_of(h->k, round_to_class(h->k, u), &fl, &sl);
    if (fl >= FL_COUNT)
        return NONE;
    uint64_t bits = h->sl_map[fl] & (~UINT64_C(0) << sl);
    if (!bits) {
        uint32_t above = fl + 1 < FL_COUNT ? h->fl_map & (~0u << (fl + 1)) : 0;
        if (!above)
            return NONE;
        fl = (unsigned)__builtin_ctz(above);
        bits = h->sl_map[fl];
    }
    sl = (unsigned)__builtin_ctzll(bits);
    return (uint64_t)h->heads[fl][sl] << 4;
}

/* ---- the heap --------------------------------------------------------------- */

static inline bool top_is_free(const tlsf *h)
{
    return !(*size_word(h, h->heap) & T_PREV);
}

static inline void set_epilogue(tlsf *h, bool last_allocated)
{
    *size_word(h, h->heap) = T_ALLOC | (last_allocated ? T_PREV : 0);
}

/* Grow the heap until its top is a free block of at least `need` bytes
 * (a free top that holds it already is used as it is). */
static ma_status grow(tlsf *h, uint64_t need, uint64_t *out)
{
    uint64_t top = h->heap, have = 0;
    if (top_is_free(h)) {
        have = *word(h, h->heap);
        top = h->heap - have;
    }
    uint64_t inc = need > have ? ma_round_up_step(need - have, h->growth) : 0;
    if (inc > h->base.arena_size - h->heap)
        return ma_fail(&h->base, MA_ENOMEM, "the heap cannot grow by %llu "
                       "bytes: %llu of the arena's %llu are in use",
                       (unsigned long long)inc, (unsigned long long)h->heap,
                       (unsigned long long)h->base.arena_size);
    if (have)
        remove_free(h, top, have);
    h->heap += inc;
    if (h->heap > h->peak_heap)
        h->peak_heap = h->heap;
    insert_free(h, top, have + inc);
    set_epilogue(h, false);
    *out = top;
    return MA_OK;
}

/* Give the heap's free top back, down to a multiple of the growth step
 * (never below prealloc, never leaving a sliver below MIN_BLOCK). */
static void maybe_trim(tlsf *h)
{
    if (!h->trim || !top_is_free(h))
        return;
    uint64_t size = *word(h, h->heap), top = h->heap - size;
    uint64_t keep = ma_round_up_step(top, h->growth);
    if (keep < h->prealloc)
        keep = h->prealloc;
    while (keep > top && keep - top < MIN_BLOCK)
        keep += h->growth;
    if (keep >= h->heap)
        return;
    remove_free(h, top, size);
    /* [keep, keep + 8) may be the payload's end of the block below. */
    ma_arena_discard(&h->base, keep + 8, h->heap + 8 - keep);
    h->heap = keep;
    if (keep > top)
        insert_free(h, top, keep - top);
    set_epilogue(h, keep == top);
}

static inline uint64_t block_for(uint64_t n)
{
    uint64_t s = ma_round_up(n + OVERHEAD, 16);
    return s < MIN_BLOCK ? MIN_BLOCK : s;
}

/*
 * Allocate `size` bytes from the free block at off (of `have` bytes), with
 * the payload aligned to `align`: a leading fragment stays free, the
 * allocation takes the low end of the rest, and the remainder above it
 * becomes a free block when it can hold MIN_BLOCK.
 */
static uint64_t place(tlsf *h, uint64_t off, uint64_t have, uint64_t size,
                      uint64_t align)
{
    remove_free(h, off, have);
    uint64_t lead = 0, prev = T_PREV;
    if (align > MA_ALIGN) {
        uint64_t payload = ma_round_up(off + 16, align);
        while (payload - 16 - off != 0 && payload - 16 - off < MIN_BLOCK)
            payload += align;
        lead = payload - 16 - off;
    }
    if (lead) {
        insert_free(h, off, lead);
        prev = 0;
    }
    uint64_t start = off + lead, rest = have - lead - size;
    if (rest >= MIN_BLOCK) {
        *size_word(h, start) = size | T_ALLOC | prev;
        insert_free(h, start + size, rest);
    } else {
        size = have - lead;
        *size_word(h, start) = size | T_ALLOC | prev;
        *size_word(h, start + size) |= T_PREV; /* the epilogue included */
    }
    h->allocated += size;
    h->alloc_blocks++;
    return start;
}

static ma_status tlsf_memalign(ma_allocator *a, uint64_t alignment, uint64_t n,
                               uint64_t *addr)
{
    tlsf *h = as_tlsf(a);
    if (n > a->arena_size || alignment > a->arena_size)
        return ma_fail(a, MA_ENOMEM, "%llu bytes exceed the arena of %llu",
                       (unsigned long long)n, (unsigned long long)a->arena_size);
    uint64_t size = block_for(n);
    /* Room for any leading fragment: the alignment plus a minimum block. */
    uint64_t need = alignment > MA_ALIGN ? size + alignment + MIN_BLOCK : size;
    uint64_t off = need <= a->arena_size ? find_block(h, need >> 4) : NONE;
    if (off == NONE) {
        ma_status st = grow(h, need, &off);
        if (st != MA_OK)
            return st;
    }
    *addr = place(h, off, *size_word(h, off) & ~T_MASK, size, alignment) + 16;
    return MA_OK;
}

/* The allocated block whose payload is at addr, or report corruption. */
static ma_status block_at(tlsf *h, uint64_t addr, uint64_t *off, uint64_t *size)
{
    *off = *size = 0;
    if (addr < 16 || addr > h->heap || (addr & 15))
        goto bad;
    *off = addr - 16;
    uint64_t w = *size_word(h, *off);
    *size = w & ~T_MASK;
    if (!(w & T_ALLOC) || *size < MIN_BLOCK || *size > h->heap - *off)
        goto bad;
    return MA_OK;
bad:
    return ma_fail(&h->base, MA_ECORRUPT, "0x%llx is a live allocation, but "
                   "the heap has no allocated block there",
                   (unsigned long long)addr);
}

/* Free [off, off + size), whose size word is set, and merge it with its
 * free neighbours. */
static void release(tlsf *h, uint64_t off, uint64_t size)
{
    uint64_t start = off, total = size;
    if (!(*size_word(h, off) & T_PREV)) {
        uint64_t psize = *word(h, off);
        start = off - psize;
        total += psize;
        remove_free(h, start, psize);
    }
    uint64_t next = off + size, nw = *size_word(h, next);
    if (!(nw & T_ALLOC)) {
        total += nw & ~T_MASK;
        remove_free(h, next, nw & ~T_MASK);
    } else {
        *size_word(h, next) = nw & ~T_PREV; /* the epilogue included */
    }
    insert_free(h, start, total);
    maybe_trim(h);
}

static ma_status tlsf_free(ma_allocator *a, uint64_t addr)
{
    tlsf *h = as_tlsf(a);
    uint64_t off, size;
    ma_status st = block_at(h, addr, &off, &size);
    if (st != MA_OK)
        return st;
    h->allocated -= size;
    h->alloc_blocks--;
    release(h, off, size);
    return MA_OK;
}

static ma_status tlsf_realloc(ma_allocator *a, uint64_t addr, uint64_t n,
                              uint64_t *new_addr)
{
    tlsf *h = as_tlsf(a);
    uint64_t off, size;
    ma_status st = block_at(h, addr, &off, &size);
    if (st != MA_OK)
        return st;
    if (n > a->arena_size)
        return ma_fail(a, MA_ENOMEM, "%llu bytes exceed the arena",
                       (unsigned long long)n);
    uint64_t want = block_for(n), next = off + size, nw = *size_word(h, next);
    uint64_t avail = size;
    if (want > size && !(nw & T_ALLOC))
        avail += nw & ~T_MASK;
    if (want <= avail) { /* in place: shrink, or absorb the next free block */
        uint64_t prev = *size_word(h, off) & T_PREV;
        if (avail > size)
            remove_free(h, next, avail - size);
        h->allocated -= size;
        uint64_t rest = avail - want;
        if (rest >= MIN_BLOCK) {
            *size_word(h, off) = want | T_ALLOC | prev;
            *size_word(h, off + want) = rest | T_ALLOC | T_PREV;
            release(h, off + want, rest); /* merges with a free follower */
            h->allocated += want;
        } else {
            *size_word(h, off) = avail | T_ALLOC | prev;
            *size_word(h, off + avail) |= T_PREV;
            h->allocated += avail;
        }
        *new_addr = addr;
        return MA_OK;
    }
    uint64_t moved;
    if ((st = tlsf_memalign(a, MA_ALIGN, n, &moved)) != MA_OK)
        return st;
    memcpy(ma_ptr(a, moved), ma_ptr(a, addr), (size_t)(size - OVERHEAD));
    h->allocated -= size;
    h->alloc_blocks--;
    release(h, off, size);
    *new_addr = moved;
    return MA_OK;
}

static ma_status tlsf_usable_size(ma_allocator *a, uint64_t addr, uint64_t *out)
{
    uint64_t off, size;
    ma_status st = block_at(as_tlsf(a), addr, &off, &size);
    if (st == MA_OK)
        *out = size - OVERHEAD;
    return st;
}

/* The largest free block: the largest in the highest non-empty class. */
static uint64_t largest_free(const tlsf *h)
{
    if (!h->fl_map)
        return 0;
    unsigned fl = 31u - (unsigned)__builtin_clz(h->fl_map);
    unsigned sl = 63u - (unsigned)__builtin_clzll(h->sl_map[fl]);
    uint64_t best = 0, seen = 0;
    for (uint32_t x = h->heads[fl][sl]; x != NIL && seen++ < h->free_blocks;
         x = link_of(h, (uint64_t)x << 4)->next) {
        uint64_t s = *size_word(h, (uint64_t)x << 4) & ~T_MASK;
        if (s > best)
            best = s;
    }
    return best;
}

static void tlsf_stats(ma_allocator *a, ma_stats *st)
{
    tlsf *h = as_tlsf(a);
    st->allocated_bytes = h->allocated;
    st->free_bytes = h->free_bytes;
    st->free_blocks = h->free_blocks;
    st->largest_free = largest_free(h);
    st->heap_size = h->heap;
    st->peak_heap_size = h->peak_heap;
    st->metadata_bytes = sizeof *h;
}

static ma_status tlsf_walk(ma_allocator *a, ma_walk_fn fn, void *ctx)
{
    tlsf *h = as_tlsf(a);
    for (uint64_t off = 0; off < h->heap;) {
        uint64_t w = *size_word(h, off), size = w & ~T_MASK;
        if (size < MIN_BLOCK || size > h->heap - off)
            return ma_fail(a, MA_ECORRUPT, "block at 0x%llx has size %llu, "
                           "which does not fit the heap of %llu bytes",
                           (unsigned long long)off, (unsigned long long)size,
                           (unsigned long long)h->heap);
        bool allocated = (w & T_ALLOC) != 0;
        ma_block b = {off, size, allocated ? off + 16 : MA_NULL, 0, allocated};
        if (fn(&b, ctx))
            break;
        off += size;
    }
    return MA_OK;
}

/* ---- the checker: T1-T6, with or without NDEBUG ------------------------------ */

struct census {
    tlsf *h;
    uint64_t free_bytes, free_blocks, allocated, alloc_blocks;
    bool prev_alloc;
    uint64_t *free_offs, cap; /* the free blocks' offsets, in address order */
    ma_status st;
};

static int census_block(const ma_block *b, void *p)
{
    struct census *c = p;
    tlsf *h = c->h;
    if (((*size_word(h, b->offset) & T_PREV) != 0) != c->prev_alloc) { /* T2 */
        c->st = ma_fail(&h->base, MA_ECORRUPT, "block at 0x%llx: its "
                        "previous-allocated bit is wrong",
                        (unsigned long long)b->offset);
        return 1;
    }
    if (b->allocated) {
        c->allocated += b->size;
        c->alloc_blocks++;
    } else {
        uint64_t footer = *word(h, b->offset + b->size);
        if (footer != b->size) { /* T3 */
            c->st = ma_fail(&h->base, MA_ECORRUPT, "free block at 0x%llx: "
                            "footer %llu differs from its size %llu",
                            (unsigned long long)b->offset,
                            (unsigned long long)footer, (unsigned long long)b->size);
            return 1;
        }
        if (!c->prev_alloc) { /* T4 */
            c->st = ma_fail(&h->base, MA_ECORRUPT, "free blocks meet at "
                            "0x%llx: they were not coalesced",
                            (unsigned long long)b->offset);
            return 1;
        }
        if (c->free_blocks < c->cap)
            c->free_offs[c->free_blocks] = b->offset;
        c->free_bytes += b->size;
        c->free_blocks++;
    }
    c->prev_alloc = b->allocated;
    return 0;
}

/* Whether off is one of the n free blocks (sorted offsets). */
static bool is_free_block(const uint64_t *offs, uint64_t n, uint64_t off)
{
    uint64_t lo = 0, hi = n;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (offs[mid] < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && offs[lo] == off;
}

/* T5: the bitmaps and lists against the n free blocks found by the walk. */
static ma_status check_lists(tlsf *h, const uint64_t *offs, uint64_t n)
{
    ma_allocator *a = &h->base;
    unsigned classes = 1u << h->k;
    uint64_t listed = 0;
    for (unsigned f = 0; f < FL_COUNT; f++) {
        if (((h->fl_map >> f) & 1) != (h->sl_map[f] != 0))
            return ma_fail(a, MA_ECORRUPT, "the first-level bitmap is wrong "
                           "for level %u", f);
        for (unsigned s = 0; s < (1u << SL_MAX); s++) {
            uint32_t x = h->heads[f][s];
            bool bit = (h->sl_map[f] >> s) & 1;
            if (s >= classes ? bit || x != NIL : bit != (x != NIL))
                return ma_fail(a, MA_ECORRUPT, "the second-level bitmap or "
                               "list head is wrong for class (%u, %u)", f, s);
            for (uint32_t prev = NIL; x != NIL;) {
                uint64_t off = (uint64_t)x << 4;
                if (++listed > n)
                    return ma_fail(a, MA_ECORRUPT, "the free lists hold more "
                                   "than the heap's %llu free blocks (or a "
                                   "cycle)", (unsigned long long)n);
                if (!is_free_block(offs, n, off))
                    return ma_fail(a, MA_ECORRUPT, "the free list of class "
                                   "(%u, %u) names 0x%llx, which is not a free "
                                   "block", f, s, (unsigned long long)off);
                tlink *l = link_of(h, off);
                if (l->prev != prev)
                    return ma_fail(a, MA_ECORRUPT, "the free list of class "
                                   "(%u, %u) is broken at 0x%llx: its back "
                                   "link is wrong", f, s, (unsigned long long)off);
                uint64_t size = *size_word(h, off) & ~T_MASK;
                unsigned bf, bs;
                class_of(h->k, size >> 4, &bf, &bs);
                if (bf != f || bs != s)
                    return ma_fail(a, MA_ECORRUPT, "free block 0x%llx of %llu "
                                   "bytes is listed in class (%u, %u), not "
                                   "(%u, %u)", (unsigned long long)off,
                                   (unsigned long long)size, f, s, bf, bs);
                prev = x;
                x = l->next;
            }
        }
    }
    if (listed != n)
        return ma_fail(a, MA_ECORRUPT, "the free lists hold %llu of the %llu "
                       "free blocks", (unsigned long long)listed,
                       (unsigned long long)n);
    return MA_OK;
}

static ma_status tlsf_check(ma_allocator *a)
{
    tlsf *h = as_tlsf(a);
    if ((h->heap & 15) || h->heap > a->arena_size || h->heap < h->prealloc ||
        h->peak_heap < h->heap) /* T1 */
        return ma_fail(a, MA_ECORRUPT, "the heap's end %llu (peak %llu) is not "
                       "a multiple of 16 from prealloc (%llu) to the arena's "
                       "%llu, at most its peak", (unsigned long long)h->heap,
                       (unsigned long long)h->peak_heap,
                       (unsigned long long)h->prealloc,
                       (unsigned long long)a->arena_size);
    /* Free blocks never meet: at most one per 2 MIN_BLOCK bytes, and one. */
    if (h->free_blocks > h->heap / (2 * MIN_BLOCK) + 1)
        return ma_fail(a, MA_ECORRUPT, "counters: %llu free blocks cannot fit "
                       "a heap of %llu bytes", (unsigned long long)h->free_blocks,
                       (unsigned long long)h->heap);
    uint64_t *offs = malloc((size_t)(h->free_blocks + 1) * sizeof *offs);
    if (!offs)
        return ma_fail(a, MA_ENOMEM, "no memory to check the heap");
    struct census c = {h, 0, 0, 0, 0, true, offs, h->free_blocks, MA_OK};
    ma_status st = tlsf_walk(a, census_block, &c); /* T1 */
    if (st == MA_OK)
        st = c.st;
    if (st == MA_OK &&
        (c.free_bytes != h->free_bytes || c.free_blocks != h->free_blocks ||
         c.allocated != h->allocated || c.alloc_blocks != h->alloc_blocks)) /* T6 */
        st = ma_fail(a, MA_ECORRUPT, "counters: free %llu B in %llu blocks, "
                     "allocated %llu B in %llu; recount: %llu, %llu, %llu, %llu",
                     (unsigned long long)h->free_bytes,
                     (unsigned long long)h->free_blocks,
                     (unsigned long long)h->allocated,
                     (unsigned long long)h->alloc_blocks,
                     (unsigned long long)c.free_bytes,
                     (unsigned long long)c.free_blocks,
                     (unsigned long long)c.allocated,
                     (unsigned long long)c.alloc_blocks);
    if (st == MA_OK &&
        *size_word(h, h->heap) != (T_ALLOC | (c.prev_alloc ? T_PREV : 0))) /* T2 */
        st = ma_fail(a, MA_ECORRUPT, "the epilogue at 0x%llx says the last "
                     "block is %s; it is %s", (unsigned long long)h->heap + 8,
                     (*size_word(h, h->heap) & T_PREV) ? "allocated" : "free",
                     c.prev_alloc ? "allocated" : "free");
    if (st == MA_OK)
        st = check_lists(h, offs, c.free_blocks);
    free(offs);
    return st;
}

/* ---- life cycle -------------------------------------------------------------- */

static void tlsf_init_state(tlsf *h)
{
    for (unsigned f = 0; f < FL_COUNT; f++)
        for (unsigned s = 0; s < (1u << SL_MAX); s++)
            h->heads[f][s] = NIL;
    memset(h->sl_map, 0, sizeof h->sl_map);
    h->fl_map = 0;
    h->free_bytes = h->free_blocks = h->allocated = h->alloc_blocks = 0;
    h->heap = h->peak_heap = h->prealloc;
    if (h->prealloc)
        insert_free(h, 0, h->prealloc);
    set_epilogue(h, h->prealloc == 0);
}

static ma_status tlsf_reset(ma_allocator *a)
{
    ma_discard(a->base, a->map_len);
    tlsf_init_state(as_tlsf(a));
    return MA_OK;
}

static void tlsf_release(ma_allocator *a) { (void)a; }

static const ma_ops tlsf_ops = {
    .name = "tlsf",
    .memalign = tlsf_memalign,
    .realloc = tlsf_realloc,
    .free = tlsf_free,
    .usable_size = tlsf_usable_size,
    .stats = tlsf_stats,
    .walk = tlsf_walk,
    .check = tlsf_check,
    .reset = tlsf_reset,
    .release = tlsf_release,
};

ma_tlsf_config ma_tlsf_config_default(void)
{
    ma_tlsf_config c = {
        .arena_size = UINT64_C(1) << 30,
        .growth = 4096,
        .prealloc = 0,
        .trim = 0,
        .sl_bits = 5,
    };
    return c;
}

ma_status ma_tlsf_create(const ma_tlsf_config *c, ma_allocator **out)
{
    if (!out || !c)
        return ma_fail(NULL, MA_EINVAL, "ma_tlsf_create: config or out is NULL");
    *out = NULL;
    unsigned long long arena = c->arena_size;
    if ((c->arena_size & 15) || c->arena_size < MIN_ARENA || c->arena_size > MAX_ARENA)
        return ma_fail(NULL, MA_EINVAL, "arena_size must be a multiple of 16 "
                       "from %llu to %llu, got %llu", (unsigned long long)MIN_ARENA,
                       (unsigned long long)MAX_ARENA, arena);
    if ((c->growth & 15) || c->growth < 16 || c->growth > c->arena_size)
        return ma_fail(NULL, MA_EINVAL, "growth must be a multiple of 16 from "
                       "16 to arena_size (%llu), got %llu", arena,
                       (unsigned long long)c->growth);
    if (c->prealloc && ((c->prealloc & 15) || c->prealloc < MIN_BLOCK ||
                        c->prealloc > c->arena_size))
        return ma_fail(NULL, MA_EINVAL, "prealloc must be 0 or a multiple of "
                       "16 from %llu to arena_size (%llu), got %llu",
                       (unsigned long long)MIN_BLOCK, arena,
                       (unsigned long long)c->prealloc);
    if (c->trim != 0 && c->trim != 1)
        return ma_fail(NULL, MA_EINVAL, "trim must be 0 (off) or 1 (on), got %d",
                       c->trim);
    if (c->sl_bits < SL_MIN || c->sl_bits > SL_MAX)
        return ma_fail(NULL, MA_EINVAL, "sl_bits must be from %u to %u, got %llu",
                       SL_MIN, SL_MAX, (unsigned long long)c->sl_bits);
    tlsf *h = calloc(1, sizeof *h);
    if (!h)
        return ma_fail(NULL, MA_ENOMEM, "no memory for the instance");
    /* 16 bytes beyond the arena: the last block's payload end and the
     * epilogue (see the top of this file). */
    ma_status st = ma_base_init(&h->base, &tlsf_ops, c->arena_size + 16,
                                ma_page_size());
    if (st != MA_OK) {
        free(h);
        return st;
    }
    h->base.arena_size = c->arena_size;
    h->k = (unsigned)c->sl_bits;
    h->growth = c->growth;
    h->prealloc = c->prealloc;
    h->trim = c->trim != 0;
    h->base.heap_size_at = &h->heap;
    h->base.allocated_at = &h->allocated;
    tlsf_init_state(h);
    *out = &h->base;
    return MA_OK;
}
