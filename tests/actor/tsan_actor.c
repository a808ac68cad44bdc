/* tsan_actor.c - the actor protocols under concurrency, as a plain
 * executable so ThreadSanitizer can check them (Criterion cannot start
 * under TSan). Actor state is plain memory throughout: if two tasks of one
 * actor ever overlapped, or one failed to see its predecessor's writes,
 * TSan reports a race and the exact counts below break.
 *
 * Scenarios: concurrent submitters (threads and tasks) to one actor; kill
 * racing submitters; a ring of actors passing tokens; crew_cancel racing
 * the runner; exit and destroy from inside tasks; cancel shutdown and
 * crew_destroy with live actors. Sized by $CREW_TEST_SCALE. */
#include <string.h>

#include "common.h"

/* ---- 1. concurrent submitters ------------------------------------------------ */

enum { NSUB = 4 };

typedef struct order_state {
    long last[NSUB];
    long count, disorders;
} order_state_t;

typedef struct order_msg {
    int sub;
    long seq;
} order_msg_t;

static int order_body(void *arg)
{
    order_msg_t *m = arg;
    order_state_t *s = crew_actor_state();
    if (m->seq != s->last[m->sub] + 1)
        s->disorders++;
    s->last[m->sub] = m->seq;
    s->count++;
    return 0;
}

typedef struct order_sub {
    crew_actor_t *a;
    order_msg_t *msgs;
    long n;
} order_sub_t;

static void order_submit(order_sub_t *s)
{
    for (long i = 0; i < s->n; i++)
        if (crew_actor_submit(s->a, order_body, &s->msgs[i], NULL) != 0)
            T_DIE("submit failed");
}

static void *order_thread(void *arg)
{
    order_submit(arg);
    return NULL;
}

static int order_task(void *arg)
{
    order_submit(arg);
    return 0;
}

static void concurrent_submitters(void)
{
    crew_t *ex = t_create(2);
    order_state_t st;
    order_sub_t subs[NSUB];
    pthread_t th[NSUB - 1];
    crew_actor_t *a;
    crew_id_t t;
    long per = t_scaled(20000, 300);
    memset(&st, 0, sizeof st);
    CHECK_RC(crew_actor_create(ex, &st, NULL, &a), 0);
    for (int i = 0; i < NSUB; i++) {
        subs[i].a = a;
        subs[i].n = per;
        subs[i].msgs = malloc(sizeof(order_msg_t) * (size_t)per);
        for (long k = 0; k < per; k++)
            subs[i].msgs[k] = (order_msg_t){i, k + 1};
    }
    for (int i = 0; i < NSUB - 1; i++)
        pthread_create(&th[i], NULL, order_thread, &subs[i]);
    CHECK_RC(crew_submit(ex, order_task, &subs[NSUB - 1], &t), 0);
    for (int i = 0; i < NSUB - 1; i++)
        pthread_join(th[i], NULL);
    CHECK(t_join(ex, t) == CREW_TASK_DONE, "task submitter");
    CHECK_RC(crew_actor_submit(a, actor_exit_task, NULL, NULL), 0);
    t_actor_wait(a);
    CHECK(st.count == NSUB * per, "count %ld", st.count);
    CHECK(st.disorders == 0, "%ld out of order", st.disorders);
    for (int i = 0; i < NSUB; i++) {
        CHECK(st.last[i] == per, "submitter %d", i);
        free(subs[i].msgs);
    }
    CHECK_RC(crew_actor_destroy(a), 0);
    T_DESTROY_CLEAN(&ex, CREW_DRAIN);
}

/* ---- 2. kill racing submitters --------------------------------------------------- */

typedef struct race_state {
    long ran; /* plain: the actor's */
} race_state_t;

static int race_body(void *arg)
{
    (void)arg;
    ((race_state_t *)crew_actor_state())->ran++;
    return 0;
}

typedef struct race_sub {
    crew_actor_t *a;
    long n, accepted, refused;
    crew_id_t *ids;
    atomic_long *progress;
} race_sub_t;

static void *race_thread(void *arg)
{
    race_sub_t *s = arg;
    for (long i = 0; i < s->n; i++) {
        int rc = crew_actor_submit(s->a, race_body, NULL, &s->ids[s->accepted]);
        if (rc == 0)
            s->accepted++;
        else if (rc == CREW_EACTORDEAD)
            s->refused++;
        else
            T_DIE("submit: %s", crew_err_name(rc));
        atomic_fetch_add_explicit(s->progress, 1, memory_order_relaxed);
    }
    return NULL;
}

static void kill_race(void)
{
    crew_t *ex = t_create(2);
    int rounds = (int)t_scaled(60, 4);
    long per = t_scaled(3000, 100);
    for (int r = 0; r < rounds; r++) {
        race_state_t st = {0};
        atomic_long progress = 0;
        race_sub_t subs[3];
        pthread_t th[3];
        crew_actor_t *a;
        long done = 0, dead = 0, cancelled = 0, accepted = 0, refused = 0;
        CHECK_RC(crew_actor_create(ex, &st, NULL, &a), 0);
        for (int i = 0; i < 3; i++) {
            subs[i] =
                (race_sub_t){a, per, 0, 0, malloc(sizeof(crew_id_t) * (size_t)per), &progress};
            pthread_create(&th[i], NULL, race_thread, &subs[i]);
        }
        long when = 3 * per * (r % 8) / 8;
        CHECK(T_WAIT_UNTIL(atomic_load(&progress) >= when, T_HANG_S), "progress");
        CHECK_RC(crew_actor_kill(a, r, "race"), 0);
        for (int i = 0; i < 3; i++) {
            pthread_join(th[i], NULL);
            accepted += subs[i].accepted;
            refused += subs[i].refused;
            for (long k = 0; k < subs[i].accepted; k++) {
                crew_status_t s = t_join(ex, subs[i].ids[k]);
                done += s == CREW_TASK_DONE;
                dead += s == CREW_TASK_ACTOR_DEAD;
                cancelled += s == CREW_TASK_CANCELLED;
            }
            free(subs[i].ids);
        }
        t_actor_wait(a); /* after this, st is ours to read */
        CHECK(accepted + refused == 3 * per, "round %d: lost submissions", r);
        CHECK(done + dead + cancelled == accepted, "round %d: %ld+%ld+%ld != %ld", r, done, dead,
              cancelled, accepted);
        CHECK(cancelled <= 1, "round %d: %ld cancelled", r, cancelled);
        CHECK(st.ran >= done && st.ran <= done + cancelled, "round %d: ran %ld done %ld", r, st.ran,
              done);
        crew_actor_info_t in = t_actor_info(a);
        CHECK(in.dead == (uint64_t)dead && in.done == (uint64_t)done &&
                  in.refused == (uint64_t)refused,
              "round %d: info", r);
        CHECK_RC(crew_actor_destroy(a), 0);
    }
    T_DESTROY_CLEAN(&ex, CREW_DRAIN);
}

/* ---- 3. a ring of actors passing tokens ---------------------------------------- */

typedef struct ring_node {
    long hops; /* plain: this actor's */
    crew_actor_t *next;
    atomic_long *left; /* tokens still travelling */
} ring_node_t;

static int ring_hop(void *arg)
{
    ring_node_t *n = crew_actor_state();
    long ttl = (long)(intptr_t)arg;
    n->hops++;
    if (ttl > 0)
        return crew_actor_submit(n->next, ring_hop, (void *)(intptr_t)(ttl - 1), NULL);
    atomic_fetch_sub_explicit(n->left, 1, memory_order_release);
    return 0;
}

static void ring(void)
{
    crew_t *ex = t_create(2);
    long na = t_scaled(1000, 50), tokens = t_scaled(2000, 50), ttl = 20;
    ring_node_t *nodes = calloc((size_t)na, sizeof *nodes);
    crew_actor_t **a = calloc((size_t)na, sizeof *a);
    atomic_long left = tokens;
    for (long i = 0; i < na; i++) {
        nodes[i].left = &left;
        CHECK_RC(crew_actor_create(ex, &nodes[i], NULL, &a[i]), 0);
    }
    for (long i = 0; i < na; i++)
        nodes[i].next = a[(i + 1) % na];
    for (long t = 0; t < tokens; t++)
        CHECK_RC(crew_actor_submit(a[t % na], ring_hop, (void *)(intptr_t)ttl, NULL), 0);
    CHECK(T_WAIT_UNTIL(atomic_load_explicit(&left, memory_order_acquire) == 0, T_HANG_S),
          "tokens lost");
    for (long i = 0; i < na; i++)
        CHECK_RC(crew_actor_submit(a[i], actor_exit_task, NULL, NULL), 0);
    long hops = 0;
    for (long i = 0; i < na; i++) {
        t_actor_wait(a[i]);
        hops += nodes[i].hops;
        CHECK_RC(crew_actor_destroy(a[i]), 0);
    }
    CHECK(hops == tokens * (ttl + 1), "hops %ld, expected %ld", hops, tokens * (ttl + 1));
    free(nodes);
    free(a);
    T_DESTROY_CLEAN(&ex, CREW_DRAIN);
}

/* ---- 4. crew_cancel racing the runner -------------------------------------------- */

typedef struct cancel_state {
    long ran;
} cancel_state_t;

static int cancel_body(void *arg)
{
    (void)arg;
    cancel_state_t *s = crew_actor_state();
    s->ran++;
    for (int i = 0; i < 20 && !crew_cancelled(); i++)
        ;
    return 0;
}

static void cancel_race(void)
{
    crew_t *ex = t_create(2);
    long n = t_scaled(20000, 500);
    cancel_state_t st = {0};
    crew_actor_t *a;
    crew_id_t *ids = malloc(sizeof(crew_id_t) * (size_t)n);
    atomic_int cleaned = 0;
    long removed = 0, requested = 0, late = 0, done = 0, cancelled = 0;
    CHECK_RC(crew_actor_create(ex, &st, NULL, &a), 0);
    crew_task_desc_t d = {
        .fn = cancel_body, .arg = &cleaned, .cleanup = count_cleanup, .group = NULL};
    for (long i = 0; i < n; i++)
        CHECK_RC(crew_actor_submit_ex(a, &d, &ids[i]), 0);
    /* Cancel every other task while the runner works through them. */
    for (long i = 1; i < n; i += 2) {
        int rc = crew_cancel(ex, ids[i], 0, NULL);
        removed += rc == CREW_REMOVED;
        requested += rc == CREW_REQUESTED;
        late += rc == CREW_TOO_LATE;
    }
    for (long i = 0; i < n; i++) {
        crew_status_t s = t_join(ex, ids[i]);
        done += s == CREW_TASK_DONE;
        cancelled += s == CREW_TASK_CANCELLED;
        CHECK(s == CREW_TASK_DONE || s == CREW_TASK_CANCELLED, "status %s", crew_status_name(s));
        CHECK(i % 2 == 1 || s == CREW_TASK_DONE, "an uncancelled task ended %s",
              crew_status_name(s));
    }
    CHECK_RC(crew_actor_submit(a, actor_exit_task, NULL, NULL), 0);
    t_actor_wait(a);
    CHECK(removed + requested + late == n / 2, "cancel outcomes");
    CHECK(cancelled == removed + requested, "cancelled %ld, removed %ld + requested %ld", cancelled,
          removed, requested);
    CHECK(st.ran == n - removed, "ran %ld, expected %ld", st.ran, n - removed);
    CHECK(atomic_load(&cleaned) == n, "cleanups %d of %ld", atomic_load(&cleaned), n);
    crew_actor_info_t in = t_actor_info(a);
    CHECK(in.cancelled == (uint64_t)cancelled && in.done == (uint64_t)done + 1,
          "info: cancelled %llu done %llu", (unsigned long long)in.cancelled,
          (unsigned long long)in.done);
    CHECK_RC(crew_actor_destroy(a), 0);
    free(ids);
    T_DESTROY_CLEAN(&ex, CREW_DRAIN);
}

/* ---- 5. exit and destroy from inside tasks ------------------------------------- */

typedef struct life_state {
    long ran; /* plain: the actor's */
    atomic_int *ran_total;
} life_state_t;

static int life_body(void *arg)
{
    life_state_t *s = crew_actor_state();
    (void)arg;
    s->ran++;
    /* release: the test thread, reading the total (seq_cst), may then
     * destroy the round's gate and read st[r]. */
    atomic_fetch_add_explicit(s->ran_total, 1, memory_order_release);
    return 0;
}

static int destroy_self(void *arg)
{
    life_body(arg);
    return crew_actor_destroy(crew_actor_self());
}

static int exit_self(void *arg)
{
    life_body(arg);
    return crew_actor_exit();
}

static void life_from_inside(void)
{
    crew_t *ex = t_create(2);
    int rounds = (int)t_scaled(400, 20);
    atomic_int ran_total = 0;
    life_state_t *st = calloc((size_t)rounds, sizeof *st);
    crew_actor_t **keep = calloc((size_t)rounds, sizeof *keep);
    for (int r = 0; r < rounds; r++) {
        crew_actor_t *a;
        gate_t gate; /* holds the actor until all 10 are queued */
        gate_init(&gate);
        st[r].ran_total = &ran_total;
        CHECK_RC(crew_actor_create(ex, &st[r], NULL, &a), 0);
        CHECK_RC(crew_actor_submit(a, gate_task, &gate, NULL), 0);
        /* r%3 == 0: a task destroys the handle; 1: a task exits; 2: the
         * test destroys the handle while the tasks run. Either way the 10
         * tasks already queued all run. */
        CHECK_RC(crew_actor_submit(a,
                                   r % 3 == 0   ? destroy_self
                                   : r % 3 == 1 ? exit_self
                                                : life_body,
                                   NULL, NULL),
                 0);
        for (int k = 0; k < 9; k++)
            CHECK_RC(crew_actor_submit(a, life_body, NULL, NULL), 0);
        if (r % 3 == 2)
            CHECK_RC(crew_actor_destroy(a), 0);
        keep[r] = r % 3 == 1 ? a : NULL;
        gate_open(&gate);
        gate_await_arrivals(&gate, 1);
        /* The gate task may still be inside gate_pass: wait for the
         * round's tasks before the gate goes out of scope. */
        CHECK(T_WAIT_UNTIL(atomic_load(&ran_total) == (r + 1) * 10, T_HANG_S), "round %d: ran %d",
              r, atomic_load(&ran_total));
        gate_destroy(&gate);
    }
    for (int r = 0; r < rounds; r++)
        if (keep[r]) {
            t_actor_wait(keep[r]);
            CHECK(st[r].ran == 10, "round %d ran %ld", r, st[r].ran);
            CHECK_RC(crew_actor_submit(keep[r], life_body, NULL, NULL), CREW_EACTORDEAD);
            CHECK_RC(crew_actor_destroy(keep[r]), 0);
        }
    CHECK(T_WAIT_UNTIL(atomic_load(&ran_total) == rounds * 10, T_HANG_S), "ran %d of %d",
          atomic_load(&ran_total), rounds * 10);
    free(st);
    free(keep);
    T_DESTROY_CLEAN(&ex, CREW_DRAIN);
}

/* ---- 6. shutdown with live actors ------------------------------------------------ */

static void shutdown_live(crew_shutdown_mode_t mode)
{
    crew_t *ex = t_create(2);
    enum { NA = 50 };
    atomic_int dtor = 0, ran = 0;
    crew_actor_t *a[NA];
    long per = t_scaled(400, 20);
    for (int i = 0; i < NA; i++)
        CHECK_RC(crew_actor_create(ex, &dtor, count_cleanup, &a[i]), 0);
    for (long k = 0; k < per; k++)
        for (int i = 0; i < NA; i++)
            CHECK_RC(crew_actor_submit(a[i], count_task, &ran, NULL), 0);
    CHECK_RC(crew_shutdown(ex, mode), 0);
    CHECK(atomic_load(&dtor) == NA, "destructors %d", atomic_load(&dtor));
    if (mode == CREW_DRAIN)
        CHECK(atomic_load(&ran) == NA * per, "ran %d", atomic_load(&ran));
    for (int i = 0; i < NA; i++) {
        crew_actor_info_t in = t_actor_info(a[i]);
        CHECK(in.status == CREW_ACTOR_DEAD && in.cause == CREW_ACTOR_SHUTDOWN && in.finished,
              "actor %d not ended by the shutdown", i);
        CHECK(in.done + in.cancelled == in.submitted, "actor %d counts", i);
        if (i % 2)
            CHECK_RC(crew_actor_destroy(a[i]), 0); /* the rest: crew_destroy */
    }
    T_DESTROY_CLEAN(&ex, mode);
}

int main(void)
{
    t_watchdog(CREW_TEST_TIMEOUT * 4);
    concurrent_submitters();
    kill_race();
    ring();
    cancel_race();
    life_from_inside();
    shutdown_live(CREW_DRAIN);
    shutdown_live(CREW_CANCEL);
    printf("tsan_actor: ok\n");
    return 0;
}
