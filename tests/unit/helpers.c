#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "backend/offline.h"
#include "cmd/command.h"
#include "core/buf.h"
#include "model/profile.h"
#include "orch/runner.h"
#include "helpers.h"

static void capture(void *ud, const cJSON *ev, const char *line)
{
    struct harness *h = ud;
    vec_push(&h->events, cJSON_Duplicate(ev, 1));
}

static void delete_json(void *item)
{
    cJSON_Delete(item);
}

void harness_init(struct harness *h, const char *profile_json, double rate)
{
    struct team *team = team_new();
    struct event_sink sink = {capture, NULL, h};

    if (profile_json) {
        char *error = NULL;
        team_free(team);
        team = profile_parse(profile_json, "test.json", &error);
        if (!team)
            fail_msg("profile: %s", error);
    }
    h->loop = loop_new();
    h->session = session_new("test", h->loop, offline_backend_new(h->loop, rate), team);
    vec_init(&h->events, delete_json);
    event_stream_add_sink(&h->session->events, &sink);
}

void harness_fini(struct harness *h)
{
    session_free(h->session);
    loop_free(h->loop);
    vec_fini(&h->events);
}

static bool idle(void *ud)
{
    struct harness *h = ud;
    runner_reap(h->session);
    return session_runs_in_flight(h->session) == 0;
}

void harness_wait(struct harness *h)
{
    loop_run_until(h->loop, idle, h);
    runner_reap(h->session);
}

int harness_exec(struct harness *h, const char *line)
{
    int st = command_execute(h->session, line);
    harness_wait(h);
    return st;
}

size_t harness_count(const struct harness *h, const char *type)
{
    size_t n = 0;
    for (size_t i = 0; i < h->events.len; i++)
        n += strcmp(harness_str(h->events.items[i], "type"), type) == 0;
    return n;
}

const cJSON *harness_event(const struct harness *h, const char *type, size_t nth)
{
    for (size_t i = 0; i < h->events.len; i++) {
        if (strcmp(harness_str(h->events.items[i], "type"), type) == 0 && nth-- == 0)
            return h->events.items[i];
    }
    return NULL;
}

const char *harness_str(const cJSON *ev, const char *key)
{
    const cJSON *item = ev ? cJSON_GetObjectItemCaseSensitive(ev, key) : NULL;
    return cJSON_IsString(item) ? item->valuestring : "";
}

char *harness_types(const struct harness *h)
{
    struct buf out = BUF_INIT;
    for (size_t i = 0; i < h->events.len; i++)
        buf_printf(&out, "%s%s", i ? " " : "", harness_str(h->events.items[i], "type"));
    return buf_steal(&out);
}
