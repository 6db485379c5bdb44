/*
 * record_internal.h: what the recorder's two files share (recorder.c logs
 * the allocator's calls; image_end.c hooks exec and _exit).  Both are built
 * into one library with hidden visibility, so none of this is exported.
 */
#ifndef MEMALLOC_RECORD_INTERNAL_H
#define MEMALLOC_RECORD_INTERNAL_H

typedef int execve_fn(const char *, char *const[], char *const[]);
typedef int execv_fn(const char *, char *const[]);
typedef int fexecve_fn(int, char *const[], char *const[]);
typedef int execveat_fn(int, const char *, char *const[], char *const[], int);
typedef void exit_fn(int);

/* The next definitions (dlsym(RTLD_NEXT)) of the calls image_end.c hooks;
 * any may be NULL when the C library lacks it. */
struct mr_image_functions {
    execve_fn *execve, *execvpe;
    execv_fn *execv, *execvp;
    fexecve_fn *fexecve;
    execveat_fn *execveat;
    exit_fn *exit_, *Exit;
};

/* The real functions, looked up first if nothing has been called yet. */
const struct mr_image_functions *mr_image_functions(void);

/* Before the image may end: writes every buffered event and makes events
 * racing it go out at once.  Returns the mode to give back to
 * mr_resume_image if the image goes on (a failed exec), or -1. */
int mr_finish_image(void);
void mr_resume_image(int mode);

#endif
