/* stencil.c - Jacobi relaxation on an N x N plate with parallel loops.
 *
 * A solver task, in a group, runs up to MAX_SWEEPS sweeps; each sweep is a
 * crew_for_reduce() over the rows that writes the new grid and reduces the
 * largest change of any cell (max is exact in any order, so the run is
 * reproducible). A convergence test after each sweep cancels the group
 * once the change drops below TOL: the loops of the remaining sweeps are
 * cancelled before they hand out a single row (CREW_ECANCELED, 0 rows
 * completed), and the solver stops. The same group could be cancelled
 * from any other thread (a user pressing "stop") with the same effect,
 * mid-sweep: the running loop would stop handing out rows at once. */
#include <crew.h>
#include <stdio.h>
#include <stdlib.h>

enum { N = 64, MAX_SWEEPS = 100000 };
#define TOL 1e-3

typedef struct plate {
    double *a, *b; /* (N + 2) x (N + 2), boundary fixed */
    crew_group_t *g;
    int sweeps;     /* sweeps that completed */
    int stopped_rc; /* what the first cancelled sweep returned */
    int64_t stopped_rows;
} plate_t;

static void max_id(void *arg, void *acc)
{
    (void)arg;
    *(double *)acc = 0.0;
}

/* Rows [lo, hi) of the new grid; acc = the largest change seen. */
static void sweep_rows(void *arg, int64_t lo, int64_t hi, void *acc)
{
    plate_t *p = arg;
    const int s = N + 2;
    double m = *(double *)acc;
    for (int64_t r = lo; r < hi; r++)
        for (int c = 1; c <= N; c++) {
            double v = 0.25 * (p->a[(r - 1) * s + c] + p->a[(r + 1) * s + c] + p->a[r * s + c - 1] +
                               p->a[r * s + c + 1]);
            double d = v > p->a[r * s + c] ? v - p->a[r * s + c] : p->a[r * s + c] - v;
            p->b[r * s + c] = v;
            if (d > m)
                m = d;
        }
    *(double *)acc = m;
}

static void max_comb(void *arg, void *acc, const void *right)
{
    (void)arg;
    if (*(const double *)right > *(double *)acc)
        *(double *)acc = *(const double *)right;
}

static int solve(void *arg)
{
    plate_t *p = arg;
    crew_reduce_t r = {sizeof(double), max_id, sweep_rows, max_comb, p};
    for (int k = 0; k < MAX_SWEEPS; k++) {
        double change = 0;
        int64_t rows = 0;
        int rc = crew_for_reduce(NULL, 1, N + 1, &r, &change, NULL, &rows);
        if (rc != 0) { /* cancelled: this sweep and every later one */
            p->stopped_rc = rc;
            p->stopped_rows = rows;
            return 0;
        }
        double *t = p->a;
        p->a = p->b;
        p->b = t;
        p->sweeps++;
        if (change < TOL) /* the convergence test */
            crew_group_cancel(p->g, 0, "converged");
    }
    return 0;
}

int main(void)
{
    crew_t *ex;
    crew_status_t st;
    crew_id_t id;
    plate_t p = {0};
    const int s = N + 2;
    if (crew_create(&ex, NULL) != 0)
        return 1;
    p.a = calloc((size_t)s * s, sizeof(double));
    p.b = calloc((size_t)s * s, sizeof(double));
    if (!p.a || !p.b || crew_group_create(ex, NULL, 0, &p.g) != 0)
        return 1;
    for (int c = 0; c < s; c++) /* a hot top edge */
        p.a[c] = p.b[c] = 100.0;

    crew_task_desc_t d = {.fn = solve, .arg = &p, .group = p.g};
    if (crew_submit_ex(ex, &d, &id) != 0 || crew_join(ex, id, &st) != 0)
        return 1;
    printf("converged after %d sweeps (change < %g); the next sweep's loop returned %s with "
           "%lld of %d rows run\n",
           p.sweeps, TOL, crew_err_name(p.stopped_rc), (long long)p.stopped_rows, N);
    printf("centre %.6f, solver %s\n", p.a[(N / 2) * s + N / 2], crew_status_name(st));
    crew_group_destroy(p.g);
    free(p.a);
    free(p.b);
    return crew_destroy(&ex);
}
