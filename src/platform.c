/*
 * platform.c - operating-system services for crew (see platform.h).
 *
 * Allocation: every block carries a CREW_CACHE_LINE-byte header holding its
 * size, so crew__fault_live_bytes() can prove that an executor frees all it
 * allocated. Fault injection counts allocations and fails a chosen one.
 */
#include "platform.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fault.h"

#ifdef __linux__
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#endif

#if defined(__SANITIZE_THREAD__)
_Atomic unsigned crew__tsan_fence_word;
#endif

/* ---- asymmetric fences (platform.h) ------------------------------------------ */

bool crew__fence_asym;
static pthread_once_t fences_once = PTHREAD_ONCE_INIT;

#if defined(__linux__) && !defined(__SANITIZE_THREAD__)
#include <linux/membarrier.h>

static void fences_register(void)
{
    long cmds = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    /* Step 1: written once, before the first executor exists; every
     * later reader got its executor through a call ordered after this
     * one (pthread_once). */
    crew__fence_asym =
        cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
        syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

void crew__fence_heavy(void)
{
    if (!crew__fence_asym) {
        CREW_FENCE_SEQ_CST(); /* step 3 */
        return;
    }
    /* Step 2. The registration is inherited by fork() (exec starts a new
     * process, and its own first crew_create); should a call still find
     * none, register again. If that failed, light fences (compiler
     * barriers) would be ordered by nothing: stop rather than break the
     * pairing. */
    if (syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
        return;
    if (syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) != 0 ||
        syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0)
        abort();
}
#else
static void fences_register(void) { crew__fence_asym = false; }
void crew__fence_heavy(void) { CREW_FENCE_SEQ_CST(); }
#endif

void crew__fences_init(void) { pthread_once(&fences_once, fences_register); }

/* Relaxed is enough for all four: they are test counters with no data
 * published through them. */
static _Atomic int64_t fault_alloc_count;
static _Atomic int64_t fault_alloc_at = -1;
static _Atomic int64_t fault_thread_count;
static _Atomic int64_t fault_thread_at = -1;
static _Atomic int64_t live_bytes;

void crew__fault_fail_alloc_at(int64_t k)
{
    atomic_store_explicit(&fault_alloc_count, 0, memory_order_relaxed);
    atomic_store_explicit(&fault_alloc_at, k, memory_order_relaxed);
}

int64_t crew__fault_alloc_count(void)
{
    return atomic_load_explicit(&fault_alloc_count, memory_order_relaxed);
}

void crew__fault_fail_thread_at(int64_t k)
{
    atomic_store_explicit(&fault_thread_count, 0, memory_order_relaxed);
    atomic_store_explicit(&fault_thread_at, k, memory_order_relaxed);
}

void crew__fault_reset(void)
{
    crew__fault_fail_alloc_at(-1);
    crew__fault_fail_thread_at(-1);
}

static struct {
    _Atomic(crew__pause_fn) fn;
    void *_Atomic ctx;
} pause_hooks[CREW__PAUSE_COUNT];

void crew__fault_set_pause(crew__pause_point_t p, crew__pause_fn fn, void *ctx)
{
    if ((unsigned)p >= CREW__PAUSE_COUNT)
        return;
    /* relaxed ctx, release fn: a thread that sees fn sees its ctx. */
    atomic_store_explicit(&pause_hooks[p].ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&pause_hooks[p].fn, fn, memory_order_release);
}

#ifdef CREW_FAULT_INJECTION
void crew__fault_pause(crew__pause_point_t p, crew_id_t id)
{
    /* acquire: pairs with the release store in crew__fault_set_pause. */
    crew__pause_fn fn = atomic_load_explicit(&pause_hooks[p].fn, memory_order_acquire);
    if (fn)
        fn(atomic_load_explicit(&pause_hooks[p].ctx, memory_order_relaxed), id);
}
#endif

int64_t crew__fault_live_bytes(void)
{
    return atomic_load_explicit(&live_bytes, memory_order_relaxed);
}

static int fault_hit(_Atomic int64_t *count, _Atomic int64_t *at)
{
    /* relaxed: a counter; the test thread reads it after joining. */
    int64_t n = atomic_fetch_add_explicit(count, 1, memory_order_relaxed);
#ifdef CREW_FAULT_INJECTION
    return n == atomic_load_explicit(at, memory_order_relaxed);
#else
    (void)n;
    (void)at;
    return 0;
#endif
}

void *crew__malloc(size_t n)
{
    void *p;
    if (fault_hit(&fault_alloc_count, &fault_alloc_at))
        return NULL;
    if (n > SIZE_MAX - CREW_CACHE_LINE)
        return NULL;
    if (posix_memalign(&p, CREW_CACHE_LINE, n + CREW_CACHE_LINE) != 0)
        return NULL;
    *(size_t *)p = n;
    /* relaxed: statistics only. */
    atomic_fetch_add_explicit(&live_bytes, (int64_t)n, memory_order_relaxed);
    return (char *)p + CREW_CACHE_LINE;
}

void *crew__calloc(size_t n, size_t size)
{
    void *p;
    if (size && n > SIZE_MAX / size)
        return NULL;
    p = crew__malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void crew__free(void *p)
{
    char *base;
    if (!p)
        return;
    base = (char *)p - CREW_CACHE_LINE;
    /* relaxed: statistics only. */
    atomic_fetch_sub_explicit(&live_bytes, (int64_t) * (size_t *)base, memory_order_relaxed);
    free(base);
}

void *crew__reserve(size_t n)
{
    void *p;
    if (fault_hit(&fault_alloc_count, &fault_alloc_at))
        return NULL;
    p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    /* relaxed: statistics only. */
    atomic_fetch_add_explicit(&live_bytes, (int64_t)n, memory_order_relaxed);
    return p;
}

void crew__unreserve(void *p, size_t n)
{
    if (!p)
        return;
    munmap(p, n);
    /* relaxed: statistics only. */
    atomic_fetch_sub_explicit(&live_bytes, (int64_t)n, memory_order_relaxed);
}

int64_t crew__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#ifdef __linux__
void crew__futex_wait(_Atomic uint32_t *addr, uint32_t expected, int64_t timeout_ns)
{
    struct timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000LL);
        ts.tv_nsec = (long)(timeout_ns % 1000000000LL);
        tsp = &ts;
    }
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected, tsp, NULL, 0);
}

void crew__futex_wake(_Atomic uint32_t *addr, int n)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

void crew__pin_self(unsigned i)
{
    cpu_set_t set;
    unsigned n = crew__ncpu();
    CPU_ZERO(&set);
    CPU_SET(i % n, &set);
    (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

int crew__cpu_now(void) { return sched_getcpu(); }

bool crew__move_off(const int *busy, unsigned n)
{
    cpu_set_t orig, to;
    unsigned left = 0;
    if (pthread_getaffinity_np(pthread_self(), sizeof orig, &orig) != 0)
        return false;
    to = orig;
    for (unsigned i = 0; i < n; i++)
        if (busy[i] >= 0 && busy[i] < CPU_SETSIZE)
            CPU_CLR(busy[i], &to);
    for (int c = 0; c < CPU_SETSIZE; c++)
        left += CPU_ISSET(c, &to) != 0;
    if (left == 0)
        return false; /* every allowed CPU has a worker: stay */
    /* The first call moves this thread now, to a CPU no worker reported;
     * the second gives the scheduler every allowed CPU back. */
    if (pthread_setaffinity_np(pthread_self(), sizeof to, &to) != 0)
        return false;
    (void)pthread_setaffinity_np(pthread_self(), sizeof orig, &orig);
    return true;
}
#else
/* Portable fallback: one process-wide mutex and condition variable. Every
 * wake is a broadcast and every waiter re-checks its word, which is correct
 * (futex semantics allow spurious wake-ups) if slower. */
static pthread_mutex_t fb_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fb_cv = PTHREAD_COND_INITIALIZER;

void crew__futex_wait(_Atomic uint32_t *addr, uint32_t expected, int64_t timeout_ns)
{
    pthread_mutex_lock(&fb_mu);
    /* seq_cst: re-read under the mutex that crew__futex_wake takes, so a
     * store+wake between our caller's check and this wait is not lost. */
    if (atomic_load(addr) == expected) {
        if (timeout_ns < 0) {
            pthread_cond_wait(&fb_cv, &fb_mu);
        } else {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += timeout_ns / 1000000000LL;
            ts.tv_nsec += timeout_ns % 1000000000LL;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&fb_cv, &fb_mu, &ts);
        }
    }
    pthread_mutex_unlock(&fb_mu);
}

void crew__futex_wake(_Atomic uint32_t *addr, int n)
{
    (void)addr;
    (void)n;
    pthread_mutex_lock(&fb_mu);
    pthread_cond_broadcast(&fb_cv);
    pthread_mutex_unlock(&fb_mu);
}

void crew__pin_self(unsigned i) { (void)i; }
int crew__cpu_now(void) { return -1; }
bool crew__move_off(const int *busy, unsigned n)
{
    (void)busy;
    (void)n;
    return false;
}
#endif

unsigned crew__ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1u : (unsigned)n;
}

int crew__thread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
    if (fault_hit(&fault_thread_count, &fault_thread_at))
        return EAGAIN;
    return pthread_create(t, NULL, fn, arg);
}
