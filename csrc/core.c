/*
 * core.c -- the allocator-independent half of every instance.
 *
 * Public entry points take the instance's lock, check their arguments,
 * keep the operation counters and the workbench's record of live
 * allocations (address -> requested size, the table in live.c), and call
 * the allocator's operations table.  See ma_internal.h for the division of
 * labour.
 *
 * Invariants kept here (verified by ma_check, after the allocator's own
 * check and the record's, ma_livetab_check):
 *   - live.count == number of allocated blocks the allocator walks, and every
 *     allocated block's address is in the record, with requested <= its
 *     usable size;
 *   - requested_bytes == the sum of the record's requested sizes;
 *   - peak_requested >= requested_bytes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* MAP_ANONYMOUS, MAP_NORESERVE, madvise */
#endif
#include "ma_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- status messages and errors ----------------------------------------- */

const char *ma_status_message(ma_status status)
{
    switch (status) {
    case MA_OK: return "success";
    case MA_ENOMEM: return "out of memory";
    case MA_EADDR: return "not the start of a live block";
    case MA_EINVAL: return "invalid argument";
    case MA_ERANGE: return "access past the end of the block";
    case MA_ECORRUPT: return "heap corruption detected";
    case MA_ESYS: return "the operating system refused a request";
    case MA_EUNSUPPORTED: return "not supported by this allocator";
    case MA_ECLOSED: return "the allocator is closed";
    case MA_EBUSY:
        return "the instance is busy in one of its own callbacks on this thread";
    }
    return "unknown status";
}

/*
 * The calling thread's most recent failure message, like errno: the one
 * piece of state outside an instance.  A per-instance message read after
 * the call has returned (and the lock been released) could already be
 * another thread's; this one cannot.  Every failing public call writes it.
 */
static _Thread_local char thread_err[MA_ERR_LEN];

ma_status ma_fail(ma_allocator *a, ma_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(thread_err, sizeof thread_err, fmt, ap);
    va_end(ap);
    if (a)
        memcpy(a->err, thread_err, sizeof a->err);
    return status;
}

const char *ma_last_error(const ma_allocator *a)
{
    return a ? a->err : "no allocator";
}

const char *ma_thread_error(void) { return thread_err; }

/* A NULL handle or out-parameter: no instance to describe it. */
static ma_status null_argument(const char *op)
{
    return ma_fail(NULL, MA_EINVAL, "%s: a required argument is NULL", op);
}

const char *ma_name(const ma_allocator *a) { return a ? a->name : ""; }
void *ma_arena_base(const ma_allocator *a) { return a ? a->base : NULL; }
uint64_t ma_arena_size(const ma_allocator *a) { return a ? a->arena_size : 0; }

/* ---- mappings -------------------------------------------------------------- */

uint64_t ma_page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (uint64_t)p : 4096u;
}

void *ma_map_zero(uint64_t len)
{
    void *p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void ma_unmap(void *p, uint64_t len)
{
    if (p)
        munmap(p, (size_t)len);
}

void ma_discard(void *p, uint64_t len)
{
    uint64_t ps = ma_page_size();
    uintptr_t lo = ma_round_up((uintptr_t)p, ps);
    uintptr_t hi = ((uintptr_t)p + len) & ~(uintptr_t)(ps - 1);
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

void ma_arena_discard(ma_allocator *a, uint64_t off, uint64_t len)
{
    ma_discard(a->base + off, len);
}

/* ---- the lock and callbacks ------------------------------------------------------ */

/*
 * A thread that calls into an instance from inside one of that instance's
 * callbacks (ma_walk's, ma_replay's progress: both run under the lock)
 * would wait for itself for ever.  While a callback runs, `callback_thread`
 * holds the running thread's token (the address of its thread_err buffer,
 * unique among live threads); ma_lock refuses a thread that finds its own
 * token there.  Only that thread can find its own token, having written it
 * itself, so no ordering is needed: a relaxed load, and on the common path
 * (no callback running) one compare with zero.  An error-checking mutex
 * would tell the same, but glibc's lock and unlock take their generic path
 * for it: 68 more instructions per malloc+free pair, against 6.
 */
static uintptr_t this_thread(void) { return (uintptr_t)thread_err; }

void ma_callback_enter(ma_allocator *a)
{
    atomic_store_explicit(&a->callback_thread, this_thread(),
                          memory_order_relaxed);
}

void ma_callback_leave(ma_allocator *a)
{
    atomic_store_explicit(&a->callback_thread, 0, memory_order_relaxed);
}

/* The calling thread runs one of a's callbacks (so it holds a's lock). */
static bool in_own_callback(const ma_allocator *a)
{
    uintptr_t t = atomic_load_explicit(&a->callback_thread, memory_order_relaxed);
    return t != 0 && t == this_thread();
}

ma_status ma_lock_slow(ma_allocator *a, const char *op)
{
    if (in_own_callback(a))
        return ma_fail(a, MA_EBUSY,
                       "%s refused: called from inside the %s allocator's own "
                       "replay-progress or walk callback, which holds the "
                       "instance (nothing changed; call it after the callback "
                       "has returned)",
                       op, a->name);
    pthread_mutex_lock(&a->lock); /* another thread's callback: wait */
    return MA_OK;
}

/* ---- fork ------------------------------------------------------------------------ */

/* ma_fork_prepare's record, read back by ma_fork_parent / ma_fork_child. */
enum { FORK_NONE = 0, FORK_LOCKED = 1, FORK_ALREADY_HELD = 2 };

ma_status ma_fork_prepare(ma_allocator *a)
{
    if (!a)
        return null_argument("ma_fork_prepare");
    if (in_own_callback(a)) {
        /* fork() from inside this instance's own callback: the calling
         * thread already holds the lock, which is all a fork needs. */
        a->fork_state = FORK_ALREADY_HELD;
        return MA_OK;
    }
    pthread_mutex_lock(&a->lock);
    a->fork_state = FORK_LOCKED;
    return MA_OK;
}

ma_status ma_fork_parent(ma_allocator *a)
{
    if (!a)
        return null_argument("ma_fork_parent");
    int state = a->fork_state;
    if (state == FORK_NONE)
        return ma_fail(NULL, MA_EINVAL, "ma_fork_parent without ma_fork_prepare");
    a->fork_state = FORK_NONE;
    if (state == FORK_LOCKED)
        pthread_mutex_unlock(&a->lock);
    return MA_OK;
}

ma_status ma_fork_child(ma_allocator *a)
{
    if (!a)
        return null_argument("ma_fork_child");
    int state = a->fork_state;
    if (state == FORK_NONE)
        return ma_fail(NULL, MA_EINVAL, "ma_fork_child without ma_fork_prepare");
    a->fork_state = FORK_NONE;
    /* The lock was copied held by the parent's forking thread, which the
     * child's one thread is not (to pthreads): a new lock, taken again when
     * the fork happened inside one of the instance's callbacks (which goes
     * on in the child and unlocks it at its end). */
    if (pthread_mutex_init(&a->lock, NULL) != 0)
        return ma_fail(NULL, MA_ESYS, "ma_fork_child: pthread_mutex_init failed");
    if (state == FORK_ALREADY_HELD)
        pthread_mutex_lock(&a->lock);
    return MA_OK;
}

/* ---- base instance ----------------------------------------------------------- */

ma_status ma_base_init(ma_allocator *a, const ma_ops *ops, uint64_t arena_size,
                       uint64_t align)
{
    uint64_t ps = ma_page_size();
    if (align < ps)
        align = ps;
    static const uint64_t none = 0;
    a->ops = ops;
    a->name = ops->name;
    a->heap_size_at = &none;
    a->allocated_at = &none;
    atomic_init(&a->callback_thread, 0);
    a->fork_state = 0;
    a->arena_size = arena_size;
    memset(&a->dbg, 0, sizeof a->dbg);
    a->err[0] = '\0';
    if (arena_size) {
        uint64_t len = arena_size + MA_ARENA_TAIL + align;
        if (len < arena_size)
            return ma_fail(NULL, MA_EINVAL, "arena_size %llu is too large",
                           (unsigned long long)arena_size);
        unsigned char *m = ma_map_zero(len);
        if (!m)
            return ma_fail(NULL, MA_ESYS, "mmap refused to reserve %llu bytes "
                           "of address space", (unsigned long long)len);
        unsigned char *base = (unsigned char *)ma_round_up((uintptr_t)m, align);
        /* Keep [base, base + arena + tail), in whole pages: give the rest
         * back. */
        uint64_t head = (uint64_t)(base - m);
        uint64_t keep = ma_round_up(arena_size + MA_ARENA_TAIL, ps);
        if (head)
            munmap(m, (size_t)head);
        if (len - head > keep)
            munmap(base + keep, (size_t)(len - head - keep));
        a->base = base;
        a->map_len = keep;
    }
    if (ma_livetab_init(&a->live) != MA_OK) {
        ma_unmap(a->base, a->map_len);
        return ma_fail(NULL, MA_ENOMEM, "no memory for the allocation record");
    }
    if (pthread_mutex_init(&a->lock, NULL) != 0) {
        free(a->live.slots);
        ma_unmap(a->base, a->map_len);
        return ma_fail(NULL, MA_ESYS, "pthread_mutex_init failed");
    }
    return MA_OK;
}

void ma_base_release(ma_allocator *a)
{
    free(a->live.slots);
    a->live.slots = NULL;
    a->live.count = 0;
    ma_unmap(a->base, a->map_len);
    a->base = NULL;
}

ma_status ma_close(ma_allocator *a)
{
    if (!a)
        return null_argument("ma_close");
    ma_status st = ma_lock(a, "close");
    if (st != MA_OK)
        return st;
    if (!a->closed) {
        if (a->dbg.on)
            ma_debug_forget_all(a);
        a->ops->release(a);
        ma_base_release(a);
        a->closed = true;
    }
    pthread_mutex_unlock(&a->lock);
    return MA_OK;
}

void ma_destroy(ma_allocator *a)
{
    if (!a || ma_close(a) == MA_EBUSY) /* inside its own callback: in use */
        return;
    pthread_mutex_destroy(&a->lock);
    free(a); /* the allocator's struct, whose first member is *a */
}

/* ---- helpers under the lock -------------------------------------------------- */

static void note_requested(ma_allocator *a, uint64_t add, uint64_t sub)
{
    a->requested_bytes = a->requested_bytes + add - sub;
    if (a->requested_bytes > a->peak_requested)
        a->peak_requested = a->requested_bytes;
}

static ma_status not_live(ma_allocator *a, const char *op, uint64_t addr)
{
    return ma_fail(a, MA_EADDR,
                   "%s(0x%llx): not the start of a live block (never "
                   "allocated, already freed, or inside a block)",
                   op, (unsigned long long)addr);
}

ma_status ma_core_alloc(ma_allocator *a, uint64_t alignment, uint64_t size,
                        uint64_t extra, uint64_t *addr)
{
    a->mallocs++;
    ma_status st;
    if (size > MA_MAX_REQUEST - extra || alignment > MA_MAX_REQUEST)
        st = ma_fail(a, MA_ENOMEM, "request of %llu bytes is too large",
                     (unsigned long long)size);
    else if (ma_livetab_reserve(&a->live, 1) != MA_OK)
        st = ma_fail(a, MA_ENOMEM, "no memory for the allocation record");
    else
        st = a->ops->memalign(a, alignment, size + extra, addr);
    if (st == MA_OK) {
        ma_livetab_put(&a->live, *addr, size);
        note_requested(a, size, 0);
    } else {
        *addr = MA_NULL;
        if (st == MA_ENOMEM)
            a->failures++;
    }
    return st;
}

ma_status ma_core_free(ma_allocator *a, const ma_live_entry *e)
{
    uint64_t requested = e->requested;
    ma_status st = a->ops->free(a, e->addr);
    if (st == MA_OK) {
        ma_livetab_remove(&a->live, e);
        note_requested(a, 0, requested);
        a->frees++;
    }
    return st;
}

/* The public operations' paths: through the debug layer when it is on. */
static ma_status do_alloc(ma_allocator *a, uint64_t alignment, uint64_t size,
                          uint64_t *addr)
{
    return a->dbg.on ? ma_debug_alloc(a, alignment, size, addr)
                     : ma_core_alloc(a, alignment, size, 0, addr);
}

static ma_status do_free(ma_allocator *a, const ma_live_entry *e)
{
    return a->dbg.on ? ma_debug_free(a, e) : ma_core_free(a, e);
}

ma_status ma_closed(const ma_allocator *a)
{
    return ma_fail(NULL, MA_ECLOSED, "operation on a closed %s allocator",
                   a->name);
}

#define UNLOCK(a) pthread_mutex_unlock(&(a)->lock)

/* Take the lock (or return MA_EBUSY from inside the instance's own
 * callback); if the instance is closed, release it and fail. */
#define LOCK_OPEN(a, op)                                                    \
    do {                                                                    \
        ma_status lock_st_ = ma_lock(a, op);                                \
        if (lock_st_ != MA_OK)                                              \
            return lock_st_;                                                \
        if ((a)->closed) {                                                  \
            UNLOCK(a);                                                      \
            return ma_closed(a);                                            \
        }                                                                   \
    } while (0)

/* ---- allocation ----------------------------------------------------------------- */

ma_status ma_malloc(ma_allocator *a, uint64_t size, uint64_t *addr)
{
    if (!a || !addr)
        return null_argument("ma_malloc");
    LOCK_OPEN(a, "malloc");
    ma_status st = do_alloc(a, MA_ALIGN, size, addr);
    UNLOCK(a);
    return st;
}

int64_t ma_malloc_r(ma_allocator *a, uint64_t size)
{
    uint64_t addr;
    ma_status st = ma_malloc(a, size, &addr);
    return st == MA_OK ? (int64_t)addr : -(int64_t)st;
}

ma_status ma_memalign(ma_allocator *a, uint64_t alignment, uint64_t size,
                      uint64_t *addr)
{
    if (!a || !addr)
        return null_argument("ma_memalign");
    *addr = MA_NULL;
    LOCK_OPEN(a, "memalign"); /* the error message is per instance: written under it */
    ma_status st = !ma_is_pow2(alignment)
                       ? ma_fail(a, MA_EINVAL, "memalign: alignment %llu is "
                                 "not a power of two",
                                 (unsigned long long)alignment)
                       : do_alloc(a, alignment < MA_ALIGN ? MA_ALIGN : alignment,
                                  size, addr);
    UNLOCK(a);
    return st;
}

ma_status ma_calloc(ma_allocator *a, uint64_t count, uint64_t size,
                    uint64_t *addr)
{
    if (!a || !addr)
        return null_argument("ma_calloc");
    ma_status st;
    LOCK_OPEN(a, "calloc");
    if (size && count > UINT64_MAX / size) {
        a->mallocs++;
        a->failures++;
        *addr = MA_NULL;
        st = ma_fail(a, MA_ENOMEM, "calloc(%llu, %llu): the size overflows",
                     (unsigned long long)count, (unsigned long long)size);
    } else {
        st = do_alloc(a, MA_ALIGN, count * size, addr);
        if (st == MA_OK)
            memset(ma_ptr(a, *addr), 0, (size_t)(count * size));
    }
    UNLOCK(a);
    return st;
}

ma_status ma_realloc(ma_allocator *a, uint64_t addr, uint64_t size,
                     uint64_t *new_addr)
{
    if (!a || !new_addr)
        return null_argument("ma_realloc");
    ma_status st;
    LOCK_OPEN(a, "realloc");
    if (addr == MA_NULL) {
        st = do_alloc(a, MA_ALIGN, size, new_addr);
        UNLOCK(a);
        return st;
    }
    const ma_live_entry *e = ma_live_find(&a->live, addr);
    *new_addr = MA_NULL;
    if (!e) {
        st = not_live(a, "realloc", addr);
    } else if (size == 0) {
        st = do_free(a, e);
    } else {
        st = a->dbg.on ? ma_debug_realloc(a, e, size, new_addr)
                       : ma_core_realloc(a, e, size, 0, new_addr);
    }
    UNLOCK(a);
    return st;
}

ma_status ma_core_realloc(ma_allocator *a, const ma_live_entry *e,
                          uint64_t size, uint64_t extra, uint64_t *new_addr)
{
    a->reallocs++;
    uint64_t addr = e->addr, old_req = e->requested;
    uint64_t moved = MA_NULL;
    ma_status st;
    if (size > MA_MAX_REQUEST - extra)
        st = ma_fail(a, MA_ENOMEM, "request of %llu bytes is too large",
                     (unsigned long long)size);
    else
        st = a->ops->realloc(a, addr, size + extra, &moved);
    if (st == MA_OK) {
        if (moved == addr) { /* in place: the record stays where it is */
            a->live.slots[e - a->live.slots].requested = size;
        } else {
            ma_livetab_remove(&a->live, e);
            ma_livetab_put(&a->live, moved, size);
        }
        note_requested(a, size, old_req);
        *new_addr = moved;
    } else if (st == MA_ENOMEM) {
        a->failures++;
    }
    return st;
}

ma_status ma_free(ma_allocator *a, uint64_t addr)
{
    if (!a)
        return null_argument("ma_free");
    if (addr == MA_NULL)
        return MA_OK;
    LOCK_OPEN(a, "free");
    const ma_live_entry *e = ma_live_find(&a->live, addr);
    ma_status st = e ? do_free(a, e) : not_live(a, "free", addr);
    UNLOCK(a);
    return st;
}

ma_status ma_usable_size(ma_allocator *a, uint64_t addr, uint64_t *size)
{
    if (!a || !size)
        return null_argument("ma_usable_size");
    LOCK_OPEN(a, "usable_size");
    const ma_live_entry *e = ma_live_find(&a->live, addr);
    ma_status st = !e ? not_live(a, "usable_size", addr)
                   : a->dbg.on ? ma_debug_usable(a, e, size)
                               : a->ops->usable_size(a, addr, size);
    UNLOCK(a);
    return st;
}

static ma_status access_block(ma_allocator *a, const char *op, uint64_t addr,
                              uint64_t offset, uint64_t n, unsigned char **p)
{
    uint64_t usable;
    const ma_live_entry *e = ma_live_find(&a->live, addr);
    if (!e)
        return not_live(a, op, addr);
    ma_status st = a->dbg.on ? ma_debug_usable(a, e, &usable)
                             : a->ops->usable_size(a, addr, &usable);
    if (st != MA_OK)
        return st;
    if (offset > usable || n > usable - offset)
        return ma_fail(a, MA_ERANGE,
                       "%s of %llu bytes at offset %llu of the block at 0x%llx "
                       "passes its usable size %llu",
                       op, (unsigned long long)n, (unsigned long long)offset,
                       (unsigned long long)addr, (unsigned long long)usable);
    *p = ma_ptr(a, addr) + offset;
    return MA_OK;
}

ma_status ma_read(ma_allocator *a, uint64_t addr, uint64_t offset, void *dst,
                  uint64_t n)
{
    if (!a || (!dst && n))
        return null_argument("ma_read");
    unsigned char *p = NULL;
    LOCK_OPEN(a, "read");
    ma_status st = access_block(a, "read", addr, offset, n, &p);
    if (st == MA_OK && n)
        memcpy(dst, p, (size_t)n);
    UNLOCK(a);
    return st;
}

ma_status ma_write(ma_allocator *a, uint64_t addr, uint64_t offset,
                   const void *src, uint64_t n)
{
    if (!a || (!src && n))
        return null_argument("ma_write");
    unsigned char *p = NULL;
    LOCK_OPEN(a, "write");
    ma_status st = access_block(a, "write", addr, offset, n, &p);
    if (st == MA_OK && n)
        memcpy(p, src, (size_t)n);
    UNLOCK(a);
    return st;
}

/* ---- inspection --------------------------------------------------------------------- */

void ma_fill_stats(ma_allocator *a, ma_stats *st)
{
    memset(st, 0, sizeof *st);
    a->ops->stats(a, st);
    st->live_blocks = a->live.count;
    st->requested_bytes = a->requested_bytes;
    st->peak_requested_bytes = a->peak_requested;
    st->mallocs = a->mallocs;
    st->frees = a->frees;
    st->reallocs = a->reallocs;
    st->failures = a->failures;
    st->arena_size = a->arena_size;
}

ma_status ma_get_stats(ma_allocator *a, ma_stats *out)
{
    if (!a || !out)
        return null_argument("ma_get_stats");
    LOCK_OPEN(a, "stats");
    ma_debug_enter(a);
    ma_fill_stats(a, out);
    ma_debug_leave(a);
    UNLOCK(a);
    return MA_OK;
}

struct walk_ctx {
    ma_allocator *a;
    ma_walk_fn fn;
    void *ctx;
};

static int walk_fill_requested(const ma_block *b, void *p)
{
    struct walk_ctx *w = p;
    ma_block copy = *b;
    if (copy.allocated) {
        const ma_live_entry *e = ma_live_find(&w->a->live, copy.address);
        copy.requested = e ? e->requested : 0;
    }
    return w->fn(&copy, w->ctx);
}

ma_status ma_walk(ma_allocator *a, ma_walk_fn fn, void *context)
{
    if (!a || !fn)
        return null_argument("ma_walk");
    struct walk_ctx w = {a, fn, context};
    LOCK_OPEN(a, "walk");
    ma_status st;
    if (a->ops->walk) {
        ma_debug_enter(a);
        ma_callback_enter(a);
        st = a->ops->walk(a, walk_fill_requested, &w);
        ma_callback_leave(a);
        ma_debug_leave(a);
    } else {
        st = ma_fail(a, MA_EUNSUPPORTED, "%s cannot walk its heap", a->name);
    }
    UNLOCK(a);
    return st;
}

struct blocks_ctx {
    ma_block *out;
    uint64_t cap, n;
};

static int blocks_collect(const ma_block *b, void *p)
{
    struct blocks_ctx *c = p;
    if (c->n < c->cap)
        c->out[c->n] = *b;
    c->n++;
    return 0;
}

ma_status ma_blocks(ma_allocator *a, ma_block *out, uint64_t capacity,
                    uint64_t *count)
{
    if (!count || (!out && capacity))
        return null_argument("ma_blocks");
    struct blocks_ctx c = {out, capacity, 0};
    ma_status st = ma_walk(a, blocks_collect, &c);
    *count = c.n;
    return st;
}

/* Cross-check of the live table against the allocator's own walk. */
struct xcheck {
    ma_allocator *a;
    uint64_t allocated, requested;
    ma_status st;
};

static int xcheck_block(const ma_block *b, void *p)
{
    struct xcheck *x = p;
    if (!b->allocated)
        return 0;
    x->allocated++;
    const ma_live_entry *e = ma_live_find(&x->a->live, b->address);
    if (!e) {
        x->st = ma_fail(x->a, MA_ECORRUPT,
                        "allocated block at 0x%llx (address 0x%llx) was "
                        "never handed out",
                        (unsigned long long)b->offset,
                        (unsigned long long)b->address);
        return 1;
    }
    /* The payload is the allocator's to define (a boundary-tag block's runs
     * 8 bytes past its end): its usable size must hold the request. */
    uint64_t usable = 0;
    ma_status st = x->a->ops->usable_size(x->a, b->address, &usable);
    if (st != MA_OK || b->address < b->offset || e->requested > usable) {
        x->st = ma_fail(x->a, MA_ECORRUPT,
                        "block at 0x%llx (%llu bytes) is smaller than the "
                        "%llu bytes requested",
                        (unsigned long long)b->offset,
                        (unsigned long long)b->size,
                        (unsigned long long)e->requested);
        return 1;
    }
    x->requested += e->requested;
    return 0;
}

static ma_status check_live_table(ma_allocator *a)
{
    const ma_livetab *t = &a->live;
    ma_status st = ma_livetab_check(a, t);
    if (st != MA_OK)
        return st;
    if (!a->ops->walk) /* nothing to compare the record with */
        return MA_OK;
    struct xcheck x = {a, 0, 0, MA_OK};
    st = a->ops->walk(a, xcheck_block, &x);
    if (st != MA_OK)
        return st;
    if (x.st != MA_OK)
        return x.st;
    if (x.allocated != t->count)
        return ma_fail(a, MA_ECORRUPT,
                       "%llu allocated blocks, but %llu live allocations",
                       (unsigned long long)x.allocated,
                       (unsigned long long)t->count);
    if (x.requested != a->requested_bytes)
        return ma_fail(a, MA_ECORRUPT,
                       "requested_bytes is %llu, the blocks hold %llu",
                       (unsigned long long)a->requested_bytes,
                       (unsigned long long)x.requested);
    if (a->peak_requested < a->requested_bytes)
        return ma_fail(a, MA_ECORRUPT, "peak_requested_bytes below current");
    return MA_OK;
}

ma_status ma_core_check(ma_allocator *a)
{
    ma_status st = a->ops->check(a);
    if (st == MA_OK)
        st = check_live_table(a);
    if (st == MA_OK && a->dbg.canary)
        st = ma_debug_check_canaries(a);
    return st;
}

ma_status ma_check(ma_allocator *a)
{
    if (!a)
        return null_argument("ma_check");
    LOCK_OPEN(a, "check");
    a->err[0] = '\0';
    ma_debug_enter(a);
    ma_status st = ma_core_check(a);
    ma_debug_leave(a);
    UNLOCK(a);
    return st;
}

ma_status ma_reset(ma_allocator *a)
{
    if (!a)
        return null_argument("ma_reset");
    LOCK_OPEN(a, "reset");
    if (a->dbg.on)
        ma_debug_forget_all(a);
    ma_debug_enter(a);
    ma_status st = a->ops->reset(a);
    if (st == MA_OK) {
        ma_livetab fresh;
        if (ma_livetab_init(&fresh) == MA_OK) {
            free(a->live.slots);
            a->live = fresh;
        } else {
            for (uint64_t i = 0; i <= a->live.mask; i++)
                a->live.slots[i].addr = MA_NULL;
            a->live.count = 0;
        }
        a->requested_bytes = a->peak_requested = 0;
        a->mallocs = a->frees = a->reallocs = a->failures = 0;
        a->dbg.countdown = a->dbg.check_every;
        a->err[0] = '\0';
    }
    ma_debug_leave(a);
    UNLOCK(a);
    return st;
}
