/*
 * The fault injector of fault_wrap.h. The test links the library's objects with
 * -Wl,--wrap=<function> for each function below, so every call the library (and its private
 * jansson) makes to it lands here first; these wrappers decide whether the call fails and
 * otherwise forward it to the real function. The same link works with ASan, TSan and valgrind,
 * whose allocators then stay the real ones.
 */
#define _GNU_SOURCE
#include "fault_wrap.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <unistd.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);
void __real_free(void *p);
int __real_timerfd_create(int clockid, int flags);
int __real_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);
int __real_open(const char *path, int flags, ...);
int __real_openat(int dir, const char *path, int flags, ...);
ssize_t __real_pread(int fd, void *buf, size_t n, off_t off);
ssize_t __real_read(int fd, void *buf, size_t n);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
int __wrap_posix_memalign(void **p, size_t align, size_t n);
void __wrap_free(void *p);
int __wrap_timerfd_create(int clockid, int flags);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);
int __wrap_open(const char *path, int flags, ...);
int __wrap_openat(int dir, const char *path, int flags, ...);
ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off);
ssize_t __wrap_read(int fd, void *buf, size_t n);

struct fault {
    atomic_long skip;  /* calls that still succeed */
    atomic_long count; /* failures still to inject; negative: unlimited */
    atomic_long hits, calls;
};

static struct fault faults[FAULT_KINDS];
static atomic_int armed_kind = -1;
static atomic_bool armed_all_threads;
static _Thread_local bool armed_here;
static atomic_long live;

void fault_arm(enum fault_kind kind, long skip, long count, bool all_threads)
{
    fault_disarm();
    struct fault *f = &faults[kind];
    atomic_store(&f->skip, skip);
    atomic_store(&f->count, count);
    atomic_store(&f->hits, 0);
    atomic_store(&f->calls, 0);
    atomic_store(&armed_all_threads, all_threads);
    armed_here = true;
    atomic_store(&armed_kind, (int)kind);
}

void fault_disarm(void)
{
    atomic_store(&armed_kind, -1);
    armed_here = false;
}

long fault_hits(enum fault_kind kind)
{
    return atomic_load(&faults[kind].hits);
}

long fault_calls(enum fault_kind kind)
{
    return atomic_load(&faults[kind].calls);
}

long fault_live_allocations(void)
{
    return atomic_load(&live);
}

/* Whether this call of kind fails. */
static bool fail_now(enum fault_kind kind)
{
    if (atomic_load(&armed_kind) != (int)kind)
        return false;
    if (!armed_here && !atomic_load(&armed_all_threads))
        return false;
    struct fault *f = &faults[kind];
    atomic_fetch_add(&f->calls, 1);
    if (atomic_fetch_sub(&f->skip, 1) > 0)
        return false;
    long c = atomic_load(&f->count);
    if (c == 0)
        return false;
    if (c > 0)
        atomic_fetch_sub(&f->count, 1);
    atomic_fetch_add(&f->hits, 1);
    return true;
}

void *__wrap_malloc(size_t n)
{
    if (fail_now(FAULT_ALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __real_malloc(n);
    if (p != NULL)
        atomic_fetch_add(&live, 1);
    return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
    if (fail_now(FAULT_ALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __real_calloc(n, size);
    if (p != NULL)
        atomic_fetch_add(&live, 1);
    return p;
}

void *__wrap_realloc(void *p, size_t n)
{
    if (fail_now(FAULT_ALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    void *q = __real_realloc(p, n);
    if (p == NULL && q != NULL)
        atomic_fetch_add(&live, 1);
    return q;
}

int __wrap_posix_memalign(void **p, size_t align, size_t n)
{
    if (fail_now(FAULT_ALLOC))
        return ENOMEM;
    int rc = __real_posix_memalign(p, align, n);
    if (rc == 0)
        atomic_fetch_add(&live, 1);
    return rc;
}

void __wrap_free(void *p)
{
    if (p != NULL)
        atomic_fetch_sub(&live, 1);
    __real_free(p);
}

int __wrap_timerfd_create(int clockid, int flags)
{
    if (fail_now(FAULT_TIMERFD)) {
        errno = EMFILE;
        return -1;
    }
    return __real_timerfd_create(clockid, flags);
}

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    if (fail_now(FAULT_THREAD))
        return EAGAIN;
    return __real_pthread_create(t, attr, fn, arg);
}

static bool is_proc(const char *path)
{
    return path != NULL && strncmp(path, "/proc/", 6) == 0;
}

int __wrap_open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    if (is_proc(path) && fail_now(FAULT_PROC_OPEN)) {
        errno = EMFILE;
        return -1;
    }
    return __real_open(path, flags, mode);
}

int __wrap_openat(int dir, const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    if (is_proc(path) && fail_now(FAULT_PROC_OPEN)) {
        errno = EMFILE;
        return -1;
    }
    return __real_openat(dir, path, flags, mode);
}

ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off)
{
    if (fail_now(FAULT_PREAD)) {
        errno = EIO;
        return -1;
    }
    return __real_pread(fd, buf, n, off);
}

ssize_t __wrap_read(int fd, void *buf, size_t n)
{
    if (fail_now(FAULT_PREAD)) {
        errno = EIO;
        return -1;
    }
    return __real_read(fd, buf, n);
}
