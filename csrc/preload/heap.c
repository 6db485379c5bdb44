/*
 * heap.c -- the preload shim's heap: the process's blocks, through the
 * allocator's operations, with the shim's record of them.  Part of the
 * process-wide shim (shim.h): everything here runs with S.lock held.
 *
 * Like the replay engine, the shim calls the allocator's operations table
 * directly and keeps the instance's counters itself (mallocs, frees,
 * reallocs, failures, requested_bytes and its peak), instead of going
 * through ma_malloc and core's hash table of live blocks: that table cost
 * a cache miss per call (a third of the time of a malloc-heavy program).
 * The instance is private to the shim and every use of it is under S.lock,
 * which stands in for the instance's own lock (taken only by the public
 * calls the shim makes at exit and around fork).
 *
 * The record.  One 32-bit word per 16 bytes of arena (MA_ALIGN: every
 * address is a multiple of it), in a mapping reserved with MAP_NORESERVE
 * and touched only where the heap is, so it costs 4 bytes per 16 bytes of
 * heap in use, at the block's own place:
 *     rec[off / 16] == 0            off is not the start of a live block
 *     rec[off / 16] == r < HUGE     a live block of r - 1 requested bytes
 *     rec[off / 16] == HUGE         a live block whose requested size is in
 *                                   the `huge` table (4 GiB - 2 and more)
 * It is what lets free, realloc and malloc_usable_size refuse any pointer
 * that is not a live block before the allocator sees it (its operations
 * take only live addresses), and what gives the live requested bytes L.
 *
 * Invariants (checked at exit by shim_check_heap):
 *   R1  the blocks the allocator walks as allocated are exactly those with
 *       a non-zero record, S.live of them;
 *   R2  the sum of their requested sizes is the instance's requested_bytes
 *       (its own check then verifies that against core's record, into
 *       which they are adopted for the check);
 *   R3  own mappings: big_mapped and big_requested are the sums over the
 *       big table.
 */
#include "shim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE UINT32_MAX

/* ---- the record --------------------------------------------------------------- */

bool shim_record_reserve(void)
{
    uint64_t len = ma_round_up(S.arena_size / MA_ALIGN * sizeof(uint32_t),
                               ma_page_size());
    S.rec = ma_map_zero(len);
    S.rec_len = len;
    return S.rec != NULL;
}

static inline uint32_t rec_word(uint64_t off) { return S.rec[off / MA_ALIGN]; }

uint64_t shim_requested(uint64_t off)
{
    uint32_t r = rec_word(off);
    if (r != HUGE)
        return r ? r - 1u : 0;
    big_entry *e = big_find(&S.huge, (uintptr_t)off + 1);
    return e ? e->requested : 0;
}

/* Room to record a block of `requested` bytes (a huge one needs a slot in
 * the huge table): asked before the operation, so that recording it cannot
 * fail afterwards. */
static inline bool rec_room(uint64_t requested)
{
    return requested < HUGE - 1u || big_reserve(&S.huge);
}

static inline void rec_set(uint64_t off, uint64_t requested)
{
    if (requested < HUGE - 1u) {
        S.rec[off / MA_ALIGN] = (uint32_t)requested + 1u;
    } else { /* keyed by off + 1: 0 marks an empty slot; room was reserved */
        big_insert(&S.huge, (uintptr_t)off + 1, requested, 0);
        S.rec[off / MA_ALIGN] = HUGE;
    }
}

static inline void rec_clear(uint64_t off)
{
    if (rec_word(off) == HUGE)
        big_remove(&S.huge, big_find(&S.huge, (uintptr_t)off + 1));
    S.rec[off / MA_ALIGN] = 0;
}

static inline void add_live(uint64_t add, uint64_t sub)
{
    ma_allocator *a = S.heap;
    a->requested_bytes = a->requested_bytes + add - sub;
    if (a->requested_bytes > a->peak_requested)
        a->peak_requested = a->requested_bytes;
}

/* ---- measures ----------------------------------------------------------------- */

/* After every operation that reached the heap, as the replay engine does
 * after every event. */
static inline void fold(void)
{
    shim_measures *m = &S.m;
    uint64_t h = *S.heap->heap_size_at + S.big_mapped;
    uint64_t l = S.heap->requested_bytes + S.big_requested;
    m->operations++;
    if (l > m->max_live) {
        m->max_live = l;
        m->heap_at_max_live = h;
        m->allocated_at_max_live = *S.heap->allocated_at + S.big_mapped;
    }
    if (h > m->max_heap) {
        m->max_heap = h;
        m->live_at_max_heap = l;
    }
    if (l) {
        m->sum_heap_over_live += (double)h / (double)l;
        m->ratio_points++;
    }
}

/* The allocator found its own metadata broken: nothing safe is left to do. */
__attribute__((noreturn)) static void corrupt(const char *op, const void *p)
{
    shim_say("memalloc: %s(%p): the %s heap is corrupt: %s; aborting", op, p,
             S.name, ma_thread_error());
    abort();
}

/* ---- own mappings ------------------------------------------------------------- */

static void *big_alloc(uint64_t align, uint64_t size, bool zero)
{
    uint64_t ps = ma_page_size();
    uint64_t len = ma_round_up(size ? size : 1, ps);
    uint64_t extra = align > ps ? align : 0;
    if (size > MA_MAX_REQUEST || align > MA_MAX_REQUEST) {
        shim_out_of_memory(size);
        return NULL;
    }
    unsigned char *m = mmap(NULL, (size_t)(len + extra), PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        if (!S.told_mapping)
            shim_say("memalloc: out of memory: the system refused a mapping of "
                     "%llu bytes for a request above MEMALLOC_MMAP_THRESHOLD",
                     (unsigned long long)(len + extra));
        S.told_mapping = true;
        return NULL;
    }
    unsigned char *p = m;
    if (extra) { /* keep exactly [p, p + len), p aligned */
        p = (unsigned char *)ma_round_up((uintptr_t)m, align);
        if (p > m)
            munmap(m, (size_t)(p - m));
        if (m + len + extra > p + len)
            munmap(p + len, (size_t)(m + len + extra - (p + len)));
    }
    if (!big_insert(&S.big, (uintptr_t)p, size, len)) {
        munmap(p, (size_t)len);
        return NULL;
    }
    S.big_mapped += len;
    S.big_requested += size;
    if (S.big_mapped > S.big_peak_mapped)
        S.big_peak_mapped = S.big_mapped;
    S.big_mallocs++;
    if (S.scribble && !zero)
        memset(p, 0xaa, (size_t)len);
    return p;
}

static void big_release(big_entry *e)
{
    munmap((void *)e->addr, (size_t)e->len);
    S.big_mapped -= e->len;
    S.big_requested -= e->requested;
    S.big_frees++;
    big_remove(&S.big, e);
}

/* ---- the heap ----------------------------------------------------------------- */

static inline bool in_arena(const void *p)
{
    return (uintptr_t)p - (uintptr_t)S.base < S.arena_size;
}

/* The offset of p if it is a live block of the arena. */
static inline bool live_offset(const void *p, uint64_t *off)
{
    *off = (uint64_t)((uintptr_t)p - (uintptr_t)S.base);
    return ((uintptr_t)p & (MA_ALIGN - 1)) == 0 && rec_word(*off) != 0;
}

static void *arena_alloc(uint64_t align, uint64_t size, bool zero)
{
    ma_allocator *a = S.heap;
    uint64_t off = MA_NULL;
    a->mallocs++;
    ma_status st = size > MA_MAX_REQUEST || align > MA_MAX_REQUEST || !rec_room(size)
                       ? MA_ENOMEM
                       : a->ops->memalign(a, align, size, &off);
    if (st != MA_OK) {
        if (st != MA_ENOMEM)
            corrupt("malloc", NULL);
        a->failures++;
        shim_out_of_memory(size);
        return NULL;
    }
    rec_set(off, size);
    S.live++;
    add_live(size, 0);
    unsigned char *p = S.base + off;
    if (zero) {
        memset(p, 0, (size_t)size);
    } else if (S.scribble) {
        uint64_t usable = size;
        a->ops->usable_size(a, off, &usable);
        memset(p, 0xaa, (size_t)usable);
    }
    return p;
}

void *shim_alloc(uint64_t align, uint64_t count, uint64_t size)
{
    bool zero = count != 0;
    uint64_t total = size;
    if (zero) {
        if (size && count > UINT64_MAX / size) { /* calloc's overflow: ENOMEM */
            S.heap->mallocs++;
            S.heap->failures++;
            fold();
            return NULL;
        }
        total = count * size;
    }
    void *p = S.threshold && total >= S.threshold ? big_alloc(align, total, zero)
                                                   : arena_alloc(align, total, zero);
    fold();
    return p;
}

void shim_release(void *p, const char *op)
{
    uint64_t off;
    if (in_arena(p)) {
        if (!live_offset(p, &off)) {
            shim_bad_pointer(op, p, "inside the heap's arena but not the start "
                             "of a live block (freed before, or inside a block)");
            return;
        }
        ma_allocator *a = S.heap;
        uint64_t requested = shim_requested(off);
        if (S.scribble) {
            uint64_t usable = 0;
            if (a->ops->usable_size(a, off, &usable) != MA_OK)
                corrupt(op, p);
            memset(p, 0x55, (size_t)usable);
        }
        if (a->ops->free(a, off) != MA_OK)
            corrupt(op, p);
        rec_clear(off);
        S.live--;
        add_live(0, requested);
        a->frees++;
        fold();
        return;
    }
    big_entry *e = big_find(&S.big, (uintptr_t)p);
    if (e) {
        big_release(e);
        fold();
    } else if (meta_is_live(p)) { /* made by libc while the heap was being made */
        S.foreign_frees++;
        meta_free(p);
    } else {
        shim_bad_pointer(op, p, meta_owns(p)
                                    ? "a block of memalloc's internal allocator "
                                      "that is not live (freed before?)"
                                    : "not a block memalloc handed out");
    }
}

bool shim_usable(void *p, uint64_t *usable)
{
    uint64_t off;
    if (in_arena(p)) {
        if (!live_offset(p, &off))
            return false;
        if (S.heap->ops->usable_size(S.heap, off, usable) != MA_OK)
            corrupt("malloc_usable_size", p);
        return true;
    }
    big_entry *e = big_find(&S.big, (uintptr_t)p);
    if (e) {
        *usable = e->len;
        return true;
    }
    if (meta_is_live(p)) {
        *usable = meta_usable(p);
        return true;
    }
    return false;
}

/* Move p's contents to a new block of n bytes and free p. */
static void *move_block(void *p, uint64_t n, int *err)
{
    uint64_t usable = 0;
    if (!shim_usable(p, &usable)) {
        shim_bad_pointer("realloc", p, in_arena(p)
                             ? "inside the heap's arena but not the start of a "
                               "live block (freed before, or inside a block)"
                             : "not a live block memalloc handed out");
        *err = EINVAL;
        return NULL;
    }
    void *q = shim_alloc(MA_ALIGN, 0, n);
    if (!q)
        return NULL;
    memcpy(q, p, (size_t)(usable < n ? usable : n));
    shim_release(p, "realloc");
    return q;
}

/* An own mapping resized in place or moved by mremap. */
static void *big_resize(big_entry *e, uint64_t n)
{
    void *p = (void *)e->addr;
    uint64_t len = ma_round_up(n, ma_page_size());
    if (len != e->len) {
        void *q = mremap(p, (size_t)e->len, (size_t)len, MREMAP_MAYMOVE);
        if (q == MAP_FAILED) {
            shim_out_of_memory(n);
            fold();
            return NULL;
        }
        if (S.scribble && len > e->len)
            memset((unsigned char *)q + e->len, 0xaa, (size_t)(len - e->len));
        big_entry was = *e;
        big_remove(&S.big, e); /* a slot freed: the insert cannot grow the table */
        big_insert(&S.big, (uintptr_t)q, was.requested, len);
        S.big_mapped = S.big_mapped - was.len + len;
        if (S.big_mapped > S.big_peak_mapped)
            S.big_peak_mapped = S.big_mapped;
        e = big_find(&S.big, (uintptr_t)q);
        p = q;
    }
    S.big_requested = S.big_requested - e->requested + n;
    e->requested = n;
    fold();
    return p;
}

void *shim_realloc(void *p, uint64_t n, int *err)
{
    bool big_now = S.threshold && n >= S.threshold;
    uint64_t off;
    *err = ENOMEM;
    if (!big_now && in_arena(p) && live_offset(p, &off)) {
        ma_allocator *a = S.heap;
        uint64_t usable, moved = MA_NULL, old = shim_requested(off);
        if (S.scribble) { /* growth beyond the block moves it, to scribble it */
            if (a->ops->usable_size(a, off, &usable) != MA_OK)
                corrupt("realloc", p);
            if (n > usable)
                return move_block(p, n, err);
        }
        a->reallocs++;
        ma_status st = n > MA_MAX_REQUEST || !rec_room(n)
                           ? MA_ENOMEM
                           : a->ops->realloc(a, off, n, &moved);
        if (st == MA_OK) {
            rec_clear(off);
            rec_set(moved, n);
            add_live(n, old);
            fold();
            return S.base + moved;
        }
        if (st != MA_ENOMEM)
            corrupt("realloc", p);
        a->failures++;
        shim_out_of_memory(n);
        fold();
        return NULL;
    }
    big_entry *e = big_find(&S.big, (uintptr_t)p);
    if (e && big_now)
        return big_resize(e, n);
    return move_block(p, n, err);
}

/* ---- at exit ------------------------------------------------------------------- */

struct adopt_ctx {
    uint64_t blocks, requested;
    uint64_t missing; /* an allocated block without a record: its offset + 1 */
};

static int adopt_block(const ma_block *b, void *ctx)
{
    struct adopt_ctx *c = ctx;
    if (!b->allocated)
        return 0;
    if (b->address % MA_ALIGN || rec_word(b->address) == 0) {
        c->missing = b->address + 1;
        return 1;
    }
    uint64_t r = shim_requested(b->address);
    c->blocks++;
    c->requested += r;
    ma_live_adopt(S.heap, b->address, r); /* room reserved before the walk */
    return 0;
}

bool shim_check_heap(char *why, size_t cap)
{
    ma_allocator *a = S.heap;
    /* Core's record of live blocks (empty: the shim keeps its own) receives
     * them, so that ma_check verifies the allocator against them. */
    if (a->live.count != 0 || ma_live_reserve(a, S.live) != MA_OK) {
        snprintf(why, cap, "no memory to check the heap");
        return false;
    }
    struct adopt_ctx c = {0, 0, 0};
    ma_status st = a->ops->walk(a, adopt_block, &c);
    if (st != MA_OK) {
        snprintf(why, cap, "%s", ma_thread_error());
        return false;
    }
    if (c.missing) {
        snprintf(why, cap, "the allocated block at offset 0x%llx is not in the "
                 "shim's record", (unsigned long long)(c.missing - 1));
        return false;
    }
    if (c.blocks != S.live || c.requested != a->requested_bytes) {
        snprintf(why, cap, "the shim's record holds %llu blocks of %llu requested "
                 "bytes, the heap %llu blocks of %llu", (unsigned long long)S.live,
                 (unsigned long long)a->requested_bytes, (unsigned long long)c.blocks,
                 (unsigned long long)c.requested);
        return false;
    }
    uint64_t mapped = 0, requested = 0;
    for (uint64_t i = 0; S.big.slots && i <= S.big.mask; i++) {
        mapped += S.big.slots[i].addr ? S.big.slots[i].len : 0;
        requested += S.big.slots[i].addr ? S.big.slots[i].requested : 0;
    }
    if (mapped != S.big_mapped || requested != S.big_requested) {
        snprintf(why, cap, "the own mappings hold %llu bytes for %llu requested, "
                 "the counters say %llu and %llu", (unsigned long long)mapped,
                 (unsigned long long)requested, (unsigned long long)S.big_mapped,
                 (unsigned long long)S.big_requested);
        return false;
    }
    if (ma_check(a) != MA_OK) {
        snprintf(why, cap, "%s", ma_thread_error());
        return false;
    }
    return true;
}
