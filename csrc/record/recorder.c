/*
 * recorder.c: the trace recorder behind `memalloc record`, an LD_PRELOAD
 * library that interposes on the C library's allocator (malloc, free,
 * calloc, realloc, reallocarray, posix_memalign, aligned_alloc, memalign,
 * valloc, pvalloc), forwards every call to the next definition
 * (dlsym(RTLD_NEXT)) and logs it with its result and its thread, in the
 * format of record_format.h, to MEMALLOC_RECORD_DIR/PID.n.mrec.
 *
 * An interposer has exactly one instance per process: the state below
 * (struct recorder R and the thread-local struct thread_state) is that
 * instance, and is the only mutable global state.  It is not part of the
 * Python extension, which compiles only the .c files directly in csrc/.
 *
 * Invariants:
 * - Nothing here allocates through malloc: buffers are mmap'ed, file names
 *   and the header are built in local arrays, messages are written with
 *   write(2).  Calls that may allocate behind our back (dlsym,
 *   pthread_setspecific, pthread_atfork) run with the thread's in_real flag
 *   set, so what they allocate is forwarded unlogged.
 * - Until the real functions are resolved, the thread resolving them is
 *   served from a static bootstrap area (dlsym may call calloc); free and
 *   realloc recognise its blocks by address and never pass them on.
 * - Each thread appends to its own buffer, under the buffer's lock (taken
 *   by its owner without contention; other threads take it only to flush
 *   at exit, exec or _exit).  A full buffer is written as one chunk with one
 *   write(2) to a file opened with O_APPEND, so chunks of different threads
 *   never interleave.  No system call is made per event.
 * - A call made while this thread is inside a forwarded call is forwarded
 *   unlogged: it is the C library's own nesting (glibc has none, others
 *   may), or a signal handler that interrupted the allocator itself, which
 *   the C library does not allow.
 * - An event that cannot go to the thread's buffer (a signal handler that
 *   interrupted this thread's own logging, a thread whose buffer was flushed
 *   at its exit, the process after its exit flush) is written at once as a
 *   chunk of one record.  Sequence numbers keep the order either way.
 * - Each process image writes one log.  A fork child (pthread_atfork)
 *   drops its copy of the parent's unflushed events and opens its own log;
 *   an exec or _exit flushes every buffer first (mode FINISHING, so that
 *   events racing the flush are written at once).  A vfork child shares
 *   its parent's memory: it is recognised by its pid and changes nothing.
 * - Every operation is O(1) except a thread's first event, which looks
 *   for a buffer released by an exited thread (O(buffers)).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "record_format.h"
#include "record_internal.h"

#define EXPORT __attribute__((visibility("default")))
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* 64 KiB per thread: a write(2) every 1,364 events. */
#define BUFFER_BYTES 65536u
#define BUFFER_RECORDS ((BUFFER_BYTES - 40u) / sizeof(struct mr_record))
#define BOOT_BYTES 16384u
#define MAX_IMAGES 100000u

/* ------------------------------------------------------------ the state */

enum mode {
    MODE_UNRESOLVED,   /* the real functions are not looked up yet */
    MODE_RESOLVING,    /* one thread is looking them up */
    MODE_PASS,         /* forwarding only: no log (yet, or at all) */
    MODE_RECORDING,    /* logging into per-thread buffers */
    MODE_FINISHING     /* the image is ending: every event is written at once */
};

typedef void *malloc_fn(size_t);
typedef void free_fn(void *);
typedef void *calloc_fn(size_t, size_t);
typedef void *realloc_fn(void *, size_t);
typedef int posix_memalign_fn(void **, size_t, size_t);
typedef void *aligned_fn(size_t, size_t);

struct buffer {
    struct buffer *next;        /* the list of every buffer; never unlinked */
    _Atomic int owned;          /* 1 while a live thread appends to it */
    _Atomic int lock;           /* held while appending or flushing */
    uint64_t pad;
    struct mr_chunk head;       /* head.count records follow it directly */
    struct mr_record rec[BUFFER_RECORDS];
};
_Static_assert(offsetof(struct buffer, rec) == offsetof(struct buffer, head) + sizeof(struct mr_chunk),
               "a chunk is written from its header with one write");
_Static_assert(sizeof(struct buffer) <= BUFFER_BYTES, "a buffer fits its mapping");
_Static_assert(sizeof(struct mr_record) == 48 && sizeof(struct mr_chunk) == 16, "the format's sizes");

struct thread_state {
    struct buffer *buf;     /* this thread's buffer, NULL before its first event and after its exit */
    uint32_t tid;
    unsigned char in_real;  /* inside a forwarded call or our own set-up: do not log */
    unsigned char busy;     /* holding a buffer lock: a signal handler must not take it */
    unsigned char gone;     /* the thread's exit flushed its buffer: write events at once */
    unsigned char resolving;/* this thread is looking up the real functions */
};

static _Thread_local struct thread_state tls __attribute__((tls_model("initial-exec")));

static struct recorder {
    _Atomic int mode;
    _Atomic int open_pending;   /* 1 until the log has been opened or found not wanted */
    int fd;
    uint32_t pid;               /* whose log fd is: a vfork child differs */
    uint32_t page_size;
    _Atomic uint64_t seq;
    _Atomic(struct buffer *) buffers;
    pthread_key_t key;
    int key_ok;
    struct {
        malloc_fn *malloc;
        free_fn *free;
        calloc_fn *calloc;
        realloc_fn *realloc;
        posix_memalign_fn *posix_memalign;
        aligned_fn *aligned_alloc, *memalign;
        malloc_fn *valloc, *pvalloc;
        struct mr_image_functions image;
    } real;
    char dir[4096];
} R = { .fd = -1, .open_pending = 1 };

static _Alignas(16) unsigned char boot_area[BOOT_BYTES];
static size_t boot_used;

/* ------------------------------------------------------------ small helpers */

static void lock_buffer(struct buffer *b)
{
    unsigned spins = 0;
    while (atomic_exchange_explicit(&b->lock, 1, memory_order_acquire))
        if (++spins > 64)
            sched_yield();
}

static int try_lock_buffer(struct buffer *b)
{
    return !atomic_exchange_explicit(&b->lock, 1, memory_order_acquire);
}

static void unlock_buffer(struct buffer *b)
{
    atomic_store_explicit(&b->lock, 0, memory_order_release);
}

static uint64_t next_seq(void)
{
    return atomic_fetch_add_explicit(&R.seq, 1, memory_order_relaxed) + 1;
}

static uint32_t current_tid(void)
{
    return (uint32_t)syscall(SYS_gettid);
}

/* Writes all of len bytes (retrying after signals); 0 when it could not. */
static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        p += n;
        len -= (size_t)n;
    }
    return 1;
}

/* Decimal digits of v at out (no terminator); returns their number. */
static size_t put_decimal(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

static void say(const char *what, const char *path, int err)
{
    char msg[4400];
    size_t n = 0;
    const char *parts[] = { "memalloc record: ", what, " ", path, " (errno " };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t k = strnlen(parts[i], sizeof msg - 32 - n);
        memcpy(msg + n, parts[i], k);
        n += k;
    }
    n += put_decimal(msg + n, (uint64_t)(err < 0 ? 0 : err));
    msg[n++] = ')';
    msg[n++] = '\n';
    (void)!write(2, msg, n);
}

/* Up to cap bytes of a /proc file; the count read, 0 on any failure. */
static size_t read_proc(const char *path, char *out, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t got = 0;
    while (got < cap) {
        ssize_t n = read(fd, out + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    return got;
}

/* Field 22 of /proc/self/stat (after the command name in parentheses). */
static uint64_t start_ticks(void)
{
    char stat[1024];
    size_t n = read_proc("/proc/self/stat", stat, sizeof stat - 1);
    stat[n] = '\0';
    char *p = strrchr(stat, ')');
    if (!p)
        return 0;
    for (int field = 2; field < 22 && *p; p++)
        if (*p == ' ')
            field++;
    uint64_t v = 0;
    while (*p >= '0' && *p <= '9')
        v = v * 10 + (uint64_t)(*p++ - '0');
    return v;
}

/* ------------------------------------------------------------ set-up */

static void *lookup(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

#define RESOLVE(field, name) do { void *sym_ = lookup(name); memcpy(&R.real.field, &sym_, sizeof sym_); } while (0)

/* 1 once the real functions are known; 0 for a call made by dlsym itself
 * while this thread looks them up (it gets the bootstrap area). */
static int resolve(void)
{
    if (atomic_load_explicit(&R.mode, memory_order_acquire) >= MODE_PASS)
        return 1;
    if (tls.resolving)
        return 0;
    int expected = MODE_UNRESOLVED;
    if (atomic_compare_exchange_strong(&R.mode, &expected, MODE_RESOLVING)) {
        tls.resolving = 1;
        RESOLVE(malloc, "malloc");
        RESOLVE(free, "free");
        RESOLVE(calloc, "calloc");
        RESOLVE(realloc, "realloc");
        RESOLVE(posix_memalign, "posix_memalign");
        RESOLVE(aligned_alloc, "aligned_alloc");
        RESOLVE(memalign, "memalign");
        RESOLVE(valloc, "valloc");
        RESOLVE(pvalloc, "pvalloc");
        RESOLVE(image.execve, "execve");
        RESOLVE(image.execvpe, "execvpe");
        RESOLVE(image.execv, "execv");
        RESOLVE(image.execvp, "execvp");
        RESOLVE(image.fexecve, "fexecve");
        RESOLVE(image.execveat, "execveat");
        RESOLVE(image.exit_, "_exit");
        RESOLVE(image.Exit, "_Exit");
        tls.resolving = 0;
        long page = sysconf(_SC_PAGESIZE);
        R.page_size = page > 0 ? (uint32_t)page : 4096u;
        atomic_store_explicit(&R.mode, MODE_PASS, memory_order_release);
        return 1;
    }
    while (atomic_load_explicit(&R.mode, memory_order_acquire) == MODE_RESOLVING)
        sched_yield();
    return 1;
}

/* Opens DIR/PID.n.mrec for the first n not taken and writes its header.
 * 1 on success; 0 (after saying why on stderr) otherwise. */
static int open_log(void)
{
    char path[4096 + 64];
    size_t dir_len = strnlen(R.dir, sizeof R.dir);
    uint32_t pid = (uint32_t)getpid();
    memcpy(path, R.dir, dir_len);
    path[dir_len] = '/';
    size_t stem = dir_len + 1 + put_decimal(path + dir_len + 1, pid);
    int fd = -1;
    uint32_t image = 0;
    for (; image < MAX_IMAGES; image++) {
        size_t n = stem;
        path[n++] = '.';
        n += put_decimal(path + n, image);
        memcpy(path + n, ".mrec", 6);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0 || errno != EEXIST)
            break;
    }
    if (fd < 0) {
        say("cannot create", path, errno);
        return 0;
    }
    static _Alignas(8) unsigned char header[sizeof(struct mr_file_header) + MR_MAX_CMD + MR_MAX_EXE + 8];
    struct mr_file_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, MR_MAGIC, sizeof h.magic);
    h.version = MR_VERSION;
    h.record_bytes = (uint32_t)sizeof(struct mr_record);
    h.byte_order = MR_BYTE_ORDER;
    h.pid = pid;
    h.ppid = (uint32_t)getppid();
    h.image = image;
    h.page_size = R.page_size;
    h.start_ticks = start_ticks();
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    h.start_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    h.first_seq = atomic_load_explicit(&R.seq, memory_order_relaxed);
    unsigned char *p = header + sizeof h;
    h.cmd_bytes = (uint32_t)read_proc("/proc/self/cmdline", (char *)p, MR_MAX_CMD);
    ssize_t exe = readlink("/proc/self/exe", (char *)p + h.cmd_bytes, MR_MAX_EXE);
    h.exe_bytes = exe > 0 ? (uint32_t)exe : 0;
    size_t total = (sizeof h + h.cmd_bytes + h.exe_bytes + 7) & ~(size_t)7;
    memset(header + sizeof h + h.cmd_bytes + h.exe_bytes, 0, total - (sizeof h + h.cmd_bytes + h.exe_bytes));
    h.header_bytes = (uint32_t)total;
    memcpy(header, &h, sizeof h);
    if (!write_all(fd, header, total)) {
        say("cannot write", path, errno);
        close(fd);
        return 0;
    }
    R.fd = fd;
    R.pid = pid;
    return 1;
}

static void thread_exit(void *arg);
static void fork_child(void);

/* Once environ is set: start recording when MEMALLOC_RECORD_DIR names a
 * directory, else forward without logging for the rest of the image. */
static void start_recording(void)
{
    if (environ == NULL)
        return;  /* too early in start-up: the next call tries again */
    int pending = 1;
    if (!atomic_compare_exchange_strong(&R.open_pending, &pending, 0))
        return;
    int saved = errno;
    const char *dir = getenv("MEMALLOC_RECORD_DIR");
    size_t len = dir ? strnlen(dir, sizeof R.dir) : 0;
    if (len == 0 || len >= sizeof R.dir) {
        if (len)
            say("the directory name is too long:", "MEMALLOC_RECORD_DIR", ENAMETOOLONG);
        errno = saved;
        return;
    }
    memcpy(R.dir, dir, len + 1);
    if (open_log()) {
        tls.in_real = 1;   /* what these allocate is ours, not the program's */
        R.key_ok = pthread_key_create(&R.key, thread_exit) == 0;
        pthread_atfork(NULL, NULL, fork_child);
        tls.in_real = 0;
        atomic_store_explicit(&R.mode, MODE_RECORDING, memory_order_release);
    }
    errno = saved;
}

/* The mode a call proceeds in: resolving first, opening the log once. */
static int prepare(void)
{
    if (!resolve())
        return MODE_UNRESOLVED;
    if (atomic_load_explicit(&R.open_pending, memory_order_relaxed) && !tls.in_real)
        start_recording();
    return atomic_load_explicit(&R.mode, memory_order_acquire);
}

/* ------------------------------------------------------------ logging */

static void flush_locked(struct buffer *b)
{
    if (b->head.count && R.fd >= 0)
        write_all(R.fd, &b->head, sizeof b->head + b->head.count * sizeof(struct mr_record));
    b->head.count = 0;
}

/* Writes every buffer's events (before the image ends). */
static void flush_all(void)
{
    int saved = errno;
    int nested = tls.busy;  /* a signal handler interrupted our own logging */
    tls.busy = 1;
    atomic_signal_fence(memory_order_seq_cst);
    for (struct buffer *b = atomic_load(&R.buffers); b; b = b->next) {
        if (nested) {
            if (!try_lock_buffer(b))
                continue;
        } else {
            lock_buffer(b);
        }
        flush_locked(b);
        unlock_buffer(b);
    }
    atomic_signal_fence(memory_order_seq_cst);
    tls.busy = (unsigned char)nested;
    errno = saved;
}

static void write_single(const struct mr_record *r)
{
    struct {
        struct mr_chunk head;
        struct mr_record rec;
    } one = { { MR_CHUNK_MAGIC, tls.tid ? tls.tid : current_tid(), 1, 0 }, *r };
    if (R.fd >= 0)
        write_all(R.fd, &one, sizeof one);
}

/* This thread's buffer: one released by an exited thread, else a new mapping. */
static struct buffer *claim_buffer(void)
{
    struct buffer *b;
    for (b = atomic_load(&R.buffers); b; b = b->next) {
        int free_ = 0;
        if (atomic_compare_exchange_strong(&b->owned, &free_, 1))
            break;
    }
    if (!b) {
        void *m = mmap(NULL, BUFFER_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return NULL;
        b = m;  /* zero-filled: unowned, unlocked, empty */
        atomic_store(&b->owned, 1);
        struct buffer *head = atomic_load(&R.buffers);
        do
            b->next = head;
        while (!atomic_compare_exchange_weak(&R.buffers, &head, b));
    }
    tls.tid = current_tid();
    b->head.magic = MR_CHUNK_MAGIC;
    b->head.tid = tls.tid;
    b->head.reserved = 0;
    tls.buf = b;
    if (R.key_ok) {
        tls.in_real = 1;
        pthread_setspecific(R.key, b);
        tls.in_real = 0;
    }
    return b;
}

/* Logs one event.  seq 0: take the next number now. */
static void emit(unsigned kind, uint64_t seq, uint64_t w0, uint64_t w1, uint64_t w2, uint64_t w3,
                 uint64_t w4)
{
    struct buffer *b = tls.buf;
    if (UNLIKELY(b == NULL || tls.busy)) {
        int saved = errno;
        if (b == NULL && !tls.busy && !tls.gone)
            b = claim_buffer();
        if (b == NULL || tls.busy) {
            struct mr_record r = { (seq ? seq : next_seq()) | (uint64_t)kind << MR_SEQ_BITS,
                                   { w0, w1, w2, w3, w4 } };
            write_single(&r);
            errno = saved;
            return;
        }
        errno = saved;
    }
    tls.busy = 1;
    atomic_signal_fence(memory_order_seq_cst);
    lock_buffer(b);
    struct mr_record *r = &b->rec[b->head.count++];
    r->head = (seq ? seq : next_seq()) | (uint64_t)kind << MR_SEQ_BITS;
    r->w[0] = w0;
    r->w[1] = w1;
    r->w[2] = w2;
    r->w[3] = w3;
    r->w[4] = w4;
    if (UNLIKELY(b->head.count == BUFFER_RECORDS ||
                 atomic_load_explicit(&R.mode, memory_order_relaxed) == MODE_FINISHING)) {
        int saved = errno;
        flush_locked(b);
        errno = saved;
    }
    unlock_buffer(b);
    atomic_signal_fence(memory_order_seq_cst);
    tls.busy = 0;
}

/* pthread key destructor: the thread is exiting. */
static void thread_exit(void *arg)
{
    struct buffer *b = arg;
    if (b != tls.buf || tls.busy)
        return;
    int saved = errno;
    tls.busy = 1;
    atomic_signal_fence(memory_order_seq_cst);
    lock_buffer(b);
    flush_locked(b);
    unlock_buffer(b);
    tls.buf = NULL;
    tls.gone = 1;
    atomic_store_explicit(&b->owned, 0, memory_order_release);
    atomic_signal_fence(memory_order_seq_cst);
    tls.busy = 0;
    errno = saved;
}

/* pthread_atfork child handler: only the forking thread exists here, and
 * every buffer holds the parent's events, which the parent writes itself. */
static void fork_child(void)
{
    int saved = errno;
    for (struct buffer *b = atomic_load(&R.buffers); b; b = b->next) {
        b->head.count = 0;
        atomic_store(&b->lock, 0);
        atomic_store(&b->owned, b == tls.buf);
    }
    tls.busy = 0;
    tls.tid = current_tid();
    if (tls.buf)
        tls.buf->head.tid = tls.tid;
    if (R.fd >= 0)
        close(R.fd);
    R.fd = -1;
    if (!open_log())
        atomic_store(&R.mode, MODE_PASS);
    errno = saved;
}

const struct mr_image_functions *mr_image_functions(void)
{
    resolve();
    return &R.real.image;
}

/* Before exec or _exit: every buffered event written, and events racing
 * this written at once.  Returns the mode to restore if the call returns. */
int mr_finish_image(void)
{
    int mode = atomic_load_explicit(&R.mode, memory_order_acquire);
    if (mode != MODE_RECORDING || (uint32_t)getpid() != R.pid)
        return -1;  /* not recording, or a vfork child sharing its parent's memory */
    atomic_store_explicit(&R.mode, MODE_FINISHING, memory_order_release);
    flush_all();
    return mode;
}

void mr_resume_image(int mode)
{
    if (mode >= 0)
        atomic_store_explicit(&R.mode, mode, memory_order_release);
}

__attribute__((destructor)) static void at_unload(void)
{
    mr_finish_image();
}

/* ------------------------------------------------------------ the bootstrap area */

static int in_boot(const void *p)
{
    return (const unsigned char *)p >= boot_area && (const unsigned char *)p < boot_area + BOOT_BYTES;
}

/* 16-byte blocks after a 16-byte header holding the size. */
static void *boot_alloc(size_t n)
{
    size_t need = 16 + ((n + 15) & ~(size_t)15);
    if (n > BOOT_BYTES || need > BOOT_BYTES - boot_used) {
        errno = ENOMEM;
        return NULL;
    }
    unsigned char *p = boot_area + boot_used;
    boot_used += need;
    memcpy(p, &n, sizeof n);
    return p + 16;
}

static size_t boot_size(const void *p)
{
    size_t n;
    memcpy(&n, (const unsigned char *)p - 16, sizeof n);
    return n;
}

/* ------------------------------------------------------------ the allocator's functions */

#define P(x) ((uint64_t)(uintptr_t)(x))

/* Forward with in_real set, so that the C library's own nested calls are not logged twice. */
#define FORWARD(result, call) do { tls.in_real = 1; result = call; tls.in_real = 0; } while (0)

/* 1 when the call is to be logged; handles the modes before recording. */
static inline int logging(int *mode)
{
    int m = atomic_load_explicit(&R.mode, memory_order_acquire);
    if (UNLIKELY(m < MODE_RECORDING))
        m = prepare();
    *mode = m;
    return m >= MODE_RECORDING && !tls.in_real;
}

EXPORT void *malloc(size_t n)
{
    int mode;
    if (!logging(&mode)) {
        if (mode == MODE_UNRESOLVED)
            return boot_alloc(n);
        return R.real.malloc(n);
    }
    void *p;
    FORWARD(p, R.real.malloc(n));
    emit(MR_MALLOC, 0, n, P(p), 0, 0, 0);
    return p;
}

EXPORT void free(void *p)
{
    int mode;
    if (in_boot(p))
        return;
    if (!logging(&mode)) {
        if (mode != MODE_UNRESOLVED)
            R.real.free(p);
        return;
    }
    uint64_t seq = next_seq();
    tls.in_real = 1;
    R.real.free(p);
    tls.in_real = 0;
    emit(MR_FREE, seq, P(p), 0, 0, 0, 0);
}

EXPORT void *calloc(size_t count, size_t size)
{
    int mode;
    if (!logging(&mode)) {
        if (mode == MODE_UNRESOLVED) {
            if (size && count > SIZE_MAX / size) {
                errno = ENOMEM;
                return NULL;
            }
            return boot_alloc(count * size);  /* static memory: zero */
        }
        return R.real.calloc(count, size);
    }
    void *p;
    FORWARD(p, R.real.calloc(count, size));
    emit(MR_CALLOC, 0, count, size, P(p), 0, 0);
    return p;
}

/* realloc of a bootstrap block: moved into a real one. */
static void *boot_realloc(void *old, size_t n)
{
    void *p = R.real.malloc(n);
    if (p) {
        size_t had = boot_size(old);
        memcpy(p, old, had < n ? had : n);
    }
    return p;
}

static void *realloc_logged(unsigned kind, void *old, size_t count, size_t size)
{
    int mode;
    size_t n = count * size;
    int overflow = kind == MR_REALLOCARRAY && size && count > SIZE_MAX / size;
    if (!logging(&mode)) {
        if (overflow) {
            errno = ENOMEM;
            return NULL;
        }
        if (mode == MODE_UNRESOLVED) {
            void *p = boot_alloc(n);
            if (p && old)
                memcpy(p, old, boot_size(old) < n ? boot_size(old) : n);
            return p;
        }
        return in_boot(old) ? boot_realloc(old, n) : R.real.realloc(old, n);
    }
    uint64_t release = old ? next_seq() : 0;
    void *p;
    if (overflow) {
        errno = ENOMEM;
        p = NULL;
    } else if (in_boot(old)) {
        FORWARD(p, boot_realloc(old, n));
    } else {
        FORWARD(p, R.real.realloc(old, n));
    }
    if (kind == MR_REALLOC)
        emit(MR_REALLOC, 0, P(old), n, P(p), release, 0);
    else
        emit(MR_REALLOCARRAY, 0, P(old), count, size, P(p), release);
    return p;
}

EXPORT void *realloc(void *old, size_t n)
{
    return realloc_logged(MR_REALLOC, old, 1, n);
}

EXPORT void *reallocarray(void *old, size_t count, size_t size)
{
    return realloc_logged(MR_REALLOCARRAY, old, count, size);
}

EXPORT int posix_memalign(void **out, size_t alignment, size_t size)
{
    int mode;
    if (!logging(&mode)) {
        if (mode == MODE_UNRESOLVED || !R.real.posix_memalign)
            return ENOMEM;
        return R.real.posix_memalign(out, alignment, size);
    }
    if (!R.real.posix_memalign)
        return ENOMEM;
    int rc;
    FORWARD(rc, R.real.posix_memalign(out, alignment, size));
    emit(MR_POSIX_MEMALIGN, 0, alignment, size, rc ? 0 : P(*out), (uint64_t)(uint32_t)rc, 0);
    return rc;
}

static void *aligned_logged(unsigned kind, aligned_fn *real, size_t alignment, size_t size)
{
    int mode;
    if (!logging(&mode)) {
        if (mode == MODE_UNRESOLVED || !real) {
            errno = ENOMEM;
            return NULL;
        }
        return real(alignment, size);
    }
    if (!real) {
        errno = ENOMEM;
        return NULL;
    }
    void *p;
    FORWARD(p, real(alignment, size));
    emit(kind, 0, alignment, size, P(p), 0, 0);
    return p;
}

EXPORT void *aligned_alloc(size_t alignment, size_t size)
{
    if (atomic_load_explicit(&R.mode, memory_order_acquire) < MODE_PASS && !resolve()) {
        errno = ENOMEM;
        return NULL;
    }
    return aligned_logged(MR_ALIGNED_ALLOC, R.real.aligned_alloc, alignment, size);
}

EXPORT void *memalign(size_t alignment, size_t size)
{
    if (atomic_load_explicit(&R.mode, memory_order_acquire) < MODE_PASS && !resolve()) {
        errno = ENOMEM;
        return NULL;
    }
    return aligned_logged(MR_MEMALIGN, R.real.memalign, alignment, size);
}

static void *page_logged(unsigned kind, size_t size)
{
    int mode;
    if (!logging(&mode)) {
        malloc_fn *real = kind == MR_VALLOC ? R.real.valloc : R.real.pvalloc;
        if (mode == MODE_UNRESOLVED || !real) {
            errno = ENOMEM;
            return NULL;
        }
        return real(size);
    }
    malloc_fn *real = kind == MR_VALLOC ? R.real.valloc : R.real.pvalloc;
    if (!real) {
        errno = ENOMEM;
        return NULL;
    }
    void *p;
    FORWARD(p, real(size));
    emit(kind, 0, size, P(p), 0, 0, 0);
    return p;
}

EXPORT void *valloc(size_t size)
{
    return page_logged(MR_VALLOC, size);
}

EXPORT void *pvalloc(size_t size)
{
    return page_logged(MR_PVALLOC, size);
}
