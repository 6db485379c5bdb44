/*
 * shim.h -- what the parts of the preload shim share (libmemalloc_preload.so:
 * shim.c, meta.c, report.c).  Not part of the public API and not compiled
 * into the Python extension (which compiles the .c files of csrc/ only).
 *
 * The shim is the one place in the project with process-wide state: a
 * program has one malloc, so the shim keeps one allocator instance, one
 * lock and one set of measurements for the whole process, in `shim_state`
 * below (defined in shim.c).  Everything else in csrc/ stays free of global
 * mutable state.
 *
 * Locking.  `S.lock` serialises every call into the shim: the heap instance,
 * the own-mapping table, the internal allocator (meta.c) and the
 * measurements are touched only with it held.  While a thread holds it,
 * that thread's `shim_inside` flag is set, and any malloc-family call the
 * thread makes (the library's own side tables in core.c, libc internals
 * such as pthread_atfork's records or qsort's buffer) is served by the
 * internal allocator without taking the lock again.
 */
#ifndef MA_SHIM_H
#define MA_SHIM_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "../ma_internal.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHIM_EXPORT __attribute__((visibility("default")))

/* Exit status when the shim itself fails (cannot start, check at exit). */
#define SHIM_EXIT_STATUS 125

/* One block with its own mapping (requests at or above the threshold). */
typedef struct big_entry {
    uintptr_t addr;     /* the block's address = the mapping's start; 0: empty */
    uint64_t requested; /* bytes asked for */
    uint64_t len;       /* bytes mapped (whole pages) */
} big_entry;

/* Open-addressing table of the own mappings, keyed by address. */
typedef struct big_table {
    big_entry *slots; /* in internal memory (meta.c) */
    uint64_t mask;    /* capacity - 1; capacity 0 before the first insert */
    uint64_t count;
} big_table;

/* The Johnstone-Wilson accumulators, as the replay engine keeps them:
 * H = heap size (arena heap + own mappings), L = live requested bytes,
 * A = bytes the live blocks occupy, folded after every operation. */
typedef struct shim_measures {
    uint64_t max_heap, max_live, heap_at_max_live, live_at_max_heap;
    uint64_t allocated_at_max_live;
    double sum_heap_over_live;
    uint64_t ratio_points; /* operations after which L > 0 */
    uint64_t operations;   /* operations folded in */
} shim_measures;

typedef struct shim_state {
    pthread_mutex_t lock;
    int ready;            /* 1 once the heap exists */
    ma_allocator *heap;
    unsigned char *base;  /* the heap's arena */
    uint64_t arena_size;
    uint64_t threshold;   /* own mapping from this many bytes on; 0: never */
    bool stats, leaks, abort_on_error, scribble, check_at_exit;
    uint64_t leaks_max;   /* blocks listed by --leaks; 0: all */
    char name[64];        /* the allocator's name as given */
    char options[512];    /* the options text given to ma_create */
    char report[1024];    /* MEMALLOC_REPORT: a file for the reports, "" = stderr */
    int stderr_copy;      /* a copy of fd 2 made at start-up, or -1 */
    uint32_t *rec;        /* the record of live blocks (heap.c) */
    uint64_t rec_len;
    uint64_t live;        /* live blocks in the arena */
    big_table huge;       /* requested sizes of 4 GiB - 2 and more, by offset + 1 */
    big_table big;
    uint64_t big_mapped, big_requested, big_peak_mapped;
    uint64_t big_mallocs, big_frees;
    uint64_t bad_pointers;  /* free/realloc/usable_size of a pointer not ours */
    uint64_t foreign_frees; /* frees of start-up blocks of the internal allocator */
    bool told_full, told_too_large, told_mapping;
    shim_measures m;
} shim_state;

extern shim_state S;

/* ---- meta.c: the internal allocator (callers hold S.lock) ---------------- */

/* n bytes aligned to `align` (a power of two); NULL when the region is full. */
void *meta_alloc(size_t align, size_t n);
/* p was returned by meta_alloc and not freed since. */
bool meta_is_live(const void *p);
/* p lies in the internal allocator's region. */
bool meta_owns(const void *p);
void meta_free(void *p);
size_t meta_usable(const void *p);
/* Bytes of the region handed out (blocks, free or not, headers included). */
uint64_t meta_footprint(void);

/* ---- meta.c: the own-mapping table (callers hold S.lock) ----------------- */

big_entry *big_find(big_table *t, uintptr_t addr);
/* Room for one more entry; false when there is no internal memory. */
bool big_reserve(big_table *t);
/* false when there is no internal memory for the table. */
bool big_insert(big_table *t, uintptr_t addr, uint64_t requested, uint64_t len);
void big_remove(big_table *t, big_entry *e);

/* ---- heap.c: the heap (callers hold S.lock) ------------------------------ */

/* Map the record for S.arena_size; false when mmap refuses. */
bool shim_record_reserve(void);
/* count * size bytes (count 0: not calloc, size bytes), aligned. */
void *shim_alloc(uint64_t align, uint64_t count, uint64_t size);
/* Free p (not NULL): a live block, an own mapping, a start-up block of the
 * internal allocator, or a bad pointer (reported); op names the caller. */
void shim_release(void *p, const char *op);
/* Resize p (not NULL) to n > 0 bytes; NULL with *err (ENOMEM or EINVAL). */
void *shim_realloc(void *p, uint64_t n, int *err);
/* The usable size of p, or false when p is not a live block of ours. */
bool shim_usable(void *p, uint64_t *usable);
/* The requested size recorded for the live block at arena offset off. */
uint64_t shim_requested(uint64_t off);
/* Every invariant of the heap and of the shim's record; false with the
 * first violation in why.  Once, at exit (it fills core's record). */
bool shim_check_heap(char *why, size_t cap);

/* ---- shim.c: messages (callers hold S.lock) ------------------------------- */

/* A pointer that is not a live block of ours (aborts with
 * MEMALLOC_ABORT_ON_ERROR). */
void shim_bad_pointer(const char *op, const void *p, const char *why);
/* An allocation of `size` bytes failed: the first time, say why. */
void shim_out_of_memory(uint64_t size);
/* n as the options text writes sizes: 32G, 4K, 1000. */
const char *shim_size_text(char *buf, size_t cap, uint64_t n);

/* ---- report.c: at exit (callers hold S.lock) ----------------------------- */

/* The reports that MEMALLOC_STATS / _LEAKS / _CHECK_AT_EXIT ask for.
 * Returns false when the heap check failed (the process must fail). */
bool shim_report_at_exit(void);

/* Write a line (a newline is added) to the report file or stderr. */
void shim_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* n with thousands separators into buf (at least 32 bytes). */
const char *shim_count(char *buf, uint64_t n);

#endif /* MA_SHIM_H */
