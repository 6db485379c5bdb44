/*
 * freelist/ptree.h -- first and next fit: the position tree (part of
 * freelist.c).
 *
 * Every free block has a position: AO: offset / 16; LIFO, FIFO: its stamp.
 * The free-list order reads positions upward (AO, FIFO) or downward (LIFO).
 * Over the positions sits an implicit 16-ary tree of bounds, in flat arrays:
 *   - pbits: one bit per position, set iff a free block has it;
 *   - psize, poff (LIFO and FIFO only): the size / 16 and offset / 16 of the
 *     block at each position, psize 0 where there is none (AO reads sizes
 *     from the block headers: a group of 1 KiB holds at most 16 free blocks);
 *   - lv[0][g] >= the largest size / 16 among the blocks at positions
 *     64g .. 64g + 63; lv[k][i] >= every lv[k-1][16i .. 16i + 15].
 * Every level is padded to a multiple of 16 entries, so a node of the tree is
 * one 64-byte line, compared sixteen at a time (freelist/simd.h).  Levels
 * are in use up to ktop, the lowest level whose entry 0 covers every
 * position used so far (ktop grows with the heap or the stamps: 4-5 levels
 * for a heap of tens of megabytes, at most 8).
 *   The query "the first block at or after position p, in the order, with
 * at least `need` units" climbs from p's group to the first level with a
 * fitting sibling on the order's side, then descends; from the start of the
 * order it descends from the root.  First fit searches from the start, next
 * fit from the rover and then from the start (wrap-around).
 *   The bounds are upper bounds, not exact maxima: adding a block raises
 *   them on its path until one is high enough; removing one clears its bit
 *   and leaves the bounds.  A search that descends into a subtree whose
 *   bound promised more than it holds tightens that bound (to the largest
 *   of its children's, or a group's exact maximum) and goes on beside it, so
 *   each detour is paid for by the removal that left the bound high.  The
 *   block an allocation takes is recounted at once in address-ordered first
 *   fit, whose searches all pass the same low addresses, so that a bound
 *   left high there would be met by the next search; every other policy
 *   leaves it to the search that meets it.  Such an allocation mostly takes
 *   its group's largest block, so the recount climbs at least one level;
 *   the search from the root records the largest of the other bounds in the
 *   line of the group it ends in (path_rest), and the first step up takes
 *   the larger of that and the group's new maximum.
 *   largest_free (stats) is made exact on demand.
 *   Stamps only grow, so LIFO and FIFO positions are used up: when the
 *   stamps in use reach 4 * free blocks + 64 (and pt_floor), or come within
 *   8 of pcap, every free block is renumbered 0 .. n-1 in order (compaction,
 *   at the start of an operation; amortised O(1): of the p stamps it
 *   compacts, at least half were taken, or their blocks taken out of the
 *   index, since the last compaction).  pcap is 2 * (the most free blocks
 *   the arena can hold) + 64, rounded up to a multiple of 64.
 *   The arrays are one reservation of address space (pages are touched only
 *   where positions are used); metadata_bytes counts the part in use.
 *
 * Invariants (I5, I7): each free block's bit is set (and psize/poff
 * describe it), no other bit is, psize is 0 at empty positions, every bound
 * is at least the largest block or bound beneath it, every stamp is below
 * pstamp.
 */
#ifndef MA_FREELIST_PTREE_H
#define MA_FREELIST_PTREE_H

#include "block.h"
#include "simd.h"

static inline bool pt_stamped(const fl *h) { return h->psize != NULL; }

/* The position of the indexed free block at off. */
static inline uint64_t pos_of_block(const fl *h, uint64_t off)
{
    return pt_stamped(h) ? *tag_of(h, off) : off >> 4;
}

/* Size / 16 of the block at the occupied position p. */
static inline uint32_t pt_size(const fl *h, uint64_t p)
{
    return pt_stamped(h) ? h->psize[p] : (uint32_t)(*hdr(h, p << 4) >> 4);
}

static inline uint64_t pt_off(const fl *h, uint64_t p)
{
    return pt_stamped(h) ? (uint64_t)h->poff[p] << 4 : p << 4;
}

static inline bool pt_has(const fl *h, uint64_t p)
{
    return (h->pbits[p >> 6] >> (p & 63)) & 1;
}

/* Positions covered by one entry of level k. */
static inline uint64_t pt_cover(int k) { return UINT64_C(64) << (4 * k); }

/* The largest size / 16 among the blocks of group g (0: none). */
static uint32_t group_max(const fl *h, uint64_t g)
{
    uint32_t m = 0;
    if (pt_stamped(h)) { /* psize is 0 where no block is */
        for (unsigned c = 0; c < 4; c++) {
            uint32_t x = max16(&h->psize[g * 64 + 16 * c]);
            m = x > m ? x : m;
        }
        return m;
    }
    for (uint64_t bits = h->pbits[g]; bits; bits &= bits - 1) {
        uint32_t s = pt_size(h, g * 64 + (uint64_t)__builtin_ctzll(bits));
        m = s > m ? s : m;
    }
    return m;
}

/* Group g gained a block of v units: raise the bounds above it. */
static void pt_raise(fl *h, uint64_t g, uint32_t v)
{
    for (int k = 0; k <= h->ktop && h->lv[k][g] < v; k++, g >>= 4)
        h->lv[k][g] = v;
}

/* Group g lost a block of `old` units, which was its bound: recount it, and
 * the bounds above while they came from it. */
static void pt_refresh(fl *h, uint64_t g, uint32_t old)
{
    /* After a search from the root that ended in g, the largest of the
     * other bounds in g's line is known: the first step up rereads no line
     * (higher steps, rarer, reread theirs). */
    bool path = h->path_ok && h->path_group == g;
    h->path_ok = false;
    uint32_t v = group_max(h, g);
    for (int k = 0;; k++) {
        h->lv[k][g] = v;
        if (v == old || k == h->ktop)
            return;
        g >>= 4;
        if (h->lv[k + 1][g] != old) /* the bound above came from elsewhere */
            return;
        if (path && k == 0)
            v = v > h->path_rest ? v : h->path_rest;
        else
            v = max16(&h->lv[k][g << 4]);
    }
}

/* The first block of group g at or after position p (p in g), in the
 * direction of the order, with at least `need` units.  Only the stamped
 * orders read downward (LIFO); address order reads upward. */
MA_SPECIALISE uint64_t
group_find(const fl *h, uint64_t g, uint64_t p, uint32_t need, bool down)
{
    if (pt_stamped(h)) { /* psize is 0 where no block is: 16 at a time */
        int c0 = (int)((p & 63) >> 4);
        unsigned j0 = (unsigned)(p & 15);
        for (int c = c0; c >= 0 && c < 4; c += down ? -1 : 1) {
            unsigned allowed = c != c0 ? 0xffffu
                               : down ? (2u << j0) - 1 : (~0u << j0) & 0xffffu;
            unsigned j = pick_ge(&h->psize[g * 64 + 16 * (unsigned)c], need, allowed, down);
            if (j < 16)
                return g * 64 + 16 * (unsigned)c + j;
        }
        return PNONE;
    }
    uint64_t bits = h->pbits[g] & (~UINT64_C(0) << (p & 63));
    for (; bits; bits &= bits - 1) {
        uint64_t q = g * 64 + (uint64_t)__builtin_ctzll(bits);
        if (pt_size(h, q) >= need)
            return q;
    }
    return PNONE;
}

/*
 * The first occupied position at or after p in the direction `down` (or
 * upward) whose block has at least `need` (>= 1) units (PNONE: none; p may
 * be PNONE when reading downward).  The tree is used up to level ktop,
 * whose entry 0 covers every position in use.  The bounds are upper bounds:
 * a subtree whose bound promised a fit but holds none gets its bound
 * tightened (to the largest of its children's bounds, or a group's exact
 * maximum) and the search goes on beside it.  Every such detour lowers a
 * bound that an earlier removal left high, so its cost is paid for by that
 * removal.  Inlined at each call with a constant `down`: the compiler
 * specialises it for each direction.
 */
MA_SPECIALISE uint64_t
pt_find(fl *h, uint64_t p, uint32_t need, bool down, bool record)
{
    const int top = h->ktop;
    const uint64_t cover = pt_cover(top);
    uint64_t i = 0, q;
    int k = top;
    if (p == PNONE || (!down && p >= cover))
        return PNONE;
    bool all = down ? p >= cover - 1 : p == 0; /* the search sees everything */
    record = record && all;
    if (record)
        h->path_ok = false;
    if (all) { /* straight down from the root */
        if (h->lv[top][0] < need)
            return PNONE;
        goto descend;
    }
    i = p >> 6;
    if (h->lv[0][i] >= need) {
        if ((q = group_find(h, i, p, need, down)) != PNONE)
            return q;
        if ((p & 63) == (down ? 63u : 0u)) /* the whole group was seen */
            h->lv[0][i] = group_max(h, i);
    }
    k = 0;
climb: /* to the first level with a fitting sibling beyond i */
    for (;; k++, i >>= 4) {
        if (k == top) {
            if (all && top > 0) /* nothing fits anywhere: tighten the root */
                h->lv[top][0] = max16(&h->lv[top - 1][0]);
            return PNONE;
        }
        uint64_t base = i & ~UINT64_C(15);
        unsigned j = pick_ge(&h->lv[k][base], need, after_mask((unsigned)(i & 15), down), down);
        if (j < 16) {
            if (record && k == 0)
                h->path_rest = max16_but(&h->lv[0][base], j);
            i = base + j;
            break;
        }
    }
descend:
    for (; k > 0; k--) {
        unsigned j = pick_ge(&h->lv[k - 1][i << 4], need, 0xffffu, down);
        if (j == 16) { /* a stale bound */
            h->lv[k][i] = max16(&h->lv[k - 1][i << 4]);
            goto climb;
        }
        if (record && k == 1)
            h->path_rest = max16_but(&h->lv[0][i << 4], j);
        i = (i << 4) + j;
    }
    if ((q = group_find(h, i, down ? i * 64 + 63 : i * 64, need, down)) != PNONE) {
        if (record) {
            h->path_group = i;
            h->path_ok = true;
        }
        return q;
    }
    h->lv[0][i] = group_max(h, i);
    goto climb;
}

/* Positions in free-list order: AO and FIFO ascending, LIFO descending. */
static inline bool pt_down(const fl *h) { return h->order == MA_ORDER_LIFO; }

/* The first position of the order (PNONE: none in use). */
static inline uint64_t pt_start(const fl *h)
{
    if (!pt_down(h))
        return 0;
    return h->pstamp ? h->pstamp - 1 : PNONE;
}

/* The first block at or after p in the order with at least `need` units. */
static inline uint64_t pt_first(fl *h, uint64_t p, uint32_t need)
{
    return pt_down(h) ? pt_find(h, p, need, true, false) : pt_find(h, p, need, false, false);
}

/* The block after position p in the order (PNONE: p was the last). */
static inline uint64_t pt_after(fl *h, uint64_t p)
{
    if (pt_down(h))
        return p ? pt_find(h, p - 1, 1, true, false) : PNONE;
    return pt_find(h, p + 1, 1, false, false);
}

/* The largest free block, in units of 16 bytes (0: none): exact. */
static uint32_t pt_largest(fl *h)
{
    for (;;) { /* each failed search lowers the root's bound */
        uint32_t m = h->lv[h->ktop][0];
        if (m == 0 || pt_find(h, 0, m, false, false) != PNONE)
            return m;
    }
}

/* Bring levels into use until ktop covers position p. */
static inline void pt_cover_up_to(fl *h, uint64_t p)
{
    while (p >= pt_cover(h->ktop)) {
        h->ktop++;
        h->lv[h->ktop][0] = max16(&h->lv[h->ktop - 1][0]);
    }
}

/* Index the free block [off, off + size), its header already written. */
static void pt_add(fl *h, uint64_t off, uint64_t size)
{
    uint64_t p;
    uint32_t s16 = (uint32_t)(size >> 4);
    if (pt_stamped(h)) {
        p = h->pstamp++;
        if (h->pstamp > h->pstamp_hw)
            h->pstamp_hw = h->pstamp;
        set_tag(h, off, size, (uint32_t)p);
        h->psize[p] = s16;
        h->poff[p] = (uint32_t)(off >> 4);
    } else {
        p = off >> 4;
    }
    pt_cover_up_to(h, p);
    h->pbits[p >> 6] |= UINT64_C(1) << (p & 63);
    pt_raise(h, p >> 6, s16);
}

/*
 * Take the free block at position p, of `size` bytes, out.  A rover on it
 * moves to the block that followed it.  `tighten`: recount the bounds that
 * came from it now (an allocation: the search has just brought their lines
 * into the cache, and the next search would otherwise stumble on them);
 * else leave them for pt_find (a neighbour merged into a freed block).
 */
static void pt_remove(fl *h, uint64_t p, uint64_t size, bool tighten)
{
    uint64_t g = p >> 6;
    uint32_t s16 = (uint32_t)(size >> 4);
    h->pbits[g] &= ~(UINT64_C(1) << (p & 63));
    if (pt_stamped(h))
        h->psize[p] = 0; /* group scans read psize alone */
    if (tighten && h->lv[0][g] == s16)
        pt_refresh(h, g, s16);
    if (h->rover == p)
        h->rover = pt_after(h, p);
}

/*
 * Address order: the free block at off (have bytes) keeps only its tail
 * [rem, rem + rest), whose header is written; its place in the order is the
 * same.  One pass over the bounds instead of a removal and an insertion.
 */
static void pt_shrink_ao(fl *h, uint64_t off, uint64_t have, uint64_t rem,
                         uint64_t rest, bool tighten)
{
    uint64_t p = off >> 4, g = p >> 6, q = rem >> 4, gq = q >> 6;
    uint32_t old = (uint32_t)(have >> 4);
    pt_cover_up_to(h, q);
    h->pbits[g] &= ~(UINT64_C(1) << (p & 63));
    h->pbits[gq] |= UINT64_C(1) << (q & 63);
    if (tighten && h->lv[0][g] == old)
        pt_refresh(h, g, old); /* counts the tail if it stayed in g */
    if (gq != g)
        pt_raise(h, gq, (uint32_t)(rest >> 4));
}

/* The positions in use: [0, *hi). */
static uint64_t pt_hi(const fl *h)
{
    return pt_stamped(h) ? h->pstamp_hw : ma_round_up(h->peak_heap, 16) >> 4;
}

/* The entries of level k that cover positions [0, hi). */
static uint64_t pt_level_len(const fl *h, int k, uint64_t hi)
{
    uint64_t b = hi ? ((hi - 1) >> 6 >> (4 * k)) + 1 : 0;
    return b < h->lvlen[k] ? b : h->lvlen[k];
}

/*
 * LIFO, FIFO: renumber the free blocks' stamps 0 .. n-1 in order, so that
 * positions do not run out.  Runs at the start of an operation, so that no
 * position is held across it.
 */
static void pt_compact(fl *h)
{
    uint64_t hi = pt_hi(h), n = 0;
    uint64_t rover = PNONE;
    for (uint64_t p = 0; p < h->pstamp; p++) { /* each block moves down to n <= p */
        if (!pt_has(h, p))
            continue;
        h->psize[n] = h->psize[p];
        h->poff[n] = h->poff[p];
        set_tag(h, (uint64_t)h->poff[n] << 4, (uint64_t)h->psize[n] << 4, (uint32_t)n);
        if (h->rover == p)
            rover = n;
        n++;
    }
    for (int k = 0; k <= h->ktop; k++)
        memset(h->lv[k], 0, (size_t)pt_level_len(h, k, hi) * sizeof(uint32_t));
    memset(h->psize + n, 0, (size_t)(hi - n) * sizeof(uint32_t)); /* no block there */
    memset(h->pbits, 0, (size_t)((hi + 63) >> 6) * sizeof(uint64_t));
    for (uint64_t q = 0; q < n; q++) {
        h->pbits[q >> 6] |= UINT64_C(1) << (q & 63);
        pt_raise(h, q >> 6, h->psize[q]);
    }
    h->pstamp = n;
    h->rover = rover;
}

static inline void pt_maybe_compact(fl *h)
{
    if (pt_stamped(h) &&
        (h->pstamp + 8 > h->pcap ||
         (h->pstamp >= h->pt_floor && h->pstamp >= 4 * h->free_blocks + 64)))
        pt_compact(h);
}

/* Reserve the position tree for an arena; false: no address space. */
static bool pt_create(fl *h, uint64_t arena, uint64_t min_block)
{
    bool stamped = h->order != MA_ORDER_ADDRESS;
    uint64_t most_free = arena / (2 * min_block) + 1;
    h->pcap = stamped ? ma_round_up(2 * most_free + 64, 64) : ma_round_up(arena >> 4, 64);
    uint64_t len = 0, at[PT_LEVELS + 3];
    at[0] = 0; /* bits */
    len = ma_round_up(h->pcap / 8, 64);
    if (stamped) {
        at[1] = len;
        len += ma_round_up(h->pcap * 4, 64);
        at[2] = len;
        len += ma_round_up(h->pcap * 4, 64);
    }
    uint64_t entries = h->pcap / 64;
    h->nlv = 0;
    for (;;) {
        h->lvlen[h->nlv] = ma_round_up(entries, 16);
        at[3 + h->nlv] = len;
        len += h->lvlen[h->nlv] * 4;
        h->nlv++;
        if (entries == 1)
            break;
        entries = (entries + 15) / 16;
    }
    h->pmap_len = ma_round_up(len, ma_page_size());
    h->pmap = ma_map_zero(h->pmap_len);
    if (!h->pmap)
        return false;
    char *m = h->pmap;
    h->pbits = (uint64_t *)(void *)m;
    h->psize = stamped ? (uint32_t *)(void *)(m + at[1]) : NULL;
    h->poff = stamped ? (uint32_t *)(void *)(m + at[2]) : NULL;
    for (int k = 0; k < h->nlv; k++)
        h->lv[k] = (uint32_t *)(void *)(m + at[3 + k]);
    return true;
}

/* Bytes of the position tree in use. */
static uint64_t pt_bytes(const fl *h)
{
    uint64_t hi = pt_hi(h), total = (hi + 63) / 8 + (pt_stamped(h) ? hi * 8 : 0);
    for (int k = 0; k <= h->ktop; k++)
        total += pt_level_len(h, k, hi) * 4;
    return total;
}

#endif /* MA_FREELIST_PTREE_H */
