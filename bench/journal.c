/* Benchmark: what syncing the journal to the disk at run boundaries costs.
 * N runs of the offline backend (replies at once), one after the other,
 * each in a conversation of its own, with the journal synced (fsync at
 * conversation.started, run.started and run.done), with the journal only
 * flushed, and with no journal; three rounds, alternating, in one process.
 * Prints the median of each and the ratio synced / flushed.
 *
 * Usage: bench_journal DIR N  (DIR: a folder on the disk to measure; the
 * journals go to DIR/agentdeck/sessions/ and are removed after). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/offline.h"
#include "core/clock.h"
#include "model/journal.h"
#include "model/profile.h"
#include "orch/runner.h"
#include "orch/session.h"

enum mode { NO_JOURNAL, FLUSHED, SYNCED, MODES };
static const char *const mode_names[MODES] = {"no journal", "journal, flushed", "journal, synced at run boundaries"};

static bool idle(void *ud)
{
    struct session *s = ud;
    runner_reap(s);
    return session_runs_in_flight(s) == 0;
}

/* Milliseconds for n runs in a new session journaled as mode says. */
static int64_t time_runs(enum mode mode, int n, int round)
{
    const char *profile = "{\"name\": \"bench\", \"agents\": [{\"name\": \"worker\", \"offline\": "
                          "[{\"say\": \"A short reply of about ten words, as a run would give.\"}]}]}";
    char *error = NULL, id[64];
    struct loop *loop = loop_new();
    struct team *team = profile_parse(profile, "bench.json", &error);
    struct session *s;
    struct journal *j;
    int64_t start, took;

    if (!team) {
        fprintf(stderr, "bench_journal: %s\n", error);
        exit(2);
    }
    snprintf(id, sizeof id, "bench-%d-%d", mode, round);
    s = session_new(id, loop, offline_backend_new(loop, 0), team);
    if (mode != NO_JOURNAL) {
        if (!(j = journal_open(id, &error))) {
            fprintf(stderr, "bench_journal: %s\n", error);
            exit(2);
        }
        journal_set_sync(j, mode == SYNCED);
        struct event_sink sink = journal_sink(j);
        event_stream_add_sink(&s->events, &sink);
    }
    start = clock_now_ms();
    for (int i = 0; i < n; i++) {
        session_start(s, team_find_agent(s->team, "worker"), "Say something short.");
        loop_run_until(loop, idle, s);
    }
    took = clock_now_ms() - start;
    if (s->runs_failed) {
        fprintf(stderr, "bench_journal: %u runs failed\n", s->runs_failed);
        exit(1);
    }
    session_free(s);
    loop_free(loop);
    return took;
}

static int compare_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    enum { ROUNDS = 3 };
    int64_t ms[MODES][ROUNDS];
    int n;

    if (argc != 3 || (n = atoi(argv[2])) < 1) {
        fprintf(stderr, "usage: bench_journal DIR N\n");
        return 2;
    }
    setenv("XDG_STATE_HOME", argv[1], 1);
    time_runs(FLUSHED, n / 10 + 1, 99); /* warm up: the folder, the caches */
    for (int r = 0; r < ROUNDS; r++) {
        for (int m = 0; m < MODES; m++) {
            enum mode mode = (enum mode)(r % 2 ? MODES - 1 - m : m); /* alternate the order */
            ms[mode][r] = time_runs(mode, n, r);
        }
    }
    for (int m = 0; m < MODES; m++) {
        qsort(ms[m], ROUNDS, sizeof ms[m][0], compare_i64);
        printf("%d runs, %s: %lld ms (rounds: %lld, %lld, %lld ms)\n", n, mode_names[m], (long long)ms[m][1],
               (long long)ms[m][0], (long long)ms[m][1], (long long)ms[m][2]);
    }
    printf("ratio synced / flushed: %.2f\nratio flushed / no journal: %.2f\nper run, the sync costs %.3f ms\n",
           (double)ms[SYNCED][1] / (double)ms[FLUSHED][1], (double)ms[FLUSHED][1] / (double)ms[NO_JOURNAL][1],
           (double)(ms[SYNCED][1] - ms[FLUSHED][1]) / n);
    return 0;
}
