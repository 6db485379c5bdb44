/*
 * ma_internal.h -- what every allocator implementation shares: the base
 * instance, the operations table, the arena, and small bit helpers.
 *
 * Division of labour
 * ------------------
 * core.c owns everything that is the same for every allocator: the mutex,
 * argument checks, operation counters, and the workbench's record of live
 * allocations (`ma_livetab`: address -> requested size).  That record is
 * instrumentation, not allocator bookkeeping: a real allocator does not know
 * what was asked for, only what it handed out.  It lets every allocator
 * reject an address that is not a live block before touching its heap, and
 * it gives requested_bytes and the `requested` column of a walk.
 *
 * An allocator implements `ma_ops` and sees only valid requests: its
 * `free`, `realloc` and `usable_size` are called with live addresses (they
 * still verify their own metadata and return MA_ECORRUPT when it disagrees),
 * sizes fit in 63 bits, and alignments are powers of two >= MA_ALIGN.
 * Operations are called with the instance's lock held.
 *
 * A caller's callback (a walk's, a replay's progress) runs between
 * ma_callback_enter and ma_callback_leave, so that a call back into the
 * instance from it gets MA_EBUSY from ma_lock instead of waiting for itself.
 */
#ifndef MA_INTERNAL_H
#define MA_INTERNAL_H

#include "memalloc.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>

#define MA_ERR_LEN 256

/* Largest request any allocator considers (larger is out of memory). */
#define MA_MAX_REQUEST (UINT64_C(1) << 62)

typedef struct ma_ops {
    const char *name;
    /* size <= MA_MAX_REQUEST; alignment a power of two >= MA_ALIGN. */
    ma_status (*memalign)(ma_allocator *a, uint64_t alignment, uint64_t size,
                          uint64_t *addr);
    /* addr is live; size in (0, MA_MAX_REQUEST].  On ENOMEM leave addr as
     * it was.  May move the block (copying its usable bytes). */
    ma_status (*realloc)(ma_allocator *a, uint64_t addr, uint64_t size,
                         uint64_t *new_addr);
    ma_status (*free)(ma_allocator *a, uint64_t addr);
    ma_status (*usable_size)(ma_allocator *a, uint64_t addr, uint64_t *size);
    /* Fill the allocator's fields of *st (core fills the counters). */
    void (*stats)(ma_allocator *a, ma_stats *st);
    /* Visit every block in address order (requested is filled by core).
     * NULL when the allocator cannot (system): walk-based calls fail with
     * MA_EUNSUPPORTED. */
    ma_status (*walk)(ma_allocator *a, ma_walk_fn fn, void *ctx);
    /* Verify the allocator's own invariants; ma_fail() the first violation. */
    ma_status (*check)(ma_allocator *a);
    /* Return to the freshly created state. */
    ma_status (*reset)(ma_allocator *a);
    /* Release the allocator's own tables (core releases the arena and
     * frees the struct). */
    void (*release)(ma_allocator *a);
} ma_ops;

/* A function the compiler must inline at every call, so that each call's
 * constant arguments specialise it (the free list's searches).  The
 * coverage build (tests/coverage.sh defines MA_COVERAGE) leaves it an
 * ordinary function: inlined copies would count each constant argument's
 * dead side as a branch never taken. */
#ifdef MA_COVERAGE
#define MA_SPECIALISE static inline
#else
#define MA_SPECIALISE static inline __attribute__((always_inline))
#endif

/* Whether this build can poison for AddressSanitizer and talk to valgrind
 * (the asan and valgrind options of debug.c; 0: those options only take 0). */
#if defined(__SANITIZE_ADDRESS__)
#define MA_HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MA_HAVE_ASAN 1
#endif
#endif
#ifndef MA_HAVE_ASAN
#define MA_HAVE_ASAN 0
#endif
#if !defined(MA_NO_VALGRIND) && defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#define MA_HAVE_VALGRIND 1
#endif
#endif
#ifndef MA_HAVE_VALGRIND
#define MA_HAVE_VALGRIND 0
#endif

/* The debugging switches of an instance (debug.c; all 0 unless asked for
 * through the registry's common options). */
typedef struct ma_debug {
    bool on;               /* any of the switches below */
    bool scribble, canary, asan, valgrind;
    uint64_t check_every;  /* 0: never */
    uint64_t countdown;    /* operations until the next check */
    uint64_t poison_hi;    /* asan: [0, poison_hi) of the arena may hold poison */
} ma_debug;

/* Open-addressing table of live allocations: address -> requested size. */
typedef struct ma_live_entry {
    uint64_t addr; /* MA_NULL: empty slot */
    uint64_t requested;
} ma_live_entry;

typedef struct ma_livetab {
    ma_live_entry *slots;
    uint64_t mask;  /* capacity - 1 (capacity is a power of two) */
    uint64_t count; /* live entries */
} ma_livetab;

/* The base of every instance: each allocator's struct begins with it. */
struct ma_allocator {
    const ma_ops *ops;
    const char *name;     /* the instance's name ("best-ao"); ops->name by default */
    pthread_mutex_t lock;
    /* While a caller's callback runs under the lock: that thread's token
     * (see core.c), else 0. */
    _Atomic(uintptr_t) callback_thread;
    int fork_state;       /* what ma_fork_prepare did (core.c); under the lock */
    unsigned char *base;  /* the arena: base[0 .. arena_size + MA_ARENA_TAIL) */
    uint64_t arena_size;
    uint64_t map_len;     /* bytes mapped from base (whole pages) */
    ma_livetab live;
    bool closed;
    /* Where the allocator keeps its current heap_size and allocated_bytes:
     * the replay engine reads them after an event (no call).  Core points
     * both at a zero. */
    const uint64_t *heap_size_at;
    const uint64_t *allocated_at;
    uint64_t requested_bytes, peak_requested;
    uint64_t mallocs, frees, reallocs, failures;
    ma_debug dbg;
    char err[MA_ERR_LEN];
};

/* Record a failure description for the calling thread (ma_thread_error) and,
 * when `a` is not NULL, for the instance (ma_last_error); returns `status`
 * for tail calls. */
ma_status ma_fail(ma_allocator *a, ma_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ma_lock when a callback is running on the instance (out of line). */
ma_status ma_lock_slow(ma_allocator *a, const char *op);

/*
 * Take the instance's lock for operation `op`; MA_EBUSY (nothing taken)
 * when the calling thread is running one of the instance's callbacks.
 */
static inline ma_status ma_lock(ma_allocator *a, const char *op)
{
    if (atomic_load_explicit(&a->callback_thread, memory_order_relaxed) != 0)
        return ma_lock_slow(a, op);
    pthread_mutex_lock(&a->lock);
    return MA_OK;
}

/* Around a call of a caller's callback, with the lock held. */
void ma_callback_enter(ma_allocator *a);
void ma_callback_leave(ma_allocator *a);

/* MA_ECLOSED, with the thread's message set: for calls on a closed instance. */
ma_status ma_closed(const ma_allocator *a);

/* Release what ma_base_init set up, except the mutex. */
void ma_base_release(ma_allocator *a);

/*
 * The arena's mapping reaches MA_ARENA_TAIL bytes past arena_size: a
 * boundary-tag heap that fills the arena has its last block's payload (and
 * a free top block's footer) 8 bytes past the heap's end.
 */
#define MA_ARENA_TAIL UINT64_C(16)

/*
 * Reserve the arena (MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE) with its base
 * aligned to `align` (a power of two), and its tail (MA_ARENA_TAIL);
 * initialise the lock and the live table.  arena_size 0: no arena (addresses are pointers).  On failure
 * everything is released.
 */
ma_status ma_base_init(ma_allocator *a, const ma_ops *ops, uint64_t arena_size,
                       uint64_t align);

/* The system's page size. */
uint64_t ma_page_size(void);

/* Give the whole pages inside [off, off+len) back to the OS (they read as
 * zero afterwards). */
void ma_arena_discard(ma_allocator *a, uint64_t off, uint64_t len);

/* Reserve / release side tables outside the arena (zero-filled, lazy). */
void *ma_map_zero(uint64_t len);
void ma_unmap(void *p, uint64_t len);
/* As ma_arena_discard, for any range of a mapping from ma_map_zero. */
void ma_discard(void *p, uint64_t len);

/* The workbench record of live allocations (live.c). */
/* An empty table of the smallest capacity (MA_ENOMEM: no memory). */
ma_status ma_livetab_init(ma_livetab *t);
/* Make room for n more entries (keeps the load at most 70%). */
ma_status ma_livetab_reserve(ma_livetab *t, uint64_t n);
/* Add an entry; the caller reserved room and addr is not in the table. */
void ma_livetab_put(ma_livetab *t, uint64_t addr, uint64_t requested);
/* Remove the entry at e (found by ma_live_find). */
void ma_livetab_remove(ma_livetab *t, const ma_live_entry *e);
/* Verify the table's invariants (live.c); MA_ECORRUPT names the first
 * broken one. */
ma_status ma_livetab_check(ma_allocator *a, const ma_livetab *t);
/* Look up a live address in the workbench record. */
const ma_live_entry *ma_live_find(const ma_livetab *t, uint64_t addr);

/* Make room in the record for n more live allocations, so that the next n
 * ma_live_adopt calls cannot fail (the replay engine, before its run). */
ma_status ma_live_reserve(ma_allocator *a, uint64_t n);

/* Record a live allocation made behind core's back (the replay engine). */
ma_status ma_live_adopt(ma_allocator *a, uint64_t addr, uint64_t requested);

/*
 * Core's operations under the lock, for the debug layer to wrap: allocate
 * `size` + `extra` bytes and record `size` as requested; free the live
 * block e; resize e's block to `size` + `extra` bytes (size > 0), keeping
 * the record; the full check of ma_check.
 */
ma_status ma_core_alloc(ma_allocator *a, uint64_t alignment, uint64_t size,
                        uint64_t extra, uint64_t *addr);
ma_status ma_core_free(ma_allocator *a, const ma_live_entry *e);
ma_status ma_core_realloc(ma_allocator *a, const ma_live_entry *e,
                          uint64_t size, uint64_t extra, uint64_t *new_addr);
ma_status ma_core_check(ma_allocator *a);

/* The debugging switches (debug.c), called by core with the lock held when
 * a->dbg.on; each does the operation of its core counterpart. */
typedef struct ma_debug_options {
    uint64_t scribble, check_every, canary, asan, valgrind;
} ma_debug_options;
/* Range-check the switches (MA_EINVAL names the first bad one), then set
 * them on a new instance (the registry). */
ma_status ma_debug_validate(const ma_debug_options *o);
void ma_debug_configure(ma_allocator *a, const ma_debug_options *o);
ma_status ma_debug_alloc(ma_allocator *a, uint64_t alignment, uint64_t size,
                         uint64_t *addr);
ma_status ma_debug_free(ma_allocator *a, const ma_live_entry *e);
ma_status ma_debug_realloc(ma_allocator *a, const ma_live_entry *e,
                           uint64_t size, uint64_t *new_addr);
/* The bytes the caller may use at e (the request, with canaries or a tool). */
ma_status ma_debug_usable(ma_allocator *a, const ma_live_entry *e,
                          uint64_t *usable);
/* Every live block's canary (ma_core_check calls it). */
ma_status ma_debug_check_canaries(ma_allocator *a);
/* Around any call into the allocator: the arena's poison lifted and
 * valgrind's reports held back, then both restored from the heap's state. */
void ma_debug_enter(ma_allocator *a);
void ma_debug_leave(ma_allocator *a);
/* Before ma_reset's and ma_close's release of every block. */
void ma_debug_forget_all(ma_allocator *a);

/* Statistics of a locked instance (core's counters included). */
void ma_fill_stats(ma_allocator *a, ma_stats *st);

/* The pointer for an address (arena-less allocators hand out pointers). */
static inline unsigned char *ma_ptr(const ma_allocator *a, uint64_t addr)
{
    return (unsigned char *)((uintptr_t)a->base + (uintptr_t)addr);
}

/* ---- bit helpers ---------------------------------------------------------- */

static inline bool ma_is_pow2(uint64_t x) { return x && !(x & (x - 1)); }

/* floor(log2(x)), x > 0 */
static inline unsigned ma_log2(uint64_t x)
{
    return 63u - (unsigned)__builtin_clzll(x);
}

/* ceil(log2(x)), x > 0 (ceil_log2(1) == 0) */
static inline unsigned ma_ceil_log2(uint64_t x)
{
    return x <= 1 ? 0u : 64u - (unsigned)__builtin_clzll(x - 1);
}

/* x rounded up to a multiple of `align`, which must be a power of two
 * (page sizes, alignments, 16): a mask, no division. */
static inline uint64_t ma_round_up(uint64_t x, uint64_t align)
{
    return (x + align - 1) & ~(align - 1);
}

/* x rounded up to a multiple of any step > 0 (the free-list heap's growth
 * step, which need not be a power of two); saturates at the largest
 * multiple of step that fits in 64 bits. */
static inline uint64_t ma_round_up_step(uint64_t x, uint64_t step)
{
    uint64_t q = x / step + (x % step != 0);
    return q > UINT64_MAX / step ? UINT64_MAX / step * step : q * step;
}

#endif /* MA_INTERNAL_H */
