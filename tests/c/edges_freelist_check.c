/*
 * edges_freelist_check.c -- the free list's checker (csrc/freelist/check.h)
 * against one corruption at a time, under every kind of index: the blocks
 * (I1-I4) under all twelve policies, the counters and the top (I6), the
 * bins (best and worst fit: pairing heaps, lists, the large blocks' treap,
 * the bitmap, the spare slots) and the position tree (first and next fit:
 * bits, sizes, bounds, stamps, the rover).  Each case corrupts one field,
 * expects MA_ECORRUPT with the words that name that corruption (and the
 * block), puts the field back and expects the check to pass again.
 */
#include "edges_freelist.h"

static char words[160];

static const char *fmt(const char *f, unsigned long long v)
{
    snprintf(words, sizeof words, f, v);
    return words;
}

/* I1-I4 and I6, the same for every policy. */
static void test_blocks(const char *name)
{
    struct scene s;
    ma_allocator *a = scene(name, "", &s);
    if (!a)
        return;
    fl *h = FL(a);
    uint64_t f = s.fence[1], b = s.small[1], end = b + 48;

    /* I1: a size below min_block, a size beyond the heap (walk). */
    CORRUPT(a, *hdr_at(a, f), 16 | F_ALLOC, fmt("block at 0x%llx has size 16", f));
    CORRUPT(a, *hdr_at(a, f), (h->heap - f + 16) | F_ALLOC | F_PREV,
            fmt("block at 0x%llx has size", f));
    /* I2: a fence above a free block claims an allocated predecessor. */
    CORRUPT(a, *hdr_at(a, f), *hdr_at(a, f) | F_PREV,
            fmt("block at 0x%llx: its previous-allocated bit is wrong", f));
    /* I3: the footer, then the tag's copy (bins and stamped orders only). */
    CORRUPT(a, *word_at(a, end), 64, fmt("free block at 0x%llx: footer 64 differs "
                                         "from its size 48", b));
    if (h->kind == IX_BINS || h->psize) {
        CORRUPT(a, *copy_at(a, end), *tag_at(a, b) + 1,
                fmt("free block at 0x%llx: the copy of its tag differs", b));
    } else { /* address order: the tag is not used */
        uint32_t saved = *copy_at(a, end);
        *copy_at(a, end) = 12345;
        expect_sound(a, "first/next-ao: the tag's copy is unused");
        *copy_at(a, end) = saved;
    }
    /* I4: the fence between small[0] and small[1] looks free: two free
     * blocks meet (small[0] and it). */
    {
        uint64_t g = s.fence[0], gend = g + 32;
        uint64_t sh = *hdr_at(a, g), sf = *word_at(a, gend), sn = *hdr_at(a, gend);
        uint32_t sc = *copy_at(a, gend);
        *hdr_at(a, g) = 32;           /* free, predecessor free */
        *word_at(a, gend) = 32;       /* its footer */
        *copy_at(a, gend) = *tag_at(a, g);
        *hdr_at(a, gend) = sn & ~F_PREV;
        expect_corrupt(a, "a fence made free", fmt("free blocks meet at 0x%llx", g));
        *hdr_at(a, g) = sh, *word_at(a, gend) = sf, *hdr_at(a, gend) = sn;
        *copy_at(a, gend) = sc;
        expect_sound(a, "the fence restored");
    }
    /* I6: each counter; the top; the peak; the arena. */
    CORRUPT(a, h->free_bytes, h->free_bytes + 16, "counters: free");
    CORRUPT(a, h->free_blocks, h->free_blocks + 1, "counters: free");
    CORRUPT(a, h->allocated, h->allocated + 16, "counters: free");
    CORRUPT(a, h->alloc_blocks, h->alloc_blocks - 1, "counters: free");
    CORRUPT(a, h->top_free, !h->top_free, "the heap's top is free, recorded allocated");
    CORRUPT(a, h->peak_heap, h->heap - 16, "the heap's top is free, recorded free");
    CORRUPT(a, h->base.arena_size, h->heap - 16, "the heap's top is free, recorded free");
    ma_destroy(a);

    /* The top allocated, recorded free. */
    a = make(name, "");
    if (!a)
        return;
    uint64_t p = 0, q = 0;
    EXPECT(ma_malloc(a, 100, &p) == MA_OK && ma_malloc(a, 4096 - 112 - 8, &q) == MA_OK);
    EXPECT(FL(a)->heap == 4096 && !FL(a)->top_free);
    CORRUPT(a, FL(a)->top_free, true, "the heap's top is allocated, recorded free");
    ma_destroy(a);
}

/* I5 (bins): a node that is not its block's, a stale stamp or bin. */
static void test_bin_nodes(const char *name)
{
    struct scene s;
    ma_allocator *a = scene(name, "", &s);
    if (!a)
        return;
    fl *h = FL(a);
    uint64_t b = s.small[1], inner = s.large[0] + 64;
    uint32_t x = *tag_at(a, b);
    fnode *n = nd(a, x);
    const char *owner = "which is not the free block that owns that node";
    CORRUPT(a, n->off16, (uint32_t)(h->heap >> 4), owner);           /* beyond the heap */
    CORRUPT(a, n->off16, (uint32_t)(s.fence[4] >> 4), owner);        /* allocated */
    /* A word inside a large free block, read as a header. */
    uint64_t saved_h = *hdr_at(a, inner);
    uint32_t saved_t = *tag_at(a, inner);
    *hdr_at(a, inner) = 16; /* below min_block */
    CORRUPT(a, n->off16, (uint32_t)(inner >> 4), fmt("names 0x%llx, which is not", inner));
    *hdr_at(a, inner) = h->heap; /* beyond the heap */
    CORRUPT(a, n->off16, (uint32_t)(inner >> 4), owner);
    *hdr_at(a, inner) = 48 | F_PREV; /* a block of the right size, another tag */
    *tag_at(a, inner) = x + 1;
    CORRUPT(a, n->off16, (uint32_t)(inner >> 4), owner);
    *hdr_at(a, inner) = saved_h;
    *tag_at(a, inner) = saved_t;
    CORRUPT(a, n->size16, 4, fmt("names 0x%llx, which is not", b)); /* the size */
    CORRUPT(a, n->stamp, h->next_stamp, fmt("free block 0x%llx is indexed under a "
                                            "stale stamp or bin", b));
    /* Bin 7 (the middle blocks) moved whole to bin 8. */
    {
        uint32_t r7 = h->roots[7], t7 = h->lists ? h->tails[7] : NIL;
        h->roots[8] = r7, h->roots[7] = NIL;
        if (t7 != NIL)
            h->tails[8] = t7, h->tails[7] = NIL;
        h->nonempty[0] ^= (UINT64_C(1) << 7) | (UINT64_C(1) << 8);
        expect_corrupt(a, "bin 7 as bin 8", "is indexed under a stale stamp or bin");
        h->roots[7] = r7, h->roots[8] = NIL;
        if (t7 != NIL)
            h->tails[7] = t7, h->tails[8] = NIL;
        h->nonempty[0] ^= (UINT64_C(1) << 7) | (UINT64_C(1) << 8);
        expect_sound(a, "bin 7 restored");
    }
    /* The bitmap: a non-empty bin unmarked, an empty bin marked, a summary
     * bit for an empty word. */
    CORRUPT(a, h->nonempty[0], h->nonempty[0] ^ (UINT64_C(1) << 3),
            "the bin bitmap is wrong for bin 3");
    CORRUPT(a, h->nonempty[0], h->nonempty[0] | (UINT64_C(1) << 5),
            "the bin bitmap is wrong for bin 5");
    CORRUPT(a, h->nonempty_words, h->nonempty_words | (UINT32_C(1) << 2),
            "the bin bitmap is wrong for bin 128");
    ma_destroy(a);
}

/* I5 (pairing heaps, best-ao and worst-ao once taken from): bin 3 holds
 * small[0] (the root, lowest) with children small[2] then small[1]. */
static void test_bin_heaps(const char *name)
{
    struct scene s;
    ma_allocator *a = scene(name, "", &s);
    if (!a)
        return;
    fl *h = FL(a);
    if (h->lazy) { /* worst-ao: taking from bin 3 makes it a heap; give back */
        uint64_t p, q;
        ma_stats st; /* take every larger block whole, the largest first */
        while (ma_get_stats(a, &st) == MA_OK && st.largest_free > 48)
            EXPECT(ma_malloc(a, st.largest_free - 8, &p) == MA_OK);
        EXPECT(ma_malloc(a, 40, &p) == MA_OK && p == s.small[0] + 16);
        EXPECT(ma_malloc(a, 40, &q) == MA_OK && q == s.small[1] + 16);
        EXPECT(ma_free(a, p) == MA_OK && ma_free(a, q) == MA_OK); /* root, children */
        EXPECT(((h->heaped[0] >> 3) & 1) == 1);
        expect_sound(a, "worst-ao: bin 3 a heap");
    }
    uint32_t r = h->roots[3];
    EXPECT(r != NIL && (uint64_t)nd(a, r)->off16 << 4 == s.small[0]);
    uint32_t c1 = nd(a, r)->left, c2 = c1 == NIL ? NIL : nd(a, c1)->right;
    EXPECT(c1 != NIL && c2 != NIL);
    if (c1 == NIL || c2 == NIL) {
        ma_destroy(a);
        return;
    }
    const char *root = "the heap of bin 3 has a root with a parent or sibling";
    char below[120];
    snprintf(below, sizeof below, "the heap of bin 3 is broken or out of order below 0x%llx",
             (unsigned long long)s.small[0]);
    CORRUPT(a, nd(a, r)->up, c1, root);
    CORRUPT(a, nd(a, r)->right, c2, root);
    CORRUPT(a, nd(a, r)->left, NIL - 1, below); /* far beyond the pool */
    CORRUPT(a, nd(a, c2)->up, r, below);
    CORRUPT(a, nd(a, c1)->off16, nd(a, r)->off16, below);
    /* The traversal (in_order) meets an up link beyond the pool, and up
     * links that go round among siblings (both reported as corruption). */
    CORRUPT(a, nd(a, c2)->up, h->pool_top + 3, "heap of bin 3 is broken");
    {
        uint32_t u1 = nd(a, c1)->up;
        nd(a, c1)->up = c2; /* c2 -> c1 -> c2 ...: neither is the other's first child */
        expect_corrupt(a, "sibling up links in a circle", "heap of bin 3 is broken");
        nd(a, c1)->up = u1;
        expect_sound(a, "sibling up links restored");
    }
    {
        uint32_t u = nd(a, r)->up, l1 = nd(a, c1)->left;
        uint32_t r2 = nd(a, c1)->right;
        /* r -> c1 (first child), c1 a leaf whose up is r, r's up is c1:
         * the climb goes round r and c1. */
        nd(a, c1)->right = NIL;
        nd(a, r)->up = c1;
        expect_corrupt(a, "parent links in a circle", "bin 3 has a root with a parent");
        nd(a, r)->up = u, nd(a, c1)->left = l1, nd(a, c1)->right = r2;
        expect_sound(a, "parent links restored");
    }
    ma_destroy(a);
}

/* I5 (lists: best/worst in LIFO and FIFO, worst-ao before it takes). */
static void test_bin_lists(const char *name)
{
    struct scene s;
    ma_allocator *a = scene(name, "", &s);
    if (!a)
        return;
    fl *h = FL(a);
    uint32_t head = h->roots[3], second = nd(a, head)->right;
    EXPECT(second != NIL && nd(a, second)->right != NIL);
    char at_[120];
    snprintf(at_, sizeof at_, "the list of bin 3 is broken or out of order at 0x%llx",
             (unsigned long long)nd(a, head)->off16 << 4);
    CORRUPT(a, nd(a, head)->left, second, at_);
    {
        uint32_t s1 = nd(a, head)->stamp, s2 = nd(a, second)->stamp;
        nd(a, head)->stamp = s2, nd(a, second)->stamp = s1;
        expect_corrupt(a, "stamps swapped", "the list of bin 3 is broken or out of order");
        nd(a, head)->stamp = s1, nd(a, second)->stamp = s2;
        expect_sound(a, "stamps restored");
    }
    CORRUPT(a, h->tails[3], head, "the list of bin 3 is broken");
    {   /* the head dropped: the index holds one block fewer than are free */
        h->roots[3] = second;
        nd(a, second)->left = NIL;
        expect_corrupt(a, "the head dropped",
                       fmt("the free-block index holds not all of the %llu free blocks",
                           h->free_blocks));
        h->roots[3] = head;
        nd(a, second)->left = head;
        expect_sound(a, "the head restored");
    }
    CORRUPT(a, nd(a, second)->right, h->pool_top, "the free-block index holds more than all");
    {
        uint32_t last = h->tails[3];
        CORRUPT(a, nd(a, last)->right, head, "the list of bin 3 is broken");
    }
    ma_destroy(a);
}

/*
 * A pairing heap's children that go on past every free block (without a
 * circle: through the spare slots too): the check stops counting them and
 * the traversal meets the first that is not the bin's.  Bin 7 holds mid[0]
 * (the root) and mid[1]; the chain under mid[0] is mid[1], large[0], then
 * every other slot.
 */
static void test_heap_chain(void)
{
    struct scene s;
    ma_allocator *a = scene("best-ao", "", &s);
    if (!a)
        return;
    fl *h = FL(a);
    EXPECT(ma_free(a, s.fence[0] + 16) == MA_OK && ma_free(a, s.fence[1] + 16) == MA_OK);
    uint32_t total = h->pool_top, r = h->roots[7];
    uint32_t m1 = *tag_at(a, s.mid[1]), l0 = *tag_at(a, s.large[0]);
    EXPECT(total >= h->free_blocks + 2 && (uint64_t)nd(a, r)->off16 << 4 == s.mid[0] &&
           nd(a, r)->left == m1);
    fnode *saved = malloc(total * sizeof(fnode));
    if (!saved) {
        ma_destroy(a);
        return;
    }
    memcpy(saved, h->pool, total * sizeof(fnode));
    uint32_t prev = m1;
    nd(a, m1)->right = l0;
    nd(a, l0)->up = m1;
    prev = l0;
    for (uint32_t x = 0; x < total; x++) {
        if (x == r || x == m1 || x == l0)
            continue;
        nd(a, prev)->right = x;
        nd(a, x)->up = prev;
        nd(a, x)->left = nd(a, x)->right = NIL;
        if (nd(a, x)->off16 <= nd(a, r)->off16)
            nd(a, x)->off16 = nd(a, r)->off16 + 1;
        prev = x;
    }
    nd(a, l0)->left = NIL;
    expect_corrupt(a, "a chain of children through the spares",
                   fmt("free block 0x%llx is indexed under a stale stamp or bin", s.large[0]));
    memcpy(h->pool, saved, total * sizeof(fnode));
    free(saved);
    expect_sound(a, "the chain undone");
    ma_destroy(a);
}

/* prio_of of csrc/freelist/treap.h: a treap node's priority. */
static uint32_t prio(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    x ^= x >> 16;
    return x;
}

/* I5 (the large blocks' treap). */
static void test_treap(const char *name)
{
    struct scene s;
    ma_allocator *a = scene(name, "", &s);
    if (!a)
        return;
    fl *h = FL(a);
    uint32_t withl = NIL, withr = NIL, leaf = NIL, low = NIL;
    for (int i = 0; i < NLARGE; i++) {
        uint32_t x = *tag_at(a, s.large[i]);
        if (nd(a, x)->left != NIL)
            withl = x;
        if (nd(a, x)->right != NIL)
            withr = x;
        if (nd(a, x)->left == NIL && nd(a, x)->right == NIL)
            leaf = x;
    }
    for (uint32_t t = h->roots[NBINS]; t != NIL; t = nd(a, t)->left)
        low = t; /* the smallest key */
    EXPECT(withl != NIL && withr != NIL && leaf != NIL && low != NIL);
    if (withl == NIL || withr == NIL || leaf == NIL || low == NIL) {
        ma_destroy(a);
        return;
    }
    uint32_t l = nd(a, withl)->left, r = nd(a, withr)->right;
    CORRUPT(a, nd(a, l)->size16, nd(a, withl)->size16 + 1,
            fmt("the free-block index is out of order at 0x%llx",
                (unsigned long long)nd(a, l)->off16 << 4));
    CORRUPT(a, nd(a, r)->size16, NBINS, fmt("the free-block index is out of order at 0x%llx",
                                            (unsigned long long)nd(a, r)->off16 << 4));
    /* A leaf whose child is the root: the root's priority is higher. */
    CORRUPT(a, nd(a, leaf)->left, h->roots[NBINS],
            fmt("the free-block index breaks the heap order at 0x%llx",
                (unsigned long long)nd(a, leaf)->off16 << 4));
    CORRUPT(a, nd(a, leaf)->right, h->pool_top,
            fmt("names slot %llu, beyond", (unsigned long long)h->pool_top));
    CORRUPT(a, nd(a, h->roots[NBINS])->aug, nd(a, h->roots[NBINS])->aug + 1,
            "subtree maximum");
    /* The smallest key a small size: its key is its order key alone, still
     * the smallest; then the node no longer describes its block. */
    {
        uint32_t sz = nd(a, low)->size16, au = nd(a, low)->aug;
        nd(a, low)->size16 = nd(a, low)->aug = 5;
        expect_corrupt(a, "a small block in the treap", "which is not the free block that owns");
        nd(a, low)->size16 = sz, nd(a, low)->aug = au;
        expect_sound(a, "treap restored");
    }
    ma_destroy(a);

    /* Five large blocks of one size: a subtree's maximum equals its root's
     * size (ties ordered by the order key). */
    a = make(name, "");
    if (!a)
        return;
    uint64_t p[10];
    for (int i = 0; i < 10; i++)
        EXPECT(ma_malloc(a, i % 2 ? 24 : 30000, &p[i]) == MA_OK);
    for (int i = 0; i < 10; i += 2)
        EXPECT(ma_free(a, p[i]) == MA_OK);
    expect_sound(a, "five large blocks of one size");
    h = FL(a);
    EXPECT(nd(a, h->roots[NBINS])->aug == 30016 / 16);
    ma_destroy(a);
}

/* Spare slots: a link beyond the pool, a circle, a lost spare. */
static void test_spares(const char *name)
{
    struct scene s;
    ma_allocator *a = scene(name, "", &s);
    if (!a)
        return;
    fl *h = FL(a);
    EXPECT(ma_free(a, s.fence[0] + 16) == MA_OK); /* small[0] + fence + small[1]: a spare */
    expect_sound(a, "merged");
    EXPECT(h->spare != NIL);
    if (h->spare == NIL) {
        ma_destroy(a);
        return;
    }
    CORRUPT(a, h->spare, h->pool_top, "the list of spare index slots is broken");
    CORRUPT(a, nd(a, h->spare)->left, h->spare, "the list of spare index slots is broken");
    CORRUPT(a, h->spare, NIL, fmt("0 spare and %llu used index slots", h->free_blocks));
    ma_destroy(a);
}

/*
 * The treap's depth: a chain of 513 nodes down the left (each key below its
 * parent's, each priority too) passes the recursive check (depth 0..512) and
 * overflows the traversal's stack; one of 514 is too deep for the check.
 * Built from the slots of 600 free blocks, the bins emptied; the pool and
 * the bins are put back afterwards.
 */
static void test_treap_depth(void)
{
    ma_allocator *a = make("best-ao", "");
    if (!a)
        return;
    fl *h = FL(a);
    uint64_t p[1200];
    for (int i = 0; i < 1200; i++)
        EXPECT(ma_malloc(a, 24, &p[i]) == MA_OK);
    for (int i = 0; i < 1200; i += 2)
        EXPECT(ma_free(a, p[i]) == MA_OK);
    expect_sound(a, "600 free blocks");
    uint32_t total = h->pool_top;
    EXPECT(total >= 600);
    fnode *saved = malloc(total * sizeof(fnode));
    fl *hs = malloc(sizeof(fl));
    uint32_t *order = malloc(total * sizeof(uint32_t));
    if (!saved || !hs || !order || total < 600) {
        free(saved), free(hs), free(order);
        ma_destroy(a);
        return;
    }
    memcpy(saved, h->pool, total * sizeof(fnode));
    memcpy(hs, h, sizeof(fl));
    for (uint32_t i = 0; i < total; i++)
        order[i] = i;
    for (uint32_t i = 1; i < total; i++) /* by priority, highest first */
        for (uint32_t j = i; j > 0 && prio(order[j - 1]) < prio(order[j]); j--) {
            uint32_t t = order[j];
            order[j] = order[j - 1], order[j - 1] = t;
        }
    for (unsigned len = 513; len <= 514; len++) {
        for (uint32_t r = 0; r < NBINS; r++)
            h->roots[r] = NIL;
        memset(h->nonempty, 0, sizeof h->nonempty);
        h->nonempty[NBINS >> 6] = 1;
        h->nonempty_words = UINT32_C(1) << (NBINS >> 6);
        h->roots[NBINS] = order[0];
        for (unsigned i = 0; i < len; i++) {
            fnode *n = nd(a, order[i]);
            n->size16 = n->aug = NBINS + 1000 - i; /* keys fall down the chain */
            n->left = i + 1 < len ? order[i + 1] : NIL;
            n->right = NIL;
        }
        expect_corrupt(a, len == 513 ? "a chain of 513" : "a chain of 514",
                       len == 513 ? "holds more than all (or a cycle)"
                                  : "the free-block index is too deep");
        memcpy(h->pool, saved, total * sizeof(fnode));
        memcpy(h->roots, hs->roots, sizeof h->roots);
        memcpy(h->nonempty, hs->nonempty, sizeof h->nonempty);
        h->nonempty_words = hs->nonempty_words;
        expect_sound(a, "the chain undone");
    }
    free(saved), free(hs), free(order);
    ma_destroy(a);
}

/* I5, I7 (position tree): missing blocks, stamps, sizes, bits, bounds, the
 * rover. */
static void test_ptree(const char *name)
{
    struct scene s;
    ma_allocator *a = scene(name, "", &s);
    if (!a)
        return;
    fl *h = FL(a);
    uint64_t b = s.small[1];
    uint64_t p = h->psize ? *tag_at(a, b) : b >> 4;
    uint64_t bit = UINT64_C(1) << (p & 63);
    const char *missing = fmt("free block 0x%llx is missing from the free-block index", b);
    char miss[120];
    snprintf(miss, sizeof miss, "%s", missing);
    CORRUPT(a, h->pbits[p >> 6], h->pbits[p >> 6] & ~bit, miss);
    if (h->psize) {
        CORRUPT(a, h->psize[p], h->psize[p] + 1, miss);
        CORRUPT(a, h->poff[p], h->poff[p] + 1, miss);
        uint32_t t = *tag_at(a, b), c = *copy_at(a, b + 48);
        *tag_at(a, b) = *copy_at(a, b + 48) = (uint32_t)h->pstamp;
        expect_corrupt(a, "a stamp from the future",
                       fmt("free block 0x%llx has a stamp from the future", b));
        *tag_at(a, b) = t, *copy_at(a, b + 48) = c;
        expect_sound(a, "stamp restored");
    }
    CORRUPT(a, h->ktop, -1, "the free-block index's top level -1 is out of range");
    CORRUPT(a, h->ktop, h->nlv, "is out of range");
    /* An empty position: a fence's (address order), a used-up stamp. */
    uint64_t e = h->psize ? 0 : s.fence[2] >> 4;
    while (h->psize && (h->pbits[e >> 6] >> (e & 63)) & 1)
        e++;
    EXPECT(e < (h->psize ? h->pstamp_hw : h->heap >> 4));
    uint64_t ebit = UINT64_C(1) << (e & 63);
    CORRUPT(a, h->pbits[e >> 6], h->pbits[e >> 6] | ebit,
            fmt("the free-block index holds %llu entries", h->free_blocks + 1));
    if (h->psize)
        CORRUPT(a, h->psize[e], 3, fmt("records a size at the empty position %llu", e));
    /* Bounds: the group of small[1] at level 0, the root's. */
    CORRUPT(a, h->lv[0][p >> 6], 0, fmt("bound 0 at level 0 entry %llu", p >> 6));
    if (h->ktop > 0) {
        CORRUPT(a, h->lv[h->ktop][0], 0, "bound 0 at level");
        /* A top level too low: the blocks beyond its reach are not counted. */
        CORRUPT(a, h->ktop, 0, "entries for");
    }
    if (h->fit == MA_FIT_NEXT) {
        CORRUPT(a, h->rover, h->pcap, "the rover is not an indexed free block");
        CORRUPT(a, h->rover, e, "the rover is not an indexed free block");
    }
    ma_destroy(a);
}

int main(void)
{
    for (int i = 0; i < 12; i++) {
        test_blocks(policies[i]);
        if (policies[i][0] == 'b' || policies[i][0] == 'w') {
            test_bin_nodes(policies[i]);
            test_treap(policies[i]);
            test_spares(policies[i]);
        } else {
            test_ptree(policies[i]);
        }
    }
    test_bin_heaps("best-ao");
    test_bin_heaps("worst-ao");
    test_bin_lists("best-lifo");
    test_bin_lists("best-fifo");
    test_bin_lists("worst-ao");
    test_bin_lists("worst-fifo");
    test_treap_depth();
    test_heap_chain();
    return edges_report();
}
