/*
 * system.c -- the C library's malloc behind the common interface: the
 * speed baseline that every benchmark runs beside the workbench's own
 * allocators.
 *
 * There is no arena: addresses are the pointers malloc returned (the base is
 * NULL), so they differ from run to run.  libc's heap cannot be walked or
 * checked from outside, so walk-based calls fail with MA_EUNSUPPORTED; core's
 * record of live allocations still rejects every bad address before libc
 * sees it, so a wrong free is an error here too, never a crash.
 *
 * Invariant: allocated is the sum of malloc_usable_size over the live
 * blocks.  heap_size cannot be observed: it stays 0 (and replay reports no
 * Johnstone-Wilson measures for this allocator).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* posix_memalign, malloc_usable_size */
#endif
#include "ma_internal.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

typedef struct sysalloc {
    ma_allocator base; /* must come first */
    uint64_t allocated;
} sysalloc;

static inline sysalloc *as_sys(ma_allocator *a) { return (sysalloc *)a; }

static inline void *ptr_of(uint64_t addr) { return (void *)(uintptr_t)addr; }

static ma_status sys_memalign(ma_allocator *a, uint64_t alignment,
                              uint64_t size, uint64_t *addr)
{
    void *p = NULL;
    if (alignment <= MA_ALIGN) {
        p = malloc((size_t)size);
    } else if (posix_memalign(&p, (size_t)alignment, (size_t)size) != 0) {
        p = NULL;
    }
    if (!p)
        return ma_fail(a, MA_ENOMEM, "the C library has no %llu bytes",
                       (unsigned long long)size);
    as_sys(a)->allocated += malloc_usable_size(p);
    *addr = (uint64_t)(uintptr_t)p;
    return MA_OK;
}

static ma_status sys_realloc(ma_allocator *a, uint64_t addr, uint64_t size,
                             uint64_t *new_addr)
{
    size_t old = malloc_usable_size(ptr_of(addr));
    void *p = realloc(ptr_of(addr), (size_t)size);
    if (!p)
        return ma_fail(a, MA_ENOMEM, "the C library has no %llu bytes",
                       (unsigned long long)size);
    as_sys(a)->allocated += malloc_usable_size(p) - old;
    *new_addr = (uint64_t)(uintptr_t)p;
    return MA_OK;
}

static ma_status sys_free(ma_allocator *a, uint64_t addr)
{
    as_sys(a)->allocated -= malloc_usable_size(ptr_of(addr));
    free(ptr_of(addr));
    return MA_OK;
}

static ma_status sys_usable_size(ma_allocator *a, uint64_t addr,
                                 uint64_t *size)
{
    (void)a;
    *size = malloc_usable_size(ptr_of(addr));
    return MA_OK;
}

static void sys_stats(ma_allocator *a, ma_stats *st)
{
    st->allocated_bytes = as_sys(a)->allocated;
}

static ma_status sys_check(ma_allocator *a)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i <= a->live.mask; i++)
        if (a->live.slots[i].addr != MA_NULL)
            sum += malloc_usable_size(ptr_of(a->live.slots[i].addr));
    if (sum != as_sys(a)->allocated)
        return ma_fail(a, MA_ECORRUPT, "allocated bytes %llu, recount %llu",
                       (unsigned long long)as_sys(a)->allocated,
                       (unsigned long long)sum);
    return MA_OK;
}

/* Free every live block (core clears its record afterwards). */
static void free_all(ma_allocator *a)
{
    for (uint64_t i = 0; i <= a->live.mask; i++)
        if (a->live.slots[i].addr != MA_NULL)
            free(ptr_of(a->live.slots[i].addr));
    as_sys(a)->allocated = 0;
}

static ma_status sys_reset(ma_allocator *a)
{
    free_all(a);
    return MA_OK;
}

static const ma_ops system_ops = {
    .name = "system",
    .memalign = sys_memalign,
    .realloc = sys_realloc,
    .free = sys_free,
    .usable_size = sys_usable_size,
    .stats = sys_stats,
    .walk = NULL,
    .check = sys_check,
    .reset = sys_reset,
    .release = free_all,
};

ma_status ma_system_create(ma_allocator **out)
{
    if (!out)
        return ma_fail(NULL, MA_EINVAL, "ma_system_create: out is NULL");
    *out = NULL;
    sysalloc *s = calloc(1, sizeof *s);
    if (!s)
        return ma_fail(NULL, MA_ENOMEM, "no memory for the instance");
    ma_status st = ma_base_init(&s->base, &system_ops, 0, 0);
    if (st != MA_OK) {
        free(s);
        return st;
    }
    s->base.allocated_at = &s->allocated;
    *out = &s->base;
    return MA_OK;
}
