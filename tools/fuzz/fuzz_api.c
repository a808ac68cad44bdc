/*
 * fuzz_api - libFuzzer target: the input is a script of crew API calls.
 *
 * Byte 0 picks the executor (1 or 2 workers); then each op is one byte
 * (op % OP_COUNT) followed by its operands (missing bytes read as 0). Ops:
 * submit and batch-submit from outside (task kinds below; joinable or
 * detached; in a group or not), cancel / wait / cancel-and-wait / inspect /
 * release / join a handle (including released ones), calls on unknown and
 * stale IDs, open a gate, create (nested) / cancel / wait / destroy a group,
 * shutdown (drain or cancel), arm an allocation failure, check stats.
 *
 * Task bodies are quick and deterministic: return 0, return non-zero, cancel
 * themselves, check crew_cancelled(), spawn a child and join it / wait for
 * it / detach it, or block on a gate until the script opens it. Gates make
 * "running" a state the script controls: cancelling a task that entered its
 * body and waits at a closed gate must say CREW_REQUESTED, and once the gate
 * opens its crew_cancelled() must be true and its status CANCELLED.
 *
 * The contract is asserted throughout (abort() on violation): terminal
 * status after a wait, every observer sees the same one, REMOVED tasks never
 * ran, released/unknown IDs give CREW_ENOTASK, cleanups run exactly once,
 * refused submissions never run, submissions after shutdown are refused,
 * and at the end stats (executor and groups) reconcile with the records,
 * nothing is live, no cancel scope is left and, after crew_destroy,
 * crew__fault_live_bytes() == 0. The per-task and counter checks are the
 * oracle shared with crew-stress (tools/oracle).
 *
 * Built with clang -fsanitize=fuzzer,address,undefined (tools/fuzz/
 * CMakeLists.txt); with -DCREW_FUZZ_REPLAY a main() replays files and
 * directories, or runs random scripts (--random N --seed S), so the same
 * oracles run under gcc and ThreadSanitizer.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crew.h"
#include "fault.h"
#include "oracle.h"

/* Replay driver: names the input being run, for the report. */
static char cur_input[300];

#define REQUIRE(cond, ...)                                                                         \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_api: contract violated (%s:%d)%s%s: ", __FILE__, __LINE__,       \
                    cur_input[0] ? " in " : "", cur_input);                                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAXR      256 /* task records per input (roots and children) */
#define MAXH      48  /* joinable root handles per input */
#define NGATES    4
#define NSLOTS    4  /* group slots */
#define MAXG      16 /* groups created per input */
#define MAXOPS    256
#define STALE_TOP (UINT64_C(1) << 63)

enum fkind {
    FK_DONE,
    FK_FAIL,
    FK_SELF,       /* cancels itself: must be REQUESTED */
    FK_CHECK,      /* returns 5 if crew_cancelled() */
    FK_SPAWN_JOIN, /* spawns a child (param), joins it */
    FK_SPAWN_DETACH,
    FK_GATED,      /* blocks on gate (param) */
    FK_SPAWN_WAIT, /* spawns a child, polls it once, releases it */
    FK_COUNT
};

enum op {
    OP_SUBMIT,
    OP_CANCEL,
    OP_STALE,
    OP_WAIT,
    OP_RELEASE,
    OP_JOIN,
    OP_INSPECT,
    OP_OPEN_GATE,
    OP_GROUP_CREATE,
    OP_GROUP_CANCEL,
    OP_GROUP_WAIT,
    OP_GROUP_DESTROY,
    OP_SHUTDOWN,
    OP_CANCEL_WAIT,
    OP_BATCH,
    OP_FAULT,
    OP_STATS,
    OP_COUNT
};

struct fgroup {
    crew_group_t *g;
    crew_id_t gid;
    int parent; /* index in F.groups, -1 */
    unsigned flags;
    bool alive;
    _Atomic bool cancelled; /* crew_group_cancel on it returned */
    bool have_info;         /* info: its counts when it was destroyed */
    crew_group_info_t info;
};

/* A task: the shared oracle's record (o) plus what this harness tracks. */
struct frec {
    oracle_task_t o;
    uint8_t kind, param, depth;
    int grp;              /* index in F.groups, -1 */
    _Atomic bool entered; /* a gated body reached its gate */
};

struct handle {
    crew_id_t id;
    int rec;
    bool released;
};

static struct {
    crew_t *ex;
    unsigned workers;
    struct frec recs[MAXR];
    _Atomic int nrecs;
    struct handle h[MAXH];
    int nh;
    struct fgroup groups[MAXG];
    int ngroups;
    int slot[NSLOTS]; /* index in groups, -1 */
    bool shutdown;
    _Atomic bool cancel_shutdown; /* CREW_CANCEL shutdown returned */
    _Atomic bool armed;           /* an allocation failure was armed */
    int pending[NGATES];          /* accepted gated tasks behind a gate */
} F;

/* $CREW_FUZZ_TRACE set: print each op (to read a reproducer). */
static bool trace;
static const char *const op_names[OP_COUNT] = {
    "submit",   "cancel",      "stale",        "wait",         "release",    "join",
    "inspect",  "open_gate",   "group_create", "group_cancel", "group_wait", "group_destroy",
    "shutdown", "cancel_wait", "batch",        "fault",        "stats"};

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_open[NGATES]; /* under gate_mu */

/* The shared oracle's violations abort like REQUIRE's. */
static void oracle_report(const char *msg) { REQUIRE(false, "%s", msg); }

/* ---- reading the script ------------------------------------------------ */

struct in {
    const uint8_t *p;
    size_t n, i;
};

static uint8_t u8(struct in *in) { return in->i < in->n ? in->p[in->i++] : 0; }

/* ---- helpers ------------------------------------------------------------ */

static bool requested(const struct frec *r)
{
    return (atomic_load(&r->o.outcomes) & ORACLE_REQUESTED) != 0;
}

static bool enomem_ok(int rc) { return rc == CREW_ENOMEM && atomic_load(&F.armed); }

static int pending_gated(void)
{
    int n = 0;
    for (int i = 0; i < NGATES; i++)
        n += F.pending[i];
    return n;
}

static bool group_cancelled(int gi)
{
    for (; gi >= 0; gi = F.groups[gi].parent)
        if (atomic_load(&F.groups[gi].cancelled))
            return true;
    return false;
}

/* A cancel of it (REQUESTED), of its group (or an enclosing one), or a
 * CREW_CANCEL shutdown returned: crew_cancelled() must be true. Ancestors
 * are not tracked here (the stress tool covers them). */
static void check_visible(struct frec *r)
{
    bool req = requested(r), grp = group_cancelled(r->grp), shut = atomic_load(&F.cancel_shutdown);
    if (oracle_cancelled(&r->o))
        return;
    if (req || grp || shut) {
        crew_task_info_t info = {0};
        info.size = sizeof info;
        int rc = crew_inspect(F.ex, crew_self(), &info);
        REQUIRE(false,
                "task %d (kind %d, group #%d id %" PRIu64 "): "
                "crew_cancelled() false after a cancel returned (requested "
                "%d, group %d, shutdown %d) [inspect %d: status %d, group %" PRIu64 ", cause %d]",
                (int)(r - F.recs), r->kind, r->grp, r->grp >= 0 ? F.groups[r->grp].gid : 0, req,
                grp, shut, rc, (int)info.status, info.group, (int)info.cause);
    }
}

static void observe(struct frec *r, crew_status_t st, const char *how)
{
    oracle_observe(&r->o, st, how);
}

/* A fresh record, refused until its submission is accepted. */
static int new_rec(uint8_t kind, uint8_t param, uint8_t depth, int grp, bool joinable,
                   bool has_cleanup)
{
    int i = atomic_fetch_add(&F.nrecs, 1);
    struct frec *r;
    if (i >= MAXR)
        return -1;
    r = &F.recs[i];
    oracle_task_init(&r->o, (uint64_t)i, joinable, has_cleanup);
    atomic_store(&r->o.submit, ORACLE_SUB_REFUSED);
    r->kind = kind;
    r->param = param;
    r->depth = depth;
    r->grp = grp;
    atomic_init(&r->entered, false);
    return i;
}

/* The submission of r was accepted (with handle id if joinable). */
static void accepted(struct frec *r, crew_id_t id)
{
    atomic_store(&r->o.submit, ORACLE_SUB_OK);
    if (r->o.joinable) {
        REQUIRE(id != 0, "submit returned ID 0");
        atomic_store(&r->o.id, id);
    }
}

/* r's handle is given up; observed: its status was seen first. */
static void released(struct frec *r, bool observed)
{
    if (!observed)
        atomic_store(&r->o.unobserved_ok, true);
    atomic_store(&r->o.released, true);
}

static void on_cleanup(void *arg) { oracle_cleanup(&F.recs[(uintptr_t)arg].o); }

static int body(void *arg);

/* From inside a task: spawn a child of kind `kind`. Returns its record or
 * -1; *id set if joinable. */
static int spawn_child(struct frec *parent, uint8_t kind, bool joinable, crew_id_t *id)
{
    int c;
    struct frec *k;
    int rc;
    if (kind == FK_GATED)
        kind = FK_DONE; /* children never block */
    if (parent->depth >= 2 &&
        (kind == FK_SPAWN_JOIN || kind == FK_SPAWN_DETACH || kind == FK_SPAWN_WAIT))
        kind = FK_CHECK;
    c = new_rec(kind, (uint8_t)(parent->param * 5 + 3), parent->depth + 1, parent->grp, joinable,
                parent->param & 1);
    if (c < 0)
        return -1;
    k = &F.recs[c];
    k->o.born_cancelled = crew_cancelled();
    if (k->o.has_cleanup) {
        crew_task_desc_t d = {.fn = body, .arg = (void *)(uintptr_t)c, .cleanup = on_cleanup};
        rc = crew_submit_ex(crew_current(), &d, joinable ? id : NULL);
    } else {
        rc = crew_spawn(body, (void *)(uintptr_t)c, joinable ? id : NULL);
    }
    REQUIRE(rc == 0 || enomem_ok(rc), "spawn gave %s", crew_err_name(rc));
    if (rc != 0)
        return -1;
    accepted(k, joinable ? *id : 0);
    return c;
}

static int body(void *arg)
{
    int seq = (int)(uintptr_t)arg;
    struct frec *r = &F.recs[seq];
    int ret = 0, rc, c;
    crew_id_t id = 0;
    crew_status_t st;

    if (trace)
        fprintf(stderr, "  [task %d (kind %d) starts on worker %d]\n", seq, r->kind,
                crew_worker_index());
    oracle_body_start(&r->o, F.ex, F.workers);
    check_visible(r);
    switch ((enum fkind)r->kind) {
    case FK_DONE:
        break;
    case FK_FAIL:
        ret = 3;
        break;
    case FK_SELF:
        rc = crew_cancel(F.ex, crew_self(), 9, "self");
        REQUIRE(rc == CREW_REQUESTED || enomem_ok(rc), "task %d: cancelling itself gave %s", seq,
                crew_err_name(rc));
        oracle_cancel_outcome(&r->o, rc);
        check_visible(r);
        break;
    case FK_CHECK:
        ret = crew_cancelled() ? 5 : 0;
        break;
    case FK_SPAWN_JOIN:
        c = spawn_child(r, r->param % FK_COUNT, true, &id);
        if (c >= 0) {
            rc = crew_join(F.ex, id, &st);
            REQUIRE(rc == 0 || rc == CREW_ECANCELED, "join child: %s", crew_err_name(rc));
            REQUIRE(rc == 0 || crew_cancelled(),
                    "join gave ECANCELED to a task that is not cancelled");
            observe(&F.recs[c], st, "crew_join (child)");
            released(&F.recs[c], true);
        }
        break;
    case FK_SPAWN_DETACH:
        (void)spawn_child(r, r->param % FK_COUNT, false, NULL);
        break;
    case FK_SPAWN_WAIT:
        c = spawn_child(r, r->param % FK_COUNT, true, &id);
        if (c >= 0) {
            rc = crew_wait(F.ex, id, 0, &st);
            REQUIRE(rc == 0 || rc == CREW_ETIMEDOUT || rc == CREW_ECANCELED, "wait child: %s",
                    crew_err_name(rc));
            if (rc == 0)
                observe(&F.recs[c], st, "crew_wait (child)");
            rc = crew_release(F.ex, id);
            REQUIRE(rc == 0, "release child: %s", crew_err_name(rc));
            released(&F.recs[c], false);
        }
        break;
    case FK_GATED:
        atomic_store(&r->entered, true);
        pthread_mutex_lock(&gate_mu);
        while (!gate_open[r->param % NGATES])
            pthread_cond_wait(&gate_cv, &gate_mu);
        pthread_mutex_unlock(&gate_mu);
        check_visible(r);
        break;
    default:
        break;
    }
    oracle_body_end(&r->o, ret);
    if (trace)
        fprintf(stderr, "  [task %d returns %d]\n", seq, ret);
    return ret;
}

static void open_gate(int g)
{
    pthread_mutex_lock(&gate_mu);
    gate_open[g] = true;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
    F.pending[g] = 0;
}

static struct handle *pick_handle(struct in *in)
{
    uint8_t b = u8(in);
    return F.nh ? &F.h[b % F.nh] : NULL;
}

/* Gated, in its body, gate closed: cannot be terminal. */
static bool stuck_running(const struct frec *r)
{
    bool open;
    if (r->kind != FK_GATED || !atomic_load(&r->entered))
        return false;
    pthread_mutex_lock(&gate_mu);
    open = gate_open[r->param % NGATES];
    pthread_mutex_unlock(&gate_mu);
    return !open;
}

/* Calls on an ID that is unknown (rec < 0) or whose handle was released
 * (rec: its record). crew_cancel finds a released task for as long as its
 * record lives (that is how detached tasks are cancelled by ID), so there
 * it may answer with an outcome, which must then be true. */
static void check_released_enotask(crew_id_t id, int rec)
{
    crew_status_t st;
    crew_task_info_t info;
    int rc = crew_cancel(F.ex, id, 0, NULL);
    if (trace)
        fprintf(stderr, "  -> cancel of released/unknown (task %d): %s\n", rec, crew_err_name(rc));
    if (rec < 0 || rc == CREW_ENOTASK || enomem_ok(rc)) {
        REQUIRE(rc == CREW_ENOTASK || (rec >= 0 && enomem_ok(rc)),
                "cancel of an unknown ID gave %s", crew_err_name(rc));
    } else {
        struct frec *r = &F.recs[rec];
        REQUIRE(rc == CREW_REMOVED || rc == CREW_REQUESTED || rc == CREW_TOO_LATE,
                "cancel of a released ID gave %s", crew_err_name(rc));
        oracle_cancel_outcome(&r->o, rc);
    }
    REQUIRE((rc = crew_wait(F.ex, id, 0, &st)) == CREW_ENOTASK, "wait on a stale ID gave %s",
            crew_err_name(rc));
    REQUIRE((rc = crew_cancel_wait(F.ex, id, 0, &st)) == CREW_ENOTASK,
            "cancel_wait on a stale ID gave %s", crew_err_name(rc));
    info.size = sizeof info;
    REQUIRE((rc = crew_inspect(F.ex, id, &info)) == CREW_ENOTASK, "inspect of a stale ID gave %s",
            crew_err_name(rc));
    REQUIRE((rc = crew_release(F.ex, id)) == CREW_ENOTASK, "release of a stale ID gave %s",
            crew_err_name(rc));
    REQUIRE((rc = crew_join(F.ex, id, &st)) == CREW_ENOTASK, "join of a stale ID gave %s",
            crew_err_name(rc));
}

/* ---- ops ----------------------------------------------------------------- */

static void do_submit(struct in *in, bool batch)
{
    uint8_t b1 = u8(in), b2 = u8(in);
    unsigned n = batch ? 1 + b1 % 4 : 1;
    bool joinable = !(b1 & 0x80), has_cleanup = batch || !(b1 & 0x40);
    uint8_t kind = (uint8_t)(b2 % FK_COUNT), param = (uint8_t)(b2 >> 3);
    int s = (b1 >> 3) & 7, grp = s < NSLOTS ? F.slot[s] : -1;
    crew_task_desc_t d = {.fn = body, .cleanup = has_cleanup ? on_cleanup : NULL};
    int seqs[32];
    void *args[32];
    crew_id_t ids[32] = {0};
    /* A detached batch of 16-31 goes as carriers (crew_submit_batch). */
    if (batch && !joinable && (b1 & 3) == 3)
        n = 16 + (b2 & 15);
    int rc;

    if (joinable && F.nh + (int)n > MAXH)
        return;
    if (grp >= 0)
        d.group = F.groups[grp].g;
    for (unsigned i = 0; i < n; i++) {
        seqs[i] = new_rec(kind, (uint8_t)(param + i), 0, grp, joinable, has_cleanup);
        if (seqs[i] < 0)
            return;
        /* A member added after a group cancel returned never runs. */
        F.recs[seqs[i]].o.born_cancelled = grp >= 0 && group_cancelled(grp);
        args[i] = (void *)(uintptr_t)seqs[i];
    }
    if (batch)
        rc = crew_submit_batch(F.ex, &d, args, n, joinable ? ids : NULL);
    else if (has_cleanup || d.group) { /* crew_submit() has no group */
        d.arg = args[0];
        rc = crew_submit_ex(F.ex, &d, joinable ? ids : NULL);
    } else
        rc = crew_submit(F.ex, body, args[0], joinable ? ids : NULL);
    if (F.shutdown)
        REQUIRE(rc == CREW_ESHUTDOWN, "submit after shutdown gave %s", crew_err_name(rc));
    else
        REQUIRE(rc == 0 || enomem_ok(rc), "submit gave %s", crew_err_name(rc));
    if (trace)
        fprintf(stderr, "  -> %s: records %d..%d kind %d group #%d, %s\n",
                batch ? "batch" : "submit", seqs[0], seqs[n - 1], kind, grp, crew_err_name(rc));
    if (rc != 0)
        return; /* never runs, no cleanup: checked at the end */
    for (unsigned i = 0; i < n; i++) {
        struct frec *r = &F.recs[seqs[i]];
        accepted(r, ids[i]);
        if (kind == FK_GATED)
            F.pending[r->param % NGATES] += !gate_open[r->param % NGATES];
        if (joinable)
            F.h[F.nh++] = (struct handle){ids[i], seqs[i], false};
    }
}

static void do_cancel(struct in *in)
{
    struct handle *h = pick_handle(in);
    struct frec *r;
    int rc, known;
    bool stuck;
    if (!h)
        return;
    if (h->released) {
        check_released_enotask(h->id, h->rec);
        return;
    }
    r = &F.recs[h->rec];
    known = atomic_load(&r->o.final);
    stuck = stuck_running(r);
    rc = crew_cancel(F.ex, h->id, 1, "fuzz");
    if (trace)
        fprintf(stderr, "  -> cancel of task %d: %s\n", h->rec, crew_err_name(rc));
    REQUIRE(rc == CREW_REMOVED || rc == CREW_REQUESTED || rc == CREW_TOO_LATE || enomem_ok(rc),
            "cancel gave %s", crew_err_name(rc));
    if (known >= 0 && rc > 0)
        REQUIRE(rc == CREW_TOO_LATE, "cancel of a terminal task gave %s", crew_err_name(rc));
    if (stuck && rc > 0)
        REQUIRE(rc == CREW_REQUESTED, "cancel of a running task gave %s", crew_err_name(rc));
    oracle_cancel_outcome(&r->o, rc);
    if (rc == CREW_REMOVED) {
        /* CANCELLED (with a cause) at once. */
        crew_task_info_t info;
        info.size = sizeof info;
        REQUIRE(crew_inspect(F.ex, h->id, &info) == 0, "inspect after REMOVED failed");
        oracle_inspect(&r->o, h->id, &info, 0, r->grp >= 0 ? F.groups[r->grp].gid : 0,
                       CREW_TASK_CANCELLED, false);
    }
}

static void do_stale(struct in *in)
{
    uint8_t b = u8(in);
    crew_id_t id;
    int rec = -1;
    if (b % 3 == 0) {
        id = 0;
    } else if (b % 3 == 1) {
        id = STALE_TOP | ((uint64_t)b << 20) | b;
    } else {
        id = 0;
        for (int i = 0; i < F.nh; i++)
            if (F.h[(i + b) % F.nh].released) {
                id = F.h[(i + b) % F.nh].id;
                rec = F.h[(i + b) % F.nh].rec;
                break;
            }
        if (!id)
            return;
    }
    check_released_enotask(id, rec);
}

static int64_t pick_timeout(uint8_t b)
{
    if ((b & 3) == 3 && pending_gated() == 0)
        return CREW_FOREVER;
    return (b & 1) ? 0 : 100000;
}

static void do_wait(struct in *in, bool cancel)
{
    struct handle *h = pick_handle(in);
    uint8_t b = u8(in);
    struct frec *r;
    crew_status_t st;
    int rc, known;
    bool stuck;
    if (!h)
        return;
    if (h->released) {
        check_released_enotask(h->id, h->rec);
        return;
    }
    r = &F.recs[h->rec];
    known = atomic_load(&r->o.final);
    stuck = stuck_running(r);
    if (cancel)
        rc = crew_cancel_wait(F.ex, h->id, pick_timeout(b), &st);
    else
        rc = crew_wait(F.ex, h->id, pick_timeout(b), &st);
    if (trace)
        fprintf(stderr, "  -> %s of task %d: %s\n", cancel ? "cancel_wait" : "wait", h->rec,
                crew_err_name(rc));
    REQUIRE(rc == 0 || rc == CREW_ETIMEDOUT || (cancel && enomem_ok(rc)), "%s gave %s",
            cancel ? "cancel_wait" : "wait", crew_err_name(rc));
    if (rc == 0) {
        REQUIRE(!stuck, "a task blocked in its body was reported terminal");
        observe(r, st, cancel ? "crew_cancel_wait" : "crew_wait");
        if (cancel && known < 0)
            REQUIRE(st == CREW_TASK_CANCELLED || atomic_load(&r->o.starts),
                    "cancel_wait: %s, but the body never ran", crew_status_name(st));
    } else if (rc == CREW_ETIMEDOUT) {
        REQUIRE(known < 0, "wait timed out on a terminal task");
        if (cancel && stuck) /* it was running: requested */
            oracle_cancel_outcome(&r->o, CREW_REQUESTED);
    }
}

static void do_release(struct in *in)
{
    struct handle *h = pick_handle(in);
    int rc;
    if (!h)
        return;
    if (h->released) {
        check_released_enotask(h->id, h->rec);
        return;
    }
    rc = crew_release(F.ex, h->id);
    REQUIRE(rc == 0, "release gave %s", crew_err_name(rc));
    h->released = true;
    released(&F.recs[h->rec], false);
}

static void join_handle(struct handle *h)
{
    crew_status_t st;
    int rc = crew_join(F.ex, h->id, &st);
    REQUIRE(rc == 0, "join gave %s", crew_err_name(rc));
    observe(&F.recs[h->rec], st, "crew_join");
    h->released = true;
    released(&F.recs[h->rec], true);
}

static void do_join(struct in *in)
{
    struct handle *h = pick_handle(in);
    if (!h)
        return;
    if (h->released)
        check_released_enotask(h->id, h->rec);
    else if (pending_gated() == 0)
        join_handle(h);
}

static void do_inspect(struct in *in)
{
    struct handle *h = pick_handle(in);
    crew_task_info_t info;
    struct frec *r;
    int rc, known;
    bool req;
    if (!h)
        return;
    if (h->released) {
        check_released_enotask(h->id, h->rec);
        return;
    }
    r = &F.recs[h->rec];
    /* Read what we know before the call: it only grows afterwards. */
    known = atomic_load(&r->o.final);
    req = requested(r);
    info.size = sizeof info;
    rc = crew_inspect(F.ex, h->id, &info);
    REQUIRE(rc == 0, "inspect gave %s", crew_err_name(rc));
    oracle_inspect(&r->o, h->id, &info, 0, r->grp >= 0 ? F.groups[r->grp].gid : 0, known, req);
}

static void do_group_create(struct in *in)
{
    uint8_t b = u8(in);
    int s = b % NSLOTS, ps = (b >> 3) & 7, parent = -1, rc;
    struct fgroup *g;
    if (F.slot[s] >= 0 || F.ngroups >= MAXG)
        return;
    if (ps < NSLOTS && ps != s && F.slot[ps] >= 0)
        parent = F.slot[ps];
    g = &F.groups[F.ngroups];
    rc = crew_group_create(F.ex, parent >= 0 ? F.groups[parent].g : NULL,
                           (b & 4) ? CREW_GROUP_FAIL_FAST : 0, &g->g);
    if (F.shutdown)
        REQUIRE(rc == CREW_ESHUTDOWN, "group create after shutdown: %s", crew_err_name(rc));
    else
        REQUIRE(rc == 0 || enomem_ok(rc), "group create: %s", crew_err_name(rc));
    if (rc != 0)
        return;
    g->gid = crew_group_id(g->g);
    if (trace)
        fprintf(stderr, "  -> group #%d created in slot %d (parent #%d)\n", F.ngroups, s, parent);
    REQUIRE(g->gid != 0, "group ID 0");
    g->parent = parent;
    g->flags = (b & 4) ? CREW_GROUP_FAIL_FAST : 0;
    g->alive = true;
    F.slot[s] = F.ngroups++;
}

static void do_group_cancel(struct in *in)
{
    int s = u8(in) % NSLOTS, rc;
    if (F.slot[s] < 0)
        return;
    rc = crew_group_cancel(F.groups[F.slot[s]].g, 3, "fuzz group");
    if (trace)
        fprintf(stderr, "  -> group #%d cancel: %s\n", F.slot[s], crew_err_name(rc));
    REQUIRE(rc == 0 || enomem_ok(rc), "group cancel: %s", crew_err_name(rc));
    if (rc == 0)
        atomic_store(&F.groups[F.slot[s]].cancelled, true);
}

static void do_group_wait(struct in *in)
{
    uint8_t b = u8(in);
    int s = b % NSLOTS, rc;
    crew_status_t st;
    crew_group_info_t info;
    if (F.slot[s] < 0)
        return;
    rc = crew_group_wait(F.groups[F.slot[s]].g, pick_timeout(b >> 2), &st);
    REQUIRE(rc == 0 || rc == CREW_ETIMEDOUT, "group wait: %s", crew_err_name(rc));
    info.size = sizeof info;
    REQUIRE(crew_group_info(F.groups[F.slot[s]].g, &info) == 0, "group info failed");
    if (rc == 0) {
        /* No live member and only this thread adds members: quiescent. */
        char who[32];
        snprintf(who, sizeof who, "group #%d", F.slot[s]);
        oracle_check_group(who, &info, st, group_cancelled(F.slot[s]), F.groups[F.slot[s]].flags);
    }
    REQUIRE(!group_cancelled(F.slot[s]) || info.is_cancelled, "group cancelled, info says not");
}

static bool has_live_nested(int gi)
{
    for (int i = 0; i < F.ngroups; i++)
        if (F.groups[i].alive && F.groups[i].parent == gi)
            return true;
    return false;
}

/* crew_group_destroy, keeping the group's counts for the end: taken just
 * before, they are final if the group was then empty (only this thread
 * adds members, and an empty group has no member left to spawn one). */
static int destroy_group(int gi)
{
    struct fgroup *g = &F.groups[gi];
    crew_group_info_t info;
    int rc;
    info.size = sizeof info;
    REQUIRE(crew_group_info(g->g, &info) == 0, "group info failed");
    rc = crew_group_destroy(g->g);
    if (rc == 0 && info.live == 0) {
        g->info = info;
        g->have_info = true;
    }
    return rc;
}

static void do_group_destroy(struct in *in)
{
    int s = u8(in) % NSLOTS, gi = F.slot[s], rc;
    if (gi < 0)
        return;
    rc = destroy_group(gi);
    if (trace)
        fprintf(stderr, "  -> group #%d destroy: %s\n", gi, crew_err_name(rc));
    if (has_live_nested(gi))
        REQUIRE(rc == CREW_EBUSY,
                "destroying a group with live nested "
                "groups gave %s",
                crew_err_name(rc));
    REQUIRE(rc == 0 || rc == CREW_EBUSY, "group destroy: %s", crew_err_name(rc));
    if (rc == 0) {
        F.groups[gi].alive = false;
        F.slot[s] = -1;
    }
}

static void do_shutdown(struct in *in)
{
    crew_shutdown_mode_t mode = (u8(in) & 1) ? CREW_CANCEL : CREW_DRAIN;
    crew_stats_t s = {.size = sizeof s};
    int rc;
    for (int g = 0; g < NGATES; g++)
        open_gate(g);
    rc = crew_shutdown(F.ex, mode);
    REQUIRE(rc == 0, "shutdown gave %s", crew_err_name(rc));
    F.shutdown = true;
    if (mode == CREW_CANCEL)
        atomic_store(&F.cancel_shutdown, true);
    REQUIRE(crew_stats(F.ex, &s) == 0 && s.live_tasks == 0, "live tasks after shutdown returned");
}

/* While tasks run, each field is only a recent value: relations between
 * them are checked only once the executor is quiescent (after shutdown). */
static void do_stats(void)
{
    crew_stats_t s = {.size = sizeof s};
    REQUIRE(crew_stats(F.ex, &s) == 0, "stats failed");
    if (F.shutdown)
        REQUIRE(s.live_tasks == 0 && s.done + s.failed + s.cancelled == s.submitted &&
                    s.cancelled == s.removed + s.cancelled_running,
                "stats after shutdown do not add up");
}

/* ---- one input ------------------------------------------------------- */

static void teardown(void)
{
    crew_stats_t s = {.size = sizeof s};
    oracle_tally_t all = {0};
    int rc, nrecs;

    /* No more failures from here; F.armed stays set, since a body still
     * running may yet report an ENOMEM from the one that was armed. */
    crew__fault_reset();
    for (int g = 0; g < NGATES; g++)
        open_gate(g);
    for (int i = 0; i < F.nh; i++)
        if (!F.h[i].released)
            join_handle(&F.h[i]);
    /* Nested groups first. */
    for (bool again = true; again;) {
        again = false;
        for (int i = F.ngroups - 1; i >= 0; i--) {
            crew_status_t st;
            if (!F.groups[i].alive || has_live_nested(i))
                continue;
            rc = crew_group_wait(F.groups[i].g, CREW_FOREVER, &st);
            REQUIRE(rc == 0, "final group wait: %s", crew_err_name(rc));
            rc = destroy_group(i);
            REQUIRE(rc == 0, "final group destroy: %s", crew_err_name(rc));
            F.groups[i].alive = false;
            again = true;
        }
    }
    rc = crew_shutdown(F.ex, CREW_DRAIN);
    REQUIRE(rc == 0, "final shutdown: %s", crew_err_name(rc));
    REQUIRE(crew_stats(F.ex, &s) == 0, "stats");
    oracle_check_rest(F.ex, &s, atomic_load(&F.cancel_shutdown));

    nrecs = atomic_load(&F.nrecs);
    if (nrecs > MAXR)
        nrecs = MAXR;
    for (int i = 0; i < nrecs; i++) {
        oracle_check_task(&F.recs[i].o);
        oracle_tally_add(&all, &F.recs[i].o);
    }
    oracle_check_counts("crew_stats", &all, s.submitted, s.done, s.failed, s.cancelled, s.removed,
                        s.cancelled_running);
    for (int g = 0; g < F.ngroups; g++) {
        oracle_tally_t tl = {0};
        const crew_group_info_t *gi = &F.groups[g].info;
        char who[32];
        if (!F.groups[g].have_info)
            continue;
        for (int i = 0; i < nrecs; i++)
            if (F.recs[i].grp == g)
                oracle_tally_add(&tl, &F.recs[i].o);
        snprintf(who, sizeof who, "group #%d", g);
        oracle_check_counts(who, &tl, gi->submitted, gi->done, gi->failed, gi->cancelled,
                            gi->removed, gi->cancelled_running);
    }

    rc = crew_destroy(&F.ex);
    REQUIRE(rc == 0 && F.ex == NULL, "destroy: %s", crew_err_name(rc));
    oracle_check_freed();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = {data, size, 0};
    crew_options_t o = {.size = sizeof o};
    int rc;

    memset(&F, 0, sizeof F);
    for (int s = 0; s < NSLOTS; s++)
        F.slot[s] = -1;
    for (int g = 0; g < NGATES; g++)
        gate_open[g] = false;
    crew__fault_reset();

    F.workers = o.workers = 1 + (u8(&in) & 1);
    rc = crew_create(&F.ex, &o);
    REQUIRE(rc == 0, "crew_create: %s", crew_err_name(rc));

    trace = getenv("CREW_FUZZ_TRACE") != NULL;
    oracle_set_report(oracle_report);
    for (int nops = 0; in.i < in.n && nops < MAXOPS; nops++) {
        enum op op = (enum op)(u8(&in) % OP_COUNT);
        if (trace) {
            crew_stats_t s = {.size = sizeof s};
            crew_stats(F.ex, &s);
            fprintf(stderr,
                    "op %d: %s (at byte %zu; handles %d, live "
                    "records %" PRIu64 ")\n",
                    nops, op_names[op], in.i - 1, F.nh, s.live_records);
        }
        switch (op) {
        case OP_SUBMIT:
            do_submit(&in, false);
            break;
        case OP_BATCH:
            do_submit(&in, true);
            break;
        case OP_CANCEL:
            do_cancel(&in);
            break;
        case OP_STALE:
            do_stale(&in);
            break;
        case OP_WAIT:
            do_wait(&in, false);
            break;
        case OP_CANCEL_WAIT:
            do_wait(&in, true);
            break;
        case OP_RELEASE:
            do_release(&in);
            break;
        case OP_JOIN:
            do_join(&in);
            break;
        case OP_INSPECT:
            do_inspect(&in);
            break;
        case OP_OPEN_GATE:
            open_gate(u8(&in) % NGATES);
            break;
        case OP_GROUP_CREATE:
            do_group_create(&in);
            break;
        case OP_GROUP_CANCEL:
            do_group_cancel(&in);
            break;
        case OP_GROUP_WAIT:
            do_group_wait(&in);
            break;
        case OP_GROUP_DESTROY:
            do_group_destroy(&in);
            break;
        case OP_SHUTDOWN:
            do_shutdown(&in);
            break;
        case OP_FAULT:
            if (!atomic_load(&F.armed)) {
                atomic_store(&F.armed, true);
                crew__fault_fail_alloc_at(u8(&in) % 16);
            }
            break;
        case OP_STATS:
            do_stats();
            break;
        default:
            break;
        }
    }
    teardown();
    return 0;
}

#ifdef CREW_FUZZ_REPLAY
/* Replay driver for builds without libFuzzer: run each file (or each file in
 * each directory) given, then --random N scripts from --seed S (--first K:
 * skip the first K; --save DIR: also write each script to DIR, to replay
 * one alone or with CREW_FUZZ_TRACE=1). */
#include <dirent.h>
#include <sys/stat.h>

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t buf[4096];
    size_t n;
    if (!f) {
        perror(path);
        return 1;
    }
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    snprintf(cur_input, sizeof cur_input, "%.250s", path);
    LLVMFuzzerTestOneInput(buf, n);
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t seed = 1, nrandom = 0, files = 0, first = 0;
    const char *save_dir = NULL;
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        if (!strcmp(argv[i], "--random") && i + 1 < argc) {
            nrandom = strtoull(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "--first") && i + 1 < argc) {
            first = strtoull(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "--save") && i + 1 < argc) {
            save_dir = argv[++i]; /* write each random script there */
        } else if (stat(argv[i], &sb) == 0 && S_ISDIR(sb.st_mode)) {
            DIR *d = opendir(argv[i]);
            struct dirent *e;
            char path[4096];
            while (d && (e = readdir(d))) {
                if (e->d_name[0] == '.')
                    continue;
                snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
                bad |= run_file(path);
                files++;
            }
            if (d)
                closedir(d);
        } else {
            bad |= run_file(argv[i]);
            files++;
        }
    }
    for (uint64_t r = 0; r < nrandom; r++) {
        uint8_t buf[512];
        uint64_t s = seed * UINT64_C(0x9e3779b97f4a7c15) + r;
        size_t n = 1 + (size_t)((s >> 7) % sizeof buf);
        for (size_t i = 0; i < n; i++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            buf[i] = (uint8_t)(s >> 24);
        }
        snprintf(cur_input, sizeof cur_input, "random script %" PRIu64 " of seed %" PRIu64, r,
                 seed);
        if (save_dir) {
            char path[4096];
            FILE *f;
            snprintf(path, sizeof path, "%s/random-%" PRIu64 "-%" PRIu64, save_dir, seed, r);
            if ((f = fopen(path, "wb"))) {
                fwrite(buf, 1, n, f);
                fclose(f);
            }
        }
        if (r >= first)
            LLVMFuzzerTestOneInput(buf, n);
    }
    printf("fuzz_api_replay: %" PRIu64 " corpus files and %" PRIu64 " random scripts (seed %" PRIu64
           ") ran clean\n",
           files, nrandom, seed);
    return bad;
}
#endif
