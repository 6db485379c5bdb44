/*
 * shim_probe.c -- a program for tests/test_shim.py to run under the preload
 * shim: each scenario (argv[1]) exercises one of its promises and prints
 * what it saw with write(2) only (stdio would allocate, and some scenarios
 * must make no allocation but their own).  Exit status 0 when every check
 * inside passed; a failed check prints "FAIL ..." and exits 1.
 *
 *   family          every function of the malloc family, their edge cases
 *   threads N       N threads allocating, checking contents; one forks, and
 *                   the child allocates while the others go on
 *   bad KIND        free/realloc/malloc_usable_size of a pointer that is not
 *                   a live block (stack, twice, inside, mapped), then goes on
 *   exhaust         malloc 64 KiB blocks until NULL: errno, then recovery
 *   big             blocks above MEMALLOC_MMAP_THRESHOLD=1M: realloc both
 *                   ways, usable size, free
 *   scribble        fresh blocks read 0xaa, freed ones 0x55, calloc zero
 *   leaks           three blocks of 12,345 bytes and two of 777 never freed
 *   corrupt         overwrite the size word before a live block, exit 0
 *   ops FILE        the operations of a trace file (see test_shim.py): no
 *                   other allocation at all, for comparison with a replay
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof line - 1 ? (size_t)n : sizeof line - 2;
    line[len++] = '\n';
    if (write(1, line, len) < 0)
        _exit(3);
}

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            say("FAIL line %d: %s", __LINE__, #cond);                        \
            _exit(1);                                                        \
        }                                                                    \
    } while (0)

static int aligned_to(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

/* The probe misuses the allocator on purpose: values and pointers passed
 * through these stay hidden from the compiler's warnings about it. */
static size_t opaque(size_t x)
{
    volatile size_t v = x;
    return v;
}

static void *hide(void *p)
{
    void *volatile v = p;
    return v;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed + i * 7);
}

static int intact(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed + i * 7))
            return 0;
    return 1;
}

static int family(void)
{
    unsigned char *p = malloc(100);
    CHECK(p && aligned_to(p, 16) && malloc_usable_size(p) >= 100);
    fill(p, 100, 1);
    p = realloc(p, 5000); /* grows: contents kept */
    CHECK(p && intact(p, 100, 1) && malloc_usable_size(p) >= 5000);
    p = realloc(p, 40); /* shrinks */
    CHECK(p && intact(p, 40, 1));
    unsigned char *z = calloc(1000, 3);
    CHECK(z);
    for (int i = 0; i < 3000; i++)
        CHECK(z[i] == 0);
    errno = 0;
    CHECK(calloc(opaque(SIZE_MAX / 2), 3) == NULL && errno == ENOMEM); /* overflow */
    errno = 0;
    CHECK(reallocarray(NULL, opaque(SIZE_MAX / 2), 3) == NULL && errno == ENOMEM);
    unsigned char *r = reallocarray(NULL, 10, 10);
    CHECK(r && malloc_usable_size(r) >= 100);
    void *m = NULL;
    void *small = NULL;
    CHECK(posix_memalign(&small, sizeof(void *), 10) == 0 && small && aligned_to(small, 16));
    void *one = memalign(opaque(1), 10); /* below 16: malloc's alignment */
    CHECK(one && aligned_to(one, 16));
    CHECK(posix_memalign(&m, 4096, 10) == 0 && m && aligned_to(m, 4096));
    CHECK(posix_memalign(&m, 24, 10) == EINVAL); /* not a power of two */
    CHECK(posix_memalign(&m, 4, 10) == EINVAL);  /* not a multiple of void * */
    void *a = aligned_alloc(256, 512);
    CHECK(a && aligned_to(a, 256));
    errno = 0;
    CHECK(aligned_alloc(opaque(48), 96) == NULL && errno == EINVAL);
    void *b = memalign(opaque(48), 10); /* glibc rounds it up to 64 */
    CHECK(b && aligned_to(b, 64));
    long ps = sysconf(_SC_PAGESIZE);
    void *v = valloc(10);
    CHECK(v && aligned_to(v, (size_t)ps));
    void *pv = pvalloc(10);
    CHECK(pv && aligned_to(pv, (size_t)ps) && malloc_usable_size(pv) >= (size_t)ps);
    void *zero = malloc(0); /* a unique minimum block */
    void *zero2 = malloc(0);
    CHECK(zero && zero2 && zero != zero2);
    CHECK(realloc(zero2, 0) == NULL); /* frees */
    CHECK(malloc_usable_size(NULL) == 0);
    errno = 0;
    CHECK(malloc(opaque((size_t)1 << 62)) == NULL && errno == ENOMEM); /* silent */
    free(NULL);
    free(p);
    free(z);
    free(r);
    free(m);
    free(small);
    free(one);
    free(a);
    free(b);
    free(v);
    free(pv);
    free(zero);
    say("family ok");
    return 0;
}

/* ---- threads and fork ---- */

#define SLOTS 64

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    unsigned char *slot[SLOTS] = {0};
    size_t size[SLOTS] = {0};
    for (int i = 0; i < 20000; i++) {
        seed = seed * 1103515245u + 12345u;
        int k = (int)((seed >> 8) % SLOTS);
        if (slot[k]) {
            CHECK(intact(slot[k], size[k], (unsigned)k));
            if (seed & 1) {
                free(slot[k]);
                slot[k] = NULL;
                continue;
            }
            size_t n = 1 + (seed >> 12) % 3000;
            unsigned char *q = realloc(slot[k], n);
            CHECK(q && intact(q, n < size[k] ? n : size[k], (unsigned)k));
            slot[k] = q;
            size[k] = n;
            fill(q, n, (unsigned)k);
        } else {
            size[k] = 1 + (seed >> 12) % 3000;
            slot[k] = (seed & 2) ? calloc(1, size[k]) : malloc(size[k]);
            CHECK(slot[k]);
            fill(slot[k], size[k], (unsigned)k);
        }
    }
    for (int k = 0; k < SLOTS; k++)
        free(slot[k]);
    return NULL;
}

static void *forker(void *arg)
{
    (void)arg;
    for (int round = 0; round < 5; round++) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) { /* the child allocates, with the parent's threads gone */
            worker((void *)(uintptr_t)(1000 + round));
            _exit(0);
        }
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    return NULL;
}

static int threads(int n)
{
    pthread_t t[16], f;
    CHECK(n > 0 && n <= 16);
    for (int i = 0; i < n; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1)) == 0);
    CHECK(pthread_create(&f, NULL, forker, NULL) == 0);
    for (int i = 0; i < n; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    CHECK(pthread_join(f, NULL) == 0);
    say("threads ok");
    return 0;
}

/* ---- pointers that are not ours ---- */

static int bad(const char *kind)
{
    char *p = malloc(64), *q = malloc(64);
    CHECK(p && q);
    strcpy(q, "intact");
    if (strcmp(kind, "stack") == 0) {
        char local[32];
        free(hide(local + 16));
    } else if (strcmp(kind, "twice") == 0) {
        char *again = hide(p);
        free(p);
        free(again);
        p = malloc(64); /* the heap still works */
        CHECK(p);
    } else if (strcmp(kind, "inside") == 0) {
        free(hide(p + 16));
        CHECK(realloc(hide(p + 32), 100) == NULL && errno == EINVAL);
        CHECK(malloc_usable_size(hide(p + 16)) == 0);
    } else if (strcmp(kind, "mapped") == 0) {
        char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        CHECK(m != MAP_FAILED);
        free(hide(m + 16));
    } else {
        say("unknown kind %s", kind);
        return 2;
    }
    CHECK(strcmp(q, "intact") == 0);
    free(p);
    free(q);
    say("survived %s", kind);
    return 0;
}

static int exhaust(void)
{
    static void *blocks[1 << 16];
    int n = 0;
    errno = 0;
    while (n < (1 << 16) && (blocks[n] = malloc(64 * 1024)) != NULL)
        n++;
    CHECK(n < (1 << 16) && errno == ENOMEM);
    CHECK(malloc(64 * 1024) == NULL); /* the message is given once */
    for (int i = 0; i < n; i++)
        free(blocks[i]);
    void *again = malloc(64 * 1024);
    CHECK(again);
    free(again);
    say("exhausted after %d blocks", n);
    return 0;
}

static int big(void)
{
    unsigned char *p = malloc(3 << 20);
    CHECK(p && malloc_usable_size(p) >= (3u << 20));
    fill(p, 3 << 20, 5);
    p = realloc(p, 5 << 20); /* stays a mapping */
    CHECK(p && intact(p, 3 << 20, 5));
    unsigned char *small = realloc(p, 1000); /* into the arena */
    CHECK(small && intact(small, 1000, 5));
    p = realloc(small, 2 << 20); /* and out again */
    CHECK(p && intact(p, 1000, 5));
    void *al = aligned_alloc(1 << 16, 1 << 21);
    CHECK(al && aligned_to(al, 1 << 16));
    unsigned char *z = calloc(1, 2 << 20);
    CHECK(z && z[0] == 0 && z[(2 << 20) - 1] == 0);
    free(p);
    free(al);
    free(z);
    say("big ok");
    return 0;
}

static int scribble(void)
{
    unsigned char *p = malloc(256);
    CHECK(p);
    for (int i = 0; i < 256; i++)
        CHECK(p[i] == 0xaa);
    unsigned char *keep = hide(p);
    free(p);
    for (int i = 64; i < 128; i++) /* past any free-list links */
        CHECK(keep[i] == 0x55);
    unsigned char *z = calloc(1, 256);
    CHECK(z);
    for (int i = 0; i < 256; i++)
        CHECK(z[i] == 0);
    unsigned char *g = malloc(100);
    CHECK(g);
    memset(g, 1, 100);
    g = realloc(g, 10000); /* grows beyond the block: moved, the tail fresh */
    CHECK(g && g[0] == 1 && g[99] == 1 && g[100] == 0xaa && g[9999] == 0xaa);
    free(g);
    free(z);
    say("scribble ok");
    return 0;
}

static int leaks(void)
{
    for (int i = 0; i < 3; i++)
        CHECK(malloc(12345));
    for (int i = 0; i < 2; i++)
        CHECK(malloc(777));
    void *gone = malloc(99999);
    free(gone);
    say("leaked");
    return 0;
}

static int corrupt(void)
{
    uint64_t *p = malloc(100);
    unsigned char *q = malloc(100);
    CHECK(p && q);
    /* The free list's size word is one of the two words before the block;
     * volatile, hidden: the stores are neither dead nor out of bounds. */
    volatile uint64_t *head = hide(q - 16);
    head[0] = head[1] = UINT64_C(0x123457);
    say("corrupted");
    return 0;
}

/* ---- a trace's operations ---- */

/* The file: n (uint64), then n records of {uint32 op, uint32 id, uint64 size,
 * uint64 arg}; ops as ma_trace_view's (0 malloc, 1 calloc, 2 realloc,
 * 3 memalign, 4 free). */
typedef struct rec {
    uint32_t op, id;
    uint64_t size, arg;
} rec;

#define MAX_OPS (1 << 17)
#define MAX_IDS (1 << 16)
static rec ops[MAX_OPS];
static void *ptr[MAX_IDS];

static int replay_ops(const char *file)
{
    int fd = open(file, O_RDONLY);
    uint64_t n = 0;
    CHECK(fd >= 0 && read(fd, &n, sizeof n) == (ssize_t)sizeof n && n <= MAX_OPS);
    size_t want = (size_t)n * sizeof(rec), got = 0;
    while (got < want) {
        ssize_t r = read(fd, (char *)ops + got, want - got);
        CHECK(r > 0);
        got += (size_t)r;
    }
    close(fd);
    for (uint64_t i = 0; i < n; i++) {
        rec *e = &ops[i];
        CHECK(e->id < MAX_IDS);
        void **slot = &ptr[e->id];
        switch (e->op) {
        case 0: *slot = malloc(e->size); break;
        case 1: *slot = calloc(e->arg, e->size); break;
        case 2: *slot = realloc(*slot, e->size); break;
        case 3: *slot = memalign(e->arg, e->size); break;
        case 4: free(*slot); *slot = NULL; break;
        default: CHECK(0);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *s = argc > 1 ? argv[1] : "";
    if (strcmp(s, "family") == 0)
        return family();
    if (strcmp(s, "threads") == 0 && argc == 3)
        return threads(atoi(argv[2]));
    if (strcmp(s, "bad") == 0 && argc == 3)
        return bad(argv[2]);
    if (strcmp(s, "exhaust") == 0)
        return exhaust();
    if (strcmp(s, "big") == 0)
        return big();
    if (strcmp(s, "scribble") == 0)
        return scribble();
    if (strcmp(s, "leaks") == 0)
        return leaks();
    if (strcmp(s, "corrupt") == 0)
        return corrupt();
    if (strcmp(s, "ops") == 0 && argc == 3)
        return replay_ops(argv[2]);
    say("usage: shim_probe family|threads N|bad KIND|exhaust|big|scribble|leaks|corrupt|ops FILE");
    return 2;
}
