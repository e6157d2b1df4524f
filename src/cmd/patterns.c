/* The pattern commands: /pipeline, /route, /fanout, /compete, /delegate,
 * /decompose and /run WORKFLOW, and the shared state (/state). */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/internal.h"
#include "core/buf.h"
#include "core/xalloc.h"
#include "orch/handlers.h"
#include "orch/pattern.h"

/* The TEXT... argument: the last one. */
static const char *text_arg(const struct cmd_call *call)
{
    return call->args.len ? call->args.items[call->args.len - 1] : "";
}

static const char *flag(const struct cmd_call *call, const char *name)
{
    for (size_t i = 0; i < call->flags.len; i++) {
        const struct flag_value *fv = call->flags.items[i];
        if (strcmp(fv->spec->name, name) == 0)
            return fv->value ? fv->value : "";
    }
    return NULL;
}

/* A,B,C into params->agents. */
static void split_agents(const char *list, struct pattern_params *params)
{
    char *copy = xstrdup(list), *save = NULL;
    for (char *name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        while (*name == ' ')
            name++;
        if (*name)
            vec_push(&params->agents, xstrdup(name));
    }
    free(copy);
}

/* Reads --timeout, --all, --depth into params. Returns NULL or an error. */
static char *read_flags(const struct cmd_call *call, struct pattern_params *params)
{
    const char *v;
    char *end;

    if ((v = flag(call, "timeout"))) {
        double seconds;
        errno = 0;
        seconds = strtod(v, &end);
        if (end == v || *end || errno || !isfinite(seconds) || seconds <= 0 || seconds > 86400)
            return xasprintf("--timeout %s: expected seconds, more than 0", v);
        params->timeout_ms = seconds * 1000 < 1 ? 1 : (int)(seconds * 1000);
    }
    if (flag(call, "all"))
        params->all = true;
    if ((v = flag(call, "depth"))) {
        long depth;
        errno = 0;
        depth = strtol(v, &end, 10);
        if (end == v || *end || errno || depth < 0 || depth > 8)
            return xasprintf("--depth %s: expected a whole number from 0 to 8", v);
        params->depth = (int)depth;
    }
    return NULL;
}

static enum cmd_status start(struct cmd_call *call, struct pattern_params *params, const char *workflow)
{
    char *error = read_flags(call, params);
    const char *text = text_arg(call);

    if (!error && !*text)
        error = xstrdup("nothing to send: the text is empty");
    if (!error && pattern_start(call->session, params, workflow, text, &error)) {
        pattern_params_fini(params);
        return CMD_OK;
    }
    pattern_params_fini(params);
    cmd_fail(call, "%s", error);
    free(error);
    return CMD_FAILED;
}

enum cmd_status cmd_pipeline(struct cmd_call *call)
{
    struct pattern_params params;
    pattern_params_init(&params, PATTERN_PIPELINE);
    split_agents(cmd_arg(call, 0), &params);
    return start(call, &params, NULL);
}

enum cmd_status cmd_route(struct cmd_call *call)
{
    struct pattern_params params;
    pattern_params_init(&params, PATTERN_ROUTE);
    params.lead = xstrdup(cmd_arg(call, 0));
    return start(call, &params, NULL);
}

static enum cmd_status fan(struct cmd_call *call, enum pattern_kind kind, const char *lead_flag)
{
    struct pattern_params params;
    const char *lead = flag(call, lead_flag);
    pattern_params_init(&params, kind);
    split_agents(cmd_arg(call, 0), &params);
    params.lead = lead ? xstrdup(lead) : NULL;
    return start(call, &params, NULL);
}

enum cmd_status cmd_fanout(struct cmd_call *call)
{
    return fan(call, PATTERN_FANOUT, "into");
}

enum cmd_status cmd_compete(struct cmd_call *call)
{
    if (!flag(call, "judge"))
        return cmd_fail(call, "/compete needs a judge: --judge AGENT");
    return fan(call, PATTERN_COMPETE, "judge");
}

enum cmd_status cmd_delegate(struct cmd_call *call)
{
    struct pattern_params params;
    pattern_params_init(&params, PATTERN_DELEGATE);
    params.lead = xstrdup(cmd_arg(call, 0));
    return start(call, &params, NULL);
}

enum cmd_status cmd_decompose(struct cmd_call *call)
{
    struct pattern_params params;
    const char *executor = flag(call, "executor");
    if (!executor)
        return cmd_fail(call, "/decompose needs an executor: --executor AGENT");
    pattern_params_init(&params, PATTERN_DECOMPOSE);
    params.lead = xstrdup(cmd_arg(call, 0));
    params.executor = xstrdup(executor);
    return start(call, &params, NULL);
}

enum cmd_status cmd_run(struct cmd_call *call)
{
    const struct team *team = call->session->team;
    const struct workflow *w = team_find_workflow(team, cmd_arg(call, 0));
    struct pattern_params params;

    if (!w) {
        struct buf names = BUF_INIT;
        enum cmd_status st;
        for (size_t i = 0; i < team->workflows.len; i++)
            buf_printf(&names, "%s%s", i ? ", " : "", ((const struct workflow *)team->workflows.items[i])->name);
        st = cmd_fail(call, "no workflow named \"%s\" (%s%s)", cmd_arg(call, 0),
                      names.len ? "workflows: " : "the profile has no workflows", buf_str(&names));
        buf_fini(&names);
        return st;
    }
    pattern_params_copy(&params, &w->params);
    return start(call, &params, w->name);
}

/* ---- the shared state ------------------------------------------------------- */

static void emit_state(struct session *s, const char *how, const char *key)
{
    cJSON *fields = cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "change", how);
    if (key)
        cJSON_AddStringToObject(fields, "key", key);
    cJSON_AddItemToObject(fields, "state", cJSON_Duplicate(s->state, 1));
    event_emit(&s->events, "state", fields);
}

static enum cmd_status cmd_state_set(struct cmd_call *call)
{
    struct session *s = call->session;
    const char *key = cmd_arg(call, 0);
    const char *text = cmd_arg(call, 1);
    cJSON *value = cJSON_Parse(text);

    if (!*key)
        return cmd_fail(call, "/state set: the key is empty");
    /* A value that is not JSON is a string: /state set stage "new" and /state set stage new agree. */
    if (!value)
        value = cJSON_CreateString(text);
    cJSON_DeleteItemFromObjectCaseSensitive(s->state, key);
    cJSON_AddItemToObject(s->state, key, value);
    emit_state(s, "set", key);
    return CMD_OK;
}

static enum cmd_status cmd_state_show(struct cmd_call *call)
{
    emit_state(call->session, "show", NULL);
    return CMD_OK;
}

static enum cmd_status cmd_state_clear(struct cmd_call *call)
{
    struct session *s = call->session;
    cJSON_Delete(s->state);
    s->state = cJSON_CreateObject();
    emit_state(s, "clear", NULL);
    return CMD_OK;
}

/* ---- event handlers ------------------------------------------------------------ */

enum cmd_status cmd_on(struct cmd_call *call)
{
    char *error = NULL;
    bool ok = handlers_add(call->session, cmd_arg(call, 0), cmd_arg(call, 1), &error);
    return cmd_result(call, ok, error);
}

enum cmd_status cmd_off(struct cmd_call *call)
{
    char *error = NULL;
    bool ok = handlers_remove(call->session, cmd_arg(call, 0), cmd_arg(call, 1), &error);
    return cmd_result(call, ok, error);
}

enum cmd_status cmd_emit(struct cmd_call *call)
{
    char *error = NULL;
    bool ok = handlers_emit_line(call->session, cmd_arg(call, 0), "command", &error);
    return cmd_result(call, ok, error);
}

enum cmd_status cmd_handlers(struct cmd_call *call)
{
    cJSON *fields = cJSON_CreateObject();
    cJSON_AddItemToObject(fields, "handlers", handlers_list(call->session));
    event_emit(&call->session->events, "handler.list", fields);
    return CMD_OK;
}

/* clang-format off */
const struct command_spec cmd_state_subcommands[] = {
    {"set", "KEY VALUE...", "set a key of the state (VALUE is JSON, or else text)", NULL, 2, -1, NULL, NULL,
     cmd_state_set},
    {"show", "", "show the state", NULL, 0, 0, NULL, NULL, cmd_state_show},
    {"clear", "", "empty the state", NULL, 0, 0, NULL, NULL, cmd_state_clear},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL, NULL},
};

const struct flag_spec cmd_fanout_flags[] = {
    {"into", "AGENT", false, "the agent that fans in: it gets every branch's answer"},
    {"all", NULL, false, "a failed branch fails the whole (default: go on without it)"},
    {"timeout", "SECONDS", false, "a branch's time limit"},
    {NULL, NULL, false, NULL},
};

const struct flag_spec cmd_compete_flags[] = {
    {"judge", "AGENT", false, "the agent that compares the answers and recommends one"},
    {"all", NULL, false, "a failed analyst fails the whole (default: judge the others)"},
    {"timeout", "SECONDS", false, "an analyst's time limit"},
    {NULL, NULL, false, NULL},
};

const struct flag_spec cmd_decompose_flags[] = {
    {"executor", "AGENT", false, "the agent that carries out a task small enough"},
    {"depth", "N", false, "how many levels a task may be split into (default 2)"},
    {NULL, NULL, false, NULL},
};

/* clang-format on */
