/*
 * on_cancel.c - cancellation that reaches code that waits:
 *  - a reader blocked in read() on a pipe, inside an interruptible region,
 *    is interrupted by crew_cancel() (read returns EINTR);
 *  - a waiter on a condition variable is woken by an on-cancel callback
 *    when its 50 ms deadline passes (cause CREW_CAUSE_TIMEOUT);
 *  - a saver that is cancelled mid-way flushes what it has inside a
 *    shield, so its cleanup is not cut short.
 * Every path frees what it allocated, whatever check reports the
 * cancellation: tools/cancel-sweep.sh runs this program with the
 * deterministic test mode (CREW_TEST_CANCEL=N) for every N under valgrind.
 */
#define _POSIX_C_SOURCE 200809L
#include <crew.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- the reader: interrupted in read() -------------------------------- */

typedef struct reader {
    int fd;
    atomic_int blocked; /* about to call read() */
    int err;            /* errno of read(), or 0 */
} reader_t;

static int reader(void *arg)
{
    reader_t *r = arg;
    char *buf = malloc(4096);
    ssize_t n = 0;
    if (!buf)
        return 1;
    if (crew_interruptible_begin() == 0) {
        atomic_store(&r->blocked, 1);
        n = read(r->fd, buf, 4096); /* nothing is ever written */
        r->err = n < 0 ? errno : 0;
        crew_interruptible_end();
    }
    free(buf);
    return crew_cancelled() ? 0 : 1;
}

/* ---- the waiter: a condition variable, woken by a callback ------------ */

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool wake;
} waiter_t;

static void wake_waiter(void *arg)
{
    waiter_t *w = arg;
    pthread_mutex_lock(&w->mu);
    w->wake = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static int waiter(void *arg)
{
    waiter_t *w = arg;
    crew_on_cancel_t reg;
    int *scratch = malloc(64 * sizeof *scratch);
    if (!scratch)
        return 1;
    crew_on_cancel(&reg, wake_waiter, w); /* runs at once if cancelled */
    pthread_mutex_lock(&w->mu);
    while (!w->wake && !crew_cancelled())
        pthread_cond_wait(&w->cv, &w->mu); /* an event that never comes */
    pthread_mutex_unlock(&w->mu);
    crew_on_cancel_remove(&reg);
    free(scratch);
    return 0;
}

/* ---- the saver: cleanup inside a shield -------------------------------- */

typedef struct saver {
    atomic_int started;
    atomic_int go;  /* the main thread has cancelled it */
    long flushed;   /* records written by the cleanup */
    bool cut_short; /* the cleanup saw the cancellation */
} saver_t;

static int saver(void *arg)
{
    saver_t *s = arg;
    long n = 0, cap = 1024;
    long *records = malloc((size_t)cap * sizeof *records);
    if (!records)
        return 1;
    /* Produce a first batch, checking as a long loop would. */
    for (; n < 16 && !crew_cancelled(); n++)
        records[n] = n;
    atomic_store(&s->started, 1);
    /* Then produce until main has cancelled us (no check here, so the
     * test mode's sweep stays short: the checks above and in the flush). */
    while (!atomic_load(&s->go)) {
        if (n == cap)
            n = 16;
        records[n] = n;
        n++;
    }
    /* The flush must finish: inside a shield nothing reports the cancel. */
    crew_shield_begin();
    for (long i = 0; i < n; i++) {
        if (crew_cancelled())
            s->cut_short = true;
        s->flushed++;
    }
    crew_shield_end();
    free(records);
    return 0;
}

/* Wait until *flag is set or task id has ended (the test mode may end it
 * before it gets there). */
static void await(crew_t *ex, crew_id_t id, atomic_int *flag)
{
    struct timespec ts = {0, 100000};
    crew_status_t st = CREW_TASK_QUEUED;
    while (!atomic_load(flag) && crew_status(ex, id, &st) == 0 && st <= CREW_TASK_RUNNING)
        nanosleep(&ts, NULL);
}

int main(void)
{
    crew_t *ex;
    reader_t r = {0};
    waiter_t w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
    saver_t s = {0};
    crew_id_t rid, wid, sid;
    crew_status_t st;
    crew_task_info_t info = CREW_TASK_INFO_INIT;
    int p[2];
    crew_options_t o = CREW_OPTIONS_INIT;
    o.workers = 3; /* one each: the reader and the waiter block */
    if (pipe(p) != 0 || crew_create(&ex, &o) != 0)
        return 1;
    r.fd = p[0];

    /* The reader: cancel it once it is blocked in read(). */
    crew_submit(ex, reader, &r, &rid);
    await(ex, rid, &r.blocked);
    crew_cancel(ex, rid, 0, NULL);
    crew_join(ex, rid, &st);
    printf("reader: read() %s, status %s\n", r.err == EINTR ? "interrupted (EINTR)" : "not reached",
           crew_status_name(st));

    /* The waiter: a 50 ms deadline; its callback wakes the condvar. */
    crew_task_desc_t d = {.fn = waiter, .arg = &w, .timeout = 50 * 1000000};
    crew_submit_ex(ex, &d, &wid);
    crew_wait(ex, wid, -1, &st);
    crew_inspect(ex, wid, &info);
    crew_release(ex, wid);
    printf("waiter: woken, status %s, cause %s\n", crew_status_name(st),
           info.cause == CREW_CAUSE_TIMEOUT ? "TIMEOUT (its deadline)" : "other");

    /* The saver: cancelled while producing, flushes inside a shield. */
    crew_submit(ex, saver, &s, &sid);
    await(ex, sid, &s.started);
    crew_cancel(ex, sid, 0, NULL);
    atomic_store(&s.go, 1);
    crew_join(ex, sid, &st);
    printf("saver: flush %s, status %s\n", s.cut_short ? "cut short" : "complete",
           crew_status_name(st));

    crew_destroy(&ex);
    close(p[0]);
    close(p[1]);
    return 0;
}
