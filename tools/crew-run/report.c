/*
 * report.c - what crew-run shows: the progress bar (a terminal on stderr
 * only), the summary at the end, and the --results file (JSON or CSV, the
 * same fields as the summary's per-job table).
 */
#include "crewrun.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

const char *cr_state_name(cr_state_t s)
{
    static const char *const names[] = {"queued", "running", "ok", "failed", "cancelled"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

const char *cr_cause_name(cr_cause_t c)
{
    static const char *const names[] = {"none",   "exit",        "signal", "timeout",
                                        "halted", "interrupted", "error"};
    return (unsigned)c < sizeof names / sizeof names[0] ? names[c] : "unknown";
}

/* "SIGTERM", or "SIG<n>" for a number glibc has no name for. */
static const char *signal_name(int sig, char buf[16])
{
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev != NULL)
        snprintf(buf, 16, "SIG%s", abbrev);
    else
        snprintf(buf, 16, "SIG%d", sig);
    return buf;
}

static double secs(int64_t ns) { return (double)ns / 1e9; }

/* "1:02:03" or "2:03". */
static void clock_text(double s, char *buf, size_t n)
{
    if (s < 0 || s > 359999)
        s = 359999;
    unsigned long t = (unsigned long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%lu:%02lu", t / 60, t % 60);
}

void cr_progress_draw(int64_t t0, bool final)
{
    /* relaxed loads: display only (see cr_counters_t) */
    uint64_t ok = atomic_load_explicit(&cr_run.ok, memory_order_relaxed);
    uint64_t failed = atomic_load_explicit(&cr_run.failed, memory_order_relaxed);
    uint64_t cancelled = atomic_load_explicit(&cr_run.cancelled, memory_order_relaxed);
    uint64_t running = atomic_load_explicit(&cr_run.running, memory_order_relaxed);
    uint64_t total = cr_cfg.total, ended = ok + failed + cancelled;
    if (ended > total)
        ended = total;
    double elapsed = secs(cr_now_ns() - t0);
    double rate = elapsed > 0 ? (double)ended / elapsed : 0;
    char eta[32];
    if (final && elapsed < 60)
        snprintf(eta, sizeof eta, "%.2fs", elapsed);
    else if (final)
        clock_text(elapsed, eta, sizeof eta);
    else if (rate > 0)
        clock_text((double)(total - ended) / rate, eta, sizeof eta);
    else
        snprintf(eta, sizeof eta, "?");
    char right[256], rate_text[32];
    snprintf(rate_text, sizeof rate_text, rate >= 100 ? "%.0f/s" : "%.1f/s", rate);
    int rlen =
        snprintf(right, sizeof right,
                 " %llu/%llu %3.0f%% | ok %llu fail %llu cancel %llu run %llu | %s %s %s",
                 (unsigned long long)ended, (unsigned long long)total,
                 total > 0 ? 100.0 * (double)ended / (double)total : 100.0, (unsigned long long)ok,
                 (unsigned long long)failed, (unsigned long long)cancelled,
                 (unsigned long long)running, rate_text, final ? "in" : "ETA", eta);
    struct winsize ws;
    int cols = 80;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        cols = ws.ws_col;
    char bar[512];
    int width = cols - 1 - rlen - 2; /* leave the last column free: no wrap */
    if (width > (int)sizeof bar - 3)
        width = (int)sizeof bar - 3;
    size_t b = 0;
    if (width >= 10) {
        int fill = total > 0 ? (int)((double)width * (double)ended / (double)total) : width;
        bar[b++] = '[';
        for (int i = 0; i < width; i++)
            bar[b++] = i < fill ? '#' : (i == fill ? '>' : '.');
        bar[b++] = ']';
    }
    bar[b] = '\0';
    /* \r, the line, then clear to the end of the line (ESC [ K). */
    fprintf(stderr, "\r%s%s\033[K%s", bar, right, final ? "\n" : "");
    fflush(stderr);
}

typedef struct counts {
    uint64_t ok, failed, timed_out, cancelled, halted, interrupted;
} counts_t;

static counts_t count(const cr_job_t *jobs, uint64_t n)
{
    counts_t c = {0};
    for (uint64_t i = 0; i < n; i++) {
        if (jobs[i].state == CR_OK)
            c.ok++;
        else if (jobs[i].state == CR_FAILED)
            c.failed++;
        else
            c.cancelled++;
        c.timed_out += jobs[i].cause == CR_CAUSE_TIMEOUT;
        c.halted += jobs[i].cause == CR_CAUSE_HALTED;
        c.interrupted += jobs[i].cause == CR_CAUSE_INTERRUPTED;
    }
    return c;
}

static double duration(const cr_job_t *j)
{
    return j->start_ns != 0 ? secs(j->end_ns - j->start_ns) : 0.0;
}

void cr_summary_print(FILE *f, const cr_job_t *jobs, uint64_t n, int64_t t0, int64_t t_end,
                      int exit_code, bool per_job)
{
    char sig[16], code[16];
    if (per_job && n > 0) {
        fprintf(f, "%6s  %-9s  %-11s  %4s  %-7s  %8s  %9s  %s\n", "#", "status", "cause", "exit",
                "signal", "attempts", "duration", "command");
        for (uint64_t i = 0; i < n; i++) {
            const cr_job_t *j = &jobs[i];
            snprintf(code, sizeof code, "%d", j->exit_code);
            fprintf(f, "%6llu  %-9s  %-11s  %4s  %-7s  %8u  %8.3fs  %s\n",
                    (unsigned long long)j->seq, cr_state_name(j->state), cr_cause_name(j->cause),
                    j->exit_code >= 0 ? code : "-",
                    j->signal != 0 ? signal_name(j->signal, sig) : "-", j->attempts, duration(j),
                    j->line);
        }
    }
    counts_t c = count(jobs, n);
    double el = secs(t_end - t0);
    fprintf(f,
            "crew-run: %llu jobs in %.3f s (%.1f jobs/s): %llu ok, %llu failed (%llu timed out), "
            "%llu cancelled (%llu halted, %llu interrupted); exit %d\n",
            (unsigned long long)n, el, el > 0 ? (double)n / el : 0.0, (unsigned long long)c.ok,
            (unsigned long long)c.failed, (unsigned long long)c.timed_out,
            (unsigned long long)c.cancelled, (unsigned long long)c.halted,
            (unsigned long long)c.interrupted, exit_code);
}

/* ---- --results ---------------------------------------------------------- */

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void csv_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '"')
            fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

static void write_json(FILE *f, const cr_job_t *jobs, uint64_t n, int64_t t0, int64_t t_end,
                       int exit_code)
{
    counts_t c = count(jobs, n);
    char sig[16];
    fprintf(f,
            "{\"total\": %llu, \"ok\": %llu, \"failed\": %llu, \"timed_out\": %llu, "
            "\"cancelled\": %llu, \"halted\": %llu, \"interrupted\": %llu, "
            "\"elapsed_s\": %.6f, \"exit_code\": %d,\n \"jobs\": [",
            (unsigned long long)n, (unsigned long long)c.ok, (unsigned long long)c.failed,
            (unsigned long long)c.timed_out, (unsigned long long)c.cancelled,
            (unsigned long long)c.halted, (unsigned long long)c.interrupted, secs(t_end - t0),
            exit_code);
    for (uint64_t i = 0; i < n; i++) {
        const cr_job_t *j = &jobs[i];
        fprintf(f, "%s\n  {\"seq\": %llu, \"status\": \"%s\", \"cause\": \"%s\", \"exit_code\": ",
                i ? "," : "", (unsigned long long)j->seq, cr_state_name(j->state),
                cr_cause_name(j->cause));
        if (j->exit_code >= 0)
            fprintf(f, "%d", j->exit_code);
        else
            fputs("null", f);
        fputs(", \"signal\": ", f);
        if (j->signal != 0)
            fprintf(f, "\"%s\"", signal_name(j->signal, sig));
        else
            fputs("null", f);
        fprintf(f, ", \"attempts\": %u, \"start_s\": ", j->attempts);
        if (j->start_ns != 0)
            fprintf(f, "%.6f", secs(j->start_ns - t0));
        else
            fputs("null", f);
        fprintf(f, ", \"duration_s\": %.6f, \"command\": ", duration(j));
        json_string(f, j->line);
        fputc('}', f);
    }
    fputs("\n]}\n", f);
}

static void write_csv(FILE *f, const cr_job_t *jobs, uint64_t n, int64_t t0)
{
    char sig[16];
    fputs("seq,status,cause,exit_code,signal,attempts,start_s,duration_s,command\n", f);
    for (uint64_t i = 0; i < n; i++) {
        const cr_job_t *j = &jobs[i];
        fprintf(f, "%llu,%s,%s,", (unsigned long long)j->seq, cr_state_name(j->state),
                cr_cause_name(j->cause));
        if (j->exit_code >= 0)
            fprintf(f, "%d", j->exit_code);
        fprintf(f, ",%s,%u,", j->signal != 0 ? signal_name(j->signal, sig) : "", j->attempts);
        if (j->start_ns != 0)
            fprintf(f, "%.6f", secs(j->start_ns - t0));
        fprintf(f, ",%.6f,", duration(j));
        csv_string(f, j->line);
        fputc('\n', f);
    }
}

int cr_results_write(const char *path, const cr_job_t *jobs, uint64_t n, int64_t t0, int64_t t_end,
                     int exit_code)
{
    FILE *f = fopen(path, "we");
    if (f == NULL)
        return -1;
    size_t len = strlen(path);
    if (len >= 5 && strcmp(path + len - 5, ".json") == 0)
        write_json(f, jobs, n, t0, t_end, exit_code);
    else
        write_csv(f, jobs, n, t0);
    int err = ferror(f) ? EIO : 0;
    if (fclose(f) != 0 && err == 0)
        err = errno;
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}
