/*
 * edges_freelist_ops.c -- the free list's life cycle and operations on
 * their edges (csrc/freelist.c, csrc/freelist/heap.h, bins.h, treap.h,
 * ptree.h): configurations refused field by field, memory refused at each
 * step of creation, requests beyond the arena, blocks whose header was
 * corrupted (free, realloc, usable_size), trimming with a rover and a
 * prealloc, and the index's defensive paths under corruption (a
 * renumbering that gives up, an erase that finds nothing, a stray bit in
 * the bitmap).  Each refusal has its status and words and changes nothing.
 */
#include "edges_freelist.h"

static ma_freelist_config cfg(int fit, int order)
{
    ma_freelist_config c = ma_freelist_config_default();
    c.fit = fit;
    c.order = order;
    return c;
}

/* Every field out of range on each side: MA_EINVAL naming the field, no
 * instance. */
static void test_config_refused(void)
{
    edges_current = "ma_freelist_create";
    ma_allocator *a = (ma_allocator *)&edges_current;
    ma_freelist_config c = cfg(MA_FIT_BEST, MA_ORDER_ADDRESS);
    EXPECT(ma_freelist_create(NULL, &a) == MA_EINVAL && said("config or out is NULL"));
    EXPECT(ma_freelist_create(&c, NULL) == MA_EINVAL && said("config or out is NULL"));
    struct {
        int field;
        uint64_t v;
        const char *words;
    } bad[] = {
        {0, 4096 + 8, "arena_size must be"}, {0, 2048, "arena_size must be"},
        {0, (UINT64_C(1) << 35) + 16, "arena_size must be"},
        {1, 24, "growth must be"}, {1, 0, "growth must be"},
        {1, (UINT64_C(1) << 30) + 16, "growth must be"},
        {2, 40, "min_block must be"}, {2, 16, "min_block must be"},
        {2, (UINT64_C(1) << 30) + 16, "min_block must be"},
        {3, 72, "prealloc must be"}, {3, 16, "prealloc must be"},
        {3, (UINT64_C(1) << 30) + 16, "prealloc must be"},
        {4, 2, "trim must be 0 (off) or 1 (on), got 2"},
        {5, UINT32_MAX, "stamp_limit must be"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = cfg(MA_FIT_BEST, MA_ORDER_ADDRESS);
        switch (bad[i].field) {
        case 0: c.arena_size = bad[i].v; break;
        case 1: c.growth = bad[i].v; break;
        case 2: c.min_block = bad[i].v; break;
        case 3: c.prealloc = bad[i].v; break;
        case 4: c.trim = (int)bad[i].v; break;
        default: c.stamp_limit = bad[i].v; break;
        }
        a = (ma_allocator *)&edges_current;
        EXPECT(ma_freelist_create(&c, &a) == MA_EINVAL && a == NULL && said(bad[i].words));
    }
    int fits[] = {-1, 4}, orders[] = {-1, 3};
    for (int i = 0; i < 2; i++) {
        c = cfg(fits[i], MA_ORDER_ADDRESS);
        EXPECT(ma_freelist_create(&c, &a) == MA_EINVAL && a == NULL &&
               said("fit must be MA_FIT_BEST, _FIRST, _NEXT or _WORST"));
        c = cfg(MA_FIT_FIRST, orders[i]);
        EXPECT(ma_freelist_create(&c, &a) == MA_EINVAL && a == NULL &&
               said("order must be MA_ORDER_ADDRESS, _LIFO or _FIFO"));
    }
}

/* Memory refused at each step of creation: the instance, the arena, the
 * allocation record, the index (the bins' pool, the position tree). */
static void test_create_refused(void)
{
    static const char *const said_at[] = {
        "no memory for the instance", "mmap refused to reserve",
        "no memory for the allocation record",
        "mmap refused to reserve address space for the free-block index",
    };
    static const ma_status st_at[] = {MA_ENOMEM, MA_ESYS, MA_ENOMEM, MA_ESYS};
    int kinds[][2] = {{MA_FIT_BEST, MA_ORDER_LIFO}, {MA_FIT_FIRST, MA_ORDER_FIFO},
                      {MA_FIT_NEXT, MA_ORDER_ADDRESS}};
    for (int k = 0; k < 3; k++) {
        ma_freelist_config c = cfg(kinds[k][0], kinds[k][1]);
        for (long n = 0; n <= 4; n++) {
            ma_allocator *a = (ma_allocator *)&edges_current;
            edges_current = "create under refusals";
            fail_after(n);
            ma_status st = ma_freelist_create(&c, &a);
            fail_never();
            if (n == 4) {
                EXPECT(st == MA_OK && a != NULL);
                if (a) {
                    uint64_t p;
                    EXPECT(ma_malloc(a, 100, &p) == MA_OK && ma_check(a) == MA_OK);
                    ma_destroy(a);
                }
                break;
            }
            EXPECT(st == st_at[n] && a == NULL && said(said_at[n]));
        }
    }
}

/* Requests beyond the arena; one whose room for alignment needs more than
 * 2^32 units (arena 32 GiB): MA_ENOMEM, nothing changed. */
static void test_beyond_the_arena(void)
{
    ma_allocator *a = make("first-ao", "arena_size=64K");
    if (!a)
        return;
    uint64_t p = 0, q = 7, r = 0;
    ma_stats before, after;
    EXPECT(ma_malloc(a, 1000, &p) == MA_OK && ma_write(a, p, 0, "kept", 4) == MA_OK);
    EXPECT(ma_get_stats(a, &before) == MA_OK);
    EXPECT(ma_memalign(a, UINT64_C(1) << 17, 64, &q) == MA_ENOMEM &&
           said("64 bytes exceed the arena of 65536"));
    EXPECT(ma_malloc(a, (UINT64_C(1) << 16) + 16, &q) == MA_ENOMEM &&
           said("65552 bytes exceed the arena of 65536"));
    EXPECT(ma_realloc(a, p, (UINT64_C(1) << 16) + 16, &q) == MA_ENOMEM &&
           said("65552 bytes exceed the arena"));
    /* Fits the arena, not the room left: the move fails, the block stays. */
    EXPECT(ma_malloc(a, 1000, &r) == MA_OK);
    EXPECT(ma_realloc(a, p, 63600, &q) == MA_ENOMEM && said("the heap cannot grow"));
    char back[4];
    EXPECT(ma_read(a, p, 0, back, 4) == MA_OK && memcmp(back, "kept", 4) == 0);
    EXPECT(ma_free(a, r) == MA_OK);
    EXPECT(ma_get_stats(a, &after) == MA_OK && after.allocated_bytes == before.allocated_bytes &&
           after.free_blocks == before.free_blocks && after.heap_size >= before.heap_size);
    EXPECT(ma_check(a) == MA_OK);
    ma_destroy(a);

    a = make("first-ao", "arena_size=32G");
    if (!a)
        return;
    uint64_t big = UINT64_C(1) << 35;
    EXPECT(ma_memalign(a, big, big, &q) == MA_ENOMEM && said("the heap cannot grow"));
    EXPECT(ma_get_stats(a, &after) == MA_OK && after.heap_size == 0);
    EXPECT(ma_check(a) == MA_OK);
    ma_destroy(a);
}

/* A live block whose header was corrupted: free, realloc and usable_size
 * report MA_ECORRUPT naming the address and change nothing. */
static void test_corrupt_live_block(const char *name)
{
    ma_allocator *a = make(name, "");
    if (!a)
        return;
    fl *h = FL(a);
    uint64_t p = 0, q = 0, out = 7;
    EXPECT(ma_malloc(a, 100, &p) == MA_OK && ma_malloc(a, 100, &q) == MA_OK);
    uint64_t off = p - 16, saved = *hdr_at(a, off);
    uint64_t bad[] = {saved & ~F_ALLOC, (saved & F_MASK) | 16,
                      (saved & F_MASK) | (h->heap - off + 16)};
    char words[100];
    snprintf(words, sizeof words, "0x%llx is a live allocation, but the heap has no "
             "allocated block there", (unsigned long long)p);
    for (int i = 0; i < 3; i++) {
        *hdr_at(a, off) = bad[i];
        EXPECT(ma_free(a, p) == MA_ECORRUPT && said(words));
        EXPECT(ma_realloc(a, p, 10, &out) == MA_ECORRUPT && said(words) && out == MA_NULL);
        EXPECT(ma_usable_size(a, p, &out) == MA_ECORRUPT && said(words));
        EXPECT(*hdr_at(a, off) == bad[i]);
        *hdr_at(a, off) = saved;
        EXPECT(ma_check(a) == MA_OK);
    }
    /* The heap recorded below the block (the block beyond it). */
    uint64_t heap = h->heap;
    h->heap = p - 16;
    EXPECT(ma_free(a, q) == MA_ECORRUPT && said("is a live allocation, but"));
    h->heap = heap;
    EXPECT(ma_usable_size(a, p, &out) == MA_OK && out == 104);
    EXPECT(ma_free(a, p) == MA_OK && ma_free(a, q) == MA_OK && ma_check(a) == MA_OK);
    ma_destroy(a);
}

/* Trimming: never below prealloc; a rover on the block that absorbs the
 * freed top stays on what is kept. */
static void test_trim(void)
{
    ma_allocator *a = make("best-ao", "trim=1,prealloc=64K,growth=4K");
    if (!a)
        return;
    uint64_t p = 0, q = 0;
    ma_stats st;
    EXPECT(ma_malloc(a, 100000, &p) == MA_OK && ma_malloc(a, 100, &q) == MA_OK);
    EXPECT(ma_free(a, q) == MA_OK && ma_free(a, p) == MA_OK);
    EXPECT(ma_get_stats(a, &st) == MA_OK && st.heap_size == 65536 && st.free_blocks == 1);
    EXPECT(ma_check(a) == MA_OK);
    ma_destroy(a);

    a = make("next-ao", "trim=1,growth=4K");
    if (!a)
        return;
    fl *h = FL(a);
    uint64_t x = 0, s = 0;
    EXPECT(ma_malloc(a, 100, &p) == MA_OK && p == 16);           /* [0, 112) */
    EXPECT(ma_malloc(a, 8072, &x) == MA_OK && x == 128);         /* [112, 8192) */
    EXPECT(h->heap == 8192 && h->rover == PNONE);
    EXPECT(ma_free(a, p) == MA_OK && ma_malloc(a, 40, &s) == MA_OK && s == 16);
    EXPECT(h->rover == 3);                                       /* [48, 112) */
    EXPECT(ma_free(a, x) == MA_OK); /* [48, 8192) trimmed to [48, 4096) */
    EXPECT(h->heap == 4096 && h->rover == 3);
    EXPECT(ma_get_stats(a, &st) == MA_OK && st.free_blocks == 1 && st.free_bytes == 4048);
    EXPECT(ma_check(a) == MA_OK);
    ma_destroy(a);
}

/* first-ao: the free top hidden from the index (its bit cleared): the
 * search fails, the heap "grows" by 0 and indexes the top again. */
static void test_grow_by_nothing(void)
{
    ma_allocator *a = make("first-ao", "");
    if (!a)
        return;
    fl *h = FL(a);
    uint64_t p = 0, q = 0;
    EXPECT(ma_malloc(a, 100, &p) == MA_OK);
    uint64_t top = 112 >> 4;
    h->pbits[0] &= ~(UINT64_C(1) << top);
    EXPECT(ma_check(a) == MA_ECORRUPT && said("free block 0x70 is missing"));
    EXPECT(ma_malloc(a, 100, &q) == MA_OK && q == 128 && h->heap == 4096);
    EXPECT(ma_check(a) == MA_OK);
    ma_destroy(a);
}

/* Bins: a stray bit for the large bin in the bitmap does not change the
 * largest free block that stats report (highest_bin skips it). */
static void test_stray_large_bit(void)
{
    ma_allocator *a = make("best-ao", "");
    if (!a)
        return;
    fl *h = FL(a);
    uint64_t p = 0, q = 0;
    ma_stats st, st2;
    EXPECT(ma_malloc(a, 100, &p) == MA_OK && ma_malloc(a, 100, &q) == MA_OK);
    EXPECT(ma_free(a, p) == MA_OK && ma_get_stats(a, &st) == MA_OK);
    h->nonempty[NBINS >> 6] |= 1;
    h->nonempty_words |= UINT32_C(1) << (NBINS >> 6);
    EXPECT(ma_get_stats(a, &st2) == MA_OK && st2.largest_free == st.largest_free &&
           st.largest_free == 4096 - 224);
    EXPECT(ma_check(a) == MA_ECORRUPT && said("the bin bitmap is wrong for bin 1024"));
    h->nonempty[NBINS >> 6] = 0;
    h->nonempty_words &= ~(UINT32_C(1) << (NBINS >> 6));
    EXPECT(ma_check(a) == MA_OK);
    ma_destroy(a);
}

/*
 * Node stamps renumbered at every new stamp (stamp_limit=1): a corrupt
 * treap (a link beyond the pool) or a free count one short makes the
 * traversal give up, the renumbering keeps next_stamp, and the operation
 * still succeeds; check reports the corruption, and passes once it is
 * undone.
 */
static void test_renumber_gives_up(void)
{
    struct scene s;
    ma_allocator *a = scene("best-ao", "stamp_limit=1", &s);
    if (!a)
        return;
    fl *h = FL(a);
    uint32_t leaf = NIL;
    for (int i = 0; i < NLARGE && leaf == NIL; i++) {
        uint32_t x = *tag_at(a, s.large[i]);
        if (nd(a, x)->left == NIL)
            leaf = x;
    }
    EXPECT(leaf != NIL);
    if (leaf == NIL) {
        ma_destroy(a);
        return;
    }
    uint64_t p; /* 80 bytes from a middle block: a remainder gets a stamp */
    uint32_t next = h->next_stamp;
    nd(a, leaf)->left = h->pool_top + 1;
    EXPECT(ma_malloc(a, 60, &p) == MA_OK && p == s.mid[0] + 16 && h->next_stamp == next + 1);
    EXPECT(ma_check(a) == MA_ECORRUPT && said("names slot"));
    nd(a, leaf)->left = NIL;
    EXPECT(ma_check(a) == MA_OK);
    h->free_blocks--; /* the large blocks, last in the traversal, are one too many */
    next = h->next_stamp;
    EXPECT(ma_free(a, p) == MA_OK && h->next_stamp == next + 1);
    EXPECT(ma_check(a) == MA_ECORRUPT && said("counters"));
    h->free_blocks++;
    EXPECT(ma_check(a) == MA_OK);
    /* Sound again: the next renumbering succeeds. */
    EXPECT(ma_malloc(a, 60, &p) == MA_OK && h->next_stamp == h->free_blocks + 1);
    EXPECT(ma_check(a) == MA_OK);
    ma_destroy(a);
}

/*
 * The treap under corruption (throwaway instances: the damage spreads):
 * a node whose key changed is not found by erase (realloc absorbing its
 * block), and an update on a node whose size is an exact bin's.
 */
static void test_treap_corrupted_ops(void)
{
    struct scene s;
    ma_allocator *a = scene("best-ao", "", &s);
    if (!a)
        return;
    /* large[0] follows fence[4]: realloc the fence to absorb it whole. */
    uint32_t x = *tag_at(a, s.large[0]); /* the smallest key: not the root */
    uint64_t q, f = s.fence[4] + 16, whole = 32 + size_at(a, s.large[0]);
    EXPECT(x != FL(a)->roots[NBINS]);
    nd(a, x)->size16 = UINT32_MAX >> 1; /* the largest key: erase looks right */
    EXPECT(ma_realloc(a, f, whole - 8, &q) == MA_OK && q == f);
    EXPECT(ma_check(a) == MA_ECORRUPT && said("free-block index"));
    ma_destroy(a);

    /* The root's size an exact bin's: updating it on the way down. */
    a = scene("best-ao", "", &s);
    if (!a)
        return;
    fl *h = FL(a);
    uint32_t r = h->roots[NBINS];
    nd(a, r)->size16 = 5;
    uint64_t p;
    EXPECT(ma_malloc(a, 30000, &p) == MA_OK);
    EXPECT(ma_check(a) == MA_ECORRUPT);
    ma_destroy(a);

    /* The root's left subtree claims a larger maximum than the root's
     * size: the root's update takes it (large[5] merges with the top). */
    a = scene("best-ao", "", &s);
    if (!a)
        return;
    h = FL(a);
    r = h->roots[NBINS];
    EXPECT(nd(a, r)->left != NIL);
    if (nd(a, r)->left != NIL) {
        nd(a, nd(a, r)->left)->aug = UINT32_MAX >> 1;
        EXPECT(ma_free(a, s.fence[NLARGE + 4] + 16) == MA_OK);
        EXPECT(ma_check(a) == MA_ECORRUPT && said("subtree maximum"));
    }
    ma_destroy(a);
}

/* The position tree: compaction not yet due above its floor; the bytes of
 * a tree with no position in use. */
static void test_ptree_edges(void)
{
    ma_allocator *a = make("first-lifo", "stamp_limit=1");
    if (!a)
        return;
    uint64_t p[4];
    for (int i = 0; i < 4; i++)
        EXPECT(ma_malloc(a, 100, &p[i]) == MA_OK);
    EXPECT(ma_free(a, p[1]) == MA_OK && ma_free(a, p[2]) == MA_OK);
    EXPECT(FL(a)->pstamp < 4 * FL(a)->free_blocks + 64 && ma_check(a) == MA_OK);
    ma_destroy(a);

    /* Fresh: the position tree in use costs under a line (as the pool: 0). */
    ma_stats fresh[3];
    for (int i = 0; i < 3; i++) {
        a = make(i == 0 ? "best-ao" : i == 1 ? "first-ao" : "next-fifo", "");
        if (!a)
            return;
        EXPECT(ma_get_stats(a, &fresh[i]) == MA_OK && fresh[i].heap_size == 0 &&
               fresh[i].largest_free == 0);
        ma_destroy(a);
    }
    EXPECT(fresh[1].metadata_bytes == fresh[2].metadata_bytes &&
           fresh[1].metadata_bytes >= fresh[0].metadata_bytes &&
           fresh[1].metadata_bytes < fresh[0].metadata_bytes + 64);
}

/* Reset: the heap back to prealloc (or empty), the index empty, both
 * kinds; the instance as fresh. */
static void test_reset(void)
{
    for (int i = 0; i < 12; i++) {
        ma_allocator *a = make(policies[i], i % 2 ? "prealloc=8K" : "");
        if (!a)
            return;
        uint64_t p[8];
        ma_stats st;
        for (int k = 0; k < 8; k++)
            EXPECT(ma_malloc(a, 1000 * (uint64_t)k + 10, &p[k]) == MA_OK);
        for (int k = 0; k < 8; k += 3)
            EXPECT(ma_free(a, p[k]) == MA_OK);
        EXPECT(ma_reset(a) == MA_OK && ma_check(a) == MA_OK);
        EXPECT(ma_get_stats(a, &st) == MA_OK && st.live_blocks == 0 &&
               st.heap_size == (i % 2 ? 8192u : 0u) && st.free_blocks == (i % 2 ? 1u : 0u));
        EXPECT(ma_malloc(a, 100, &p[0]) == MA_OK && p[0] == 16 && ma_check(a) == MA_OK);
        ma_destroy(a);
    }
}

int main(void)
{
    test_config_refused();
    test_create_refused();
    test_beyond_the_arena();
    for (int i = 0; i < 12; i++)
        test_corrupt_live_block(policies[i]);
    test_trim();
    test_grow_by_nothing();
    test_stray_large_bit();
    test_renumber_gives_up();
    test_treap_corrupted_ops();
    test_ptree_edges();
    test_reset();
    return edges_report();
}
