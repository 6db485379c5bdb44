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
 * Core's record of live allocations is not touched per event (that would be
 * a hash operation per event); the allocations still live at the end are
 * adopted into it, so afterwards the instance is exactly as if the events
 * had been made one by one through ma_malloc/ma_free/...  The operation
 * counters and requested_bytes are kept current during the run.
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

struct id_slot {
    uint64_t addr; /* MA_NULL when not live */
    uint64_t req;  /* requested bytes */
};

typedef struct engine {
    ma_allocator *a;
    const ma_trace_view *t;
    uint64_t scale;
    struct id_slot *ids; /* id -> (address, requested): one cache line */
    uint64_t nlive;   /* live allocations made by this run */
    uint64_t failures;
} engine;

static ma_status engine_init(engine *e, ma_allocator *a,
                             const ma_trace_view *t, uint64_t scale)
{
    memset(e, 0, sizeof *e);
    e->a = a;
    e->t = t;
    e->scale = scale;
    uint64_t n = t->n_ids ? t->n_ids : 1;
    e->ids = malloc((size_t)n * sizeof *e->ids);
    if (!e->ids) {
        return ma_fail(a, MA_ENOMEM, "no memory for a table of %llu ids",
                       (unsigned long long)t->n_ids);
    }
    for (uint64_t i = 0; i < n; i++)
        e->ids[i].addr = MA_NULL;
    return MA_OK;
}

/* Hand the run's live allocations to core's record; free the tables. */
static ma_status engine_finish(engine *e)
{
    ma_status st = MA_OK;
    for (uint64_t i = 0; i < e->t->n_ids; i++)
        if (e->ids[i].addr != MA_NULL && st == MA_OK)
            st = ma_live_adopt(e->a, e->ids[i].addr, e->ids[i].req);
    free(e->ids);
    return st;
}

/* Prefix the allocator's own message with the event number. */
static ma_status event_error(ma_allocator *a, uint64_t i, ma_status st)
{
    char why[MA_ERR_LEN];
    memcpy(why, a->err, sizeof why);
    why[sizeof why - 1] = '\0';
    return ma_fail(a, st, "event %llu: %s", (unsigned long long)i, why);
}

static inline void add_live(ma_allocator *a, uint64_t add, uint64_t sub)
{
    a->requested_bytes = a->requested_bytes + add - sub;
    if (a->requested_bytes > a->peak_requested)
        a->peak_requested = a->requested_bytes;
}

static ma_status allocate(engine *e, uint64_t i, uint32_t id, uint64_t align,
                          uint64_t size, bool zero)
{
    ma_allocator *a = e->a;
    a->mallocs++;
    ma_status st = MA_ENOMEM;
    if (size <= MA_MAX_REQUEST && align <= MA_MAX_REQUEST)
        st = a->ops->memalign(a, align, size, &e->ids[id].addr);
    if (st == MA_OK) {
        if (zero)
            memset(ma_ptr(a, e->ids[id].addr), 0, (size_t)size);
        e->ids[id].req = size;
        e->nlive++;
        add_live(a, size, 0);
        return MA_OK;
    }
    e->ids[id].addr = MA_NULL;
    if (st != MA_ENOMEM)
        return event_error(a, i, st);
    a->failures++;
    e->failures++;
    return MA_OK;
}

static ma_status release(engine *e, uint64_t i, uint32_t id)
{
    ma_allocator *a = e->a;
    ma_status st = a->ops->free(a, e->ids[id].addr);
    if (st != MA_OK)
        return event_error(a, i, st);
    e->ids[id].addr = MA_NULL;
    e->nlive--;
    add_live(a, 0, e->ids[id].req);
    a->frees++;
    return MA_OK;
}

/* Events between prefetching an id's slot and using it. */
#define PREFETCH_AHEAD 8

/* One event.  MA_OK also when the allocator ran out of memory. */
static inline ma_status step(engine *e, uint64_t i)
{
    const ma_trace_view *t = e->t;
    ma_allocator *a = e->a;
    if (i + PREFETCH_AHEAD < t->n_events) {
        uint32_t ahead = t->id[i + PREFETCH_AHEAD];
        if (ahead < t->n_ids)
            __builtin_prefetch(&e->ids[ahead], 1);
    }
    uint32_t id = t->id[i];
    unsigned op = t->op[i];
    if (id >= t->n_ids)
        return ma_fail(a, MA_EINVAL, "event %llu: id %u is not below n_ids "
                       "(%llu)", (unsigned long long)i, id,
                       (unsigned long long)t->n_ids);
    uint64_t size = scaled(t->size[i], e->scale);
    switch (op) {
    case MA_EV_MALLOC:
    case MA_EV_CALLOC:
    case MA_EV_MEMALIGN: {
        if (e->ids[id].addr != MA_NULL)
            return ma_fail(a, MA_EINVAL, "event %llu: id %u is already live",
                           (unsigned long long)i, id);
        uint64_t align = MA_ALIGN;
        if (op == MA_EV_CALLOC) {
            uint64_t count = t->arg[i];
            size = size && count > UINT64_MAX / size ? UINT64_MAX : size * count;
        } else if (op == MA_EV_MEMALIGN) {
            align = t->arg[i];
            if (!ma_is_pow2(align))
                return ma_fail(a, MA_EINVAL, "event %llu: alignment %llu is "
                               "not a power of two", (unsigned long long)i,
                               (unsigned long long)align);
            if (align < MA_ALIGN)
                align = MA_ALIGN;
        }
        return allocate(e, i, id, align, size, op == MA_EV_CALLOC);
    }
    case MA_EV_REALLOC: {
        if (e->ids[id].addr == MA_NULL)
            return allocate(e, i, id, MA_ALIGN, size, false);
        if (size == 0)
            return release(e, i, id);
        a->reallocs++;
        uint64_t moved;
        ma_status st = size > MA_MAX_REQUEST
                           ? MA_ENOMEM
                           : a->ops->realloc(a, e->ids[id].addr, size, &moved);
        if (st == MA_OK) {
            e->ids[id].addr = moved;
            add_live(a, size, e->ids[id].req);
            e->ids[id].req = size;
        } else if (st == MA_ENOMEM) {
            a->failures++;
            e->failures++;
        } else {
            return event_error(a, i, st);
        }
        return MA_OK;
    }
    case MA_EV_FREE:
        return e->ids[id].addr == MA_NULL ? MA_OK : release(e, i, id);
    default:
        return ma_fail(a, MA_EINVAL, "event %llu: unknown event kind %u",
                       (unsigned long long)i, op);
    }
}

static ma_status check_args(ma_allocator *a, const ma_trace_view *t)
{
    if (!a || !t || (t->n_events && (!t->op || !t->id || !t->size || !t->arg)))
        return ma_fail(NULL, MA_EINVAL, "replay: a NULL allocator, trace or "
                       "trace column");
    if (t->n_ids > UINT64_C(1) << 32)
        return ma_fail(a, MA_EINVAL, "more than 2^32 ids");
    return MA_OK;
}

static void take_sample(engine *e, uint64_t event, ma_sample *s)
{
    s->event = event;
    ma_fill_stats(e->a, &s->stats);
    s->stats.live_blocks += e->nlive; /* not yet in core's record */
}

/* Take the instance's lock and set up the engine; on failure, unlocked. */
static ma_status engine_begin(engine *e, ma_allocator *a, const ma_trace_view *t,
                              uint64_t scale, ma_replay_result *r)
{
    memset(r, 0, sizeof *r);
    ma_status st = ma_lock(a, "replay");
    if (st != MA_OK)
        return st;
    st = a->closed ? ma_closed(a) : engine_init(e, a, t, scale);
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
    if ((st = engine_begin(&e, a, t, c->size_scale, r)) != MA_OK)
        return st;
    uint64_t every = c->sample_every, next_sample = every ? every - 1 : UINT64_MAX;
    uint64_t next_progress = c->progress_every && c->progress
                                 ? c->progress_every - 1 : UINT64_MAX;
    uint64_t max_heap = 0, max_live = 0, heap_at_max_live = 0;
    uint64_t live_at_max_heap = 0, points = 0, last_sampled = UINT64_MAX;
    double sum = 0.0;
    const uint64_t *heap_at = a->heap_size_at;
    uint64_t i = 0, t0 = now_ns();
    for (; i < t->n_events; i++) {
        if ((st = step(&e, i)) != MA_OK)
            break;
        uint64_t h = *heap_at, l = a->requested_bytes;
        if (l > max_live) {
            max_live = l;
            heap_at_max_live = h;
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
            if (r->samples < capacity)
                take_sample(&e, i, &samples[r->samples++]);
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
    if (every && i > 0 && last_sampled != i - 1 && r->samples < capacity)
        take_sample(&e, i - 1, &samples[r->samples++]);
    r->failures = e.failures;
    r->max_heap = max_heap;
    r->max_live = max_live;
    r->heap_at_max_live = heap_at_max_live;
    r->live_at_max_heap = live_at_max_heap;
    r->sum_heap_over_live = sum;
    r->ratio_points = points;
    ma_status fin = engine_finish(&e);
    pthread_mutex_unlock(&a->lock);
    return st != MA_OK ? st : fin;
}

ma_status ma_replay_bare(ma_allocator *a, const ma_trace_view *t,
                         uint64_t size_scale, ma_replay_result *r)
{
    ma_status st = check_args(a, t);
    if (st != MA_OK || !r)
        return st != MA_OK ? st : ma_fail(NULL, MA_EINVAL, "replay: a NULL "
                                          "result");
    engine e;
    if ((st = engine_begin(&e, a, t, size_scale, r)) != MA_OK)
        return st;
    uint64_t i = 0, t0 = now_ns();
    for (; i < t->n_events; i++)
        if ((st = step(&e, i)) != MA_OK)
            break;
    r->nanoseconds = now_ns() - t0;
    r->events = i;
    r->failures = e.failures;
    ma_status fin = engine_finish(&e);
    pthread_mutex_unlock(&a->lock);
    return st != MA_OK ? st : fin;
}

ma_status ma_replay_libc(const ma_trace_view *t, uint64_t size_scale,
                         ma_replay_result *r)
{
    if (!t || !r || (t->n_events && (!t->op || !t->id || !t->size || !t->arg)))
        return ma_fail(NULL, MA_EINVAL, "replay: a NULL trace, trace column "
                       "or result");
    memset(r, 0, sizeof *r);
    uint64_t n = t->n_ids ? t->n_ids : 1;
    void **ptr = calloc((size_t)n, sizeof *ptr);
    if (!ptr)
        return ma_fail(NULL, MA_ENOMEM, "no memory for a table of %llu ids",
                       (unsigned long long)n);
    ma_status st = MA_OK;
    uint64_t i = 0, t0 = now_ns();
    for (; i < t->n_events; i++) {
        uint32_t id = t->id[i];
        if (id >= t->n_ids) {
            st = ma_fail(NULL, MA_EINVAL, "event %llu: id %u is not below "
                         "n_ids (%llu)", (unsigned long long)i, id,
                         (unsigned long long)t->n_ids);
            break;
        }
        if (i + PREFETCH_AHEAD < t->n_events) { /* as the engine does */
            uint32_t ahead = t->id[i + PREFETCH_AHEAD];
            if (ahead < t->n_ids)
                __builtin_prefetch(&ptr[ahead], 1);
        }
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
