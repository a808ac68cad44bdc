/*
 * crewrun-helper - the jobs that tests/crewrun/run.sh gives crew-run.
 *
 *   hold READY DIR plain|term TOKEN
 *       Start a grandchild (same process group) that waits forever; append
 *       both PIDs to DIR/pids; make the FIFO DIR/ctl.<pid>; write
 *       "ready <pid>" to the FIFO READY; then wait for a line on
 *       DIR/ctl.<pid>: "fail" exits 1, anything else 0. With "term" both
 *       processes ignore SIGTERM (only SIGKILL stops them) and the job
 *       writes "term <pid>" to READY when a SIGTERM arrives.
 *   append FILE TOKEN
 *       Append "TOKEN\n" to FILE in one write (O_APPEND).
 *   flaky FILE K
 *       Count the calls in FILE; exit 1 while fewer than K calls were made.
 *
 * The test reads READY through a descriptor it holds open for reading and
 * writing, so the writers never block and the reader never sees an end of
 * file: readiness is a line read, not a sleep.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int ready_fd = -1;

static void write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            _exit(3);
        s += w;
        n -= (size_t)w;
    }
}

static void append_line(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        perror(path);
        exit(2);
    }
    char line[256];
    int n = snprintf(line, sizeof line, "%s\n", text);
    write_all(fd, line, (size_t)n);
    close(fd);
}

static void on_term(int sig)
{
    (void)sig;
    char line[32];
    int n = snprintf(line, sizeof line, "term %ld\n", (long)getpid());
    write_all(ready_fd, line, (size_t)n); /* one write below PIPE_BUF */
}

static int hold(const char *ready, const char *dir, bool term)
{
    if (term) {
        struct sigaction sa = {.sa_handler = on_term, .sa_flags = SA_RESTART};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
    }
    char path[4096], line[64];
    ready_fd = open(ready, O_WRONLY | O_CLOEXEC);
    if (ready_fd < 0) {
        perror(ready);
        return 2;
    }
    pid_t kid = fork();
    if (kid < 0) {
        perror("fork");
        return 2;
    }
    if (kid == 0) {
        if (term)
            signal(SIGTERM, SIG_IGN);
        for (;;)
            pause();
    }
    snprintf(path, sizeof path, "%s/pids", dir);
    snprintf(line, sizeof line, "%ld", (long)kid);
    append_line(path, line);
    snprintf(line, sizeof line, "%ld", (long)getpid());
    append_line(path, line);
    snprintf(path, sizeof path, "%s/ctl.%ld", dir, (long)getpid());
    if (mkfifo(path, 0600) != 0) {
        perror(path);
        return 2;
    }
    int n = snprintf(line, sizeof line, "ready %ld\n", (long)getpid());
    write_all(ready_fd, line, (size_t)n);
    FILE *ctl = fopen(path, "re"); /* blocks until the test writes */
    if (ctl == NULL) {
        perror(path);
        return 2;
    }
    char cmd[16] = "";
    if (fgets(cmd, sizeof cmd, ctl) == NULL)
        cmd[0] = '\0';
    fclose(ctl);
    return strncmp(cmd, "fail", 4) == 0 ? 1 : 0;
}

static int flaky(const char *path, long k)
{
    long calls = 0;
    FILE *f = fopen(path, "re");
    if (f != NULL) {
        if (fscanf(f, "%ld", &calls) != 1)
            calls = 0;
        fclose(f);
    }
    calls++;
    f = fopen(path, "we");
    if (f == NULL) {
        perror(path);
        return 2;
    }
    fprintf(f, "%ld\n", calls);
    fclose(f);
    return calls < k ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 6 && strcmp(argv[1], "hold") == 0)
        return hold(argv[2], argv[3], strcmp(argv[4], "term") == 0);
    if (argc >= 4 && strcmp(argv[1], "append") == 0) {
        append_line(argv[2], argv[3]);
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "flaky") == 0)
        return flaky(argv[2], strtol(argv[3], NULL, 10));
    fprintf(stderr, "usage: crewrun-helper hold READY DIR plain|term TOKEN | append FILE TOKEN |"
                    " flaky FILE K\n");
    return 2;
}
