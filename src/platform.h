/*
 * platform.h - the only place crew touches the operating system: memory,
 * futexes (or a portable fallback), clocks, threads, CPU pinning.
 * platform.c is the only file with #ifdef __linux__.
 */
#ifndef CREW_PLATFORM_H
#define CREW_PLATFORM_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tunables.h"

#define CREW_ALIGNED       alignas(CREW_CACHE_LINE)
#define CREW_LIKELY(x)     __builtin_expect(!!(x), 1)
#define CREW_UNLIKELY(x)   __builtin_expect(!!(x), 0)
#define CREW_NOINLINE      __attribute__((noinline))
#define CREW_ALWAYS_INLINE inline __attribute__((always_inline))

/* All of crew's allocations. Memory is aligned to CREW_CACHE_LINE.
 * Fault injection (fault.h) can make crew__malloc return NULL. */
void *crew__malloc(size_t n);
void *crew__calloc(size_t n, size_t size);
void crew__free(void *p);

/* Reserve n bytes of zeroed address space, committed page by page on first
 * touch (mmap, MAP_NORESERVE): for arrays that must never move but are
 * usually small. Counted as allocated in the fault hooks (crew__fault_*).
 * NULL on failure. */
void *crew__reserve(size_t n);
void crew__unreserve(void *p, size_t n);

/* Block while *addr == expected, for at most timeout_ns (< 0: forever).
 * Spurious returns are allowed; callers re-check their condition. */
void crew__futex_wait(_Atomic uint32_t *addr, uint32_t expected, int64_t timeout_ns);
/* Wake up to n threads blocked on addr (INT32_MAX: all). */
void crew__futex_wake(_Atomic uint32_t *addr, int n);

/* Monotonic clock in nanoseconds. */
int64_t crew__now_ns(void);

/* Start a thread (fault injection can make it fail). Returns 0 or errno. */
int crew__thread_create(pthread_t *t, void *(*fn)(void *), void *arg);
/* Pin the calling thread to online CPU (i mod ncpu); best effort. */
void crew__pin_self(unsigned i);
/* Number of online CPUs (at least 1). */
unsigned crew__ncpu(void);
/* The CPU the calling thread runs on now, or -1 if unknown. */
int crew__cpu_now(void);
/* Move the calling thread to an allowed CPU that is not among busy[0..n)
 * (-1 entries ignored), then allow every CPU it was allowed before. false
 * (and no move) when every allowed CPU is busy or the calls fail. */
bool crew__move_off(const int *busy, unsigned n);

/* A seq_cst fence. ThreadSanitizer does not model fences (GCC warns with
 * -Wtsan), so under TSan every fence becomes a seq_cst RMW on one shared
 * word: all fences then sit in one modification order, which gives the
 * Dekker-style pairs in deque.c and park.c the same guarantee and lets
 * TSan see the edges. Only sanitizer builds pay for the shared line. */
#if defined(__SANITIZE_THREAD__)
extern _Atomic unsigned crew__tsan_fence_word;
#define CREW_FENCE_SEQ_CST()                                                                       \
    ((void)atomic_fetch_add_explicit(&crew__tsan_fence_word, 0, memory_order_seq_cst))
#else
#define CREW_FENCE_SEQ_CST() atomic_thread_fence(memory_order_seq_cst)
#endif

/* Asymmetric fences, for a Dekker pair whose one side runs often (a
 * grouped submission) and the other rarely (a cancel's sweep):
 *  1. crew__fences_init() (first crew_create, before any executor
 *     exists) registers the process for expedited membarrier(2); the
 *     result, crew__fence_asym, never changes afterwards.
 *  2. Registered, the frequent side's CREW_FENCE_LIGHT() is a compiler
 *     barrier only, and the rare side's crew__fence_heavy() makes every
 *     running thread of the process pass a full barrier (membarrier
 *     PRIVATE_EXPEDITED; a thread not running passed one when it was
 *     switched out). A light fence then orders as a seq_cst fence against
 *     every heavy one: either the light side's later loads see what the
 *     heavy side stored before it, or the heavy side's later loads see
 *     what the light side stored before its fence (the barrier drained
 *     that thread's store buffer before the syscall returned).
 *  3. Not registered (an old kernel, a sandbox), both are seq_cst fences.
 * Under TSan both are CREW_FENCE_SEQ_CST (TSan cannot see membarrier). */
extern bool crew__fence_asym;
void crew__fences_init(void);
void crew__fence_heavy(void);
#if defined(__SANITIZE_THREAD__)
#define CREW_FENCE_LIGHT() CREW_FENCE_SEQ_CST()
#else
#define CREW_FENCE_LIGHT()                                                                         \
    do {                                                                                           \
        if (crew__fence_asym)                                                                      \
            atomic_signal_fence(memory_order_seq_cst);                                             \
        else                                                                                       \
            atomic_thread_fence(memory_order_seq_cst);                                             \
    } while (0)
#endif

static inline void crew__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
