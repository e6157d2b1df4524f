/* Painting benchmark: 16 agents streaming at 200 words a second each
 * through the offline backend, into the real console in a pseudo-terminal.
 * Reports frames painted a second, the CPU that painting and the whole
 * process used, and the delay between a keystroke and its echo, measured
 * two ways: by the console itself (key read to the frame that shows it)
 * and from outside (the byte written to the terminal to the echo read
 * back from it).
 *
 * Usage: bench/bench_paint [AGENTDECK [SECONDS [AGENTS [WORDS_PER_SECOND [COLSxROWS]]]]]
 * (from the build folder after `make bench`; doc/benchmarks.md). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads what the console writes for up to wait_s seconds; returns whether
 * `want` (a byte, or -1 for none) came, setting *at to when. Text is kept
 * in tail (the last bytes) for finding the prompt. */
static int pump(int fd, double wait_s, int want, double *at, char *tail, size_t tail_size)
{
    double end = now_s() + wait_s;
    char buf[65536];

    for (;;) {
        double left = end - now_s();
        struct pollfd pfd = {fd, POLLIN, 0};
        if (left <= 0)
            return 0;
        if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            return -1;
        if (tail) {
            size_t keep = strlen(tail), add = (size_t)n < tail_size - 1 ? (size_t)n : tail_size - 1;
            if (keep + add >= tail_size) {
                memmove(tail, tail + keep + add - (tail_size - 1), tail_size - 1 - add);
                keep = tail_size - 1 - add;
            }
            memcpy(tail + keep, buf + n - add, add);
            tail[keep + add] = '\0';
            for (size_t i = 0; i < keep + add; i++)
                if (!tail[i])
                    tail[i] = ' ';
        }
        if (want >= 0 && memchr(buf, want, (size_t)n)) {
            *at = now_s();
            return 1;
        }
    }
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void write_all(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len) {
        ssize_t n = write(fd, s, len);
        if (n <= 0 && errno != EINTR)
            return;
        if (n > 0) {
            s += n;
            len -= (size_t)n;
        }
    }
}

int main(int argc, char **argv)
{
    const char *binary = argc > 1 ? argv[1] : "./agentdeck";
    double seconds = argc > 2 ? atof(argv[2]) : 10;
    int agents = argc > 3 ? atoi(argv[3]) : 16;
    const char *rate = argc > 4 ? argv[4] : "200";
    char dir[] = "/tmp/agentdeck-bench-XXXXXX", profile[256], stats[256], tail[4096] = "";
    struct winsize ws = {48, 160, 0, 0};
    unsigned cols, rows;
    double echo[4096], t0, t_start, at = 0;
    size_t nechos = 0;
    struct rusage ru;
    int master, status;
    pid_t pid;
    FILE *fp;

    if (argc > 5 && sscanf(argv[5], "%ux%u", &cols, &rows) == 2) {
        ws.ws_col = (unsigned short)cols;
        ws.ws_row = (unsigned short)rows;
    }
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(profile, sizeof profile, "%s/bench.json", dir);
    snprintf(stats, sizeof stats, "%s/stats.json", dir);
    if (!(fp = fopen(profile, "w"))) {
        perror(profile);
        return 1;
    }
    /* Each agent answers with 5000 words: longer than the run. */
    fputs("{\"name\": \"bench\", \"agents\": [", fp);
    for (int a = 1; a <= agents; a++) {
        fprintf(fp, "%s{\"name\": \"a%d\", \"model\": \"bench\", \"offline\": [{\"say\": \"", a > 1 ? ", " : "", a);
        for (int w = 0; w < 5000; w++)
            fprintf(fp, "%sword%d", w ? (w % 13 == 12 ? ". " : " ") : "", w);
        fputs("\"}]}", fp);
    }
    fputs("]}\n", fp);
    fclose(fp);

    pid = forkpty(&master, NULL, NULL, &ws);
    if (pid < 0) {
        perror("forkpty");
        return 1;
    }
    if (pid == 0) {
        char state[300];
        snprintf(state, sizeof state, "%s/state", dir);
        setenv("TERM", "xterm-256color", 1);
        setenv("LC_ALL", "C.UTF-8", 1);
        setenv("AGENTDECK_STATS", stats, 1);
        setenv("XDG_STATE_HOME", state, 1);
        setenv("INPUTRC", "/dev/null", 1);
        unsetenv("MISTRAL_API_KEY");
        execl(binary, binary, "--no-journal", "--offline-rate", rate, profile, (char *)NULL);
        perror(binary);
        _exit(127);
    }
    /* Wait for the prompt, then start every agent. */
    t0 = now_s();
    while (!strstr(tail, "agentdeck>") && now_s() - t0 < 20)
        if (pump(master, 0.1, -1, NULL, tail, sizeof tail) < 0)
            break;
    if (!strstr(tail, "agentdeck>")) {
        fprintf(stderr, "bench_paint: no prompt from %s\n", binary);
        kill(pid, SIGKILL);
        return 1;
    }
    for (int a = 1; a <= agents; a++) {
        char line[64];
        snprintf(line, sizeof line, "/start a%d go\r", a);
        write_all(master, line);
        pump(master, 0.02, -1, NULL, NULL, 0);
    }
    /* Type a key every 100 ms while they stream, then erase it; '#' appears nowhere else. */
    t_start = now_s();
    size_t attempts = 0;
    while (now_s() - t_start < seconds && nechos < sizeof echo / sizeof echo[0]) {
        attempts++;
        double sent = now_s();
        write_all(master, "#");
        if (pump(master, 1.0, '#', &at, NULL, 0) == 1)
            echo[nechos++] = (at - sent) * 1000;
        else if (getenv("BENCH_DEBUG"))
            fprintf(stderr, "no echo for key %zu at %.2f s\n", attempts, sent - t_start);
        pump(master, 0.05, -1, NULL, NULL, 0);
        write_all(master, "\x7f"); /* Backspace: the next '#' lands on a blank again */
        pump(master, 0.1 - (now_s() - sent) > 0 ? 0.1 - (now_s() - sent) : 0, -1, NULL, NULL, 0);
    }
    write_all(master, "\x03"); /* Ctrl-C: cancel the runs */
    pump(master, 0.3, -1, NULL, NULL, 0);
    write_all(master, "\x15/quit\r");
    while (pump(master, 0.5, -1, NULL, NULL, 0) >= 0 && waitpid(pid, &status, WNOHANG) == 0)
        ;
    if (wait4(pid, &status, 0, &ru) < 0 && getrusage(RUSAGE_CHILDREN, &ru) < 0)
        memset(&ru, 0, sizeof ru);

    char line[1024] = "";
    double frames = 0, wall = 0, paint = 0, med = 0, p95 = 0, max = 0;
    if ((fp = fopen(stats, "r"))) {
        if (fgets(line, sizeof line, fp))
            sscanf(line,
                   "{\"frames\": %lf, \"wall_s\": %lf, \"paint_cpu_s\": %lf, \"echo_count\": %*f, "
                   "\"echo_median_ms\": %lf, \"echo_p95_ms\": %lf, \"echo_max_ms\": %lf}",
                   &frames, &wall, &paint, &med, &p95, &max);
        fclose(fp);
    }
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                 (double)ru.ru_stime.tv_usec / 1e6;
    qsort(echo, nechos, sizeof echo[0], compare);
    printf("%d agents at %s words a second each, %.0f s, %dx%d terminal\n", agents, rate, seconds, ws.ws_col,
           ws.ws_row);
    if (!wall) {
        fprintf(stderr, "bench_paint: no figures from the console (%s)\n", stats);
        return 1;
    }
    printf("frames painted:        %.0f a second (%.0f in %.1f s)\n", frames / wall, frames, wall);
    printf("painting CPU:          %.1f%% of one core\n", 100 * paint / wall);
    printf("whole process CPU:     %.1f%% of one core\n", 100 * cpu / wall);
    printf("echo, inside:          median %.1f ms, p95 %.1f ms, max %.1f ms\n", med, p95, max);
    if (nechos)
        printf("echo, through the pty: median %.1f ms, p95 %.1f ms, max %.1f ms (%zu keys)\n", echo[nechos / 2],
               echo[(size_t)((double)(nechos - 1) * 0.95)], echo[nechos - 1], nechos);
    if (attempts > nechos)
        printf("keys without an echo within 1 s: %zu of %zu\n", attempts - nechos, attempts);
    unlink(profile);
    unlink(stats);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_paint: could not remove %s\n", dir);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
