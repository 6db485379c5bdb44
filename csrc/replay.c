/*
 * replay.c -- run a whole trace through an allocator inside one C call.
 *
 * The engine maps trace ids to addresses in a flat table (id -> address,
 * id -> requested bytes), calls the allocator's operations directly under
 * the instance's lock (taken once per run), and after every event folds the
 * heap size H and the live requested bytes L into the Johnstone-Wilson
 * accumulators, so the four measures are exact, not sampled.  Every
 * `sample_every` events it writes the full statistics into a caller-provided
 * array.  Out-of-memory results are counted, not fatal.
 *
 * Before the first event the whole trace is checked (check_trace: one pass
 * with a bit per id), so that a malformed trace is refused with the
 * instance unchanged, and the event loop needs no checks of its own.  The
 * same pass counts the most ids live at once, for which core's record of
 * live allocations then reserves room.  That record is not touched per
 * event (that would be a hash operation per event); the allocations still
 * live at the end are adopted into it, which cannot fail, so afterwards the
 * instance is exactly as if the events had been made one by one through
 * ma_malloc/ma_free/...  The operation counters and requested_bytes are
 * current at every sample and at the end (engine_sync: during the run the
 * hot ones are kept in the run's own state, as are the columns and the
 * allocator's operations; mallocs and frees are inlined into the loop,
 * reallocs call).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* clock_gettime, posix_memalign */
#endif
#include "ma_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

/* size * scale, saturating (a saturated size is simply out of memory). */
static inline uint64_t scaled(uint64_t size, uint64_t scale)
{
    if (scale <= 1)
        return size;
    return size > UINT64_MAX / scale ? UINT64_MAX : size * scale;
}

/* The address of an id whose allocation failed: live for the lifetime
 * rules, but it holds no block (no address is this high). */
#define FAILED (MA_NULL - 1)

struct id_slot {
    uint64_t addr; /* MA_NULL when not live, FAILED, else the block */
    uint64_t req;  /* requested bytes */
};

/* The state of a run, a local of each loop: the columns, the allocator's
 * operations, the id table and the hot counters are one load from the
 * stack frame away, instead of two or three dependent loads through the
 * instance and the trace view after every call into the allocator. */
typedef struct engine {
    ma_allocator *a;
    ma_status (*memalign)(ma_allocator *, uint64_t, uint64_t, uint64_t *);
    ma_status (*realloc)(ma_allocator *, uint64_t, uint64_t, uint64_t *);
    ma_status (*free)(ma_allocator *, uint64_t);
    const uint8_t *op; /* the trace's columns */
    const uint32_t *id;
    const uint64_t *size, *arg;
    uint64_t n_events;
    uint64_t scale;
    struct id_slot *ids; /* id -> (address, requested): one cache line */
    uint64_t nids;       /* entries of ids: ids_used() */
    uint64_t nlive;      /* live allocations made by this run */
    uint64_t failures;
    /* The instance's requested_bytes and peak_requested, and the mallocs
     * and frees not yet added to its counters: kept here during the run
     * and written back by engine_sync() before anything reads them. */
    uint64_t live, peak, mallocs, frees;
} engine;

/*
 * The ids a run can touch: one more than the largest id below n_ids that an
 * event names (at least 1).  The engine's tables are sized by it, not by
 * n_ids, so a trace that declares far more ids than its events name costs
 * nothing (16 bytes per id would, for n_ids up to 2^32).
 */
static uint64_t ids_used(const ma_trace_view *t)
{
    uint64_t top = 0;
    for (uint64_t i = 0; i < t->n_events; i++)
        if (t->id[i] >= top && t->id[i] < t->n_ids)
            top = (uint64_t)t->id[i] + 1;
    return top ? top : 1;
}

/*
 * Check the whole trace before anything happens: every id below n_ids, every
 * kind known, every memalign alignment a power of two, and no allocation on
 * an id that is live.  An id is live from its allocation (or a realloc
 * while not live) to its free or realloc to 0, as the engine sees it: an
 * id whose allocation failed counts as live (FAILED), so this pass and the
 * run agree exactly.  *most: the most ids live at once; *end: live at the
 * end; *used: ids_used(), the size of the run's id tables.  `a` (NULL for
 * the libc replay) receives the message too.
 */
static ma_status check_trace(ma_allocator *a, const ma_trace_view *t,
                             uint64_t *most, uint64_t *end, uint64_t *used_out)
{
    uint64_t used = ids_used(t); /* every id that passes the check is below it */
    *used_out = used;
    uint64_t *live = calloc((size_t)(used / 64 + 1), sizeof *live);
    if (!live)
        return ma_fail(a, MA_ENOMEM, "no memory to check a trace of %llu ids",
                       (unsigned long long)used);
    ma_status st = MA_OK;
    uint64_t n = 0, max = 0;
    for (uint64_t i = 0; i < t->n_events && st == MA_OK; i++) {
        uint32_t id = t->id[i];
        unsigned op = t->op[i];
        if (id >= t->n_ids) {
            st = ma_fail(a, MA_EINVAL, "event %llu: id %u is not below n_ids "
                         "(%llu)", (unsigned long long)i, id,
                         (unsigned long long)t->n_ids);
            break;
        }
        uint64_t *w = &live[id >> 6], bit = UINT64_C(1) << (id & 63);
        bool on = (*w & bit) != 0;
        switch (op) {
        case MA_EV_MEMALIGN:
            if (!ma_is_pow2(t->arg[i])) {
                st = ma_fail(a, MA_EINVAL, "event %llu: alignment %llu is not a "
                             "power of two", (unsigned long long)i,
                             (unsigned long long)t->arg[i]);
                break;
            }
            /* fall through */
        case MA_EV_MALLOC:
        case MA_EV_CALLOC:
            if (on) {
                st = ma_fail(a, MA_EINVAL, "event %llu: id %u is already live",
                             (unsigned long long)i, id);
                break;
            }
            *w |= bit;
            n++;
            break;
        case MA_EV_REALLOC:
            if (!on) {
                *w |= bit;
                n++;
            } else if (t->size[i] == 0) {
                *w &= ~bit;
                n--;
            }
            break;
        case MA_EV_FREE:
            if (on) {
                *w &= ~bit;
                n--;
            }
            break;
        default:
            st = ma_fail(a, MA_EINVAL, "event %llu: unknown event kind %u",
                         (unsigned long long)i, op);
            break;
        }
        if (n > max)
            max = n;
    }
    free(live);
    *most = max;
    *end = n;
    return st;
}

static ma_status engine_init(engine *e, ma_allocator *a,
                             const ma_trace_view *t, uint64_t scale, uint64_t n)
{
    memset(e, 0, sizeof *e);
    e->a = a;
    e->memalign = a->ops->memalign;
    e->realloc = a->ops->realloc;
    e->free = a->ops->free;
    e->op = t->op;
    e->id = t->id;
    e->size = t->size;
    e->arg = t->arg;
    e->n_events = t->n_events;
    e->scale = scale;
    e->live = a->requested_bytes;
    e->peak = a->peak_requested;
    e->nids = n;
    e->ids = malloc((size_t)n * sizeof *e->ids);
    if (!e->ids) {
        return ma_fail(a, MA_ENOMEM, "no memory for a table of %llu ids",
                       (unsigned long long)n);
    }
    for (uint64_t i = 0; i < n; i++)
        e->ids[i].addr = MA_NULL;
    return MA_OK;
}

/* Hand the run's live allocations to core's record (its room was reserved
 * before the run: this cannot fail); free the tables. */
static void engine_finish(ma_allocator *a, struct id_slot *ids, uint64_t nids)
{
    for (uint64_t i = 0; i < nids; i++)
        if (ids[i].addr < FAILED)
            ma_live_adopt(a, ids[i].addr, ids[i].req);
    free(ids);
}

/* Prefix the allocator's own message with the event number. */
static ma_status event_error(ma_allocator *a, uint64_t i, ma_status st)
{
    char why[MA_ERR_LEN];
    memcpy(why, a->err, sizeof why);
    why[sizeof why - 1] = '\0';
    return ma_fail(a, st, "event %llu: %s", (unsigned long long)i, why);
}

static inline void add_live(engine *e, uint64_t add, uint64_t sub)
{
    e->live = e->live + add - sub;
    if (e->live > e->peak)
        e->peak = e->live;
}

/* Write the run's counts into the instance (before a sample, at the end). */
static inline __attribute__((always_inline)) void engine_sync(engine *e)
{
    ma_allocator *a = e->a;
    a->requested_bytes = e->live;
    a->peak_requested = e->peak;
    a->mallocs += e->mallocs;
    a->frees += e->frees;
    e->mallocs = e->frees = 0;
}

/* The allocation failed: MA_OK (counted) when out of memory. */
static ma_status __attribute__((noinline, cold))
allocate_failed(engine *e, uint64_t i, uint32_t id, ma_status st)
{
    ma_allocator *a = e->a;
    e->ids[id].addr = FAILED;
    if (st != MA_ENOMEM)
        return event_error(a, i, st);
    a->failures++;
    e->failures++;
    return MA_OK;
}

static inline __attribute__((always_inline)) ma_status
allocate(engine *e, uint64_t i, uint32_t id, uint64_t align, uint64_t size, bool zero)
{
    ma_allocator *a = e->a;
    e->mallocs++;
    ma_status st = MA_ENOMEM;
    if (__builtin_expect(size <= MA_MAX_REQUEST && align <= MA_MAX_REQUEST, 1))
        st = e->memalign(a, align, size, &e->ids[id].addr);
    if (__builtin_expect(st != MA_OK, 0))
        return allocate_failed(e, i, id, st);
    if (zero)
        memset(ma_ptr(a, e->ids[id].addr), 0, (size_t)size);
    e->ids[id].req = size;
    e->nlive++;
    add_live(e, size, 0);
    return MA_OK;
}

/* A realloc of an id that is not live (or whose allocation failed):
 * an allocation, off the common path. */
static ma_status __attribute__((noinline))
allocate_for_realloc(engine *e, uint64_t i, uint32_t id, uint64_t size)
{
    return allocate(e, i, id, MA_ALIGN, size, false);
}

static inline __attribute__((always_inline)) ma_status
release(engine *e, uint64_t i, uint32_t id)
{
    ma_allocator *a = e->a;
    ma_status st = e->free(a, e->ids[id].addr);
    if (__builtin_expect(st != MA_OK, 0))
        return event_error(a, i, st);
    e->ids[id].addr = MA_NULL;
    e->nlive--;
    add_live(e, 0, e->ids[id].req);
    e->frees++;
    return MA_OK;
}

/* A realloc of a live id to a new size (not 0). */
static ma_status __attribute__((noinline))
reallocate(engine *e, uint64_t i, uint32_t id, uint64_t addr, uint64_t size)
{
    ma_allocator *a = e->a;
    a->reallocs++;
    uint64_t moved;
    ma_status st = size > MA_MAX_REQUEST ? MA_ENOMEM
                                         : e->realloc(a, addr, size, &moved);
    if (st == MA_OK) {
        e->ids[id].addr = moved;
        add_live(e, size, e->ids[id].req);
        e->ids[id].req = size;
    } else if (st == MA_ENOMEM) {
        a->failures++;
        e->failures++;
    } else {
        return event_error(a, i, st);
    }
    return MA_OK;
}

/* Events between prefetching an id's slot and using it. */
#define PREFETCH_AHEAD 8

/* One event of a checked trace (check_trace).  MA_OK also when the
 * allocator ran out of memory.  Inlined into each loop (see engine);
 * mallocs and frees take the inlined paths, reallocs (a few percent of
 * real traces' events) a call. */
static inline __attribute__((always_inline)) ma_status step(engine *e, uint64_t i)
{
    if (i + PREFETCH_AHEAD < e->n_events)
        __builtin_prefetch(&e->ids[e->id[i + PREFETCH_AHEAD]], 1);
    uint32_t id = e->id[i];
    unsigned op = e->op[i];
    uint64_t size = scaled(e->size[i], e->scale);
    switch (op) {
    case MA_EV_MALLOC:
    case MA_EV_CALLOC:
    case MA_EV_MEMALIGN: { /* one call site: allocate() is inlined once */
        uint64_t align = MA_ALIGN;
        if (op == MA_EV_CALLOC) {
            uint64_t count = e->arg[i];
            size = size && count > UINT64_MAX / size ? UINT64_MAX : size * count;
        } else if (op == MA_EV_MEMALIGN && e->arg[i] > MA_ALIGN) {
            align = e->arg[i];
        }
        return allocate(e, i, id, align, size, op == MA_EV_CALLOC);
    }
    case MA_EV_REALLOC: {
        uint64_t addr = e->ids[id].addr;
        if (addr == FAILED && size == 0) { /* the end of a failed allocation */
            e->ids[id].addr = MA_NULL;
            return MA_OK;
        }
        if (addr >= FAILED)
            return allocate_for_realloc(e, i, id, size);
        if (size == 0)
            return release(e, i, id);
        return reallocate(e, i, id, addr, size);
    }
    case MA_EV_FREE:
        if (e->ids[id].addr >= FAILED) { /* not live, or its allocation failed */
            e->ids[id].addr = MA_NULL;
            return MA_OK;
        }
        return release(e, i, id);
    default: /* check_trace refused it */
        return ma_fail(e->a, MA_EINVAL, "event %llu: unknown event kind %u",
                       (unsigned long long)i, op);
    }
}

static ma_status check_args(ma_allocator *a, const ma_trace_view *t)
{
    if (!a || !t || (t->n_events && (!t->op || !t->id || !t->size || !t->arg)))
        return ma_fail(NULL, MA_EINVAL, "replay: a NULL allocator, trace or "
                       "trace column");
    if (t->n_ids > UINT64_C(1) << 32)
        return ma_fail(NULL, MA_EINVAL, "more than 2^32 ids"); /* unlocked */
    return MA_OK;
}

static void take_sample(ma_allocator *a, uint64_t nlive, uint64_t event, ma_sample *s)
{
    s->event = event;
    ma_fill_stats(a, &s->stats);
    s->stats.live_blocks += nlive; /* not yet in core's record */
}

/*
 * Take the instance's lock, check the trace, reserve room in core's record
 * for every id that can be live when the run ends (the most live at once
 * when a progress callback may stop it early, else those live at the end)
 * and set up the engine; on failure, unlocked and nothing changed.
 */
static ma_status engine_begin(engine *e, ma_allocator *a, const ma_trace_view *t,
                              uint64_t scale, bool may_stop, ma_replay_result *r)
{
    memset(r, 0, sizeof *r);
    ma_status st = ma_lock(a, "replay");
    if (st != MA_OK)
        return st;
    uint64_t most = 0, end = 0, used = 1;
    st = a->closed ? ma_closed(a)
         : a->dbg.on ? ma_fail(a, MA_EINVAL, "replay does not go through the "
                               "debugging switches (scribble, check_every, "
                               "canary, asan, valgrind): replay through an "
                               "instance without them")
                     : check_trace(a, t, &most, &end, &used);
    if (st == MA_OK)
        st = ma_live_reserve(a, may_stop ? most : end);
    if (st == MA_OK)
        st = engine_init(e, a, t, scale, used);
    if (st != MA_OK)
        pthread_mutex_unlock(&a->lock);
    return st;
}

ma_status ma_replay(ma_allocator *a, const ma_trace_view *t,
                    const ma_replay_config *c, ma_sample *samples,
                    uint64_t capacity, ma_replay_result *r)
{
    ma_status st = check_args(a, t);
    if (st != MA_OK || !c || !r || (capacity && !samples))
        return st != MA_OK ? st : ma_fail(NULL, MA_EINVAL, "replay: a NULL "
                                          "config, result or sample array");
    engine e;
    bool may_stop = c->progress_every && c->progress;
    if ((st = engine_begin(&e, a, t, c->size_scale, may_stop, r)) != MA_OK)
        return st;
    uint64_t every = c->sample_every, next_sample = every ? every - 1 : UINT64_MAX;
    uint64_t next_progress = may_stop ? c->progress_every - 1 : UINT64_MAX;
    uint64_t max_heap = 0, max_live = 0, heap_at_max_live = 0, alloc_at_max_live = 0;
    uint64_t live_at_max_heap = 0, points = 0, last_sampled = UINT64_MAX;
    double sum = 0.0;
    const uint64_t *heap_at = a->heap_size_at, *alloc_at = a->allocated_at;
    uint64_t i = 0, t0 = now_ns();
    for (; i < t->n_events; i++) {
        if ((st = step(&e, i)) != MA_OK)
            break;
        uint64_t h = *heap_at, l = e.live;
        if (l > max_live) {
            max_live = l;
            heap_at_max_live = h;
            alloc_at_max_live = *alloc_at;
        }
        if (h > max_heap) {
            max_heap = h;
            live_at_max_heap = l;
        }
        if (l) {
            sum += (double)h / (double)l;
            points++;
        }
        if (i == next_sample) {
            next_sample += every;
            if (r->samples < capacity) {
                engine_sync(&e);
                take_sample(a, e.nlive, i, &samples[r->samples++]);
            }
            last_sampled = i;
        }
        if (i == next_progress) {
            next_progress += c->progress_every;
            ma_callback_enter(a);
            int stop = c->progress(i + 1, c->progress_context);
            ma_callback_leave(a);
            if (stop) {
                r->stopped = 1;
                i++;
                break;
            }
        }
    }
    r->nanoseconds = now_ns() - t0;
    r->events = i;
    engine_sync(&e);
    if (every && i > 0 && last_sampled != i - 1 && r->samples < capacity)
        take_sample(a, e.nlive, i - 1, &samples[r->samples++]);
    r->failures = e.failures;
    r->max_heap = max_heap;
    r->max_live = max_live;
    r->heap_at_max_live = heap_at_max_live;
    r->allocated_at_max_live = alloc_at_max_live;
    r->live_at_max_heap = live_at_max_heap;
    r->sum_heap_over_live = sum;
    r->ratio_points = points;
    engine_finish(a, e.ids, e.nids);
    pthread_mutex_unlock(&a->lock);
    return st;
}

ma_status ma_replay_bare(ma_allocator *a, const ma_trace_view *t,
                         uint64_t size_scale, ma_replay_result *r)
{
    ma_status st = check_args(a, t);
    if (st != MA_OK || !r)
        return st != MA_OK ? st : ma_fail(NULL, MA_EINVAL, "replay: a NULL "
                                          "result");
    engine e;
    if ((st = engine_begin(&e, a, t, size_scale, false, r)) != MA_OK)
        return st;
    uint64_t i = 0, t0 = now_ns();
    for (; i < t->n_events; i++)
        if ((st = step(&e, i)) != MA_OK)
            break;
    r->nanoseconds = now_ns() - t0;
    r->events = i;
    r->failures = e.failures;
    engine_sync(&e);
    engine_finish(a, e.ids, e.nids);
    pthread_mutex_unlock(&a->lock);
    return st;
}

ma_status ma_replay_libc(const ma_trace_view *t, uint64_t size_scale,
                         ma_replay_result *r)
{
    if (!t || !r || (t->n_events && (!t->op || !t->id || !t->size || !t->arg)))
        return ma_fail(NULL, MA_EINVAL, "replay: a NULL trace, trace column "
                       "or result");
    memset(r, 0, sizeof *r);
    uint64_t most, end, n;
    ma_status st = check_trace(NULL, t, &most, &end, &n);
    if (st != MA_OK)
        return st;
    void **ptr = calloc((size_t)n, sizeof *ptr);
    if (!ptr)
        return ma_fail(NULL, MA_ENOMEM, "no memory for a table of %llu ids",
                       (unsigned long long)n);
    uint64_t i = 0, t0 = now_ns();
    for (; i < t->n_events; i++) {
        uint32_t id = t->id[i];
        if (i + PREFETCH_AHEAD < t->n_events) /* as the engine does */
            __builtin_prefetch(&ptr[t->id[i + PREFETCH_AHEAD]], 1);
        uint64_t size = scaled(t->size[i], size_scale);
        void *p = ptr[id];
        switch (t->op[i]) {
        case MA_EV_MALLOC:
            p = malloc((size_t)size);
            r->failures += !p;
            break;
        case MA_EV_CALLOC:
            p = calloc((size_t)t->arg[i], (size_t)size);
            r->failures += !p;
            break;
        case MA_EV_MEMALIGN: {
            uint64_t al = t->arg[i] < sizeof(void *) ? sizeof(void *) : t->arg[i];
            if (posix_memalign(&p, (size_t)al, (size_t)size) != 0)
                p = NULL;
            r->failures += !p;
            break;
        }
        case MA_EV_REALLOC:
            if (size == 0) {
                free(p);
                p = NULL;
            } else {
                void *q = realloc(p, (size_t)size);
                r->failures += !q;
                p = q ? q : p;
            }
            break;
        case MA_EV_FREE:
            free(p);
            p = NULL;
            break;
        default:
            st = ma_fail(NULL, MA_EINVAL, "event %llu: unknown event kind %u",
                         (unsigned long long)i, (unsigned)t->op[i]);
            break;
        }
        if (st != MA_OK)
            break;
        ptr[id] = p;
    }
    r->nanoseconds = now_ns() - t0;
    r->events = i;
    for (uint64_t k = 0; k < n; k++)
        free(ptr[k]);
    free(ptr);
    return st;
}
