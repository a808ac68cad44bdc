/* pipeline.c - read records, transform them in a parallel loop, write them
 * through an actor, with a bound on the work in flight.
 *
 *   reader (main thread)  parses text records ("id,weight") into batches;
 *                         it waits while MAX_INFLIGHT batches are read but
 *                         not yet written (the bound on queued work);
 *   transform (a task)    crew_for() over the batch's records: a cost that
 *                         varies per record, balanced by the loop;
 *   writer (an actor)     receives batches in completion order, writes
 *                         them in read order (a reorder window: the
 *                         actor's state needs no lock, its tasks never
 *                         overlap), then frees a slot for the reader.
 *
 * The output's checksum is compared with a serial run of the same
 * transform: the pipeline must reproduce it exactly. */
#include <crew.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { RECORDS = 200000, BATCH = 4096, MAX_INFLIGHT = 4 };

typedef struct rec {
    uint64_t id, weight;
} rec_t;

typedef struct batch {
    long seq;
    int n;
    rec_t in[BATCH];
    uint64_t out[BATCH];
} batch_t;

/* ---- the "file" and the reader ---------------------------------------------- */

static char *make_input(void)
{
    char *text = malloc((size_t)RECORDS * 32), *p = text;
    if (!text)
        return NULL;
    for (long i = 0; i < RECORDS; i++)
        p += sprintf(p, "%ld,%ld\n", i, (i * 7919) % 97);
    return text;
}

/* Parse up to BATCH lines at *pos into b; returns the number read. */
static int read_batch(const char **pos, batch_t *b)
{
    int n = 0;
    while (n < BATCH && **pos) {
        char *end;
        b->in[n].id = strtoull(*pos, &end, 10);
        b->in[n].weight = strtoull(end + 1, &end, 10);
        *pos = end + 1;
        n++;
    }
    b->n = n;
    return n;
}

/* ---- the transform ----------------------------------------------------------- */

static uint64_t transform(const rec_t *r)
{
    uint64_t x = r->id * 0x9E3779B97F4A7C15ull + 1;
    for (uint64_t k = 0; k < 8 * r->weight + 1; k++) /* cost varies with weight */
        x = (x ^ (x >> 31)) * 0xBF58476D1CE4E5B9ull;
    return x;
}

static void transform_rows(void *arg, int64_t lo, int64_t hi)
{
    batch_t *b = arg;
    for (int64_t i = lo; i < hi; i++)
        b->out[i] = transform(&b->in[i]);
}

/* ---- the writer actor ----------------------------------------------------------- */

typedef struct writer {
    long next;                     /* next sequence number to write */
    batch_t *window[MAX_INFLIGHT]; /* arrived early, by seq % MAX_INFLIGHT */
    uint64_t checksum, written;
    pthread_mutex_t *mu; /* the reader's bound */
    pthread_cond_t *cv;
    int *inflight;
} writer_t;

static int write_batch(void *arg)
{
    writer_t *w = crew_actor_state();
    batch_t *b = arg;
    w->window[b->seq % MAX_INFLIGHT] = b;
    while ((b = w->window[w->next % MAX_INFLIGHT]) != NULL && b->seq == w->next) {
        for (int i = 0; i < b->n; i++) /* "write": an order-sensitive checksum */
            w->checksum = w->checksum * 1000003u + b->out[i];
        w->written += (uint64_t)b->n;
        w->window[w->next % MAX_INFLIGHT] = NULL;
        w->next++;
        free(b);
        pthread_mutex_lock(w->mu);
        --*w->inflight;
        pthread_cond_signal(w->cv);
        pthread_mutex_unlock(w->mu);
    }
    return 0;
}

static int end_writer(void *arg)
{
    (void)arg;
    return crew_actor_exit();
}

typedef struct stage {
    batch_t *b;
    crew_actor_t *writer;
} stage_t;

static int transform_batch(void *arg)
{
    stage_t *s = arg;
    int rc = crew_for(NULL, 0, s->b->n, transform_rows, s->b, NULL, NULL);
    if (rc == 0)
        rc = crew_actor_submit(s->writer, write_batch, s->b, NULL);
    if (rc != 0) { /* the reader would wait for this batch forever */
        fprintf(stderr, "pipeline: %s\n", crew_strerror(rc));
        abort();
    }
    free(s);
    return 0;
}

int main(void)
{
    crew_t *ex;
    crew_actor_t *a;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    int inflight = 0, peak = 0;
    writer_t *w = calloc(1, sizeof *w);
    char *text = make_input();
    const char *pos = text;
    uint64_t want = 0;
    long seq = 0;
    if (!w || !text || crew_create(&ex, NULL) != 0)
        return 1;
    w->mu = &mu;
    w->cv = &cv;
    w->inflight = &inflight;
    if (crew_actor_create(ex, w, NULL, &a) != 0)
        return 1;

    for (;;) {
        batch_t *b = malloc(sizeof *b);
        stage_t *s = malloc(sizeof *s);
        if (!b || !s)
            return 1;
        if (read_batch(&pos, b) == 0) {
            free(b);
            free(s);
            break;
        }
        b->seq = seq++;
        pthread_mutex_lock(&mu); /* the bound: wait for the writer */
        while (inflight >= MAX_INFLIGHT)
            pthread_cond_wait(&cv, &mu);
        if (++inflight > peak)
            peak = inflight;
        pthread_mutex_unlock(&mu);
        s->b = b;
        s->writer = a;
        if (crew_submit(ex, transform_batch, s, NULL) != 0)
            return 1;
    }
    pthread_mutex_lock(&mu);
    while (inflight > 0)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    /* end the writer after its last task and wait until it is finished:
     * then nothing touches w any more */
    if (crew_actor_submit(a, end_writer, NULL, NULL) != 0 || crew_actor_wait(a, CREW_FOREVER) != 0)
        return 1;
    crew_actor_destroy(a);

    /* the same records, serially */
    for (long i = 0; i < RECORDS; i++) {
        rec_t r = {(uint64_t)i, (uint64_t)((i * 7919) % 97)};
        want = want * 1000003u + transform(&r);
    }
    printf("pipeline: %llu records in %ld batches, at most %d in flight (bound %d), "
           "checksum %016llx: %s\n",
           (unsigned long long)w->written, seq, peak, MAX_INFLIGHT, (unsigned long long)w->checksum,
           w->written == RECORDS && w->checksum == want ? "ok" : "MISMATCH");
    free(w);
    free(text);
    return crew_destroy(&ex);
}
