/*
 * report.c -- what the preload shim says at exit: the statistics and the
 * Johnstone-Wilson measures of the whole run (MEMALLOC_STATS), the blocks
 * never freed (MEMALLOC_LEAKS) and the heap check (MEMALLOC_CHECK_AT_EXIT).
 * Part of the process-wide shim (shim.h): it reads the one state `S`, with
 * S.lock held and the thread marked inside the shim, so the buffers it
 * needs come from the internal allocator.
 *
 * Every line starts with "memalloc[PID]: " so that the reports of several
 * processes (a program and the programs it runs) can be told apart.
 */
#include "shim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *shim_count(char *buf, uint64_t n)
{
    char digits[24];
    int len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    int out = 0;
    for (int i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[out++] = ',';
        buf[out++] = digits[i];
    }
    buf[out] = '\0';
    return buf;
}

/* ratio - 1 as a percentage, or "n/a" when the ratio is undefined. */
static const char *overhead(char *buf, size_t cap, double num, double den)
{
    if (!(den > 0))
        snprintf(buf, cap, "n/a");
    else
        snprintf(buf, cap, "%.1f%%", 100.0 * (num / den - 1.0));
    return buf;
}

static void report_stats(void)
{
    ma_stats st;
    ma_get_stats(S.heap, &st);
    st.live_blocks = S.live; /* core's record is not kept (heap.c) */
    const shim_measures *m = &S.m;
    char a[32], b[32], c[32], d[32], e[32], f[32], g[32];
    int pid = (int)getpid();
    shim_say("memalloc[%d]: %s (%s), %s operations", pid, S.name, S.options,
             shim_count(a, m->operations));
    shim_say("memalloc[%d]:   calls: %s mallocs, %s frees, %s reallocs, %s failures, "
             "%s bad pointers", pid, shim_count(a, st.mallocs + S.big_mallocs),
             shim_count(b, st.frees + S.big_frees), shim_count(c, st.reallocs),
             shim_count(d, st.failures), shim_count(e, S.bad_pointers));
    shim_say("memalloc[%d]:   at exit: %s blocks live, %s bytes requested, %s allocated; "
             "heap %s bytes with %s free in %s blocks (largest %s)", pid,
             shim_count(a, st.live_blocks + S.big.count),
             shim_count(b, st.requested_bytes + S.big_requested),
             shim_count(c, st.allocated_bytes + S.big_mapped),
             shim_count(d, st.heap_size + S.big_mapped), shim_count(e, st.free_bytes),
             shim_count(f, st.free_blocks), shim_count(g, st.largest_free));
    shim_say("memalloc[%d]:   peaks: heap %s bytes, live %s bytes", pid,
             shim_count(a, m->max_heap), shim_count(b, m->max_live));
    shim_say("memalloc[%d]:   own mappings: %s made, %s live, peak %s bytes", pid,
             shim_count(a, S.big_mallocs), shim_count(b, S.big.count),
             shim_count(c, S.big_peak_mapped));
    shim_say("memalloc[%d]:   metadata: %s bytes reserved for the allocator's side "
             "tables, %s of the shim's own", pid, shim_count(a, st.metadata_bytes),
             shim_count(b, meta_footprint()));
    char j1[32], j2[32], j3[32], j4[32], in[32];
    double mean = m->ratio_points ? m->sum_heap_over_live / (double)m->ratio_points : NAN;
    overhead(j1, sizeof j1, mean, m->ratio_points ? 1.0 : 0.0);
    overhead(j2, sizeof j2, (double)m->heap_at_max_live, (double)m->max_live);
    overhead(j3, sizeof j3, (double)m->max_heap, (double)m->live_at_max_heap);
    overhead(j4, sizeof j4, (double)m->max_heap, (double)m->max_live);
    if (m->allocated_at_max_live > 0)
        snprintf(in, sizeof in, "%.1f%%", 100.0 * (1.0 - (double)m->max_live /
                                                   (double)m->allocated_at_max_live));
    else
        snprintf(in, sizeof in, "n/a");
    shim_say("memalloc[%d]:   Johnstone-Wilson (heap / live - 1): #1 %s  #2 %s  #3 %s  "
             "#4 %s; internal fragmentation at peak live %s", pid, j1, j2, j3, j4, in);
}

/* ---- leaks ------------------------------------------------------------------- */

typedef struct leak {
    uint64_t requested;
    uintptr_t addr;
    uint64_t size; /* bytes the block occupies */
} leak;

typedef struct leak_list {
    leak *items;
    uint64_t n, cap;
} leak_list;

static int collect(const ma_block *b, void *ctx)
{
    leak_list *l = ctx;
    if (b->allocated && l->n < l->cap)
        l->items[l->n++] = (leak){shim_requested(b->address),
                                  (uintptr_t)S.base + b->address, b->size};
    return 0;
}

/* Largest first; equal sizes by address. */
static int by_size(const void *x, const void *y)
{
    const leak *a = x, *b = y;
    if (a->requested != b->requested)
        return a->requested > b->requested ? -1 : 1;
    return (a->addr > b->addr) - (a->addr < b->addr);
}

static void report_leaks(void)
{
    int pid = (int)getpid();
    leak_list l = {NULL, 0, S.live + S.big.count};
    char a[32], b[32], c[32];
    if (l.cap == 0) {
        shim_say("memalloc[%d]: no block left unfreed", pid);
        return;
    }
    l.items = meta_alloc(16, (size_t)(l.cap * sizeof *l.items));
    if (!l.items) {
        shim_say("memalloc[%d]: %s blocks never freed (no memory to list them)", pid,
                 shim_count(a, l.cap));
        return;
    }
    ma_walk(S.heap, collect, &l);
    for (uint64_t i = 0; S.big.slots && i <= S.big.mask && l.n < l.cap; i++) {
        const big_entry *e = &S.big.slots[i];
        if (e->addr)
            l.items[l.n++] = (leak){e->requested, e->addr, e->len};
    }
    qsort(l.items, (size_t)l.n, sizeof *l.items, by_size);
    uint64_t total = 0;
    for (uint64_t i = 0; i < l.n; i++)
        total += l.items[i].requested;
    uint64_t shown = S.leaks_max && S.leaks_max < l.n ? S.leaks_max : l.n;
    shim_say("memalloc[%d]: %s blocks never freed, %s bytes requested; %s largest first:",
             pid, shim_count(a, l.n), shim_count(b, total),
             shown == l.n ? "all of them," : "the");
    uint64_t rest = total;
    for (uint64_t i = 0; i < shown; i++) {
        shim_say("memalloc[%d]:   %s bytes at %p (a block of %s)", pid,
                 shim_count(a, l.items[i].requested), (void *)l.items[i].addr,
                 shim_count(b, l.items[i].size));
        rest -= l.items[i].requested;
    }
    if (shown < l.n)
        shim_say("memalloc[%d]:   ... and %s more blocks, %s bytes (MEMALLOC_LEAKS_MAX=0 "
                 "lists all)", pid, shim_count(a, l.n - shown), shim_count(c, rest));
    meta_free(l.items);
}

bool shim_report_at_exit(void)
{
    bool ok = true;
    char why[512];
    if (S.check_at_exit && !shim_check_heap(why, sizeof why)) {
        shim_say("memalloc[%d]: check at exit FAILED: the %s heap is corrupt: %s",
                 (int)getpid(), S.name, why);
        ok = false;
    }
    if (S.stats)
        report_stats();
    if (S.leaks)
        report_leaks();
    if (S.check_at_exit && ok && S.stats)
        shim_say("memalloc[%d]:   check at exit: the heap is consistent", (int)getpid());
    return ok;
}
