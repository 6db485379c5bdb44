/*
 * memalloc.h -- the public C API of memalloc_py.
 *
 * Every allocator (binary buddy, the free-list family, ...) is driven through
 * one opaque handle, `ma_allocator`, and the functions below.  An instance
 * owns one arena of reserved address space; addresses are byte offsets from
 * the start of that arena (`ma_arena_base()` turns them into pointers), so
 * the same calls give the same addresses in every run.  `MA_NULL` is "no
 * address" (offset 0 is a valid address).
 *
 * Every function returns an `ma_status`.  Nothing here aborts, exits or
 * prints.  After a failure, `ma_thread_error()` describes it in one line
 * (the calling thread's most recent failure, like errno).
 * Every instance is protected by its own mutex: any number of threads may
 * call into one instance, and any number of instances live side by side.
 *
 * Callbacks.  ma_walk and ma_replay call the caller's function with the
 * instance's mutex held.  A call on that same instance from inside such a
 * callback (on the thread running it) is refused: it returns MA_EBUSY at
 * once and changes nothing.  Calls from other threads wait until the walk
 * or replay has finished.  Other instances can be used from a callback.
 *
 * Fork.  A child process has only the thread that called fork(); a mutex
 * another thread held at that moment stays held for ever in the child.  The
 * library keeps no global state, so it cannot register fork handlers itself:
 * for every instance the child will use, call ma_fork_prepare before the
 * fork, and ma_fork_parent / ma_fork_child after it, e.g. from your own
 * pthread_atfork handlers (which take no argument, hence the global):
 *
 *     static ma_allocator *heap;
 *     static void before(void) { ma_fork_prepare(heap); }
 *     static void in_parent(void) { ma_fork_parent(heap); }
 *     static void in_child(void) { ma_fork_child(heap); }
 *     ...
 *     ma_buddy_create(1 << 20, 0, &heap);
 *     pthread_atfork(before, in_parent, in_child);
 *
 * The fork then waits for calls in progress on the instance (a replay
 * included) to finish, and the child gets it consistent and usable.  With
 * several instances, prepare them in an order that no callback of yours
 * nests (a walk callback on A that calls B holds A while waiting for B).
 */
#ifndef MEMALLOC_H
#define MEMALLOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "No address": what malloc gives when it gives nothing. */
#define MA_NULL UINT64_MAX

/* Every address handed out is a multiple of this (x86-64 max_align_t). */
#define MA_ALIGN 16u

typedef enum ma_status {
    MA_OK = 0,
    MA_ENOMEM = 1,      /* out of memory: nothing changed, failures + 1 */
    MA_EADDR = 2,       /* not the start of a live block: nothing changed */
    MA_EINVAL = 3,      /* a bad argument (option, alignment): nothing changed */
    MA_ERANGE = 4,      /* read/write past the block's usable size */
    MA_ECORRUPT = 5,    /* a heap invariant is broken (see ma_last_error) */
    MA_ESYS = 6,        /* the operating system refused (mmap, mutex) */
    MA_EUNSUPPORTED = 7, /* this allocator cannot do that */
    MA_ECLOSED = 8,      /* the instance was closed */
    MA_EBUSY = 9         /* called from inside the instance's own walk or
                            replay-progress callback: refused, nothing changed */
} ma_status;

/* A fixed, human-readable sentence for each status. */
const char *ma_status_message(ma_status status);

typedef struct ma_allocator ma_allocator;

/* Statistics: docs/measures.md defines each field. */
typedef struct ma_stats {
    uint64_t live_blocks;          /* allocations not yet freed */
    uint64_t requested_bytes;      /* bytes asked for by live allocations */
    uint64_t allocated_bytes;      /* bytes the live blocks occupy */
    uint64_t free_bytes;           /* bytes in free blocks inside the heap */
    uint64_t free_blocks;          /* number of free blocks inside the heap */
    uint64_t largest_free;         /* size of the largest free block */
    uint64_t heap_size;            /* end of the part of the arena in use */
    uint64_t peak_heap_size;       /* maximum heap_size over the life */
    uint64_t peak_requested_bytes; /* maximum requested_bytes over the life */
    uint64_t metadata_bytes;       /* bookkeeping kept outside the blocks */
    uint64_t mallocs;              /* malloc, calloc, memalign, realloc(NULL) */
    uint64_t frees;                /* free of a live block, realloc(p, 0) */
    uint64_t reallocs;             /* realloc of a live block to a size > 0 */
    uint64_t failures;             /* operations that ran out of memory */
    uint64_t arena_size;           /* bytes of address space reserved */
} ma_stats;

/* One block as `ma_walk` and `ma_blocks` report it. */
typedef struct ma_block {
    uint64_t offset;    /* where the block starts (header included) */
    uint64_t size;      /* bytes the block occupies, header included */
    uint64_t address;   /* what malloc returned, MA_NULL when free */
    uint64_t requested; /* bytes asked for, 0 when free */
    int allocated;      /* 1 allocated, 0 free */
} ma_block;

/* Walk callback: return non-zero to stop the walk early. */
typedef int (*ma_walk_fn)(const ma_block *block, void *context);

/* ---- Creating allocators ------------------------------------------------ */

/*
 * The create functions check every parameter: a value out of its range is
 * MA_EINVAL, and ma_thread_error() names the parameter, the value and the
 * allowed range.  No parameter takes 0 to mean "the default".
 */

/*
 * Binary buddy.  arena_size: a power of two from 1 KiB to 1 TiB;
 * min_block: a power of two from 16 to arena_size.
 */
ma_status ma_buddy_create(uint64_t arena_size, uint64_t min_block,
                          ma_allocator **out);

/* Placement policies and free-list orders of the free-list family. */
enum { MA_FIT_BEST = 0, MA_FIT_FIRST = 1, MA_FIT_NEXT = 2, MA_FIT_WORST = 3 };
enum { MA_ORDER_ADDRESS = 0, MA_ORDER_LIFO = 1, MA_ORDER_FIFO = 2 };

/* The free list's options: start from ma_freelist_config_default() (the
 * defaults below, which the Python FreeList shares) and change fields. */
typedef struct ma_freelist_config {
    uint64_t arena_size;  /* address space reserved: a multiple of 16 from
                             4 KiB to 32 GiB (default 1 GiB) */
    int fit;              /* MA_FIT_* (default MA_FIT_BEST) */
    int order;            /* MA_ORDER_* (default MA_ORDER_ADDRESS) */
    uint64_t growth;      /* heap growth step: a multiple of 16 from 16 to
                             arena_size, not necessarily a power of two
                             (default 4096) */
    uint64_t prealloc;    /* heap bytes taken at creation: 0, or a multiple
                             of 16 from min_block to arena_size (default 0) */
    uint64_t min_block;   /* smallest block: a multiple of 16 from 32 to
                             arena_size (default 32) */
    int trim;             /* 1: give the heap's free top back; 0: keep it
                             (default 0) */
    uint64_t stamp_limit; /* tests only: renumber or compact stamps from this
                             many on, 1 to 2^32 - 2^20 - 1; 0: the built-in
                             limits (default 0) */
} ma_freelist_config;

/* A config holding every default. */
ma_freelist_config ma_freelist_config_default(void);

/*
 * The free-list family: boundary tags, immediate coalescing, a heap that
 * grows like the program break, and a search in O(log n) for every policy,
 * each through its own index: best and worst fit keep exact-size bins found
 * through a bitmap (linked lists in LIFO/FIFO order, pairing heaps by
 * address in address order) and a treap for blocks of 16 KiB and more;
 * first and next fit a 16-ary tree of size bounds over the blocks'
 * positions in the free-list order.  An address is its block's offset + 16,
 * never 0, so memalign can meet alignments up to arena_size / 2 (on a fresh
 * heap, when the heap can grow by the block + the alignment + min_block);
 * arena_size and more are MA_ENOMEM.
 * The instance is named "<fit>-<ao|lifo|fifo>".
 */
ma_status ma_freelist_create(const ma_freelist_config *config,
                             ma_allocator **out);

/* Size classes of the zones allocator. */
enum { MA_ZONES_FINE = 0, MA_ZONES_POW2 = 1 };

/*
 * Segregated TINY / SMALL / LARGE zones (the 42 school's malloc).  A request
 * of n bytes is TINY when n <= tiny_max, SMALL when n <= small_max, else
 * LARGE.  TINY and SMALL requests take a header-less block of the smallest
 * size class that holds them, from a zone of whole pages holding at least
 * 100 blocks of that class; a LARGE request takes whole pages of its own.
 * classes: MA_ZONES_FINE (every multiple of 16 up to tiny_max, then four
 * classes per doubling up to small_max) or MA_ZONES_POW2 (powers of two
 * from 16; tiny_max and small_max must be powers of two).
 * arena_size: a multiple of the page size from 1 MiB to 64 GiB that holds
 * the largest zone; tiny_max: a multiple of 16 from 16 to 1024; small_max:
 * a multiple of 16 from 256 to 65536, above tiny_max.  An empty zone is
 * kept when its class has no other empty zone, else its pages go back to
 * the free page pool at once.  The instance is named "zones".
 */
ma_status ma_zones_create(uint64_t arena_size, uint64_t tiny_max,
                          uint64_t small_max, int classes, ma_allocator **out);

/* What a zone listing entry is. */
enum { MA_ZONE_TINY = 0, MA_ZONE_SMALL = 1, MA_ZONE_LARGE = 2, MA_ZONE_POOL = 3 };

/* One zone, LARGE region or run of the free page pool, as ma_zones_list
 * reports it. */
typedef struct ma_zone_info {
    uint64_t offset;     /* its first byte (a page boundary) */
    uint64_t size;       /* bytes: whole pages */
    uint64_t block_size; /* a zone's class; otherwise size */
    uint64_t blocks;     /* blocks it holds (1 for a region or a run) */
    uint64_t live;       /* of which allocated */
    int kind;            /* MA_ZONE_* */
} ma_zone_info;

/*
 * Copy up to `capacity` entries, in address order, of every zone, LARGE
 * region and free run below the heap size of a zones allocator into `out`;
 * *count receives the total.  MA_EINVAL for another allocator.
 */
ma_status ma_zones_list(ma_allocator *a, ma_zone_info *out, uint64_t capacity,
                        uint64_t *count);

/* The block sizes of a zones allocator's classes, smallest first (up to
 * `capacity`); *count receives their number. */
ma_status ma_zones_classes(ma_allocator *a, uint64_t *sizes, uint64_t capacity,
                           uint64_t *count);
/* TLSF's options: start from ma_tlsf_config_default() (the defaults below)
 * and change fields. */
typedef struct ma_tlsf_config {
    uint64_t arena_size; /* address space reserved: a multiple of 16 from
                            4 KiB to 32 GiB (default 1 GiB) */
    uint64_t growth;     /* heap growth step: a multiple of 16 from 16 to
                            arena_size (default 4096) */
    uint64_t prealloc;   /* heap bytes taken at creation: 0, or a multiple of
                            16 from 32 to arena_size (default 0) */
    int trim;            /* 1: give the heap's free top back; 0: keep it
                            (default 0) */
    uint64_t sl_bits;    /* 2^sl_bits second-level classes per power of two,
                            1 to 6 (default 5) */
} ma_tlsf_config;

/* A config holding every default. */
ma_tlsf_config ma_tlsf_config_default(void);

/*
 * TLSF, two-level segregated fit (Masmano et al.): size classes by power of
 * two, each split into 2^sl_bits, found through two levels of bitmaps; a
 * request takes the head of the first non-empty class at or above its size
 * rounded up to a class (every block there fits), in O(1).  Boundary tags
 * of 8 bytes as in glibc: an address is its block's offset + 16 and
 * usable_size is the block's size - 8; a request of n bytes takes a block of
 * max(32, round_up(n + 8, 16)).  Coalescing is immediate; the heap grows
 * like the free list's.  memalign meets alignments up to arena_size / 2 as
 * the free list does.  csrc/tlsf.c documents the mapping and invariants.
 */
ma_status ma_tlsf_create(const ma_tlsf_config *config, ma_allocator **out);

/*
 * TLSF's mapping, for tests: the class (*fl, *sl) of a block of `size`
 * bytes (a multiple of 16 from 32 to 32 GiB) under sl_bits (1 to 6).
 * search 0: the class a free block of that size is listed in; search 1:
 * the class a search for a block of that size starts from (the size rounded
 * up to a class).  MA_EINVAL for a value out of range.
 */
ma_status ma_tlsf_mapping(unsigned sl_bits, uint64_t size, int search,
                          unsigned *fl, unsigned *sl);

/*
 * The C library's malloc behind the same interface (the speed baseline).
 * Addresses are real pointers; walk, blocks and dump are MA_EUNSUPPORTED.
 */
ma_status ma_system_create(ma_allocator **out);

/* ---- The registry: every allocator by name ------------------------------- */

/*
 * Create the allocator registered as `name` (or one of its aliases) with
 * `options`, a text such as "arena_size=1G,growth=8192,trim=1": key=value
 * pairs separated by single commas, no spaces.  Sizes take an optional K, M,
 * G or T suffix (powers of 1024), integers are decimal, booleans 0 or 1.
 * NULL or "" means every default.  An unknown name or option, a malformed
 * value (not a number, a bad suffix, above 2^64 - 1), an option given twice,
 * an empty key or a stray comma is MA_EINVAL; so is a value out of range
 * (the typed create function's own check).  ma_thread_error() names them.
 */
ma_status ma_create(const char *name, const char *options, ma_allocator **out);

/* What an option holds. */
typedef enum ma_option_type {
    MA_OPT_SIZE = 0,    /* bytes, with an optional K/M/G/T suffix */
    MA_OPT_INTEGER = 1, /* a decimal count */
    MA_OPT_BOOLEAN = 2, /* 0 or 1 */
    MA_OPT_CHOICE = 3   /* one word of a list (`choices`); its value is the
                           word's position in the list */
} ma_option_type;

/* One allocator of the registry. */
typedef struct ma_registry_info {
    const char *name;        /* "best-ao" */
    const char *aliases;     /* comma-separated other names ("best"), or "" */
    const char *family;      /* "buddy", "free-list", "zones", "tlsf", "system":
                                code behind it */
    const char *description; /* one line */
    size_t n_options;        /* hidden options included */
} ma_registry_info;

/* One option of a registered allocator. */
typedef struct ma_option_info {
    const char *name;        /* "arena_size" */
    ma_option_type type;
    const char *default_text; /* the default as options take it ("1G") */
    uint64_t default_value;  /* the same as a number */
    uint64_t min, max;       /* the widest range the create function takes;
                                its own rule may be narrower (a power of two,
                                at most arena_size) */
    const char *description; /* one line: the rule in words */
    int hidden;              /* 1: for tests only, not listed to users */
    const char *choices;     /* MA_OPT_CHOICE: its words, comma-separated,
                                in the order of their values; else "" */
    int debug;               /* 1: a debugging switch that every allocator
                                takes (scribble, check_every, canary, asan,
                                valgrind: docs/api.md), numbered after the
                                allocator's own options */
} ma_option_info;

/* The number of registered allocators (aliases not counted). */
size_t ma_registry_count(void);

/* Allocator number i, 0 <= i < ma_registry_count(); MA_EINVAL past the end. */
ma_status ma_registry_entry(size_t i, ma_registry_info *out);

/* Option j of allocator i; MA_EINVAL past the end. */
ma_status ma_registry_option(size_t i, size_t j, ma_option_info *out);

/*
 * Parse `options` for allocator `name` as ma_create does, without creating:
 * values[j] receives option j's value (its default when not given), for
 * j < capacity; *index receives the allocator's number.  The values are not
 * range-checked (the create function does that).
 */
ma_status ma_registry_parse(const char *name, const char *options,
                            size_t *index, uint64_t *values, size_t capacity);

/*
 * Release the arena and the allocator's tables.  Afterwards every call on
 * the instance fails with MA_ECLOSED (safe even from other threads) until
 * ma_destroy frees the handle itself.  Closing twice is fine.
 */
ma_status ma_close(ma_allocator *a);

/* ma_close, then free the handle.  NULL is fine.  From inside one of the
 * instance's own callbacks it does nothing (the instance is in use). */
void ma_destroy(ma_allocator *a);

/* ---- Allocation ---------------------------------------------------------- */

/* *addr receives the block's address, or MA_NULL with MA_ENOMEM. */
ma_status ma_malloc(ma_allocator *a, uint64_t size, uint64_t *addr);

/* count * size zeroed bytes; an overflowing product is out of memory. */
ma_status ma_calloc(ma_allocator *a, uint64_t count, uint64_t size,
                    uint64_t *addr);

/*
 * Resize the block at addr.  addr == MA_NULL: malloc(size).  size == 0:
 * free(addr), *new_addr = MA_NULL.  Out of memory: *new_addr = MA_NULL, the
 * old block stays allocated with its contents.  Contents up to the smaller
 * of the old and new sizes survive.
 */
ma_status ma_realloc(ma_allocator *a, uint64_t addr, uint64_t size,
                     uint64_t *new_addr);

/* alignment: any power of two (values below MA_ALIGN mean MA_ALIGN); one
 * that no free or new block can meet is MA_ENOMEM (buddy: up to the arena
 * size; the free list: up to arena_size / 2, see ma_freelist_create). */
ma_status ma_memalign(ma_allocator *a, uint64_t alignment, uint64_t size,
                      uint64_t *addr);

/*
 * For language bindings, where an out-parameter costs an allocation: the
 * address (always below 2^62), or the negated status (-MA_ENOMEM, ...).
 */
int64_t ma_malloc_r(ma_allocator *a, uint64_t size);

/* addr == MA_NULL does nothing. */
ma_status ma_free(ma_allocator *a, uint64_t addr);

/* Bytes usable from addr on (at least what was requested). */
ma_status ma_usable_size(ma_allocator *a, uint64_t addr, uint64_t *size);

/* Bounds-checked copies out of and into a live block, at byte `offset`. */
ma_status ma_read(ma_allocator *a, uint64_t addr, uint64_t offset, void *dst,
                  uint64_t n);
ma_status ma_write(ma_allocator *a, uint64_t addr, uint64_t offset,
                   const void *src, uint64_t n);

/* ---- Inspection ---------------------------------------------------------- */

ma_status ma_get_stats(ma_allocator *a, ma_stats *out);

/* Visit every block, free and allocated, in address order. */
ma_status ma_walk(ma_allocator *a, ma_walk_fn fn, void *context);

/*
 * Copy up to `capacity` blocks into `out` in address order; *count receives
 * the total number of blocks (call again with more room if it is larger).
 */
ma_status ma_blocks(ma_allocator *a, ma_block *out, uint64_t capacity,
                    uint64_t *count);

/*
 * Verify every invariant of the heap (and the statistics against a recount).
 * MA_ECORRUPT with the first violation in ma_last_error().  Works with NDEBUG.
 */
ma_status ma_check(ma_allocator *a);

/* Free everything: the instance is as new (statistics included). */
ma_status ma_reset(ma_allocator *a);

/*
 * The description of the calling thread's most recent failure ("" if none):
 * every call that returns a status other than MA_OK sets it (MA_ENOMEM from
 * an allocation may leave a generic text).  Read it right after the failing
 * call, in the same thread; other threads' failures never change it.
 */
const char *ma_thread_error(void);

/*
 * The description of the most recent failure on this instance ("" if none).
 * Under concurrent use it may be another thread's: prefer ma_thread_error.
 */
const char *ma_last_error(const ma_allocator *a);

/* The allocator's registered name ("buddy", "best-ao", ...). */
const char *ma_name(const ma_allocator *a);

/* Where the arena starts in this process, and how large it is. */
void *ma_arena_base(const ma_allocator *a);
uint64_t ma_arena_size(const ma_allocator *a);

/* ---- Fork (see the top of this file) ------------------------------------- */

/*
 * Take the instance's lock, waiting for calls in progress in other threads.
 * Called from inside one of the instance's own callbacks, where this thread
 * holds it already, it notes so and returns MA_OK.  Works on a closed
 * instance too (until ma_destroy).  Follow it with exactly one of:
 */
ma_status ma_fork_prepare(ma_allocator *a);

/* In the parent after fork(): release what ma_fork_prepare took. */
ma_status ma_fork_parent(ma_allocator *a);

/*
 * In the child after fork(): a fresh lock (the thread that held the old one
 * does not exist here), held again if the fork happened inside one of the
 * instance's own callbacks.  The instance is then usable in the child.
 * Either function without ma_fork_prepare first: MA_EINVAL, nothing done.
 */
ma_status ma_fork_child(ma_allocator *a);

/* ---- Replay ---------------------------------------------------------------- */

/* Event kinds of a trace. */
enum {
    MA_EV_MALLOC = 0,   /* id size */
    MA_EV_CALLOC = 1,   /* id arg=count size */
    MA_EV_REALLOC = 2,  /* id size (the id keeps naming the moved block) */
    MA_EV_MEMALIGN = 3, /* id arg=alignment size */
    MA_EV_FREE = 4      /* id */
};

/*
 * A trace as parallel arrays (numpy columns on the Python side).  Ids are
 * dense, 0 <= id < n_ids.  An allocation (malloc, calloc, memalign) must
 * not name an id that the replay's earlier events left live: an id is live
 * from its allocation (or a realloc while it is not live) to its free or a
 * realloc to size 0, whether or not the allocation succeeded.  An id whose
 * allocation failed holds no block: a free or a realloc to 0 of it ends it
 * and does nothing else, a realloc to a size > 0 is realloc(NULL).
 */
typedef struct ma_trace_view {
    uint64_t n_events;
    const uint8_t *op;
    const uint32_t *id;
    const uint64_t *size;
    const uint64_t *arg;
    uint64_t n_ids;
} ma_trace_view;

/* Called every progress_every events; return non-zero to stop the replay. */
typedef int (*ma_progress_fn)(uint64_t events_done, void *context);

typedef struct ma_replay_config {
    uint64_t sample_every;   /* record statistics every k events (0: never) */
    uint64_t size_scale;     /* multiply every size by this (0 or 1: as is) */
    uint64_t progress_every; /* 0: no progress calls */
    ma_progress_fn progress;
    void *progress_context;
} ma_replay_config;

/* Statistics after event number `event` (0-based). */
typedef struct ma_sample {
    uint64_t event;
    ma_stats stats;
} ma_sample;

/*
 * What a replay measured.  The Johnstone-Wilson measures follow from it,
 * with H the heap size, L the live requested bytes and A the bytes the live
 * blocks occupy (allocated_bytes) after every event:
 *   #1 sum_heap_over_live / ratio_points - 1   (mean H/L where L > 0)
 *   #2 heap_at_max_live / max_live - 1
 *   #3 max_heap / live_at_max_heap - 1
 *   #4 max_heap / max_live - 1
 * and internal fragmentation, at the first event where L is at its peak,
 *      1 - max_live / allocated_at_max_live    (none when L is never > 0).
 */
typedef struct ma_replay_result {
    uint64_t events;      /* events replayed (fewer when stopped early) */
    uint64_t failures;    /* out-of-memory results */
    uint64_t samples;     /* samples written */
    uint64_t nanoseconds; /* wall time of the event loop (the checks before
                             the first event are not timed) */
    uint64_t max_heap, max_live;
    uint64_t heap_at_max_live, live_at_max_heap;
    uint64_t allocated_at_max_live; /* A when L first reached max_live */
    double sum_heap_over_live;
    uint64_t ratio_points;
    int stopped; /* the progress callback asked to stop */
} ma_replay_result;

/*
 * Replay a trace through an allocator in one call, under its lock.  Samples
 * go to samples[0 .. capacity) (one every sample_every events, plus the
 * final state).  Allocations still live at the end stay allocated and are
 * known to the instance as if made one by one.  The whole trace is checked
 * before the first event: MA_EINVAL for a malformed one (an id not below
 * n_ids, an unknown kind, a memalign alignment that is not a power of two,
 * an allocation on a live id; the message names the event), and MA_ENOMEM
 * when there is no memory for the engine's tables, both with the instance
 * unchanged.
 */
ma_status ma_replay(ma_allocator *a, const ma_trace_view *trace,
                    const ma_replay_config *config, ma_sample *samples,
                    uint64_t capacity, ma_replay_result *result);

/* The same events with no measurement at all: the allocator's bare cost
 * (checked first in the same way). */
ma_status ma_replay_bare(ma_allocator *a, const ma_trace_view *trace,
                         uint64_t size_scale, ma_replay_result *result);

/* The same events straight through malloc/free/... of the C library, with
 * no interface in between (everything is freed afterwards, untimed). */
ma_status ma_replay_libc(const ma_trace_view *trace, uint64_t size_scale,
                         ma_replay_result *result);

#ifdef __cplusplus
}
#endif

#endif /* MEMALLOC_H */
