/* Benchmark: N conversations started at once against a Mistral-compatible
 * server finish in about the time of the slowest one, not their sum, since
 * they share the one loop. Prints the time of one conversation alone, of N
 * at once, and their ratio (N at once / one alone).
 *
 * Usage: bench_fanout BASE_URL N  (run by bench/fanout.sh against the fake
 * server with a fixed latency per answer). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/mistral.h"
#include "core/clock.h"
#include "model/profile.h"
#include "orch/runner.h"
#include "orch/session.h"

static bool prepared_flag;
static char *prepare_error;

static void on_prepared(void *ud, const char *error)
{
    prepared_flag = true;
    prepare_error = error ? strdup(error) : NULL;
}

static bool prepared(void *ud)
{
    return prepared_flag;
}

static bool idle(void *ud)
{
    struct session *s = ud;
    runner_reap(s);
    return session_runs_in_flight(s) == 0;
}

/* Milliseconds for n conversations started together to all finish. */
static int64_t time_conversations(struct session *s, int n)
{
    int64_t start = clock_now_ms();
    unsigned failed = s->runs_failed;

    for (int i = 0; i < n; i++)
        session_start(s, team_find_agent(s->team, "worker"), "Say something short.");
    loop_run_until(s->loop, idle, s);
    if (s->runs_failed != failed) {
        fprintf(stderr, "bench_fanout: %u runs failed\n", s->runs_failed - failed);
        exit(1);
    }
    return clock_now_ms() - start;
}

int main(int argc, char **argv)
{
    const char *profile = "{\"name\": \"bench\", \"agents\": [{\"name\": \"worker\"}]}";
    struct mistral_options mo = {NULL, "test-key", "bench", 0, 60, false, false};
    struct loop *loop;
    struct team *team;
    struct session *s;
    char *error = NULL;
    int n;
    int64_t one, many;

    if (argc != 3 || (n = atoi(argv[2])) < 1) {
        fprintf(stderr, "usage: bench_fanout BASE_URL N\n");
        return 2;
    }
    mo.base_url = argv[1];
    loop = loop_new();
    if (!(team = profile_parse(profile, "bench.json", &error))) {
        fprintf(stderr, "bench_fanout: %s\n", error);
        return 2;
    }
    s = session_new("bench", loop, mistral_backend_new(loop, &mo), team);
    backend_prepare(s->backend, s->team, on_prepared, NULL);
    loop_run_until(loop, prepared, NULL);
    if (prepare_error) {
        fprintf(stderr, "bench_fanout: %s\n", prepare_error);
        return 1;
    }
    time_conversations(s, 1); /* warm up: connections, caches */
    one = time_conversations(s, 1);
    many = time_conversations(s, n);
    printf("one conversation: %lld ms\n%d conversations at once: %lld ms\nratio: %.2f (1.00 is ideal; %d would be "
           "one after the other)\n",
           (long long)one, n, (long long)many, (double)many / (double)one, n);
    session_free(s);
    loop_free(loop);
    free(prepare_error);
    return 0;
}
