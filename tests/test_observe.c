/* test_observe.c - seeing inside: statistics and their OpenMetrics text,
 * the task list, the trace (valid JSON, events in order), the cancel
 * watchdog, cancel latency, shutdown with a deadline. */
#include <string.h>

#include "crit.h"

/* ---- a JSON validator (RFC 8259 grammar, no tree) --------------------------- */

static const char *js_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static const char *js_value(const char *p, int depth);

static const char *js_string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    while (*p && *p != '"') {
        if ((unsigned char)*p < 0x20)
            return NULL;
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
                        return NULL;
                p += 4;
            } else if (!*p || !strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
        p++;
    }
    return *p == '"' ? p + 1 : NULL;
}

static const char *js_number(const char *p)
{
    const char *s = p;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return NULL;
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return p > s ? p : NULL;
}

static const char *js_value(const char *p, int depth)
{
    p = js_ws(p);
    if (depth > 64)
        return NULL;
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        bool obj = *p == '{';
        p = js_ws(p + 1);
        if (*p == close)
            return p + 1;
        for (;;) {
            if (obj) {
                p = js_string(js_ws(p));
                if (!p)
                    return NULL;
                p = js_ws(p);
                if (*p++ != ':')
                    return NULL;
            }
            p = js_value(p, depth + 1);
            if (!p)
                return NULL;
            p = js_ws(p);
            if (*p == ',') {
                p++;
                continue;
            }
            return *p == close ? p + 1 : NULL;
        }
    }
    if (*p == '"')
        return js_string(p);
    if (!strncmp(p, "true", 4))
        return p + 4;
    if (!strncmp(p, "false", 5))
        return p + 5;
    if (!strncmp(p, "null", 4))
        return p + 4;
    return js_number(p);
}

static bool json_valid(const char *text)
{
    const char *end = js_value(text, 0);
    return end && *js_ws(end) == '\0';
}

Test(observe, json_checker_rejects_bad_json, T_OPTS)
{
    cr_assert(json_valid("{\"a\":[1,2.5e-3,\"x\\n\",true,null,{}]}"));
    cr_assert(!json_valid("{\"a\":[1,2,]}"));
    cr_assert(!json_valid("{\"a\":01}"));
    cr_assert(!json_valid("{\"a\":1} x"));
    cr_assert(!json_valid("{\"a\" 1}"));
}

/* ---- helpers ------------------------------------------------------------------ */

static char *capture(int (*fn)(crew_t *, FILE *), crew_t *ex, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert(f);
    *rc = fn(ex, f);
    fclose(f);
    return buf;
}

/* Join from inside a task: crew_join needs the executor. */
static crew_t *g_ex;

static int tree_task(void *arg)
{
    intptr_t depth = (intptr_t)arg;
    if (depth > 0) {
        crew_id_t a, b;
        crew_status_t st;
        if (crew_spawn(tree_task, (void *)(depth - 1), &a) != 0 ||
            crew_spawn(tree_task, (void *)(depth - 1), &b) != 0)
            return 1;
        if (crew_join(g_ex, a, &st) != 0 || crew_join(g_ex, b, &st) != 0)
            return 1;
    }
    return 0;
}

/* ---- statistics ------------------------------------------------------------------ */

/* Steals, steal attempts and parks summed over the workers. */
static void worker_sums(crew_t *ex, uint64_t out[3])
{
    out[0] = out[1] = out[2] = 0;
    for (unsigned i = 0; i <= crew_workers(ex); i++) {
        crew_worker_stats_t ws = CREW_WORKER_STATS_INIT;
        ASSERT_RC(crew_worker_stats(ex, i, &ws), 0);
        out[0] += ws.steals;
        out[1] += ws.steal_attempts;
        out[2] += ws.parks;
    }
}

Test(observe, stats_add_up, T_OPTS)
{
    crew_t *ex = t_create(3);
    crew_stats_t st = CREW_STATS_INIT;
    crew_worker_stats_t ws = CREW_WORKER_STATS_INIT;
    uint64_t run = 0, done = 0;
    crew_status_t s;
    g_ex = ex;
    for (int i = 0; i < 20; i++) {
        crew_id_t id;
        ASSERT_RC(crew_submit(ex, tree_task, (void *)(intptr_t)6, &id), 0);
        cr_assert_eq(t_join(ex, id), CREW_TASK_DONE);
    }
    /* one removed and one cancelled while running */
    {
        gate_t g;
        crew_id_t q;
        gate_init(&g);
        saturate(ex, &g);
        ASSERT_RC(crew_submit(ex, noop_task, NULL, &q), 0);
        ASSERT_RC(crew_cancel(ex, q, 0, NULL), CREW_REMOVED);
        gate_open(&g);
        cr_assert_eq(t_join(ex, q), CREW_TASK_CANCELLED);
        ASSERT_RC(crew_run(ex, noop_task, NULL, &s), 0);
        t_settle(ex);
        gate_destroy(&g);
    }
    ASSERT_RC(crew_stats(ex, &st), 0);
    /* 20 trees of 2^7 - 1 tasks, 1 removed, 3 gate tasks, 1 crew_run root */
    cr_assert_eq(st.submitted, 20 * 127 + 1 + 3 + 1, "submitted %llu",
                 (unsigned long long)st.submitted);
    cr_assert_eq(st.submitted, st.done + st.failed + st.cancelled);
    cr_assert_eq(st.cancelled, st.removed + st.cancelled_running);
    cr_assert_eq(st.removed, 1);
    cr_assert_eq(st.tasks_run, st.done + st.failed + st.cancelled_running);
    cr_assert_eq(st.tasks_run, st.submitted - st.removed);
    cr_assert_geq(st.steal_attempts, st.steals);
    cr_assert_gt(st.busy_ns + st.idle_ns, 0);
    for (unsigned i = 0; i <= crew_workers(ex); i++) {
        ASSERT_RC(crew_worker_stats(ex, i, &ws), 0);
        cr_assert_eq(ws.index, i);
        cr_assert_eq(ws.tasks_run, ws.done + ws.failed + ws.cancelled_running);
        run += ws.tasks_run;
        done += ws.done;
        if (i == crew_workers(ex)) {
            cr_assert_eq(ws.tasks_run, 1, "the crew_run root ran on the guest slot");
            cr_assert_eq(ws.idle_ns + ws.busy_ns, 0);
        }
    }
    cr_assert_eq(run, st.tasks_run);
    cr_assert_leq(done, st.done); /* the rest finished outside (none here) */
    /* Idle workers still look for work and park after the executor
     * settled: compare the executor's totals with the per-worker sums
     * read around them whenever those stood still. */
    for (int tries = 0;; tries++) {
        uint64_t a[3], b[3];
        crew_stats_t now = CREW_STATS_INIT;
        worker_sums(ex, a);
        ASSERT_RC(crew_stats(ex, &now), 0);
        worker_sums(ex, b);
        if (a[0] == b[0] && a[1] == b[1] && a[2] == b[2]) {
            cr_assert_eq(a[0], now.steals);
            cr_assert_eq(a[1], now.steal_attempts);
            cr_assert_eq(a[2], now.parks);
            break;
        }
        cr_assert_lt(tries, 1000, "the counters never stood still");
    }
    ASSERT_RC(crew_worker_stats(ex, crew_workers(ex) + 1, &ws), CREW_EINVAL);
    {
        crew_stats_t small = CREW_STATS_INIT;
        small.size = offsetof(crew_stats_t, tasks_run); /* a 0.1 caller */
        small.tasks_run = 12345;
        ASSERT_RC(crew_stats(ex, &small), 0);
        cr_assert_eq(small.tasks_run, 12345, "beyond the caller's size: untouched");
        cr_assert_eq(small.submitted, st.submitted);
        small.size = offsetof(crew_stats_t, cancel_set_size);
        ASSERT_RC(crew_stats(ex, &small), CREW_EINVAL);
        small.size = offsetof(crew_stats_t, tasks_run) + 8; /* no such version */
        ASSERT_RC(crew_stats(ex, &small), CREW_EINVAL);
    }
    DESTROY_CLEAN(&ex);
}

Test(observe, metrics_are_openmetrics, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_stats_t st = CREW_STATS_INIT;
    atomic_int n = 0;
    int rc;
    char *text, *line, *save, want[64];
    uint64_t prev = 0;
    bool in_hist = false;
    for (int i = 0; i < 100; i++)
        ASSERT_RC(crew_submit(ex, count_task, &n, NULL), 0);
    t_settle(ex);
    ASSERT_RC(crew_stats(ex, &st), 0);
    text = capture(crew_metrics_write, ex, &rc);
    ASSERT_RC(rc, 0);
    snprintf(want, sizeof want, "\ncrew_tasks_submitted_total %llu\n",
             (unsigned long long)st.submitted);
    cr_assert(strstr(text, want), "%s missing in\n%s", want, text);
    cr_assert(strstr(text, "crew_worker_tasks_run_total{worker=\"1\"} "));
    cr_assert(strstr(text, "crew_cancel_to_check_seconds_bucket{le=\"+Inf\"} 0\n"));
    cr_assert(strlen(text) > 6 && !strcmp(text + strlen(text) - 6, "# EOF\n"));
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[128];
        unsigned long long v;
        if (line[0] == '#') {
            cr_assert(!strncmp(line, "# TYPE crew_", 12) || !strncmp(line, "# HELP crew_", 12) ||
                          !strncmp(line, "# UNIT crew_", 12) || !strcmp(line, "# EOF"),
                      "%s", line);
            in_hist = strstr(line, "# TYPE") && strstr(line, "histogram");
            prev = 0;
            continue;
        }
        cr_assert(sscanf(line, "%127[a-z_]", name) == 1 && !strncmp(name, "crew_", 5), "%s", line);
        if (in_hist && strstr(line, "_bucket{")) {
            cr_assert(sscanf(strrchr(line, ' '), " %llu", &v) == 1);
            cr_assert_geq(v, prev, "buckets are cumulative: %s", line);
            prev = v;
        }
    }
    free(text);
    ASSERT_RC(crew_metrics_write(ex, NULL), CREW_EINVAL);
    DESTROY_CLEAN(&ex);
}

/* ---- the task list -------------------------------------------------------------- */

#define MAXROWS 64
typedef struct rows {
    int n;
    crew_task_row_t r[MAXROWS];
} rows_t;

static int collect(const crew_task_row_t *row, void *ctx)
{
    rows_t *rs = ctx;
    if (rs->n < MAXROWS)
        rs->r[rs->n] = *row;
    rs->n++;
    return 0;
}

static rows_t list(crew_t *ex, const crew_task_filter_t *f)
{
    rows_t rs;
    int rc;
    memset(&rs, 0, sizeof rs);
    rc = crew_task_list(ex, f, collect, &rs);
    cr_assert_eq(rc, rs.n, "crew_task_list -> %d, %d rows", rc, rs.n);
    return rs;
}

static const crew_task_row_t *find_row(const rows_t *rs, crew_id_t id)
{
    for (int i = 0; i < rs->n && i < MAXROWS; i++)
        if (rs->r[i].id == id)
            return &rs->r[i];
    return NULL;
}

typedef struct spawner {
    gate_t *g;
    crew_id_t kids[3];
    atomic_int spawned;
} spawner_t;

static int spawner_task(void *arg)
{
    spawner_t *s = arg;
    for (int i = 0; i < 3; i++)
        if (crew_spawn(noop_task, NULL, &s->kids[i]) != 0)
            return 1;
    flag_set(&s->spawned);
    gate_pass(s->g);
    return 0;
}

Test(observe, list_sees_exactly_the_live_tasks, T_OPTS)
{
    enum { W = 2, K = 4 };
    crew_t *ex = t_create(W);
    crew_group_t *grp = t_group(ex, NULL, 0);
    crew_task_filter_t f = CREW_TASK_FILTER_INIT;
    gate_t g;
    spawner_t sp;
    crew_id_t run[W], q[K];
    rows_t rs;
    int64_t t0 = t_now_ns();
    memset(&sp, 0, sizeof sp);
    gate_init(&g);
    sp.g = &g;
    ASSERT_RC(crew_timing(ex, true), 0);
    rs = list(ex, NULL);
    cr_assert_eq(rs.n, 0);
    /* Two running tasks blocked on the gate, the second of which spawned
     * three children that stay queued (every worker is blocked by then). */
    ASSERT_RC(crew_submit(ex, gate_task, &g, &run[1]), 0);
    gate_await_arrivals(&g, 1);
    ASSERT_RC(crew_submit(ex, spawner_task, &sp, &run[0]), 0);
    flag_await(&sp.spawned);
    gate_await_arrivals(&g, W);
    for (int i = 0; i < K; i++)
        ASSERT_RC(t_submit_to(ex, i < 2 ? grp : NULL, noop_task, NULL, &q[i]), 0);
    rs = list(ex, NULL);
    cr_assert_eq(rs.n, W + K + 3, "%d rows", rs.n);
    for (int i = 0; i < W; i++) {
        const crew_task_row_t *r = find_row(&rs, run[i]);
        cr_assert(r, "running task %d listed", i);
        cr_assert_eq(r->status, CREW_TASK_RUNNING);
        cr_assert_geq(r->worker, 0);
        cr_assert_lt(r->worker, W);
        cr_assert_geq(r->queued_ns, t0);
        cr_assert_geq(r->started_ns, r->queued_ns);
        cr_assert_eq(r->finished_ns, 0);
        cr_assert_eq(r->size, sizeof *r);
    }
    cr_assert_eq(find_row(&rs, run[0])->fn, spawner_task);
    for (int i = 0; i < K; i++) {
        const crew_task_row_t *r = find_row(&rs, q[i]);
        cr_assert(r, "queued task %d listed", i);
        cr_assert_eq(r->status, CREW_TASK_QUEUED);
        cr_assert_eq(r->started_ns, 0);
        cr_assert_eq(r->worker, -1);
        cr_assert_eq(r->group, i < 2 ? crew_group_id(grp) : 0);
    }
    for (int i = 0; i < 3; i++)
        cr_assert_eq(find_row(&rs, sp.kids[i])->parent, run[0]);
    /* filters */
    f.states = 1u << CREW_TASK_RUNNING;
    cr_assert_eq(list(ex, &f).n, W);
    f.states = 1u << CREW_TASK_QUEUED;
    cr_assert_eq(list(ex, &f).n, K + 3);
    f.states = 0;
    f.group = crew_group_id(grp);
    cr_assert_eq(list(ex, &f).n, 2);
    f.group = 0;
    f.parent = run[0];
    cr_assert_eq(list(ex, &f).n, 3);
    f.parent = 0;
    f.cancelled = true;
    cr_assert_eq(list(ex, &f).n, 0);
    /* a removed task leaves the list; a requested one shows its cause */
    ASSERT_RC(crew_cancel(ex, q[3], 7, "gone"), CREW_REMOVED);
    ASSERT_RC(crew_cancel(ex, run[1], 9, "stop it"), CREW_REQUESTED);
    ASSERT_RC(crew_group_cancel(grp, 5, "grp"), 0);
    rs = list(ex, &f); /* cancelled only */
    cr_assert_eq(rs.n, 1, "%d cancelled rows", rs.n);
    cr_assert_eq(rs.r[0].id, run[1]);
    cr_assert_eq(rs.r[0].cause, CREW_CAUSE_SELF);
    cr_assert_eq(rs.r[0].cancel_code, 9);
    cr_assert_str_eq(rs.r[0].reason, "stop it");
    f.cancelled = false;
    cr_assert_eq(list(ex, &f).n, W + 1 + 3, "q[0..1] (group) and q[3] were removed");
    /* terminal tasks whose handle is held are listed when asked for */
    f.states = 1u << CREW_TASK_CANCELLED;
    rs = list(ex, &f);
    cr_assert_eq(rs.n, 3);
    cr_assert(find_row(&rs, q[3]) && find_row(&rs, q[3])->cause == CREW_CAUSE_SELF);
    cr_assert(find_row(&rs, q[0]) && find_row(&rs, q[0])->cause == CREW_CAUSE_GROUP);
    cr_assert_gt(find_row(&rs, q[3])->finished_ns, 0);
    f.states = 0;
    gate_open(&g);
    for (int i = 0; i < W; i++)
        t_join(ex, run[i]);
    for (int i = 0; i < K; i++)
        t_join(ex, q[i]);
    for (int i = 0; i < 3; i++)
        t_join(ex, sp.kids[i]);
    ASSERT_RC(crew_group_destroy(grp), 0); /* its ID leaves the cancel set */
    t_settle(ex);
    cr_assert_eq(list(ex, NULL).n, 0);
    f.size = 3;
    ASSERT_RC(crew_task_list(ex, &f, collect, &rs), CREW_EINVAL);
    ASSERT_RC(crew_task_list(ex, NULL, NULL, NULL), CREW_EINVAL);
    gate_destroy(&g);
    DESTROY_CLEAN(&ex);
}

static int stop_after_one(const crew_task_row_t *row, void *ctx)
{
    (void)row;
    ++*(int *)ctx;
    return 1;
}

Test(observe, list_visit_can_stop, T_OPTS)
{
    crew_t *ex = t_create(1);
    gate_t g;
    crew_id_t q[3];
    int seen = 0;
    gate_init(&g);
    saturate(ex, &g);
    for (int i = 0; i < 3; i++)
        ASSERT_RC(crew_submit(ex, noop_task, NULL, &q[i]), 0);
    ASSERT_RC(crew_task_list(ex, NULL, stop_after_one, &seen), 1);
    cr_assert_eq(seen, 1);
    gate_open(&g);
    for (int i = 0; i < 3; i++)
        t_join(ex, q[i]);
    t_settle(ex);
    gate_destroy(&g);
    DESTROY_CLEAN(&ex);
}

static int mark_task(void *arg)
{
    (void)arg;
    return 0;
}

static int count_fn(const crew_task_row_t *row, void *ctx)
{
    int *n = ctx;
    if (row->fn == mark_task)
        (*n)++;
    return 0;
}

Test(observe, list_recent_shows_reclaimed_tasks, T_OPTS)
{
    crew_t *ex = t_create(2);
    crew_group_t *grp = t_group(ex, NULL, 0);
    crew_task_filter_t f = CREW_TASK_FILTER_INIT;
    gate_t g;
    crew_id_t id;
    rows_t rs;
    int n = 0;
    f.recent = true;
    f.states = (1u << CREW_TASK_DONE) | (1u << CREW_TASK_CANCELLED);
    /* timing off: nothing is kept */
    for (int i = 0; i < 5; i++)
        ASSERT_RC(crew_submit(ex, mark_task, NULL, NULL), 0);
    t_settle(ex);
    ASSERT_RC(crew_task_list(ex, &f, count_fn, &n), 0);
    cr_assert_eq(n, 0);
    ASSERT_RC(crew_timing(ex, true), 0);
    /* detached tasks that ran, a joinable one once joined */
    for (int i = 0; i < 10; i++)
        ASSERT_RC(crew_submit(ex, mark_task, NULL, NULL), 0);
    ASSERT_RC(crew_submit(ex, mark_task, NULL, &id), 0);
    cr_assert_eq(t_join(ex, id), CREW_TASK_DONE);
    t_settle(ex);
    n = 0;
    ASSERT_RC(crew_task_list(ex, &f, count_fn, &n), 11);
    cr_assert_eq(n, 11);
    rs = list(ex, &f);
    cr_assert(find_row(&rs, id), "the joined task");
    cr_assert_eq(find_row(&rs, id)->status, CREW_TASK_DONE);
    cr_assert_geq(find_row(&rs, id)->worker, 0);
    cr_assert_geq(find_row(&rs, id)->finished_ns, find_row(&rs, id)->started_ns);
    cr_assert_gt(find_row(&rs, id)->started_ns, 0);
    /* detached group members removed by a group cancel while every worker
     * is blocked: terminal at once, reclaimed when a worker consumes their
     * queue slots */
    gate_init(&g);
    saturate(ex, &g);
    for (int i = 0; i < 3; i++)
        ASSERT_RC(t_submit_to(ex, grp, mark_task, NULL, NULL), 0);
    ASSERT_RC(crew_group_cancel(grp, 6, "grp"), 0);
    f.cancelled = true;
    f.recent = false;
    cr_assert_eq(list(ex, &f).n, 3, "terminal, records kept by their queue slots");
    gate_open(&g);
    t_settle(ex);
    cr_assert_eq(list(ex, &f).n, 0, "reclaimed");
    f.recent = true;
    rs = list(ex, &f);
    cr_assert_eq(rs.n, 3, "%d", rs.n);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(rs.r[i].status, CREW_TASK_CANCELLED);
        cr_assert_eq(rs.r[i].fn, mark_task);
        cr_assert_eq(rs.r[i].cause, CREW_CAUSE_GROUP);
        cr_assert_eq(rs.r[i].cancel_code, 6);
        cr_assert_str_eq(rs.r[i].reason, "grp");
        cr_assert_eq(rs.r[i].group, crew_group_id(grp));
        cr_assert_eq(rs.r[i].started_ns, 0);
        cr_assert_gt(rs.r[i].finished_ns, 0);
    }
    ASSERT_RC(crew_group_destroy(grp), 0);
    t_settle(ex);
    gate_destroy(&g);
    DESTROY_CLEAN(&ex);
}

/* ---- the trace ------------------------------------------------------------------ */

typedef struct tev {
    char name[16];
    unsigned tid;
    double ts, dur;
    unsigned long long id;
} tev_t;

/* The writer puts one event per line; read the fields back. */
static int parse_events(char *text, tev_t *out, int cap)
{
    int n = 0;
    char *save, *line;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        tev_t e;
        char *p;
        memset(&e, 0, sizeof e);
        if (!(p = strstr(line, "\"name\":\"")) || sscanf(p, "\"name\":\"%15[a-z_ ]", e.name) != 1)
            continue;
        if (!(p = strstr(line, "\"tid\":")) || sscanf(p, "\"tid\":%u", &e.tid) != 1)
            continue;
        if (!(p = strstr(line, "\"ts\":")) || sscanf(p, "\"ts\":%lf", &e.ts) != 1)
            continue; /* metadata */
        if ((p = strstr(line, "\"dur\":")))
            sscanf(p, "\"dur\":%lf", &e.dur);
        if ((p = strstr(line, "\"id\":\"")))
            sscanf(p, "\"id\":\"%llx", &e.id);
        if (n < cap)
            out[n] = e;
        n++;
    }
    return n;
}

static const tev_t *find_ev(const tev_t *ev, int n, const char *name, crew_id_t id)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(ev[i].name, name) && ev[i].id == id)
            return &ev[i];
    return NULL;
}

static int polite_task(void *arg)
{
    atomic_int *started = arg;
    flag_set(started);
    while (!crew_cancelled())
        sched_yield();
    return 0;
}

Test(observe, trace_is_valid_json_with_events_in_order, T_OPTS)
{
    enum { CAP = 20000 };
    crew_t *ex = t_create(2);
    crew_id_t root, pol;
    atomic_int started = 0;
    char *text, *copy;
    tev_t *ev = calloc(CAP, sizeof *ev);
    int n, rc;
    ASSERT_RC(crew_trace_write(ex, stdout), CREW_EINVAL); /* never started */
    ASSERT_RC(crew_trace_stop(ex), CREW_EINVAL);
    ASSERT_RC(crew_trace_start(ex, 4096), 0);
    ASSERT_RC(crew_trace_start(ex, 4096), CREW_EBUSY);
    g_ex = ex;
    ASSERT_RC(crew_submit(ex, tree_task, (void *)(intptr_t)4, &root), 0);
    cr_assert_eq(t_join(ex, root), CREW_TASK_DONE);
    ASSERT_RC(crew_submit(ex, polite_task, &started, &pol), 0);
    flag_await(&started);
    ASSERT_RC(crew_cancel(ex, pol, 1, "trace"), CREW_REQUESTED);
    cr_assert_eq(t_join(ex, pol), CREW_TASK_CANCELLED);
    t_settle(ex);
    ASSERT_RC(crew_trace_stop(ex), 0);
    text = capture(crew_trace_write, ex, &rc);
    ASSERT_RC(rc, 0);
    cr_assert(json_valid(text), "invalid JSON:\n%.2000s", text);
    cr_assert(strstr(text, "\"traceEvents\":["));
    copy = strdup(text);
    n = parse_events(copy, ev, CAP);
    cr_assert_lt(n, CAP);
    /* per thread, timestamps never go back */
    for (int i = 1; i < n; i++)
        if (ev[i].tid == ev[i - 1].tid)
            cr_assert_geq(ev[i].ts, ev[i - 1].ts, "event %d (%s) before %d", i, ev[i].name, i - 1);
    {
        /* 31 task bodies of the tree, the polite one */
        int tasks = 0;
        for (int i = 0; i < n; i++)
            tasks += !strcmp(ev[i].name, "task");
        cr_assert_eq(tasks, 32, "%d task slices", tasks);
    }
    {
        const tev_t *sub = find_ev(ev, n, "submit", root), *run = find_ev(ev, n, "task", root);
        const tev_t *psub = find_ev(ev, n, "submit", pol), *prun = find_ev(ev, n, "task", pol);
        const tev_t *can = find_ev(ev, n, "cancel", pol), *chk = find_ev(ev, n, "check", pol);
        cr_assert(sub && run && psub && prun && can && chk, "events of the two tasks");
        cr_assert_leq(sub->ts, run->ts);
        cr_assert_leq(psub->ts, prun->ts);
        cr_assert_leq(prun->ts, can->ts);
        cr_assert_leq(can->ts, chk->ts);
        cr_assert_leq(chk->ts, prun->ts + prun->dur + 0.001);
        cr_assert_eq(chk->tid, prun->tid, "the check is the body's own");
    }
    free(copy);
    free(text);
    free(ev);
    /* a second trace forgets the first */
    ASSERT_RC(crew_trace_start(ex, 0), 0);
    ASSERT_RC(crew_trace_stop(ex), 0);
    text = capture(crew_trace_write, ex, &rc);
    ASSERT_RC(rc, 0);
    cr_assert(json_valid(text));
    cr_assert(!strstr(text, "\"name\":\"task\""), "%.1000s", text);
    free(text);
    DESTROY_CLEAN(&ex);
}

/* ---- watchdog and cancel latency -------------------------------------------------- */

typedef struct wd_log {
    pthread_mutex_t mu;
    int n;
    crew_watchdog_report_t r[16];
} wd_log_t;

static void wd_record(const crew_watchdog_report_t *r, void *ctx)
{
    wd_log_t *l = ctx;
    pthread_mutex_lock(&l->mu);
    if (l->n < 16)
        l->r[l->n] = *r;
    l->n++;
    pthread_mutex_unlock(&l->mu);
}

static int wd_count(wd_log_t *l, crew_id_t id)
{
    int c = 0;
    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < l->n && i < 16; i++)
        c += l->r[i].id == id;
    pthread_mutex_unlock(&l->mu);
    return c;
}

typedef struct stub {
    atomic_int started, release;
} stub_t;

/* Ignores cancellation until released. */
int stubborn_task(void *arg);
int stubborn_task(void *arg)
{
    stub_t *s = arg;
    flag_set(&s->started);
    while (!flag_get(&s->release))
        sched_yield();
    return 0;
}

typedef struct checker {
    atomic_int started, saw, release;
} checker_t;

/* Checks, sees the cancellation, then keeps running until released. */
static int checking_task(void *arg)
{
    checker_t *c = arg;
    flag_set(&c->started);
    while (!crew_cancelled())
        sched_yield();
    flag_set(&c->saw);
    while (!flag_get(&c->release))
        sched_yield();
    return 0;
}

Test(observe, watchdog_reports_tasks_that_do_not_check_once, T_OPTS)
{
    enum { MS = 40 };
    crew_t *ex = t_create(3);
    wd_log_t log;
    stub_t a, d;
    checker_t b;
    crew_id_t ia, ib, id;
    crew_stats_t st = CREW_STATS_INIT;
    uint64_t checks = 0, terms = 0;
    int64_t t_cancel;
    memset(&log, 0, sizeof log);
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&d, 0, sizeof d);
    pthread_mutex_init(&log.mu, NULL);
    ASSERT_RC(crew_watchdog_start(ex, 0, NULL, NULL), CREW_EINVAL);
    ASSERT_RC(crew_watchdog_start(ex, MS, wd_record, &log), 0);
    ASSERT_RC(crew_watchdog_start(ex, MS, wd_record, &log), CREW_EBUSY);
    ASSERT_RC(crew_submit(ex, checking_task, &b, &ib), 0);
    ASSERT_RC(crew_submit(ex, stubborn_task, &a, &ia), 0);
    flag_await(&b.started);
    flag_await(&a.started);
    /* b is cancelled first and checks at once; a never checks */
    ASSERT_RC(crew_cancel(ex, ib, 3, "b"), CREW_REQUESTED);
    flag_await(&b.saw);
    t_cancel = t_now_ns();
    ASSERT_RC(crew_cancel(ex, ia, 4, "ignored"), CREW_REQUESTED);
    cr_assert(T_WAIT_UNTIL(wd_count(&log, ia) == 1, T_HANG_S), "a reported");
    cr_assert_geq(t_now_ns() - t_cancel, (int64_t)MS * 1000000, "not before the limit");
    pthread_mutex_lock(&log.mu);
    cr_assert_eq(log.r[0].id, ia);
    cr_assert_eq(log.r[0].fn, stubborn_task);
    cr_assert(log.r[0].symbol && !strcmp(log.r[0].symbol, "stubborn_task"), "%s",
              log.r[0].symbol ? log.r[0].symbol : "(null)"); /* exported: ENABLE_EXPORTS */
    cr_assert_eq(log.r[0].cause, CREW_CAUSE_SELF);
    cr_assert_eq(log.r[0].cancel_code, 4);
    cr_assert_str_eq(log.r[0].reason, "ignored");
    cr_assert_geq(log.r[0].waited_ns, (int64_t)MS * 1000000);
    pthread_mutex_unlock(&log.mu);
    /* a later stubborn task: reported too, after several more rounds in
     * which a was not reported again and b never */
    ASSERT_RC(crew_submit(ex, stubborn_task, &d, &id), 0);
    flag_await(&d.started);
    ASSERT_RC(crew_cancel(ex, id, 0, NULL), CREW_REQUESTED);
    cr_assert(T_WAIT_UNTIL(wd_count(&log, id) == 1, T_HANG_S), "d reported");
    cr_assert_eq(wd_count(&log, ia), 1, "once per task");
    cr_assert_eq(wd_count(&log, ib), 0, "b checked");
    ASSERT_RC(crew_stats(ex, &st), 0);
    for (int i = 0; i < CREW_LATENCY_BUCKETS; i++)
        checks += st.cancel_to_check[i];
    cr_assert_eq(checks, 1, "b's check");
    flag_set(&a.release);
    flag_set(&b.release);
    flag_set(&d.release);
    cr_assert_eq(t_join(ex, ia), CREW_TASK_CANCELLED);
    cr_assert_eq(t_join(ex, ib), CREW_TASK_CANCELLED);
    cr_assert_eq(t_join(ex, id), CREW_TASK_CANCELLED);
    /* exact once quiescent: the finisher counts after the terminal CAS
     * the joins saw */
    t_settle(ex);
    ASSERT_RC(crew_stats(ex, &st), 0);
    for (int i = 0; i < CREW_LATENCY_BUCKETS; i++)
        terms += st.cancel_to_terminal[i];
    cr_assert_eq(terms, 3);
    cr_assert_geq(st.cancel_to_terminal_sum_ns, (uint64_t)MS * 1000000, "a waited > MS");
    ASSERT_RC(crew_watchdog_stop(ex), 0);
    ASSERT_RC(crew_watchdog_stop(ex), CREW_EINVAL);
    pthread_mutex_destroy(&log.mu);
    DESTROY_CLEAN(&ex);
}

Test(observe, watchdog_sees_group_cancellation_and_stops_with_destroy, T_OPTS)
{
    enum { MS = 20 };
    crew_t *ex = t_create(2);
    crew_group_t *grp = t_group(ex, NULL, 0);
    wd_log_t log;
    stub_t a;
    crew_id_t ia;
    memset(&log, 0, sizeof log);
    memset(&a, 0, sizeof a);
    pthread_mutex_init(&log.mu, NULL);
    ASSERT_RC(crew_watchdog_start(ex, MS, wd_record, &log), 0);
    ASSERT_RC(t_submit_to(ex, grp, stubborn_task, &a, &ia), 0);
    flag_await(&a.started);
    ASSERT_RC(crew_group_cancel(grp, 2, "grp"), 0);
    cr_assert(T_WAIT_UNTIL(wd_count(&log, ia) == 1, T_HANG_S), "reported");
    cr_assert_eq(log.r[0].cause, CREW_CAUSE_GROUP);
    flag_set(&a.release);
    cr_assert_eq(t_join(ex, ia), CREW_TASK_CANCELLED);
    ASSERT_RC(crew_group_destroy(grp), 0);
    DESTROY_CLEAN(&ex); /* stops the watchdog */
    pthread_mutex_destroy(&log.mu);
}

/* ---- shutdown with a deadline ------------------------------------------------------ */

Test(observe, timed_shutdown_returns_the_stuck_ids, T_OPTS)
{
    crew_t *ex = t_create(2);
    stub_t a;
    gate_t g;
    crew_id_t ia, ig, q[2], ids[8];
    size_t n = 99;
    int64_t t0;
    memset(&a, 0, sizeof a);
    gate_init(&g);
    ASSERT_RC(crew_submit(ex, stubborn_task, &a, &ia), 0);
    ASSERT_RC(crew_submit(ex, gate_task, &g, &ig), 0);
    flag_await(&a.started);
    gate_await_arrivals(&g, 1);
    ASSERT_RC(crew_submit(ex, noop_task, NULL, &q[0]), 0);
    ASSERT_RC(crew_submit(ex, noop_task, NULL, &q[1]), 0);
    ASSERT_RC(crew_shutdown_timed(ex, CREW_DRAIN, -5, ids, 8, &n), CREW_EINVAL);
    ASSERT_RC(crew_shutdown_timed(ex, CREW_DRAIN, 0, NULL, 8, &n), CREW_EINVAL);
    /* drain: two running, two queued, all still live at the deadline */
    t0 = t_now_ns();
    ASSERT_RC(crew_shutdown_timed(ex, CREW_DRAIN, 20000000, ids, 8, &n), CREW_ETIMEDOUT);
    cr_assert_geq(t_now_ns() - t0, 20000000);
    cr_assert_eq(n, 4, "%zu live", n);
    ASSERT_RC(crew_submit(ex, noop_task, NULL, NULL), CREW_ESHUTDOWN);
    /* cancel: the queued ones go at once; both running ones ignore it */
    ASSERT_RC(crew_shutdown_timed(ex, CREW_CANCEL, 20000000, ids, 1, &n), CREW_ETIMEDOUT);
    cr_assert_eq(n, 2, "%zu", n);
    cr_assert(ids[0] == ia || ids[0] == ig);
    cr_assert_eq(t_inspect(ex, q[0]).status, CREW_TASK_CANCELLED);
    /* the gate task ends when the gate opens, the stubborn one stays */
    gate_open(&g);
    cr_assert(T_WAIT_UNTIL(
        crew_shutdown_timed(ex, CREW_CANCEL, 0, ids, 8, &n) == CREW_ETIMEDOUT && n == 1, T_HANG_S));
    cr_assert_eq(ids[0], ia);
    cr_assert_eq(t_inspect(ex, ia).status, CREW_TASK_RUNNING);
    flag_set(&a.release);
    ASSERT_RC(crew_shutdown_timed(ex, CREW_CANCEL, CREW_FOREVER, ids, 8, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(t_join(ex, ia), CREW_TASK_CANCELLED);
    cr_assert_eq(t_join(ex, ig), CREW_TASK_CANCELLED);
    cr_assert_eq(t_join(ex, q[0]), CREW_TASK_CANCELLED);
    cr_assert_eq(t_join(ex, q[1]), CREW_TASK_CANCELLED);
    gate_destroy(&g);
    DESTROY_CLEAN_MODE(&ex, CREW_CANCEL);
}
