/*
 * report.c - machine description and the three output formats.
 *
 * table: for people; results, then the ratios peer/crew, skips, failures.
 * csv:   bench,impl,workers,param,reps,median_s,min_s,max_s,tasks,ns_per_task
 *        (exactly; one row per successful bench x impl x workers).
 * json:  the same fields plus samples, peak RSS, machine and build info.
 */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "peers.h"

#ifndef PERF_GIT_REV
#define PERF_GIT_REV "unknown"
#endif
#ifndef PERF_COMPILER
#define PERF_COMPILER "unknown"
#endif
#ifndef PERF_CFLAGS
#define PERF_CFLAGS "unknown"
#endif
#ifndef PERF_CXXFLAGS
#define PERF_CXXFLAGS ""
#endif
#ifndef PERF_BUILD_TYPE
#define PERF_BUILD_TYPE "unknown"
#endif

/* ---- machine ----------------------------------------------------------- */

const char *perf_cpu_model(void)
{
    static char model[128];
    if (model[0])
        return model;
    snprintf(model, sizeof model, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return model;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0)
            continue;
        char *v = strchr(line, ':');
        if (!v)
            break;
        v++;
        while (*v == ' ' || *v == '\t')
            v++;
        v[strcspn(v, "\n")] = '\0';
        snprintf(model, sizeof model, "%s", v);
        break;
    }
    fclose(f);
    return model;
}

double perf_loadavg(void)
{
    double l = -1.0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1.0;
        fclose(f);
    }
    return l;
}

static long online_cpus(void) { return sysconf(_SC_NPROCESSORS_ONLN); }

static const char *kernel(void)
{
    static char k[200];
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(k, sizeof k, "%s %s %s", u.sysname, u.release, u.machine);
    else
        snprintf(k, sizeof k, "unknown");
    return k;
}

static const char *peer_versions(void)
{
    static char v[128];
    snprintf(v, sizeof v, "%s, %s",
#ifdef PERF_HAVE_OMP
             omp_version(),
#else
             "OpenMP: not built",
#endif
#ifdef PERF_HAVE_TBB
             tbb_version()
#else
             "oneTBB: not built"
#endif
    );
    return v;
}

/* ---- shared helpers ---------------------------------------------------- */

static bool is_idle(const perf_result_t *r) { return r->bench->flags & PERF_F_IDLE; }

static double ns_per_task(const perf_result_t *r)
{
    return r->tasks ? r->median * 1e9 / (double)r->tasks : -1.0;
}

/* The row of (bench, impl, workers), or NULL. */
static const perf_result_t *find(const perf_report_t *rep, const perf_bench_t *b,
                                 perf_impl_id_t impl, unsigned workers)
{
    for (size_t i = 0; i < rep->nres; i++) {
        const perf_result_t *r = &rep->res[i];
        if (r->bench == b && r->impl == impl && r->workers == workers && !r->failed && r->reps > 0)
            return r;
    }
    return NULL;
}

/* Peer median / crew median for (bench, workers); < 0 if not available.
 * serial ran once (workers = 1) and is compared with every worker count. */
static double ratio(const perf_report_t *rep, const perf_bench_t *b, perf_impl_id_t peer,
                    unsigned workers)
{
    const perf_result_t *c = find(rep, b, IMPL_CREW, workers);
    const perf_result_t *p = find(rep, b, peer, peer == IMPL_SERIAL ? 1 : workers);
    if (!c || !p || c->median <= 0.0)
        return -1.0;
    return p->median / c->median;
}

/* ---- table ------------------------------------------------------------- */

static void fmt_time(char *buf, size_t n, double s)
{
    if (s >= 1.0)
        snprintf(buf, n, "%.3f s", s);
    else if (s >= 1e-3)
        snprintf(buf, n, "%.2f ms", s * 1e3);
    else if (s >= 1e-6)
        snprintf(buf, n, "%.2f us", s * 1e6);
    else
        snprintf(buf, n, "%.1f ns", s * 1e9);
}

/* 2 decimals for small numbers, 3 significant digits for tiny ones, none
 * for large ones: fits the 9-character columns. */
static void fmt_num(char *buf, size_t n, double v)
{
    if (v >= 99999.5)
        snprintf(buf, n, "%.3g", v);
    else if (v >= 1000.0)
        snprintf(buf, n, "%.0f", v);
    else if (v >= 0.01 || v == 0.0)
        snprintf(buf, n, "%.2f", v);
    else
        snprintf(buf, n, "%.2g", v);
}

static void fmt_value(char *buf, size_t n, const perf_result_t *r, double v)
{
    if (is_idle(r))
        snprintf(buf, n, "%.3f%%", v * 100.0); /* of one core */
    else
        fmt_time(buf, n, v);
}

static void print_table(const perf_report_t *rep)
{
    char wl[128] = "";
    for (size_t i = 0; i < rep->nworkers; i++)
        snprintf(wl + strlen(wl), sizeof wl - strlen(wl), "%s%u", i ? "," : "", rep->workers[i]);
    printf("crew-perf  suite %s, %d timed repetition%s per row (each after a "
           "warm-up, in its own process), workers %s\n",
           rep->suite, rep->reps, rep->reps == 1 ? "" : "s", wl);
    printf("machine    %s, %ld online CPUs, %s, load average %.2f before "
           "the runs\n",
           perf_cpu_model(), online_cpus(), kernel(), rep->load_start);
    printf("build      crew %d.%d.%d (git %s), %s %s [%s], %s\n\n", CREW_VERSION_MAJOR,
           CREW_VERSION_MINOR, CREW_VERSION_PATCH, PERF_GIT_REV, PERF_COMPILER, PERF_CFLAGS,
           PERF_BUILD_TYPE, peer_versions());

    printf("%-19s %-6s %2s %9s %9s %9s %9s %9s %8s %8s %7s %8s\n", "bench", "impl", "w", "param",
           "median", "min", "max", "tasks", "ns/task", "Mtasks/s", "speedup", " peak RSS");
    const perf_bench_t *prev = NULL;
    for (size_t i = 0; i < rep->nres; i++) {
        const perf_result_t *r = &rep->res[i];
        if (prev && r->bench != prev)
            printf("\n");
        prev = r->bench;
        printf("%-19s %-6s %2u %9ld ", r->bench->name, perf_impl_names[r->impl], r->workers,
               r->param);
        if (r->failed || r->reps == 0) {
            printf("FAILED: %s\n", r->msg);
            continue;
        }
        char med[24], mn[24], mx[24], tasks[24] = "-", ns[24] = "-", rate[24] = "-", sp[24] = "-";
        fmt_value(med, sizeof med, r, r->median);
        fmt_value(mn, sizeof mn, r, r->min);
        fmt_value(mx, sizeof mx, r, r->max);
        if (r->tasks) {
            snprintf(tasks, sizeof tasks, "%llu", (unsigned long long)r->tasks);
            fmt_num(ns, sizeof ns, ns_per_task(r));
            if ((r->bench->flags & PERF_F_RATE) && r->median > 0)
                fmt_num(rate, sizeof rate, (double)r->tasks / r->median / 1e6);
        }
        const perf_result_t *one = find(rep, r->bench, r->impl, 1);
        if (one && r->impl != IMPL_SERIAL && !is_idle(r) && !(r->bench->flags & PERF_F_CANCEL) &&
            r->median > 0)
            snprintf(sp, sizeof sp, "%.2f", one->median / r->median);
        printf("%9s %9s %9s %9s %8s %8s %7s %5.1f MiB\n", med, mn, mx, tasks, ns, rate, sp,
               (double)r->maxrss_kb / 1024.0);
    }

    /* Ratios: one line per (bench, workers) with crew and at least one
     * peer; one column per peer that has a ratio somewhere. */
    bool col[IMPL_COUNT] = {false};
    bool any_ratio = false;
    for (size_t b = 0; perf_benches[b]; b++)
        for (size_t w = 0; w < rep->nworkers; w++)
            for (int i = 1; i < IMPL_COUNT; i++)
                if (ratio(rep, perf_benches[b], (perf_impl_id_t)i, rep->workers[w]) >= 0.0)
                    any_ratio = col[i] = true;
    if (any_ratio) {
        printf("\nRatios: peer median / crew median (> 1: crew faster; idle: "
               "> 1: crew burns less CPU;\nserial ran once, at 1 worker)\n");
        printf("%-19s %2s", "bench", "w");
        for (int i = 1; i < IMPL_COUNT; i++)
            if (col[i])
                printf(" %7s", perf_impl_names[i]);
        printf("\n");
    }
    for (size_t b = 0; any_ratio && perf_benches[b]; b++) {
        for (size_t w = 0; w < rep->nworkers; w++) {
            double q[IMPL_COUNT];
            bool any = false;
            for (int i = 1; i < IMPL_COUNT; i++)
                any |=
                    (q[i] = ratio(rep, perf_benches[b], (perf_impl_id_t)i, rep->workers[w])) >= 0.0;
            if (!any)
                continue;
            printf("%-19s %2u", perf_benches[b]->name, rep->workers[w]);
            for (int i = 1; i < IMPL_COUNT; i++) {
                char cell[24] = "-";
                if (!col[i])
                    continue;
                if (q[i] >= 0)
                    fmt_num(cell, sizeof cell, q[i]);
                printf(" %7s", cell);
            }
            printf("\n");
        }
    }

    /* Skips, one line per (impl, reason) with its benches. */
    if (rep->nskips)
        printf("\nSkipped:\n");
    for (size_t i = 0; i < rep->nskips; i++) {
        const perf_skip_t *k = &rep->skips[i];
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = rep->skips[j].impl == k->impl && strcmp(rep->skips[j].why, k->why) == 0;
        if (seen)
            continue;
        printf("  %-6s ", perf_impl_names[k->impl]);
        for (size_t j = i, n = 0; j < rep->nskips; j++)
            if (rep->skips[j].impl == k->impl && strcmp(rep->skips[j].why, k->why) == 0)
                printf("%s%s", n++ ? ", " : "", rep->skips[j].bench->name);
        printf(": %s\n", k->why);
    }
    bool failed_header = false;
    for (size_t i = 0; i < rep->nres; i++) {
        const perf_result_t *r = &rep->res[i];
        if (!r->failed)
            continue;
        if (!failed_header)
            printf("\nFAILED:\n");
        failed_header = true;
        printf("  %s impl=%s workers=%u param=%ld: %s\n", r->bench->name, perf_impl_names[r->impl],
               r->workers, r->param, r->msg);
    }
    printf("\nw = workers; median/min/max = wall time of the timed part over the "
           "repetitions\n(idle: CPU time per wall second, in %% of one core); "
           "ns/task = median / tasks\n(cancel_check_*: per crew_cancelled() call, "
           "loop included; cancel_queued: per crew_cancel();\ncancel_latency: the "
           "latency itself); speedup = median at 1 worker / median;\npeak RSS = "
           "largest max RSS of the repetitions' processes.\n");
    printf("total %.1f s\n", rep->total_s);
}

/* ---- csv --------------------------------------------------------------- */

static void print_csv(const perf_report_t *rep)
{
    printf("bench,impl,workers,param,reps,median_s,min_s,max_s,tasks,"
           "ns_per_task\n");
    for (size_t i = 0; i < rep->nres; i++) {
        const perf_result_t *r = &rep->res[i];
        if (r->failed || r->reps == 0)
            continue; /* reported on stderr */
        printf("%s,%s,%u,%ld,%d,%.9g,%.9g,%.9g,", r->bench->name, perf_impl_names[r->impl],
               r->workers, r->param, r->reps, r->median, r->min, r->max);
        if (r->tasks)
            printf("%llu,%.6g\n", (unsigned long long)r->tasks, ns_per_task(r));
        else
            printf(",\n");
    }
    for (size_t i = 0; i < rep->nskips; i++)
        fprintf(stderr, "crew-perf: skipped %s/%s: %s\n", rep->skips[i].bench->name,
                perf_impl_names[rep->skips[i].impl], rep->skips[i].why);
}

/* ---- json -------------------------------------------------------------- */

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void json_kv(const char *k, const char *v, bool comma)
{
    printf("    ");
    json_str(k);
    printf(": ");
    json_str(v);
    printf("%s\n", comma ? "," : "");
}

static void print_json(const perf_report_t *rep)
{
    char date[32];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    char cores[16], ver[16];
    snprintf(cores, sizeof cores, "%ld", online_cpus());
    snprintf(ver, sizeof ver, "%d.%d.%d", CREW_VERSION_MAJOR, CREW_VERSION_MINOR,
             CREW_VERSION_PATCH);

    printf("{\n  \"tool\": \"crew-perf\",\n  \"suite\": \"%s\",\n  \"reps\": %d,\n", rep->suite,
           rep->reps);
    printf("  \"workers\": [");
    for (size_t i = 0; i < rep->nworkers; i++)
        printf("%s%u", i ? ", " : "", rep->workers[i]);
    printf("],\n  \"machine\": {\n");
    json_kv("cpu_model", perf_cpu_model(), true);
    printf("    \"cores\": %s,\n", cores);
    json_kv("kernel", kernel(), true);
    printf("    \"loadavg_1m_before\": %.2f,\n", rep->load_start);
    json_kv("compiler", PERF_COMPILER, true);
    json_kv("c_flags", PERF_CFLAGS, true);
    json_kv("cxx_flags", PERF_CXXFLAGS, true);
    json_kv("build_type", PERF_BUILD_TYPE, true);
    json_kv("git_revision", PERF_GIT_REV, true);
    json_kv("crew_version", ver, true);
    json_kv("peers", peer_versions(), true);
    json_kv("date", date, false);
    printf("  },\n  \"results\": [");

    for (size_t i = 0; i < rep->nres; i++) {
        const perf_result_t *r = &rep->res[i];
        bool ok = !r->failed && r->reps > 0;
        printf("%s\n    {\"bench\": \"%s\", \"impl\": \"%s\", \"workers\": %u, "
               "\"param\": %ld, \"reps\": %d, ",
               i ? "," : "", r->bench->name, perf_impl_names[r->impl], r->workers, r->param,
               r->reps);
        if (ok)
            printf("\"median_s\": %.9g, \"min_s\": %.9g, \"max_s\": %.9g, ", r->median, r->min,
                   r->max);
        else
            printf("\"median_s\": null, \"min_s\": null, \"max_s\": null, ");
        if (r->tasks && ok)
            printf("\"tasks\": %llu, \"ns_per_task\": %.6g, \"tasks_per_s\": %.6g, ",
                   (unsigned long long)r->tasks, ns_per_task(r),
                   r->median > 0 ? (double)r->tasks / r->median : 0.0);
        else
            printf("\"tasks\": null, \"ns_per_task\": null, \"tasks_per_s\": null, ");
        if (is_idle(r))
            printf("\"unit\": \"cpu_s_per_wall_s\", ");
        printf("\"peak_rss_kb\": %ld, \"samples\": [", r->maxrss_kb);
        for (int k = 0; k < r->reps; k++)
            printf("%s%.9g", k ? ", " : "", r->samples[k]);
        printf("], \"error\": ");
        if (r->failed)
            json_str(r->msg);
        else
            printf("null");
        printf("}");
    }
    printf("\n  ],\n  \"ratios\": [");
    bool first = true;
    for (size_t b = 0; perf_benches[b]; b++)
        for (size_t w = 0; w < rep->nworkers; w++)
            for (int i = 1; i < IMPL_COUNT; i++) {
                double q = ratio(rep, perf_benches[b], (perf_impl_id_t)i, rep->workers[w]);
                if (q < 0)
                    continue;
                printf("%s\n    {\"bench\": \"%s\", \"workers\": %u, \"peer\": "
                       "\"%s\", \"peer_over_crew\": %.6g}",
                       first ? "" : ",", perf_benches[b]->name, rep->workers[w], perf_impl_names[i],
                       q);
                first = false;
            }
    printf("\n  ],\n  \"skipped\": [");
    for (size_t i = 0; i < rep->nskips; i++) {
        printf("%s\n    {\"bench\": \"%s\", \"impl\": \"%s\", \"reason\": ", i ? "," : "",
               rep->skips[i].bench->name, perf_impl_names[rep->skips[i].impl]);
        json_str(rep->skips[i].why);
        printf("}");
    }
    printf("\n  ],\n  \"total_s\": %.3f\n}\n", rep->total_s);
}

void perf_print(const perf_report_t *rep, perf_format_t fmt)
{
    switch (fmt) {
    case FMT_TABLE:
        print_table(rep);
        break;
    case FMT_CSV:
        print_csv(rep);
        break;
    case FMT_JSON:
        print_json(rep);
        break;
    }
    fflush(stdout);
}
