/*
 * debug.c -- the debugging switches that every allocator takes: registry
 * options common to all entries (so ma_create's text, the Python keywords
 * and a preload shim's options all reach them), applied here once, around
 * the allocator's operations, instead of in each allocator.
 *
 *   scribble=1     fresh blocks are filled with 0xaa over their request
 *                  (calloc's still read as zero), a block's grown part after
 *                  realloc too; a block about to be freed with 0x55 over its
 *                  usable size, so a use after free reads 0x55...  (the
 *                  allocator then keeps its free-block metadata in some of
 *                  those bytes).  A realloc that moves the block scribbles
 *                  the old one as well: its contents are saved aside, the
 *                  block filled with 0x55, the allocator asked to resize,
 *                  and the contents put back in the (new) block.
 *   check_every=N  the full ma_check (the allocator's invariants, the
 *                  record of live blocks, the canaries) before every N-th
 *                  allocation, realloc or free; a broken heap makes that
 *                  operation fail with MA_ECORRUPT and do nothing.
 *   canary=1       every block is asked of the allocator CANARY_BYTES
 *                  larger than requested, and all its bytes from the
 *                  request to its usable size hold CANARY_BYTE; free,
 *                  realloc and ma_check verify them, and a changed byte is
 *                  MA_ECORRUPT naming the block (free and realloc then do
 *                  nothing).
 *   asan=1         (builds with AddressSanitizer) every block is asked of
 *                  the allocator CANARY_BYTES larger than requested (a red
 *                  zone), and free memory of the arena and every block's
 *                  bytes past its request are poisoned, so a program's read
 *                  after free or write past the end of a block is an ASan
 *                  report (use-after-poison).
 *   valgrind=1     (builds with valgrind/memcheck.h) every block is announced
 *                  to memcheck as a heap block of its requested size
 *                  (VALGRIND_MALLOCLIKE_BLOCK / FREELIKE_BLOCK) and the
 *                  arena is otherwise no-access, so memcheck reports
 *                  invalid reads and writes, reads of uninitialised bytes
 *                  and leaks on our blocks as it does on malloc's.
 *
 * With canary, asan or valgrind the usable size the caller sees
 * (ma_usable_size, the bounds of ma_read and ma_write) is the request: the
 * bytes past it are the canary's or the tool's.  On an allocator without an
 * arena (system: the C library's malloc, which ASan and memcheck already
 * watch) asan and valgrind do nothing.  The replay engine does not go
 * through this layer: ma_replay refuses an instance with any switch on.
 *
 * The allocator's own metadata.  Allocators keep headers, footers and
 * free-list links inside the arena, between and inside the blocks, each in
 * its own places, and read and write them on every operation (a split
 * writes a header in the middle of what was free).  Rather than teach each
 * allocator where its metadata lives, every call into the allocator runs
 * between ma_debug_enter and ma_debug_leave:
 *   - asan: enter lifts all the poison ([0, poison_hi) of the arena), so the
 *     allocator and core read and write anything as without the switch;
 *     leave poisons the whole arena up to its high-water mark (the peak
 *     heap size + MA_ARENA_TAIL: above it nothing was ever handed out) and
 *     lifts it from every live block's request.  Free blocks, headers,
 *     footers, red zones and the slack past each request are all poisoned
 *     between operations, and the allocator never sees it.  The cost is
 *     writes to 1/8 of the heap's size in shadow memory and a pass over the
 *     record of live blocks per operation: a switch for tests and small
 *     programs, like check_every=1.
 *   - valgrind: enter holds back memcheck's reports on this thread
 *     (VALGRIND_DISABLE_ERROR_REPORTING), leave lets them out again, and
 *     the blocks are announced after leave and withdrawn before the free:
 *     the allocator's accesses to its metadata in no-access memory go
 *     unreported (memcheck treats what they read as defined) while the
 *     program's are reported.  A block moved by realloc is announced with
 *     its kept bytes defined.
 * The caller's callback of ma_walk runs inside that window too.
 *
 * Invariants (between operations, the lock free):
 *   - on == any switch is set; countdown in [1, check_every] when
 *     check_every > 0;
 *   - canary: every live block's bytes [request, usable size) hold
 *     CANARY_BYTE (ma_debug_check_canaries verifies it);
 *   - asan: the poisoned bytes of the arena are exactly [0, poison_hi) but
 *     the live blocks' requests; valgrind: exactly the live blocks are
 *     announced, each with its requested size, and the rest of the arena
 *     is no-access.
 */
#include "ma_internal.h"

#include <stdlib.h>
#include <string.h>

#if MA_HAVE_ASAN
#include <sanitizer/asan_interface.h>
#endif
#if MA_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#endif

#define SCRIBBLE_FRESH 0xaa
#define SCRIBBLE_FREED 0x55
#define CANARY_BYTE 0xfd
#define CANARY_BYTES UINT64_C(16)
#define CHECK_EVERY_MAX UINT64_C(4294967295)

/* The bytes asked for beyond each request: the canary's or ASan's red zone
 * (without them a block whose request fills its usable size would end right
 * at its neighbour's header, which nothing poisons). */
static uint64_t extra(const ma_debug *d)
{
    return d->canary || d->asan ? CANARY_BYTES : 0;
}

ma_status ma_debug_validate(const ma_debug_options *o)
{
    if (o->scribble > 1 || o->canary > 1 || o->asan > 1 || o->valgrind > 1)
        return ma_fail(NULL, MA_EINVAL, "scribble, canary, asan and valgrind "
                       "are booleans (0 or 1)");
    if (o->check_every > CHECK_EVERY_MAX)
        return ma_fail(NULL, MA_EINVAL, "check_every must be from 0 to %llu, "
                       "got %llu", (unsigned long long)CHECK_EVERY_MAX,
                       (unsigned long long)o->check_every);
    if (o->asan && !MA_HAVE_ASAN)
        return ma_fail(NULL, MA_EINVAL, "asan=1 needs a build with "
                       "AddressSanitizer (MEMALLOC_SANITIZE=1, or "
                       "-fsanitize=address): this one has none");
    if (o->valgrind && !MA_HAVE_VALGRIND)
        return ma_fail(NULL, MA_EINVAL, "valgrind=1 needs a build with "
                       "valgrind's header valgrind/memcheck.h (Debian package "
                       "valgrind): this one was built without it");
    return MA_OK;
}

void ma_debug_configure(ma_allocator *a, const ma_debug_options *o)
{
    ma_debug *d = &a->dbg;
    d->scribble = o->scribble;
    d->canary = o->canary;
    d->check_every = d->countdown = o->check_every;
    /* Without an arena the blocks are the C library's: the tools see them. */
    d->asan = o->asan && a->base;
    d->valgrind = o->valgrind && a->base;
    d->on = d->scribble || d->canary || d->check_every || d->asan || d->valgrind;
#if MA_HAVE_VALGRIND
    if (d->valgrind)
        VALGRIND_MAKE_MEM_NOACCESS(a->base, a->map_len);
#endif
    if (d->asan) { /* the fresh heap's free blocks */
        ma_debug_enter(a);
        ma_debug_leave(a);
    }
}

/* ---- asan: the poison of free memory ------------------------------------- */

#if MA_HAVE_ASAN
/* Poison the arena up to its high-water mark, then lift it from every live
 * block's request (core's record knows them all: the replay engine, which
 * would make blocks behind its back, refuses these instances). */
static void repoison(ma_allocator *a)
{
    ma_debug *d = &a->dbg;
    ma_stats st;
    memset(&st, 0, sizeof st);
    a->ops->stats(a, &st);
    uint64_t hi = (st.peak_heap_size < a->arena_size ? st.peak_heap_size
                                                     : a->arena_size) + MA_ARENA_TAIL;
    if (d->poison_hi > hi)
        hi = d->poison_hi;
    d->poison_hi = hi;
    ASAN_POISON_MEMORY_REGION(a->base, (size_t)hi);
    for (uint64_t i = 0; i <= a->live.mask; i++) {
        const ma_live_entry *e = &a->live.slots[i];
        if (e->addr != MA_NULL && e->requested)
            ASAN_UNPOISON_MEMORY_REGION(a->base + e->addr, (size_t)e->requested);
    }
}
#endif

void ma_debug_enter(ma_allocator *a)
{
#if MA_HAVE_VALGRIND
    if (a->dbg.valgrind)
        VALGRIND_DISABLE_ERROR_REPORTING;
#endif
#if MA_HAVE_ASAN
    if (a->dbg.asan && a->dbg.poison_hi)
        ASAN_UNPOISON_MEMORY_REGION(a->base, (size_t)a->dbg.poison_hi);
#endif
    (void)a;
}

void ma_debug_leave(ma_allocator *a)
{
#if MA_HAVE_ASAN
    if (a->dbg.asan)
        repoison(a);
#endif
#if MA_HAVE_VALGRIND
    if (a->dbg.valgrind)
        VALGRIND_ENABLE_ERROR_REPORTING;
#endif
    (void)a;
}

void ma_debug_forget_all(ma_allocator *a)
{
#if MA_HAVE_VALGRIND
    if (a->dbg.valgrind)
        for (uint64_t i = 0; i <= a->live.mask; i++)
            if (a->live.slots[i].addr != MA_NULL)
                VALGRIND_FREELIKE_BLOCK(ma_ptr(a, a->live.slots[i].addr), 0);
#endif
#if MA_HAVE_ASAN
    if (a->dbg.asan && a->dbg.poison_hi) /* before the arena is unmapped */
        ASAN_UNPOISON_MEMORY_REGION(a->base, (size_t)a->dbg.poison_hi);
#endif
}

/* ---- valgrind: announcing blocks --------------------------------------------- */

static void announce(ma_allocator *a, uint64_t addr, uint64_t size)
{
#if MA_HAVE_VALGRIND
    if (a->dbg.valgrind)
        VALGRIND_MALLOCLIKE_BLOCK(ma_ptr(a, addr), (size_t)size, 0, 0);
#endif
    (void)a, (void)addr, (void)size;
}

static void withdraw(ma_allocator *a, uint64_t addr)
{
#if MA_HAVE_VALGRIND
    if (a->dbg.valgrind)
        VALGRIND_FREELIKE_BLOCK(ma_ptr(a, addr), 0);
#endif
    (void)a, (void)addr;
}

static void announce_realloc(ma_allocator *a, uint64_t old, uint64_t old_req,
                             uint64_t now, uint64_t size)
{
#if MA_HAVE_VALGRIND
    if (!a->dbg.valgrind)
        return;
    if (now == old) {
        VALGRIND_RESIZEINPLACE_BLOCK(ma_ptr(a, old), (size_t)old_req,
                                     (size_t)size, 0);
        return;
    }
    VALGRIND_FREELIKE_BLOCK(ma_ptr(a, old), 0);
    VALGRIND_MALLOCLIKE_BLOCK(ma_ptr(a, now), (size_t)size, 0, 0);
    VALGRIND_MAKE_MEM_DEFINED(ma_ptr(a, now),
                              (size_t)(old_req < size ? old_req : size));
#endif
    (void)a, (void)old, (void)old_req, (void)now, (void)size;
}

/* ---- canaries and checks ------------------------------------------------------- */

static ma_status fill_canary(ma_allocator *a, uint64_t addr, uint64_t req)
{
    uint64_t usable = 0;
    ma_status st = a->ops->usable_size(a, addr, &usable);
    if (st == MA_OK && usable > req)
        memset(ma_ptr(a, addr) + req, CANARY_BYTE, (size_t)(usable - req));
    return st;
}

static ma_status verify_canary(ma_allocator *a, const char *op, uint64_t addr,
                               uint64_t req)
{
    uint64_t usable = 0;
    ma_status st = a->ops->usable_size(a, addr, &usable);
    if (st != MA_OK)
        return st;
    const unsigned char *p = ma_ptr(a, addr);
    for (uint64_t i = req; i < usable; i++)
        if (p[i] != CANARY_BYTE)
            return ma_fail(a, MA_ECORRUPT,
                           "%s: the canary after the block at 0x%llx (%llu "
                           "bytes requested) is overwritten at byte %llu "
                           "(0x%02x, not 0x%02x): a write past the end of "
                           "the block",
                           op, (unsigned long long)addr,
                           (unsigned long long)req, (unsigned long long)i,
                           p[i], CANARY_BYTE);
    return MA_OK;
}

ma_status ma_debug_check_canaries(ma_allocator *a)
{
    for (uint64_t i = 0; i <= a->live.mask; i++) {
        const ma_live_entry *e = &a->live.slots[i];
        if (e->addr == MA_NULL)
            continue;
        ma_status st = verify_canary(a, "check", e->addr, e->requested);
        if (st != MA_OK)
            return st;
    }
    return MA_OK;
}

/* check_every: the full check before every N-th operation. */
static ma_status tick(ma_allocator *a, const char *op)
{
    ma_debug *d = &a->dbg;
    if (!d->check_every || --d->countdown)
        return MA_OK;
    d->countdown = d->check_every;
    ma_status st = ma_core_check(a);
    if (st == MA_OK)
        return MA_OK;
    char why[MA_ERR_LEN];
    memcpy(why, a->err, sizeof why);
    return ma_fail(a, st, "check_every: %s refused, nothing done: %s", op, why);
}

ma_status ma_debug_usable(ma_allocator *a, const ma_live_entry *e,
                          uint64_t *usable)
{
    if (a->dbg.canary || a->dbg.asan || a->dbg.valgrind) {
        *usable = e->requested;
        return MA_OK;
    }
    return a->ops->usable_size(a, e->addr, usable);
}

/* ---- the operations --------------------------------------------------------------- */

ma_status ma_debug_alloc(ma_allocator *a, uint64_t alignment, uint64_t size,
                         uint64_t *addr)
{
    ma_debug *d = &a->dbg;
    ma_debug_enter(a);
    ma_status st = tick(a, "allocation");
    if (st != MA_OK)
        *addr = MA_NULL;
    else
        st = ma_core_alloc(a, alignment, size, extra(d), addr);
    if (st == MA_OK && d->scribble)
        memset(ma_ptr(a, *addr), SCRIBBLE_FRESH, (size_t)size);
    if (st == MA_OK && d->canary)
        st = fill_canary(a, *addr, size);
    ma_debug_leave(a);
    if (st == MA_OK)
        announce(a, *addr, size);
    return st;
}

ma_status ma_debug_free(ma_allocator *a, const ma_live_entry *e)
{
    uint64_t addr = e->addr, usable = 0;
    ma_debug_enter(a);
    ma_status st = tick(a, "free");
    if (st == MA_OK)
        st = a->ops->usable_size(a, addr, &usable);
    if (st == MA_OK && a->dbg.canary)
        st = verify_canary(a, "free", addr, e->requested);
    if (st == MA_OK) {
        if (a->dbg.scribble)
            memset(ma_ptr(a, addr), SCRIBBLE_FREED, (size_t)usable);
        st = ma_core_free(a, e);
    }
    ma_debug_leave(a);
    if (st == MA_OK)
        withdraw(a, addr);
    return st;
}

ma_status ma_debug_realloc(ma_allocator *a, const ma_live_entry *e,
                           uint64_t size, uint64_t *new_addr)
{
    ma_debug *d = &a->dbg;
    uint64_t addr = e->addr, old_req = e->requested, usable = 0;
    unsigned char *saved = NULL;
    ma_debug_enter(a);
    ma_status st = tick(a, "realloc");
    if (st == MA_OK)
        st = a->ops->usable_size(a, addr, &usable);
    if (st == MA_OK && d->canary)
        st = verify_canary(a, "realloc", addr, old_req);
    /* scribble: the usable bytes aside, the old block 0x55 (without memory
     * for the copy, the old block keeps them: scribbling is best effort). */
    if (st == MA_OK && d->scribble && usable && (saved = malloc((size_t)usable))) {
        memcpy(saved, ma_ptr(a, addr), (size_t)usable);
        memset(ma_ptr(a, addr), SCRIBBLE_FREED, (size_t)usable);
    }
    if (st == MA_OK) {
        st = ma_core_realloc(a, e, size, extra(d), new_addr);
        /* On failure the old block stays, with its contents and canary; a
         * moved block gets what the allocator would have copied. */
        uint64_t at = st == MA_OK ? *new_addr : addr;
        uint64_t keep = st == MA_OK && size < usable ? size : usable;
        if (saved)
            memcpy(ma_ptr(a, at), saved, (size_t)keep);
        if (st == MA_OK && d->scribble && size > old_req)
            memset(ma_ptr(a, at) + old_req, SCRIBBLE_FRESH, (size_t)(size - old_req));
        if (d->canary) {
            ma_status cs = fill_canary(a, at, st == MA_OK ? size : old_req);
            if (st == MA_OK)
                st = cs;
        }
    }
    free(saved);
    ma_debug_leave(a);
    if (st == MA_OK)
        announce_realloc(a, addr, old_req, *new_addr, size);
    return st;
}
