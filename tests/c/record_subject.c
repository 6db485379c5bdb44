/*
 * record_subject.c: a program whose allocations tests/test_record.py knows,
 * recorded with `memalloc record` and checked event by event.  Every size
 * it asks for is one that the C library's own allocations do not use
 * (10001 and up), so the test can pick its events out of the trace.
 *
 *   record_subject           the main sequence below, two threads, a fork
 *                            child that calls _exit, a fork child that execs
 *                            this program again with "exec"
 *   record_subject exec      the exec'd image
 *   record_subject signals N N mallocs and frees while SIGALRM's handler
 *                            calls free(NULL) (safe in a handler); prints
 *                            how many times the handler ran
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static void *worker(void *arg)
{
    size_t base = (size_t)(uintptr_t)arg;
    for (size_t i = 0; i < 3; i++)
        free(malloc(base + i));
    return NULL;
}

static volatile sig_atomic_t handled;

static void on_alarm(int sig)
{
    (void)sig;
    free(NULL);
    handled++;
}

static int signals(long n)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval every = { { 0, 200 }, { 0, 200 } };
    setitimer(ITIMER_REAL, &every, NULL);
    for (long i = 0; i < n; i++)
        free(malloc(10000 + (size_t)(i % 7) + 1));
    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &off, NULL);
    printf("%d\n", (int)handled);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "exec") == 0) {
        free(malloc(30001));
        void *kept = malloc(30002);  /* live at exit */
        return kept == NULL;
    }
    if (argc > 2 && strcmp(argv[1], "signals") == 0)
        return signals(atol(argv[2]));

    void *a = malloc(10001);
    void *b = calloc(7, 10002);
    a = realloc(a, 100003);
    void *c = NULL;
    if (posix_memalign(&c, 64, 10004))
        return 1;
    void *d = aligned_alloc(256, 10240);
    void *e = memalign(128, 10006);
    void *f = valloc(10007);
    void *g = pvalloc(10008);
    void *h = reallocarray(NULL, 3, 10009);
    free(NULL);
    void *huge = malloc(SIZE_MAX / 2);  /* fails */
    h = realloc(h, 0);                  /* glibc frees and returns NULL */
    free(b);
    free(c);
    free(d);
    free(e);
    free(f);
    free(g);

    pthread_t t[2];
    pthread_create(&t[0], NULL, worker, (void *)(uintptr_t)20001);
    pthread_create(&t[1], NULL, worker, (void *)(uintptr_t)20101);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);

    pid_t pid = fork();
    if (pid == 0) {
        free(malloc(40001));
        free(a);  /* the parent's block: unknown to the child's log */
        _exit(0);
    }
    waitpid(pid, NULL, 0);

    pid = fork();
    if (pid == 0) {
        void *p = malloc(50001);  /* live when the image execs */
        execl("/proc/self/exe", argv[0], "exec", (char *)NULL);
        free(p);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    free(a);
    return huge != NULL || h != NULL || status != 0;
}
