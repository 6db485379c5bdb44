/*
 * freelist/check.h -- fl_check: the invariants I1-I7 (freelist.c), verified
 * with or without NDEBUG (part of freelist.c).
 *
 * A walk of the heap (census_block) checks the blocks (I1-I4), recounts the
 * counters (I6) and, under the position tree, finds each free block at its
 * position; then the index is checked as a whole: pt_check or bins_check
 * (I5, I7).  Every loop over the index is bounded (by the free blocks, the
 * pool's slots or MAX_DEPTH), so a corrupt heap or index is reported as
 * MA_ECORRUPT, never followed round a cycle or out of its memory.
 */
#ifndef MA_FREELIST_CHECK_H
#define MA_FREELIST_CHECK_H

#include "heap.h"

struct census {
    fl *h;
    uint64_t free_bytes, free_blocks, allocated, alloc_blocks;
    bool prev_alloc, last_free;
    ma_status st;
};

/* I5 (position tree): the free block at b is indexed at its position. */
static ma_status pt_check_block(fl *h, const ma_block *b)
{
    uint64_t p = b->offset >> 4;
    if (pt_stamped(h)) {
        uint32_t s = *tag_of(h, b->offset);
        if (s >= h->pstamp) /* I7 */
            return ma_fail(&h->base, MA_ECORRUPT, "free block 0x%llx has a "
                           "stamp from the future", (unsigned long long)b->offset);
        p = s;
    }
    if (!pt_has(h, p) || (pt_stamped(h) &&
                          ((uint64_t)h->psize[p] << 4 != b->size ||
                           (uint64_t)h->poff[p] << 4 != b->offset)))
        return ma_fail(&h->base, MA_ECORRUPT, "free block 0x%llx is missing "
                       "from the free-block index", (unsigned long long)b->offset);
    return MA_OK;
}

static int census_block(const ma_block *b, void *p)
{
    struct census *c = p;
    fl *h = c->h;
    uint64_t w = *hdr(h, b->offset);
    if (((w & F_PREV) != 0) != c->prev_alloc) { /* I2 */
        c->st = ma_fail(&h->base, MA_ECORRUPT, "block at 0x%llx: its "
                        "previous-allocated bit is wrong",
                        (unsigned long long)b->offset);
        return 1;
    }
    if (b->allocated) {
        c->allocated += b->size;
        c->alloc_blocks++;
    } else {
        if (*footer_at(h, b->offset + b->size) != b->size) { /* I3 */
            c->st = ma_fail(&h->base, MA_ECORRUPT, "free block at 0x%llx: "
                            "footer %llu differs from its size %llu",
                            (unsigned long long)b->offset,
                            (unsigned long long)*footer_at(h, b->offset + b->size),
                            (unsigned long long)b->size);
            return 1;
        }
        if ((h->kind == IX_BINS || pt_stamped(h)) &&
            *tag_copy_of(h, b->offset + b->size) != *tag_of(h, b->offset)) { /* I3 */
            c->st = ma_fail(&h->base, MA_ECORRUPT, "free block at 0x%llx: "
                            "the copy of its tag differs from the tag",
                            (unsigned long long)b->offset);
            return 1;
        }
        if (!c->prev_alloc) { /* I4 */
            c->st = ma_fail(&h->base, MA_ECORRUPT, "free blocks meet at "
                            "0x%llx: they were not coalesced",
                            (unsigned long long)b->offset);
            return 1;
        }
        if (h->kind == IX_PTREE && (c->st = pt_check_block(h, b)) != MA_OK)
            return 1;
        c->free_bytes += b->size;
        c->free_blocks++;
    }
    c->prev_alloc = b->allocated;
    c->last_free = !b->allocated;
    return 0;
}

/* Every pool slot ever used is either a free block's node or on the
 * spare list. */
static ma_status check_spares(fl *h)
{
    uint64_t spares = 0, used = h->free_blocks;
    uint32_t total = h->pool_top;
    for (uint32_t x = h->spare; x != NIL; x = node(h, x)->left)
        if (x >= total || ++spares > total)
            return ma_fail(&h->base, MA_ECORRUPT, "the list of spare index "
                           "slots is broken");
    if (spares + used != total)
        return ma_fail(&h->base, MA_ECORRUPT, "%llu spare and %llu used index "
                       "slots, %u in all", (unsigned long long)spares,
                       (unsigned long long)used, total);
    return MA_OK;
}

/* I5, I7 (position tree): as many bits as free blocks (each of which
 * census found at its position), every bound at least the largest block or
 * bound beneath it, the rover. */
static ma_status pt_check(fl *h)
{
    ma_allocator *a = &h->base;
    uint64_t hi = pt_hi(h), bits = 0;
    if (h->ktop < 0 || h->ktop >= h->nlv)
        return ma_fail(a, MA_ECORRUPT, "the free-block index's top level %d "
                       "is out of range", h->ktop);
    if (hi > pt_cover(h->ktop)) /* blocks beyond would be missed: counted below */
        hi = pt_cover(h->ktop);
    for (uint64_t g = 0; g < (hi + 63) >> 6; g++)
        bits += (uint64_t)__builtin_popcountll(h->pbits[g]);
    for (uint64_t p = 0; pt_stamped(h) && p < hi; p++)
        if (!pt_has(h, p) && h->psize[p])
            return ma_fail(a, MA_ECORRUPT, "the free-block index records a "
                           "size at the empty position %llu", (unsigned long long)p);
    if (bits != h->free_blocks)
        return ma_fail(a, MA_ECORRUPT, "the free-block index holds %llu "
                       "entries for %llu free blocks", (unsigned long long)bits,
                       (unsigned long long)h->free_blocks);
    for (int k = 0; k <= h->ktop; k++) {
        uint64_t to = k == h->ktop ? 1 : pt_level_len(h, k, hi);
        for (uint64_t i = 0; i < to; i++) {
            uint32_t least = k ? max16(&h->lv[k - 1][i << 4]) : group_max(h, i);
            if (h->lv[k][i] < least)
                return ma_fail(a, MA_ECORRUPT, "the free-block index: bound "
                               "%u at level %d entry %llu, below the %u beneath it",
                               h->lv[k][i], k, (unsigned long long)i, least);
        }
    }
    if (h->rover != PNONE && (h->rover >= h->pcap || !pt_has(h, h->rover)))
        return ma_fail(a, MA_ECORRUPT, "the rover is not an indexed free block");
    return MA_OK;
}

struct bin_check {
    fl *h;
    uint64_t nodes;
    uint32_t last_bin, last;
    ma_status st;
};

/* I5 (bins): node x, met in bin b, describes the free block that owns it,
 * and lists keep their order and links. */
static void check_node(const fl *hc, uint32_t x, uint32_t b, void *ctx)
{
    struct bin_check *c = ctx;
    fl *h = c->h;
    (void)hc;
    if (c->st != MA_OK)
        return;
    c->nodes++;
    uint64_t off = off_of(h, x);
    fnode *n = node(h, x);
    if (off + h->min_block > h->heap || (*hdr(h, off) & F_ALLOC) ||
        bsize(h, off) < h->min_block || bsize(h, off) > h->heap - off ||
        *tag_of(h, off) != x || (uint64_t)n->size16 << 4 != bsize(h, off)) {
        c->st = ma_fail(&h->base, MA_ECORRUPT, "the free-block index names "
                        "0x%llx, which is not the free block that owns that "
                        "node", (unsigned long long)off);
        return;
    }
    if (n->stamp >= h->next_stamp || bin_of(n->size16) != b) {
        c->st = ma_fail(&h->base, MA_ECORRUPT, "free block 0x%llx is indexed "
                        "under a stale stamp or bin", (unsigned long long)off);
        return;
    }
    if (is_heap(h, b)) {
        bool root = h->roots[b] == x;
        if (root && (n->up != NIL || n->right != NIL))
            c->st = ma_fail(&h->base, MA_ECORRUPT, "the heap of bin %u has a "
                            "root with a parent or sibling", b);
        uint32_t prev = x;
        uint64_t seen = 0;
        for (uint32_t k = n->left; k != NIL && c->st == MA_OK; k = node(h, k)->right) {
            if (k >= h->pool_top || node(h, k)->up != prev ||
                node(h, k)->off16 <= n->off16) { /* (k's sibling is not read) */
                c->st = ma_fail(&h->base, MA_ECORRUPT, "the heap of bin %u is "
                                "broken or out of order below 0x%llx", b,
                                (unsigned long long)off);
                break;
            }
            prev = k;
            if (++seen > h->free_blocks) /* a cycle */
                break;
        }
    }
    if (is_list(h, b)) {
        bool first = c->last_bin != b;
        uint32_t prev = first ? NIL : c->last;
        bool ordered = first || (h->order != MA_ORDER_FIFO
                                     ? node(h, prev)->stamp > n->stamp
                                     : node(h, prev)->stamp < n->stamp);
        if (n->left != prev || !ordered || (n->right == NIL && h->tails[b] != x))
            c->st = ma_fail(&h->base, MA_ECORRUPT, "the list of bin %u is "
                            "broken or out of order at 0x%llx", b,
                            (unsigned long long)off);
    }
    c->last_bin = b;
    c->last = x;
}

/* I5 (treaps) for the subtree at t, whose keys must lie in (lo, hi). */
static ma_status check_subtree(fl *h, uint32_t t, uint64_t lo, bool has_lo,
                               uint64_t hi, bool has_hi, unsigned depth)
{
    ma_allocator *a = &h->base;
    if (t == NIL)
        return MA_OK;
    if (depth > MAX_DEPTH || t >= h->pool_top)
        return ma_fail(a, MA_ECORRUPT, "the free-block index is too deep or "
                       "names slot %u, beyond the %u in use", t, h->pool_top);
    fnode *n = node(h, t);
    uint64_t k = compute_key(h, t);
    if ((has_lo && k <= lo) || (has_hi && k >= hi))
        return ma_fail(a, MA_ECORRUPT, "the free-block index is out of order "
                       "at 0x%llx", (unsigned long long)off_of(h, t));
    for (int side = 0; side < 2; side++) {
        uint32_t c = side ? n->right : n->left;
        if (c != NIL && c < h->pool_top && prio_of(c) > prio_of(t))
            return ma_fail(a, MA_ECORRUPT, "the free-block index breaks the "
                           "heap order at 0x%llx", (unsigned long long)off_of(h, t));
    }
    ma_status st = check_subtree(h, n->left, lo, has_lo, k, true, depth + 1);
    if (st == MA_OK)
        st = check_subtree(h, n->right, k, true, hi, has_hi, depth + 1);
    if (st != MA_OK)
        return st;
    uint32_t m = size16(h, t);
    if (m >= NBINS) {
        if (n->left != NIL && node(h, n->left)->aug > m)
            m = node(h, n->left)->aug;
        if (n->right != NIL && node(h, n->right)->aug > m)
            m = node(h, n->right)->aug;
    }
    if (n->aug != m)
        return ma_fail(a, MA_ECORRUPT, "free block 0x%llx: subtree maximum "
                       "%u, should be %u", (unsigned long long)off_of(h, t),
                       n->aug, m);
    return MA_OK;
}

static ma_status bins_check(fl *h)
{
    ma_allocator *a = &h->base;
    for (uint32_t r = 0; r <= NBINS; r++) {
        if (!is_list(h, r) && !is_heap(h, r)) {
            ma_status st = check_subtree(h, h->roots[r], 0, false, 0, false, 0);
            if (st != MA_OK)
                return st;
        }
        if (((h->nonempty[r >> 6] >> (r & 63)) & 1) != (h->roots[r] != NIL) ||
            ((h->nonempty_words >> (r >> 6)) & 1) != (h->nonempty[r >> 6] != 0))
            return ma_fail(a, MA_ECORRUPT, "the bin bitmap is wrong for bin %u", r);
    }
    struct bin_check c = {h, 0, NIL, NIL, MA_OK};
    size_t n = in_order(h, h->free_blocks, check_node, &c);
    if (c.st != MA_OK)
        return c.st;
    if (n != h->free_blocks)
        return ma_fail(a, MA_ECORRUPT, "the free-block index holds %s of the "
                       "%llu free blocks", n == SIZE_MAX ? "more than all (or a cycle)"
                                                        : "not all",
                       (unsigned long long)h->free_blocks);
    return check_spares(h);
}

static ma_status fl_check(ma_allocator *a)
{
    fl *h = as_fl(a);
    struct census c = {h, 0, 0, 0, 0, true, false, MA_OK};
    ma_status st = fl_walk(a, census_block, &c); /* I1 */
    if (st != MA_OK)
        return st;
    if (c.st != MA_OK)
        return c.st;
    if (c.free_bytes != h->free_bytes || c.free_blocks != h->free_blocks ||
        c.allocated != h->allocated || c.alloc_blocks != h->alloc_blocks)
        return ma_fail(a, MA_ECORRUPT, "counters: free %llu B in %llu blocks, "
                       "allocated %llu B in %llu; recount: %llu, %llu, %llu, "
                       "%llu", (unsigned long long)h->free_bytes,
                       (unsigned long long)h->free_blocks,
                       (unsigned long long)h->allocated,
                       (unsigned long long)h->alloc_blocks,
                       (unsigned long long)c.free_bytes,
                       (unsigned long long)c.free_blocks,
                       (unsigned long long)c.allocated,
                       (unsigned long long)c.alloc_blocks); /* I6 */
    if (c.last_free != h->top_free || h->peak_heap < h->heap ||
        h->heap > a->arena_size)
        return ma_fail(a, MA_ECORRUPT, "the heap's top is %s, recorded %s",
                       c.last_free ? "free" : "allocated",
                       h->top_free ? "free" : "allocated");
    return h->kind == IX_BINS ? bins_check(h) : pt_check(h);
}

#endif /* MA_FREELIST_CHECK_H */
