/*
 * shim.c -- libmemalloc_preload.so: malloc and its whole family for a
 * process, served by one of the registry's allocators.
 *
 *     LD_PRELOAD=.../libmemalloc_preload.so MEMALLOC_ALLOCATOR=buddy prog
 *     memalloc run --allocator buddy --stats -- prog      (the same, checked)
 *
 * PROCESS-WIDE STATE.  This file and its two parts (meta.c, report.c) are
 * the one place in the project with global mutable state: a process has one
 * malloc, so the shim keeps one allocator instance over one arena, one lock,
 * and one set of measurements (`S`, shim.h).  The library it is linked with
 * (the .c files of csrc/) keeps none; the shim drives it through the public interface
 * (ma_create, ma_malloc, ...) and reads the instance's heap size and live
 * bytes (ma_internal.h) to measure.
 *
 * What the shim guarantees:
 *   - Start-up: the heap is made on the first call (ma_create, from
 *     MEMALLOC_ALLOCATOR and MEMALLOC_OPTIONS).  Every allocation made while
 *     a thread is inside the shim -- ma_create's own tables, core.c's record
 *     of live blocks, libc's records for pthread_atfork -- is served by the
 *     internal allocator (meta.c), never by the heap being built or locked;
 *     no call goes through dlsym or the loader.  A bad setting stops the
 *     process at once with a message and exit status 125.
 *   - Threads: one mutex (S.lock) around every call; the thread holding it
 *     is marked (`inside`), so its nested calls never wait for themselves.
 *   - fork: pthread_atfork handlers take the lock (and the instance's) before
 *     the fork and give the child a fresh one, so the child can allocate.
 *   - Pointers it does not own: free, realloc and malloc_usable_size of a
 *     pointer that is not a live block of the heap, of an own mapping or of
 *     the internal allocator are reported (the first 20 of them) and
 *     otherwise ignored: nothing is touched.  MEMALLOC_ABORT_ON_ERROR=1
 *     aborts instead, with the message.
 *   - Exhaustion: malloc's contract, NULL with errno ENOMEM; the first
 *     request the arena cannot serve also prints a message naming the
 *     arena_size option (requests of 1 TiB and more fail silently, as
 *     they would with glibc on most machines).
 *   - Requests of MEMALLOC_MMAP_THRESHOLD bytes or more (when set) get
 *     their own mapping, like glibc's and the seeds' large blocks; their
 *     addresses are kept in a table, so they too are recognised.
 *
 * Measures: after every operation that reaches the heap (success or
 * failure, as the replay engine counts events), H = heap size + bytes of
 * own mappings and L = live requested bytes are folded into the
 * Johnstone-Wilson accumulators (fold), so the four measures are exact over
 * the process's operations.  report.c prints them at exit.
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h> /* memalign, pvalloc, malloc_usable_size */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define DEFAULT_ALLOCATOR "best-ao"
#define DEFAULT_ARENA "4G"
#define LEAKS_MAX_DEFAULT 50
#define BAD_POINTERS_TOLD 20
#define SILENT_FROM (UINT64_C(1) << 40)
#define STDERR_COPY_FROM 900

shim_state S = {.lock = PTHREAD_MUTEX_INITIALIZER, .stderr_copy = -1};

/* Set while this thread holds S.lock: its nested calls (the library's own
 * tables, libc internals) go to the internal allocator.  initial-exec: the
 * first access must not itself allocate (a preloaded library's TLS is in
 * the static block). */
static __thread int inside __attribute__((tls_model("initial-exec")));

static void start(void);

static inline void enter(void)
{
    pthread_mutex_lock(&S.lock);
    inside = 1;
    if (!S.ready)
        start();
}

static inline void leave(void)
{
    inside = 0;
    pthread_mutex_unlock(&S.lock);
}

/* ---- messages ----------------------------------------------------------------- */

static bool write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        s += w;
        n -= (size_t)w;
    }
    return true;
}

void shim_say(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof line - 1 ? (size_t)n : sizeof line - 2;
    line[len++] = '\n';
    int saved = errno;
    int fd = S.report[0] ? open(S.report, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : -1;
    if (fd >= 0) {
        write_all(fd, line, len);
        close(fd);
    } else if (!write_all(2, line, len) && errno == EBADF && S.stderr_copy >= 0) {
        write_all(S.stderr_copy, line, len); /* the program closed stderr */
    }
    errno = saved;
}

/* A setting the shim cannot start with: say so and stop the process. */
__attribute__((noreturn, format(printf, 1, 2))) static void fatal(const char *fmt, ...)
{
    char why[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    S.report[0] = '\0'; /* the reason goes to stderr, where it is seen */
    shim_say("memalloc: cannot start the allocator: %s", why);
    _exit(SHIM_EXIT_STATUS);
}

/* `n` as the options text writes it: 32G, 4K, 1000. */
const char *shim_size_text(char *buf, size_t cap, uint64_t n)
{
    static const char suffix[] = "KMGT";
    int k = 0;
    while (k < 4 && n >= 1024 && n % 1024 == 0) {
        n /= 1024;
        k++;
    }
    if (k)
        snprintf(buf, cap, "%llu%c", (unsigned long long)n, suffix[k - 1]);
    else
        snprintf(buf, cap, "%llu", (unsigned long long)n);
    return buf;
}

/* A pointer that is not a live block of ours: count it, tell the first
 * ones, abort when asked to. */
void shim_bad_pointer(const char *op, const void *p, const char *why)
{
    S.bad_pointers++;
    if (S.abort_on_error) {
        shim_say("memalloc: %s(%p): %s; aborting (MEMALLOC_ABORT_ON_ERROR)", op, p, why);
        leave();
        abort();
    }
    if (S.bad_pointers <= BAD_POINTERS_TOLD)
        shim_say("memalloc: %s(%p): %s; ignored%s", op, p, why,
                 S.bad_pointers == BAD_POINTERS_TOLD
                     ? " (further bad pointers are only counted)" : "");
}

void shim_out_of_memory(uint64_t size)
{
    char arena[32], req[32];
    shim_size_text(arena, sizeof arena, S.arena_size);
    if (size <= S.arena_size) {
        if (!S.told_full)
            shim_say("memalloc: out of memory: the %s arena (arena_size=%s) cannot "
                     "serve a request of %s bytes; give a larger arena with "
                     "--options arena_size=SIZE (MEMALLOC_OPTIONS)",
                     S.name, arena, shim_count(req, size));
        S.told_full = true;
    } else if (size < SILENT_FROM) {
        if (!S.told_too_large)
            shim_say("memalloc: out of memory: a request of %s bytes is larger "
                     "than the whole %s arena (arena_size=%s); give a larger "
                     "arena with --options arena_size=SIZE (MEMALLOC_OPTIONS)",
                     shim_count(req, size), S.name, arena);
        S.told_too_large = true;
    }
}

/* ---- start-up ------------------------------------------------------------------- */

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v ? v : "";
}

static bool env_flag(const char *name)
{
    const char *v = env(name);
    if (!*v || strcmp(v, "0") == 0)
        return false;
    if (strcmp(v, "1") == 0)
        return true;
    fatal("%s=%.64s: write 1 (on) or 0 (off)", name, v);
}

/* A size with an optional K/M/G/T suffix, as the options text takes them. */
static uint64_t env_size(const char *name)
{
    const char *v = env(name);
    uint64_t n = 0;
    const char *c = v;
    for (; *c >= '0' && *c <= '9'; c++) {
        if (n > (UINT64_MAX - 9) / 10)
            fatal("%s=%.64s is too large", name, v);
        n = n * 10 + (uint64_t)(*c - '0');
    }
    unsigned shift = 0;
    if (c > v && *c && !c[1]) {
        const char *s = strchr("KMGT", *c >= 'a' ? *c - 'a' + 'A' : *c);
        if (s && *s) {
            shift = 10u * (unsigned)(s - "KMGT" + 1);
            c++;
        }
    }
    if (*c || (c == v && *v))
        fatal("%s=%.64s is not a size (digits with an optional K, M, G or T "
              "suffix)", name, v);
    if (shift && n > UINT64_MAX >> shift)
        fatal("%s=%.64s is too large", name, v);
    return n << shift;
}

/* Whether the options text sets `key`. */
static bool has_key(const char *options, const char *key)
{
    size_t k = strlen(key);
    for (const char *p = options; *p;) {
        if (strncmp(p, key, k) == 0 && p[k] == '=')
            return true;
        const char *comma = strchr(p, ',');
        if (!comma)
            break;
        p = comma + 1;
    }
    return false;
}

static void fork_prepare(void)
{
    pthread_mutex_lock(&S.lock);
    ma_fork_prepare(S.heap);
}

static void fork_parent(void)
{
    ma_fork_parent(S.heap);
    pthread_mutex_unlock(&S.lock);
}

static void fork_child(void)
{
    ma_fork_child(S.heap);
    pthread_mutex_init(&S.lock, NULL);
}

/* Make the heap from the environment (S.lock held, inside set). */
static void start(void)
{
    const char *name = env("MEMALLOC_ALLOCATOR");
    const char *options = env("MEMALLOC_OPTIONS");
    if (!*name)
        name = DEFAULT_ALLOCATOR;
    if (strlen(name) >= sizeof S.name)
        fatal("MEMALLOC_ALLOCATOR=%.64s...: no allocator has so long a name", name);
    snprintf(S.name, sizeof S.name, "%s", name);
    snprintf(S.report, sizeof S.report, "%s", env("MEMALLOC_REPORT"));
    /* A copy of stderr, far from the numbers programs expect open() to
     * return, for the reports of programs that close stderr before they
     * exit (coreutils do); not inherited across exec. */
    S.stderr_copy = fcntl(2, F_DUPFD_CLOEXEC, STDERR_COPY_FROM);
    size_t index = 0;
    if (ma_registry_parse(name, options, &index, NULL, 0) != MA_OK)
        fatal("%s", ma_thread_error());
    ma_registry_info info;
    ma_registry_entry(index, &info);
    if (strcmp(info.family, "system") == 0)
        fatal("'%s' is the C library's malloc, which the shim replaces: run "
              "the program without it", name);
    bool has_arena = false;
    for (size_t j = 0; j < info.n_options; j++) {
        ma_option_info o;
        if (ma_registry_option(index, j, &o) == MA_OK && strcmp(o.name, "arena_size") == 0)
            has_arena = true;
    }
    int n = has_arena && !has_key(options, "arena_size")
                ? snprintf(S.options, sizeof S.options, "arena_size=%s%s%s",
                           DEFAULT_ARENA, *options ? "," : "", options)
                : snprintf(S.options, sizeof S.options, "%s", options);
    if (n < 0 || (size_t)n >= sizeof S.options)
        fatal("MEMALLOC_OPTIONS is too long (%zu characters)", strlen(options));
    S.stats = env_flag("MEMALLOC_STATS");
    S.leaks = env_flag("MEMALLOC_LEAKS");
    S.abort_on_error = env_flag("MEMALLOC_ABORT_ON_ERROR");
    S.scribble = env_flag("MEMALLOC_SCRIBBLE");
    S.check_at_exit = env_flag("MEMALLOC_CHECK_AT_EXIT");
    S.threshold = env_size("MEMALLOC_MMAP_THRESHOLD");
    S.leaks_max = *env("MEMALLOC_LEAKS_MAX") ? env_size("MEMALLOC_LEAKS_MAX")
                                               : LEAKS_MAX_DEFAULT;
    if (ma_create(name, S.options, &S.heap) != MA_OK)
        fatal("%s with options '%s': %s", name, S.options, ma_thread_error());
    S.base = ma_arena_base(S.heap);
    S.arena_size = ma_arena_size(S.heap);
    if (!shim_record_reserve())
        fatal("mmap refused to reserve %llu bytes of address space for the "
              "record of live blocks (a smaller arena_size needs less)",
              (unsigned long long)(S.arena_size / 4));
    if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0)
        fatal("pthread_atfork refused the fork handlers");
    S.ready = 1;
}

/* At exit() (or the end of main): the reports.  Not when exit() is called
 * from a signal handler that interrupted this thread inside the shim: it
 * holds the lock, and the heap may be half-changed. */
__attribute__((destructor)) static void at_exit(void)
{
    if (inside)
        return;
    pthread_mutex_lock(&S.lock);
    if (!S.ready) {
        pthread_mutex_unlock(&S.lock);
        return;
    }
    inside = 1;
    bool ok = shim_report_at_exit();
    leave();
    if (!ok)
        _exit(SHIM_EXIT_STATUS);
}

/* ---- the malloc family ------------------------------------------------------------ */

/* Inside the shim (its lock held): the internal allocator. */
static void *inner_realloc(void *p, size_t n)
{
    if (!p)
        return meta_alloc(MA_ALIGN, n);
    if (!meta_is_live(p))
        return NULL;
    if (n == 0) {
        meta_free(p);
        return NULL;
    }
    void *q = meta_alloc(MA_ALIGN, n);
    if (q) {
        size_t u = meta_usable(p);
        memcpy(q, p, u < n ? u : n);
        meta_free(p);
    }
    return q;
}

/* n bytes aligned to `align`, a power of two (smaller ones mean MA_ALIGN). */
static void *aligned(size_t align, size_t n)
{
    if (align < MA_ALIGN)
        align = MA_ALIGN;
    if (inside)
        return meta_alloc(align, n);
    enter();
    void *p = shim_alloc(align, 0, n);
    leave();
    if (!p)
        errno = ENOMEM;
    return p;
}

SHIM_EXPORT void *malloc(size_t n)
{
    return aligned(MA_ALIGN, n);
}

SHIM_EXPORT void free(void *p)
{
    if (!p)
        return;
    if (inside) {
        if (meta_is_live(p))
            meta_free(p);
        return;
    }
    int saved = errno;
    enter();
    shim_release(p, "free");
    leave();
    errno = saved;
}

SHIM_EXPORT void *calloc(size_t count, size_t size)
{
    if (inside) {
        if (size && count > SIZE_MAX / size)
            return NULL;
        void *p = meta_alloc(MA_ALIGN, count * size);
        if (p)
            memset(p, 0, count * size);
        return p;
    }
    enter();
    void *p = shim_alloc(MA_ALIGN, count ? count : 1, count ? size : 0);
    leave();
    if (!p)
        errno = ENOMEM;
    return p;
}

SHIM_EXPORT void *realloc(void *p, size_t n)
{
    if (inside)
        return inner_realloc(p, n);
    if (!p)
        return malloc(n);
    if (n == 0) {
        free(p);
        return NULL;
    }
    int err = 0;
    enter();
    void *q = shim_realloc(p, n, &err);
    leave();
    if (!q)
        errno = err;
    return q;
}

SHIM_EXPORT void *reallocarray(void *p, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, count * size);
}

SHIM_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    if (!ma_is_pow2(align) || align % sizeof(void *) != 0)
        return EINVAL;
    int saved = errno;
    void *p = aligned(align, n);
    errno = saved;
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

SHIM_EXPORT void *aligned_alloc(size_t align, size_t n)
{
    if (!ma_is_pow2(align)) {
        errno = EINVAL;
        return NULL;
    }
    return aligned(align, n);
}

/* glibc's rule: a smaller alignment is malloc's, another is rounded up to
 * a power of two, and one above SIZE_MAX / 2 + 1 is EINVAL. */
SHIM_EXPORT void *memalign(size_t align, size_t n)
{
    if (align > SIZE_MAX / 2 + 1) {
        errno = EINVAL;
        return NULL;
    }
    if (!ma_is_pow2(align))
        align = (size_t)1 << ma_ceil_log2(align);
    return aligned(align, n);
}

SHIM_EXPORT void *valloc(size_t n)
{
    return aligned((size_t)ma_page_size(), n);
}

SHIM_EXPORT void *pvalloc(size_t n)
{
    size_t ps = (size_t)ma_page_size();
    if (n > SIZE_MAX - ps) {
        errno = ENOMEM;
        return NULL;
    }
    return aligned(ps, n ? ma_round_up(n, ps) : ps);
}

SHIM_EXPORT size_t malloc_usable_size(void *p)
{
    if (!p)
        return 0;
    if (inside)
        return meta_is_live(p) ? meta_usable(p) : 0;
    enter();
    uint64_t usable = 0;
    if (!shim_usable(p, &usable))
        shim_bad_pointer("malloc_usable_size", p, "not a live block memalloc handed out");
    leave();
    return (size_t)usable;
}
