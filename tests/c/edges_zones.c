/*
 * edges_zones.c -- the zones allocator's refusals and its checker
 * (csrc/zones.c, zones/pages.h, zones/walk.h): every parameter out of
 * range, memory refused by the arena or by mmap, the class lists' and the
 * page pool's less common moves, and one corruption of each invariant
 * Z1-Z5 that zones_check (or free, the walk, the zone listing) must name,
 * repaired afterwards to show that it was that corruption that was found.
 *
 * A zone's blocks have no header: the only metadata in the arena is a free
 * block's next link (its first 8 bytes).  Spans, the page map, the bitmap
 * and the counters live in side tables described by zones/state.h, which
 * this program includes to reach them.
 */
#include "edges.h"
#include "zones/state.h"

#include <stdlib.h>
#include <unistd.h>

#define KIB UINT64_C(1024)
#define PS UINT64_C(4096)

static zones *Z(ma_allocator *a) { return (zones *)(void *)a; }

static ma_allocator *fresh(void)
{
    ma_allocator *a = NULL;
    edges_current = "zones";
    if (ma_zones_create(1 << 20, 128, 4096, MA_ZONES_FINE, &a) != MA_OK) {
        fprintf(stderr, "ma_zones_create: %s\n", ma_thread_error());
        edges_failures++;
    }
    return a;
}

/* ---- creation -------------------------------------------------------------- */

static void test_create_refusals(void)
{
    edges_current = "ma_zones_create";
    EXPECT(sysconf(_SC_PAGESIZE) == (long)PS); /* the offsets below assume 4 KiB pages */
    ma_allocator *a = NULL;
    EXPECT(ma_zones_create(1 << 20, 128, 4096, 0, NULL) == MA_EINVAL && said("out is NULL"));
    static const struct {
        uint64_t arena, tiny, small;
        int classes;
        const char *words;
    } bad[] = {
        {1 << 20, 128, 4096, 2, "classes must be 0 (fine) or 1 (pow2), got 2"},
        {1 << 20, 0, 4096, 0, "tiny_max must be a multiple of 16 from 16 to 1024, got 0"},
        {1 << 20, 1040, 4096, 0, "tiny_max must be"},
        {1 << 20, 24, 4096, 0, "tiny_max must be"},
        {1 << 20, 128, 240, 0, "small_max must be a multiple of 16 from 256 to 65536"},
        {1 << 20, 128, 65552, 0, "small_max must be"},
        {1 << 20, 128, 264, 0, "small_max must be"},
        {1 << 20, 512, 512, 0, "above tiny_max (512), got 512"},
        {1 << 20, 96, 4096, 1, "with classes=pow2, tiny_max and small_max must be powers of two, got 96 and 4096"},
        {1 << 20, 128, 3072, 1, "must be powers of two"},
        {(1 << 20) - PS, 128, 4096, 0, "arena_size must be a multiple of the page size"},
        {(UINT64_C(1) << 36) + PS, 128, 4096, 0, "arena_size must be"},
        {(1 << 20) + 16, 128, 4096, 0, "arena_size must be"},
        {1 << 20, 128, 65536, 0, "hold the largest zone (6553600 bytes for small_max 65536)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        a = (ma_allocator *)&a;
        EXPECT(ma_zones_create(bad[i].arena, bad[i].tiny, bad[i].small, bad[i].classes, &a) ==
                   MA_EINVAL && a == NULL && said(bad[i].words));
        if (!said(bad[i].words))
            fprintf(stderr, "  wanted \"%s\"\n", bad[i].words);
    }
    /* The instance (calloc), its arena (mmap), its record (malloc), then
     * the spans, page map and bitmap (mmap each): every refusal. */
    static const char *const words[] = {
        "no memory for the instance", "mmap refused to reserve",
        "no memory for the allocation record", "side tables", "side tables",
        "side tables",
    };
    for (long n = 0; n < 6; n++) {
        a = (ma_allocator *)&a;
        fail_after(n);
        ma_status st = ma_zones_create(1 << 20, 128, 4096, 0, &a);
        fail_never();
        EXPECT(st != MA_OK && a == NULL && said(words[n]));
        if (!said(words[n]))
            fprintf(stderr, "  %ld: wanted \"%s\"\n", n, words[n]);
    }
    EXPECT(ma_zones_create(1 << 20, 128, 4096, 0, &a) == MA_OK && ma_check(a) == MA_OK);
    ma_destroy(a);
    /* small_max off the four-per-doubling grid is the last class itself. */
    uint64_t sizes[96], n = 0;
    EXPECT(ma_zones_create(1 << 20, 128, 4000, 0, &a) == MA_OK);
    EXPECT(ma_zones_classes(a, sizes, 96, &n) == MA_OK && n == 28 &&
           sizes[26] == 3584 && sizes[27] == 4000);
    /* No class is a multiple of 2048 from 3000 up: a LARGE region. */
    uint64_t p = MA_NULL, u = 0;
    ma_zone_info zi[1];
    EXPECT(ma_memalign(a, 2048, 3000, &p) == MA_OK && p == 0);
    EXPECT(ma_usable_size(a, p, &u) == MA_OK && u == PS);
    EXPECT(ma_zones_list(a, zi, 1, &n) == MA_OK && n == 1 && zi[0].kind == MA_ZONE_LARGE);
    ma_destroy(a);
}

/* ---- the class lists -------------------------------------------------------- */

/*
 * Three full zones of 16-byte blocks, then blocks freed in each: the
 * class's list gains zones at its head, keeps one empty zone at its tail
 * (unlinked from the middle), and gives a second empty zone's pages back.
 */
static void test_class_lists(void)
{
    ma_allocator *a = fresh();
    if (!a)
        return;
    zones *z = Z(a);
    static uint64_t p[3][256];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 256; j++)
            p[i][j] = must(a, 16);
    EXPECT(p[1][0] == PS && p[2][255] == 3 * PS - 16);
    zclass *c = &z->cls[0];
    EXPECT(c->size == 16 && c->nblocks == 256 && c->head == 0 && c->zones == 3);
    for (int i = 0; i < 3; i++)
        EXPECT(ma_free(a, p[i][0]) == MA_OK);
    EXPECT(c->head == 3 && c->tail == 1 && S(z, 3)->b == 2 && S(z, 2)->b == 1);
    EXPECT(ma_check(a) == MA_OK);
    for (int j = 1; j < 256; j++) /* the middle zone empties: kept, at the tail */
        EXPECT(ma_free(a, p[1][j]) == MA_OK);
    EXPECT(c->empty == 2 && c->head == 3 && c->tail == 2 && S(z, 1)->b == 2);
    EXPECT(ma_check(a) == MA_OK);
    for (int j = 1; j < 256; j++) /* a second empty zone: its pages go back */
        EXPECT(ma_free(a, p[2][j]) == MA_OK);
    EXPECT(c->zones == 2 && c->head == 1 && c->tail == 2 && c->empty == 2);
    ma_stats st;
    EXPECT(ma_get_stats(a, &st) == MA_OK && st.heap_size == 2 * PS && st.live_blocks == 255);
    EXPECT(ma_check(a) == MA_OK);
    /* The kept zone serves again once the other is full. */
    EXPECT(must(a, 16) == p[0][0] && must(a, 16) == PS + 16 * 255);
    EXPECT(c->empty == 0 && ma_check(a) == MA_OK);
    ma_destroy(a);
}

/* ---- LARGE regions and alignment ------------------------------------------- */

static void test_large_and_aligned(void)
{
    ma_allocator *a = fresh();
    if (!a)
        return;
    zones *z = Z(a);
    uint64_t r = 7, p, q;
    ma_stats st;
    EXPECT(must(a, 16) == 0); /* a zone of one page */
    /* A block size that is a multiple of the alignment: 80 -> 128. */
    EXPECT(ma_memalign(a, 64, 80, &p) == MA_OK && p == PS);
    uint64_t u = 0;
    EXPECT(ma_usable_size(a, p, &u) == MA_OK && u == 128);
    /* An alignment above the page: a LARGE region of one page (even for 0
     * bytes), from pages taken at the top: the leading page goes back. */
    EXPECT(ma_memalign(a, 2 * PS, 0, &q) == MA_OK && q == 6 * PS);
    EXPECT(ma_usable_size(a, q, &u) == MA_OK && u == PS);
    EXPECT(ma_get_stats(a, &st) == MA_OK && st.heap_size == 7 * PS && z->nruns == 1);
    EXPECT(ma_check(a) == MA_OK);
    ma_destroy(a);

    if (!(a = fresh()))
        return;
    /* From an empty heap: the trailing page goes back (to the top). */
    EXPECT(ma_memalign(a, 2 * PS, 100, &q) == MA_OK && q == 0);
    EXPECT(ma_get_stats(a, &st) == MA_OK && st.heap_size == PS);
    /* A LARGE region at 0 freed: the top falls to 0. */
    EXPECT(ma_free(a, q) == MA_OK && ma_get_stats(a, &st) == MA_OK && st.heap_size == 0);
    /* Alignments the arena cannot meet. */
    EXPECT(ma_memalign(a, 1 << 20, 5000, &r) == MA_ENOMEM && r == MA_NULL &&
           said("no room in the arena for 5000 bytes (alignment 1048576)"));
    EXPECT(ma_memalign(a, 1 << 21, 5000, &r) == MA_ENOMEM);
    EXPECT(ma_malloc(a, (1 << 20) + 1, &r) == MA_ENOMEM);
    p = must(a, 600 * KIB); /* pages 0 .. 149 */
    EXPECT(ma_memalign(a, 512 * KIB, 5000, &r) == MA_ENOMEM && said("alignment 524288"));
    /* A LARGE region at the top grows in place, past its peak and not. */
    EXPECT(ma_realloc(a, p, 700 * KIB, &q) == MA_OK && q == p);
    EXPECT(ma_get_stats(a, &st) == MA_OK && st.peak_heap_size == 700 * KIB);
    EXPECT(ma_realloc(a, p, 600 * KIB, &q) == MA_OK && q == p);
    EXPECT(ma_realloc(a, p, 640 * KIB, &q) == MA_OK && q == p);
    EXPECT(ma_get_stats(a, &st) == MA_OK && st.heap_size == 640 * KIB &&
           st.peak_heap_size == 700 * KIB);
    /* Beyond the arena: refused, the region kept. */
    EXPECT(ma_realloc(a, p, 2 << 20, &q) == MA_ENOMEM && q == MA_NULL);
    EXPECT(ma_usable_size(a, p, &u) == MA_OK && u == 640 * KIB);
    EXPECT(ma_check(a) == MA_OK);
    /* No room for a zone of 100 pages. */
    EXPECT(ma_malloc(a, 4096, &r) == MA_ENOMEM && said("no room in the arena for 4096 bytes"));
    EXPECT(ma_free(a, p) == MA_OK);
    /* A full zone of 48-byte blocks: its slack (32 bytes) is the largest
     * free block. */
    for (int i = 0; i < 170; i++)
        must(a, 48);
    EXPECT(ma_get_stats(a, &st) == MA_OK && st.largest_free == 32 && st.free_blocks == 1);
    EXPECT(ma_check(a) == MA_OK);
    ma_destroy(a);
}

/* ---- the zone listing -------------------------------------------------------- */

static int calls_in(const ma_block *b, void *ctx)
{
    (void)b;
    ma_allocator *a = ctx;
    uint64_t n = 0, s[1];
    ma_zone_info zi[1];
    EXPECT(ma_zones_list(a, zi, 1, &n) == MA_EBUSY);
    EXPECT(ma_zones_classes(a, s, 1, &n) == MA_EBUSY);
    return 1;
}

/*
 * The scene of the tests below (4 KiB pages):
 *   page 0       zone of 16-byte blocks (id 1): 0 and 32 allocated, 16 free
 *   pages 1-2    LARGE region (id 2)
 *   pages 3-4    free run (id 3)
 *   pages 5-8    zone of 128-byte blocks (id 4): 2 allocated
 *   pages 9-11   free run (id 5)
 *   pages 12-13  zone of 48-byte blocks (id 6): 1 allocated, 32 bytes slack
 */
typedef struct scene {
    ma_allocator *a;
    uint64_t p16[3], large, z128[2], z48;
} scene;

static int make_scene(scene *s)
{
    s->a = fresh();
    if (!s->a)
        return 0;
    ma_allocator *a = s->a;
    for (int i = 0; i < 3; i++)
        s->p16[i] = must(a, 16);
    s->large = must(a, 5000);
    uint64_t m = must(a, 5000);
    s->z128[0] = must(a, 128);
    s->z128[1] = must(a, 128);
    uint64_t k = must(a, 9000);
    s->z48 = must(a, 48);
    EXPECT(ma_free(a, s->p16[1]) == MA_OK && ma_free(a, m) == MA_OK && ma_free(a, k) == MA_OK);
    EXPECT(s->large == PS && m == 3 * PS && s->z128[0] == 5 * PS && k == 9 * PS &&
           s->z48 == 12 * PS);
    ma_zone_info zi[6];
    uint64_t n = 0;
    EXPECT(ma_zones_list(a, zi, 6, &n) == MA_OK && n == 6);
    static const int kinds[6] = {MA_ZONE_TINY, MA_ZONE_LARGE, MA_ZONE_POOL,
                                 MA_ZONE_TINY, MA_ZONE_POOL, MA_ZONE_TINY};
    for (int i = 0; i < 6; i++)
        EXPECT(zi[i].kind == kinds[i]);
    EXPECT(Z(a)->nspans == 6 && Z(a)->top == 14 * PS && Z(a)->nruns == 2);
    EXPECT(ma_check(a) == MA_OK);
    return 1;
}

static void test_listing(void)
{
    scene s;
    if (!make_scene(&s))
        return;
    ma_allocator *a = s.a;
    zones *z = Z(a);
    ma_zone_info zi[6];
    uint64_t n = 0, sizes[4];
    EXPECT(ma_zones_list(NULL, zi, 6, &n) == MA_EINVAL && said("a required argument is NULL"));
    EXPECT(ma_zones_list(a, zi, 6, NULL) == MA_EINVAL);
    EXPECT(ma_zones_list(a, NULL, 6, &n) == MA_EINVAL);
    EXPECT(ma_zones_list(a, NULL, 0, &n) == MA_OK && n == 6);
    EXPECT(ma_zones_list(a, zi, 2, &n) == MA_OK && n == 6 && zi[1].kind == MA_ZONE_LARGE &&
           zi[1].size == 2 * PS && zi[1].live == 1);
    EXPECT(ma_zones_classes(NULL, sizes, 4, &n) == MA_EINVAL && said("ma_zones_classes"));
    EXPECT(ma_zones_classes(a, sizes, 4, NULL) == MA_EINVAL);
    EXPECT(ma_zones_classes(a, NULL, 4, &n) == MA_EINVAL);
    EXPECT(ma_zones_classes(a, NULL, 0, &n) == MA_OK && n == 28);
    /* From the instance's own walk callback: busy. */
    EXPECT(ma_walk(a, calls_in, a) == MA_OK);
    /* A page map naming a span that does not start there. */
    span *run = S(z, 3);
    uint64_t start = run->start;
    uint32_t pages = run->pages;
    uint8_t kind = run->kind;
    run->start += PS;
    EXPECT(ma_zones_list(a, zi, 6, &n) == MA_ECORRUPT && said("no span starts at 0x3000"));
    run->start = start;
    run->pages = 0;
    EXPECT(ma_zones_list(a, zi, 6, &n) == MA_ECORRUPT && said("no span starts at 0x3000"));
    run->pages = pages;
    run->kind = SPAN_NONE;
    EXPECT(ma_zones_list(a, zi, 6, &n) == MA_ECORRUPT && said("no span starts at 0x3000"));
    run->kind = kind;
    EXPECT(ma_zones_list(a, zi, 6, &n) == MA_OK && n == 6 && ma_check(a) == MA_OK);
    /* Closed. */
    EXPECT(ma_close(a) == MA_OK);
    EXPECT(ma_zones_list(a, zi, 6, &n) == MA_ECLOSED);
    EXPECT(ma_zones_classes(a, sizes, 4, &n) == MA_ECLOSED);
    ma_destroy(a);
}

/* ---- addresses the record should never hold ---------------------------------- */

/* Each forged into core's record of live allocations: free, usable_size
 * and realloc refuse it (the allocator checks its own tables). */
static void test_forged_record(void)
{
    scene s;
    if (!make_scene(&s))
        return;
    ma_allocator *a = s.a;
    zones *z = Z(a);
    const uint64_t forged[] = {
        14 * PS,      /* the top */
        40,           /* not a multiple of 16 */
        16,           /* a free zone block */
        PS + 16,      /* inside a LARGE region */
        3 * PS,       /* a free run */
        10 * PS,      /* a free run's middle page: no span named */
    };
    for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++)
        forge_refused(a, forged[i], "is a live allocation, but no zone or LARGE region");
    /* A page-map entry past the spans in use. */
    uint32_t old = z->pm[5];
    z->pm[5] = z->nspans + 1;
    EXPECT(ma_free(a, s.z128[0]) == MA_ECORRUPT && said("no zone or LARGE region"));
    z->pm[5] = old;
    EXPECT(ma_check(a) == MA_OK);
    ma_destroy(a);
}

/* ---- the walk ------------------------------------------------------------------ */

static int stop_after(const ma_block *b, void *ctx)
{
    (void)b;
    return --*(uint64_t *)ctx == 0;
}

static void test_walk(void)
{
    scene s;
    if (!make_scene(&s))
        return;
    ma_allocator *a = s.a;
    zones *z = Z(a);
    uint64_t total = 0;
    EXPECT(ma_blocks(a, NULL, 0, &total) == MA_OK);
    /* 256 + 1 + 1 + 128 (+ slack 0) + 1 + 170 + slack */
    EXPECT(total == 256 + 1 + 1 + 128 + 1 + 170 + 1);
    /* Stopped at every kind of block: a zone block, a region, a run, the
     * slack. */
    const uint64_t stops[] = {1, 257, 258, 259, 387, 388, 558};
    for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++) {
        uint64_t left = stops[i];
        EXPECT(ma_walk(a, stop_after, &left) == MA_OK && left == 0);
    }
    /* Spans the page map cannot lead to (Z1), for the walk and check. */
    span *run = S(z, 3);
    uint32_t *pm = &z->pm[3];
    BREAK(a, *pm, 0, "no zone, LARGE region or free run starts at 0x3000");
    BREAK(a, *pm, 7, "no zone, LARGE region or free run starts at 0x3000");
    BREAK(a, run->start, 4 * PS, "no zone, LARGE region or free run starts at 0x3000");
    BREAK(a, run->pages, 0, "starts at 0x3000");
    BREAK(a, run->kind, SPAN_NONE, "starts at 0x3000");
    BREAK(a, S(z, 6)->pages, 3, "starts at 0xc000");
    BREAK(a, S(z, 6)->cls, 99, "starts at 0xc000");
    uint64_t left = 1000;
    *pm = 0;
    EXPECT(ma_walk(a, stop_after, &left) == MA_ECORRUPT && said("starts at 0x3000"));
    *pm = 3;
    EXPECT(ma_check(a) == MA_OK);
    ma_destroy(a);
}

/* ---- spans, bits and free lists (Z1-Z3) ------------------------------------------ */

static void test_spans_and_bits(void)
{
    scene s;
    if (!make_scene(&s))
        return;
    ma_allocator *a = s.a;
    zones *z = Z(a);
    /* Page map at a span's last page, and at a zone's middle page. */
    BREAK(a, z->pm[2], 0, "the page map does not name the span at 0x1000 at its last page");
    BREAK(a, z->pm[6], 3, "the page map does not name the zone at 0x5000 at page 6");
    /* A zone's geometry: pages, bump, used. */
    span *zs = S(z, 4);
    BREAK(a, zs->pages, 3, "zone at 0x5000: 3 pages, bump 2, used 2");
    BREAK(a, zs->bump, 129, "zone at 0x5000: 4 pages, bump 129, used 2");
    BREAK(a, zs->used, 3, "bump 2, used 3");
    /* Bits: inside a LARGE region, inside a block, past bump; a zone's
     * count of them. */
    uint64_t *bits = z->bits;
    BREAK(a, bits[(PS >> 4) >> 6], UINT64_C(1) << 5,
          "the bitmap marks an allocated block at 0x1050, which starts no handed-out block");
    uint64_t w48 = (12 * PS) >> 10;
    BREAK(a, bits[w48], bits[w48] | 2, "marks an allocated block at 0xc010");
    BREAK(a, bits[w48], bits[w48] | 8, "marks an allocated block at 0xc030");
    BREAK(a, zs->used, 1, "zone at 0x5000 counts 1 allocated blocks, its bits 2");
    /* A free run after a free run, and one at the top. */
    span *r3 = S(z, 3), *big = S(z, 2);
    uint32_t id7 = ++z->nspans;
    span *r7 = S(z, id7);
    *r7 = *r3;
    r7->start = 4 * PS;
    r7->pages = 1;
    r3->pages = 1;
    z->pm[3] = 3;
    z->pm[4] = id7;
    expect_check(a, "free runs before 0x4000 and at it are not merged");
    r3->pages = 2;
    z->pm[4] = 3;
    memset(r7, 0, sizeof *r7);
    z->nspans--;
    EXPECT(ma_check(a) == MA_OK);
    uint64_t top = z->top;
    z->top = 12 * PS; /* the last zone cut off: the run at 9 ends at top */
    expect_check(a, "a free run ends at the top");
    z->top = top;
    BREAK(a, big->kind, SPAN_FREE, "free runs before 0x3000 and at it are not merged");
    EXPECT(ma_check(a) == MA_OK);
    ma_destroy(a);
}

static void test_zone_free_lists(void)
{
    scene s;
    if (!make_scene(&s))
        return;
    ma_allocator *a = s.a;
    zones *z = Z(a);
    /* The 16-byte zone's list is [16]: made cyclic. */
    EXPECT(rd(a, 16) == MA_NULL);
    wr(a, 16, 16);
    expect_check(a, "zone at 0x0: its free list holds 0x10, not one of its 1 free "
                    "handed-out blocks (or is cyclic)");
    wr(a, 16, MA_NULL);
    EXPECT(ma_check(a) == MA_OK);
    /* The 128-byte zone at 0x5000: a third block t taken, the first two
     * freed: its list is [x, y], t live, bump 3. */
    uint64_t x = s.z128[0], y = s.z128[1], t = must(a, 128);
    EXPECT(t == x + 256);
    EXPECT(ma_free(a, y) == MA_OK && ma_free(a, x) == MA_OK);
    EXPECT(rd(a, x) == y && rd(a, y) == MA_NULL && S(z, 4)->free_head == x);
    EXPECT(ma_check(a) == MA_OK);
    const struct {
        uint64_t next;
        const char *words;
    } links[] = {
        {16, "zone at 0x5000: its free list holds 0x10, not one of its 2 free"}, /* below */
        {0x5088, "its free list holds 0x5088"},  /* inside a block */
        {0x5180, "its free list holds 0x5180"},  /* never handed out */
        {0x5100, "its free list holds 0x5100"},  /* allocated (t) */
        {MA_NULL, "zone at 0x5000: 1 blocks on its free list, 2 expected"},
    };
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        wr(a, x, links[i].next);
        expect_check(a, links[i].words);
    }
    wr(a, x, y);
    EXPECT(ma_check(a) == MA_OK);
    ma_destroy(a);
}

/* ---- the page pool's treap (Z4) --------------------------------------------------- */

static void test_treap(void)
{
    scene s;
    if (!make_scene(&s))
        return;
    ma_allocator *a = s.a;
    zones *z = Z(a);
    /* Runs 3 (2 pages) and 5 (3 pages): one is the root, the other its
     * child on its side. */
    uint32_t r = z->root, c = r == 3 ? 5 : 3;
    EXPECT((r == 3 || r == 5) && (S(z, r)->a == c || S(z, r)->b == c));
    bool left = S(z, r)->a == c;
    BREAK(a, z->nruns, 1, "the free page pool's tree is out of order, holds more than its 1 runs");
    BREAK(a, z->root, z->nspans + 1, "or holds span 7, which is not a free run");
    BREAK(a, z->root, 2, "holds span 2, which is not a free run");
    /* The child on the wrong side. */
    uint32_t *from = left ? &S(z, r)->a : &S(z, r)->b, *to = left ? &S(z, r)->b : &S(z, r)->a;
    *from = 0;
    *to = c;
    expect_check(a, "the free page pool's tree is out of order");
    *to = 0;
    *from = c;
    EXPECT(ma_check(a) == MA_OK);
    /* The child made the root: its priority is below its child's. */
    z->root = c;
    *from = 0;
    if (left)
        S(z, c)->b = r;
    else
        S(z, c)->a = r;
    expect_check(a, "the free page pool's tree is out of order");
    S(z, c)->a = S(z, c)->b = 0;
    *from = c;
    z->root = r;
    EXPECT(ma_check(a) == MA_OK);
    /* The root made the child's child on the wrong side: out of order
     * (before the priorities are compared). */
    z->root = c;
    *from = 0;
    if (left)
        S(z, c)->a = r;
    else
        S(z, c)->b = r;
    expect_check(a, "the free page pool's tree is out of order");
    S(z, c)->a = S(z, c)->b = 0;
    *from = c;
    z->root = r;
    EXPECT(ma_check(a) == MA_OK);
    /* A tree that misses a run: counted as 2, or as 1. */
    *from = 0;
    expect_check(a, "2 free runs, the pool's tree holds 1 and counts 2");
    z->nruns = 1;
    expect_check(a, "2 free runs, the pool's tree holds 1 and counts 1");
    z->nruns = 2;
    *from = c;
    BREAK(a, z->nruns, 3, "2 free runs, the pool's tree holds 2 and counts 3");
    ma_destroy(a);
}

/* ---- classes and counters (Z2, Z5) ------------------------------------------------ */

static void test_classes_and_counters(void)
{
    scene s;
    if (!make_scene(&s))
        return;
    ma_allocator *a = s.a;
    zones *z = Z(a);
    zclass *c128 = &z->cls[7], *c16 = &z->cls[0];
    EXPECT(c128->size == 128 && c128->head == 4 && c128->tail == 4);
    BREAK(a, c128->zones, 2, "128-byte class: 1 zones with 126 free blocks, it counts 2 and 126");
    BREAK(a, c128->free_slots, 1, "it counts 1 and 1");
    /* An empty zone named as the kept one while none is empty. */
    BREAK(a, c128->empty, 4, "128-byte class: 0 empty zones, at most the one it keeps");
    /* The class lists: too long (cyclic), a span past the table, a LARGE
     * region, another class's zone, a back link, too short, the tail. */
    BREAK(a, S(z, 4)->b, 4, "the list of non-full 128-byte zones is broken at span 4");
    BREAK(a, c128->head, 9, "is broken at span 9");
    BREAK(a, c128->head, 2, "is broken at span 2");
    BREAK(a, c128->head, 1, "is broken at span 1");
    BREAK(a, S(z, 4)->a, 4, "is broken at span 4");
    BREAK(a, c128->head, 0, "the list of non-full 128-byte zones holds 0 of 1");
    BREAK(a, c128->tail, 0, "holds 1 of 1");
    /* Totals: allocated bytes, LARGE regions, the peak. */
    BREAK(a, z->allocated, z->allocated + 16, "LARGE regions, recount");
    BREAK(a, z->nlarge, 2, "in 2 LARGE regions, recount");
    BREAK(a, z->peak_top, z->top - PS, "top 57344, peak 53248");

    /* A full zone at the head of its class's list (the 16-byte zone
     * filled, a second one made from the pool). */
    for (int i = 0; i < 255; i++)
        must(a, 16);
    EXPECT(S(z, 1)->used == 256 && c16->head != 1 && c16->head != 0);
    uint32_t second = c16->head;
    S(z, 1)->b = second;
    S(z, second)->a = 1;
    c16->head = 1;
    expect_check(a, "the list of non-full 16-byte zones is broken at span 1");
    c16->head = second;
    S(z, second)->a = 0;
    S(z, 1)->b = 0;
    EXPECT(ma_check(a) == MA_OK);

    /* The 128-byte zone filled, one block in a second zone, then the
     * first emptied: it is the kept one. */
    for (int i = 0; i < 126; i++)
        must(a, 128);
    uint64_t extra = must(a, 128);
    uint32_t other = z->pm[extra >> 12];
    EXPECT(other != 4 && S(z, other)->kind == SPAN_ZONE && S(z, other)->used == 1);
    for (uint64_t b = 5 * PS; b < 9 * PS; b += 128)
        EXPECT(ma_free(a, b) == MA_OK);
    EXPECT(c128->empty == 4 && ma_check(a) == MA_OK);
    BREAK(a, c128->empty, 0, "128-byte class: 1 empty zones, at most the one it keeps");
    BREAK(a, c128->empty, z->nspans + 1, "1 empty zones");
    BREAK(a, c128->empty, 2, "1 empty zones");
    BREAK(a, c128->empty, 1, "1 empty zones");
    BREAK(a, c128->empty, other, "1 empty zones");
    /* The other zone made empty behind core's back, consistently: two
     * empty zones in one class. */
    span *o = S(z, other);
    uint64_t bit = extra >> 4;
    z->bits[bit >> 6] ^= UINT64_C(1) << (bit & 63);
    o->used = 0;
    o->free_head = extra;
    wr(a, extra, MA_NULL);
    c128->free_slots++;
    expect_check(a, "128-byte class: 2 empty zones, at most the one it keeps");
    c128->free_slots--;
    o->free_head = MA_NULL;
    o->used = 1;
    z->bits[bit >> 6] ^= UINT64_C(1) << (bit & 63);
    EXPECT(ma_check(a) == MA_OK);
    ma_destroy(a);
}

int main(void)
{
    test_create_refusals();
    test_class_lists();
    test_large_and_aligned();
    test_listing();
    test_forged_record();
    test_walk();
    test_spans_and_bits();
    test_zone_free_lists();
    test_treap();
    test_classes_and_counters();
    return edges_report();
}
