/* readme_fib.c - the README example (clang-formatted), built and run as a test. */
#include <crew.h>
#include <stdio.h>

typedef struct {
    int n;
    long r;
} fib_t;

static int fib(void *p)
{
    fib_t *a = p, x = {a->n - 1, 0}, y = {a->n - 2, 0};
    int rc;
    if (a->n < 2) {
        a->r = a->n;
        return 0;
    }
    if (crew_cancelled())
        return 1;                   /* cooperative check */
    crew_fork(fib, &x);             /* child: may run on another worker */
    fib(&y);                        /* meanwhile, the other half here */
    if ((rc = crew_sync_ok()) != 0) /* wait for every child; any failure */
        return rc;                  /* or cancellation propagates */
    a->r = x.r + y.r;
    return 0;
}

int main(void)
{
    crew_t *ex;
    crew_status_t st;
    fib_t a = {30, 0};
    crew_create(&ex, NULL);     /* one worker per CPU */
    crew_run(ex, fib, &a, &st); /* the root; this thread works too */
    printf("fib(30) = %ld (%s)\n", a.r, crew_status_name(st));
    crew_destroy(&ex);
}
