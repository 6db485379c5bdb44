/*
 * image_end.c: the recorder's hooks on the calls that end a process image
 * without running its destructors: the exec family and _exit/_Exit.  Each
 * writes every thread's buffered events first (mr_finish_image in
 * recorder.c), so that the log of the image that ends is complete; an exec
 * that fails returns to recording as before.  The execl forms are built on
 * the argv forms, since the C library's own execl calls execve directly.
 *
 * Invariants: nothing here allocates (the execl forms collect their
 * arguments in an array on the stack); the real functions come from the
 * recorder's one lookup (mr_image_functions).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "record_internal.h"

#define EXPORT __attribute__((visibility("default")))
#define MAX_EXEC_ARGS 65536u

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    const struct mr_image_functions *f = mr_image_functions();
    int mode = mr_finish_image();
    int rc = f->execve(path, argv, envp);
    mr_resume_image(mode);
    return rc;
}

EXPORT int execv(const char *path, char *const argv[])
{
    const struct mr_image_functions *f = mr_image_functions();
    int mode = mr_finish_image();
    int rc = f->execv(path, argv);
    mr_resume_image(mode);
    return rc;
}

EXPORT int execvp(const char *file, char *const argv[])
{
    const struct mr_image_functions *f = mr_image_functions();
    int mode = mr_finish_image();
    int rc = f->execvp(file, argv);
    mr_resume_image(mode);
    return rc;
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    const struct mr_image_functions *f = mr_image_functions();
    int mode = mr_finish_image();
    int rc = f->execvpe(file, argv, envp);
    mr_resume_image(mode);
    return rc;
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    const struct mr_image_functions *f = mr_image_functions();
    int mode = mr_finish_image();
    int rc = f->fexecve(fd, argv, envp);
    mr_resume_image(mode);
    return rc;
}

EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
    const struct mr_image_functions *f = mr_image_functions();
    int mode = mr_finish_image();
    int rc = f->execveat ? f->execveat(dirfd, path, argv, envp, flags) : (errno = ENOSYS, -1);
    mr_resume_image(mode);
    return rc;
}

/* The execl family, through the argv forms above.  Returns the argument
 * count before the NULL, or -1 when there are too many. */
static long count_args(const char *first, va_list ap)
{
    long n = 0;
    for (const char *a = first; a; a = va_arg(ap, const char *))
        if (++n > (long)MAX_EXEC_ARGS)
            return -1;
    return n;
}

#define COLLECT_ARGS(first, argv, n, after)                              \
    long n;                                                              \
    {                                                                    \
        va_list ap_;                                                     \
        va_start(ap_, first);                                            \
        n = count_args(first, ap_);                                      \
        va_end(ap_);                                                     \
    }                                                                    \
    if (n < 0) {                                                         \
        errno = E2BIG;                                                   \
        return -1;                                                       \
    }                                                                    \
    const char *argv[n + 1];                                             \
    {                                                                    \
        va_list ap_;                                                     \
        va_start(ap_, first);                                            \
        argv[0] = first;                                                 \
        for (long i_ = 1; i_ <= n; i_++)                                 \
            argv[i_] = va_arg(ap_, const char *);                        \
        after;                                                           \
        va_end(ap_);                                                     \
    }

EXPORT int execl(const char *path, const char *arg, ...)
{
    COLLECT_ARGS(arg, argv, n, (void)0)
    return execv(path, (char *const *)argv);
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
    COLLECT_ARGS(arg, argv, n, (void)0)
    return execvp(file, (char *const *)argv);
}

EXPORT int execle(const char *path, const char *arg, ...)
{
    char *const *envp;
    COLLECT_ARGS(arg, argv, n, envp = va_arg(ap_, char *const *))
    return execve(path, (char *const *)argv, envp);
}

EXPORT void _exit(int status)
{
    const struct mr_image_functions *f = mr_image_functions();
    mr_finish_image();
    if (f->exit_)
        f->exit_(status);
    syscall(SYS_exit_group, status);
    __builtin_unreachable();
}

EXPORT void _Exit(int status)
{
    const struct mr_image_functions *f = mr_image_functions();
    mr_finish_image();
    if (f->Exit)
        f->Exit(status);
    syscall(SYS_exit_group, status);
    __builtin_unreachable();
}
