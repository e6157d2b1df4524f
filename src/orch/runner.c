#include "config.h"

#include "orch/runner.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/xalloc.h"
#include "tools/function.h"

enum run_state {
    RUN_ACTIVE,
    RUN_PAUSED, /* function calls wait for the user's /allow or /deny */
    RUN_ENDED,  /* waiting to be reaped */
};

struct pending_call {
    struct run *run;
    char *tool_call_id;
    char *name;
    char *arguments;
    struct function_run *process; /* NULL once it reported */
    uint64_t missing_timer;       /* reports a function the profile lacks */
    bool pending;                 /* waits for confirmation */
    int answer;                   /* 0: none yet, 1: allow, -1: deny */
};

struct run {
    struct session *s;
    char *id;
    struct conversation *conv;
    char *agent; /* the agent in control now */
    int turns;
    int max_turns;
    int64_t started_ms;
    struct usage usage;
    struct backend_call *call;
    size_t first_new;
    struct vec calls; /* struct pending_call *, this turn's function calls */
    size_t calls_left;
    char *handoff_to; /* a client-executed handoff to carry out */
    enum run_state state;
    size_t first_entry; /* conv->entries.len when the run started */
    size_t turn_start;  /* ... when this turn was sent */
    run_ended_fn *ended;
    void *ended_ud;
    cJSON *response_format; /* asked of every turn, or NULL */
};

static void run_next_turn(struct run *run);

static void pending_call_free(void *item)
{
    struct pending_call *pc = item;
    function_run_cancel(pc->process);
    if (pc->missing_timer)
        loop_timer_cancel(pc->run->s->loop, pc->missing_timer);
    free(pc->tool_call_id);
    free(pc->name);
    free(pc->arguments);
    free(pc);
}

void run_free(struct run *run)
{
    if (!run)
        return;
    if (run->call)
        backend_cancel(run->s->backend, run->call);
    vec_fini(&run->calls);
    free(run->id);
    free(run->agent);
    free(run->handoff_to);
    cJSON_Delete(run->response_format);
    free(run);
}

void run_add_context(const struct run *run, cJSON *fields)
{
    cJSON_AddStringToObject(fields, "conversation", run->conv->id);
    cJSON_AddStringToObject(fields, "agent", run->agent);
    cJSON_AddStringToObject(fields, "run", run->id);
}

void session_emit_entry(struct session *s, const struct conversation *conv, const struct run *run,
                        const struct entry *e)
{
    cJSON *fields = cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "conversation", conv->id);
    cJSON_AddStringToObject(fields, "agent", e->agent ? e->agent : conv->agent);
    if (run)
        cJSON_AddStringToObject(fields, "run", run->id);
    entry_add_fields(e, fields);
    event_emit(&s->events, entry_type_name(e->type), fields);
}

static cJSON *usage_to_json(const struct usage *u)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddNumberToObject(obj, "prompt_tokens", (double)u->prompt_tokens);
    cJSON_AddNumberToObject(obj, "completion_tokens", (double)u->completion_tokens);
    cJSON_AddNumberToObject(obj, "total_tokens", (double)u->total_tokens);
    return obj;
}

/* Ends the run; it stays in s->runs until runner_reap(). */
static void run_end(struct run *run, const char *type, const char *message)
{
    cJSON *fields = cJSON_CreateObject();
    struct agent *agent;

    if (run->state == RUN_ENDED)
        return;
    run->state = RUN_ENDED;
    if (run->call) {
        backend_cancel(run->s->backend, run->call);
        run->call = NULL;
    }
    vec_truncate(&run->calls, 0); /* kills functions still running */
    run->calls_left = 0;
    run->conv->runs_in_flight--;
    usage_add(&run->conv->usage, &run->usage);
    agent = team_find_agent(run->s->team, run->agent);
    if (agent)
        usage_add(&agent->usage, &run->usage);

    run_add_context(run, fields);
    if (message)
        cJSON_AddStringToObject(fields, "message", message);
    cJSON_AddItemToObject(fields, "usage", usage_to_json(&run->usage));
    /* Totals so far, for the conversation and for the agent that ended the run. */
    cJSON_AddItemToObject(fields, "conversation_usage", usage_to_json(&run->conv->usage));
    if (agent)
        cJSON_AddItemToObject(fields, "agent_usage", usage_to_json(&agent->usage));
    cJSON_AddNumberToObject(fields, "latency_ms", (double)(clock_now_ms() - run->started_ms));
    cJSON_AddNumberToObject(fields, "turns", run->turns);
    /* A watched run's failure is its watcher's to judge (a pattern may go on without it). */
    if (strcmp(type, "run.error") == 0 && !run->ended)
        run->s->runs_failed++;
    event_emit(&run->s->events, type, fields);
    if (run->ended) {
        struct run_outcome o = {run->id, type + 4, run->agent, NULL, message, run->conv};
        run_ended_fn *ended = run->ended;
        for (size_t i = run->conv->entries.len; i > run->first_entry; i--) {
            const struct entry *e = run->conv->entries.items[i - 1];
            if (e->type == ENTRY_MESSAGE_OUTPUT) {
                o.output = e->content ? e->content : "";
                break;
            }
        }
        run->ended = NULL;
        ended(run->ended_ud, &o);
    }
}

void run_watch(struct run *run, run_ended_fn *ended, void *ud)
{
    run->ended = ended;
    run->ended_ud = ud;
}

static void run_fail(struct run *run, const char *message)
{
    run_end(run, "run.error", message);
}

void run_cancel(struct run *run, const char *why)
{
    run_end(run, "run.cancelled", why);
}

static void on_delta(void *ud, const char *agent, const char *entry_id, const char *text)
{
    struct run *run = ud;
    cJSON *fields;

    if (!run->s->deltas)
        return;
    fields = cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "conversation", run->conv->id);
    cJSON_AddStringToObject(fields, "agent", agent);
    cJSON_AddStringToObject(fields, "run", run->id);
    cJSON_AddStringToObject(fields, "entry_id", entry_id);
    cJSON_AddStringToObject(fields, "content", text);
    event_emit(&run->s->events, "message.output.delta", fields);
}

static void on_entry(void *ud, struct entry *e)
{
    struct run *run = ud;

    conversation_append_entry(run->conv, e);
    session_emit_entry(run->s, run->conv, run, e);
    if (e->type == ENTRY_MESSAGE_OUTPUT && run->s->team->state.read)
        session_read_state(run->s, e->agent ? e->agent : run->agent, e->content);
    if (e->type == ENTRY_FUNCTION_CALL) {
        struct pending_call *pc = xcalloc(1, sizeof *pc);
        pc->run = run;
        pc->tool_call_id = xstrdup(e->tool_call_id);
        pc->name = xstrdup(e->name);
        pc->arguments = xstrdup(e->arguments);
        pc->pending = e->confirmation && strcmp(e->confirmation, "pending") == 0;
        vec_push(&run->calls, pc);
    } else if (e->type == ENTRY_AGENT_HANDOFF && e->next_agent) {
        if (e->execution && strcmp(e->execution, "client") == 0) {
            free(run->handoff_to);
            run->handoff_to = xstrdup(e->next_agent);
        } else {
            /* The backend carried it out: the next agent is already speaking. */
            free(run->agent);
            run->agent = xstrdup(e->next_agent);
            free(run->conv->agent);
            run->conv->agent = xstrdup(e->next_agent);
        }
    }
}

static void on_function_done(void *ud, bool ok, const char *output)
{
    struct pending_call *pc = ud;
    struct run *run = pc->run;
    struct entry *e = entry_new(ENTRY_FUNCTION_RESULT, run->agent);

    pc->process = NULL;
    e->tool_call_id = xstrdup(pc->tool_call_id);
    if (ok) {
        e->result = xstrdup(output);
    } else {
        /* The model gets the failure as the result, and the user an error event. */
        e->result = xasprintf("error: %s", output);
        cJSON *fields = cJSON_CreateObject();
        run_add_context(run, fields);
        cJSON_AddStringToObject(fields, "function", pc->name);
        cJSON_AddStringToObject(fields, "tool_call_id", pc->tool_call_id);
        cJSON_AddStringToObject(fields, "message", output);
        event_emit(&run->s->events, "error", fields);
    }
    conversation_append_entry(run->conv, e);
    session_emit_entry(run->s, run->conv, run, e);
    if (--run->calls_left == 0 && run->state == RUN_ACTIVE) {
        vec_truncate(&run->calls, 0);
        run_next_turn(run);
    }
}

static void report_missing_function(struct loop *loop, void *ud)
{
    struct pending_call *pc = ud;
    pc->missing_timer = 0;
    char *message = xasprintf("no local function named \"%s\" (add it to the profile's functions)", pc->name);
    on_function_done(pc, false, message);
    free(message);
}

static void run_function_calls(struct run *run)
{
    run->first_new = run->conv->entries.len;
    run->calls_left = run->calls.len;
    for (size_t i = 0; i < run->calls.len; i++) {
        struct pending_call *pc = run->calls.items[i];
        const struct function_def *fn = team_find_function(run->s->team, pc->name);
        if (!fn) {
            /* Reported from the loop: a callback here would free run->calls under us. */
            pc->missing_timer = loop_timer_add(run->s->loop, 0, report_missing_function, pc);
            continue;
        }
        pc->process = function_run_start(run->s->loop, fn, pc->arguments, on_function_done, pc);
    }
}

/* Stops the run until the user answers each call that needs confirming. */
static bool pause_for_confirmations(struct run *run)
{
    bool paused = false;

    for (size_t i = 0; i < run->calls.len; i++) {
        struct pending_call *pc = run->calls.items[i];
        cJSON *fields;
        if (!pc->pending)
            continue;
        paused = true;
        fields = cJSON_CreateObject();
        run_add_context(run, fields);
        cJSON_AddStringToObject(fields, "reason", "confirmation");
        cJSON_AddStringToObject(fields, "name", pc->name);
        cJSON_AddStringToObject(fields, "arguments", pc->arguments ? pc->arguments : "{}");
        cJSON_AddStringToObject(fields, "tool_call_id", pc->tool_call_id);
        cJSON_AddStringToObject(fields, "message", "waiting for /allow or /deny");
        event_emit(&run->s->events, "breakpoint.hit", fields);
    }
    if (paused)
        run->state = RUN_PAUSED;
    return paused;
}

/* The agent that a "HANDOFF: MARKER" line of the turn's reply names
 * through the profile's markers, or NULL. */
static const char *marker_handoff(const struct run *run, size_t turn_start)
{
    const cJSON *markers = run->s->team->markers;
    const struct entry *reply = NULL;

    if (!cJSON_GetArraySize(markers))
        return NULL;
    for (size_t i = run->conv->entries.len; i > turn_start; i--) {
        const struct entry *e = run->conv->entries.items[i - 1];
        if (e->type == ENTRY_MESSAGE_OUTPUT) {
            reply = e;
            break;
        }
    }
    for (const char *p = reply && reply->content ? reply->content : NULL; p && *p;) {
        const char *line = p, *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        p = end ? end + 1 : line + len;
        while (len && (*line == ' ' || *line == '*' || *line == '#')) {
            line++;
            len--;
        }
        if (len > 8 && strncasecmp(line, "HANDOFF:", 8) == 0) {
            const char *word = line + 8;
            size_t n;
            char marker[40];
            const cJSON *to;
            while (*word == ' ')
                word++;
            n = strspn(word, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
            if (n == 0 || n >= sizeof marker)
                continue;
            for (size_t k = 0; k < n; k++)
                marker[k] = (char)(word[k] >= 'a' && word[k] <= 'z' ? word[k] - 'a' + 'A' : word[k]);
            marker[n] = '\0';
            to = cJSON_GetObjectItemCaseSensitive(markers, marker);
            if (cJSON_IsString(to) && strcmp(to->valuestring, run->agent) != 0 &&
                team_find_agent(run->s->team, to->valuestring))
                return to->valuestring;
        }
    }
    return NULL;
}

/* Carries out a text marker's handoff: an agent.handoff entry, then the
 * next agent's turn, as for a client handoff. */
static void marker_handoff_to(struct run *run, const char *next)
{
    struct entry *e = entry_new(ENTRY_AGENT_HANDOFF, run->agent);
    e->previous_agent = xstrdup(run->agent);
    e->next_agent = xstrdup(next);
    e->execution = xstrdup("marker");
    conversation_append_entry(run->conv, e);
    session_emit_entry(run->s, run->conv, run, e);
    free(run->agent);
    run->agent = xstrdup(next);
    free(run->conv->agent);
    run->conv->agent = xstrdup(next);
    run->first_new = run->conv->entries.len;
    run_next_turn(run);
}

static void on_done(void *ud, const struct usage *usage)
{
    struct run *run = ud;
    const char *next;

    run->call = NULL;
    usage_add(&run->usage, usage);
    if (run->calls.len && pause_for_confirmations(run)) {
        return;
    } else if (run->calls.len) {
        run_function_calls(run);
    } else if (run->handoff_to) {
        free(run->agent);
        run->agent = run->handoff_to;
        run->handoff_to = NULL;
        free(run->conv->agent);
        run->conv->agent = xstrdup(run->agent);
        run->first_new = run->conv->entries.len;
        run_next_turn(run);
    } else if ((next = marker_handoff(run, run->turn_start))) {
        marker_handoff_to(run, next);
    } else {
        run_end(run, "run.done", NULL);
    }
}

static void on_warning(void *ud, const char *message)
{
    struct run *run = ud;
    cJSON *fields = cJSON_CreateObject();
    run_add_context(run, fields);
    cJSON_AddStringToObject(fields, "message", message);
    event_emit(&run->s->events, "warning", fields);
}

static void on_remote_started(void *ud, const char *remote_id, const char *parent, size_t carried)
{
    struct run *run = ud;
    cJSON *fields = cJSON_CreateObject();

    run_add_context(run, fields);
    /* Another agent takes the conversation on: to the user it stays one. */
    cJSON_AddStringToObject(fields, "server_conversation", remote_id);
    cJSON_AddStringToObject(fields, "server_parent", parent);
    cJSON_AddNumberToObject(fields, "carried", (double)carried);
    event_emit(&run->s->events, "conversation.started", fields);
}

static void on_error(void *ud, const char *message)
{
    struct run *run = ud;
    run->call = NULL;
    run_fail(run, message);
}

/* Sends a turn: the new entries, and the answers to confirmations (or none). */
static void run_turn(struct run *run, const struct tool_confirmation *confirmations, size_t n);

static void run_next_turn(struct run *run)
{
    run_turn(run, NULL, 0);
}

static void run_turn(struct run *run, const struct tool_confirmation *confirmations, size_t n)
{
    const struct agent *agent = team_find_agent(run->s->team, run->agent);
    struct backend_request req;
    struct backend_reply reply = {run, on_delta, on_entry, on_done, on_error, on_warning, on_remote_started};

    if (!agent) {
        char *message = xasprintf("agent \"%s\" no longer exists", run->agent);
        run_fail(run, message);
        free(message);
        return;
    }
    if (run->turns >= run->max_turns) {
        char *message = xasprintf("max_turns (%d) reached before %s gave a final answer", run->max_turns, run->agent);
        run_fail(run, message);
        free(message);
        return;
    }
    run->turns++;
    run->turn_start = run->conv->entries.len;
    req = (struct backend_request){run->s->team,  agent, run->conv,           run->first_new,
                                   confirmations, n,     run->response_format};
    run->call = backend_request(run->s->backend, &req, &reply);
}

struct run *run_start(struct session *s, struct conversation *conv, const struct agent *agent, size_t first_new,
                      const cJSON *response_format)
{
    struct run *run = xcalloc(1, sizeof *run);
    cJSON *fields = cJSON_CreateObject();

    run->s = s;
    run->id = xasprintf("r%u", ++s->next_run);
    run->conv = conv;
    run->agent = xstrdup(agent->name);
    run->max_turns = team_max_turns(s->team, agent);
    run->started_ms = clock_now_ms();
    run->first_new = first_new;
    run->first_entry = conv->entries.len;
    run->response_format = response_format ? cJSON_Duplicate(response_format, 1) : NULL;
    vec_init(&run->calls, pending_call_free);
    vec_push(&s->runs, run);
    conv->runs_in_flight++;

    run_add_context(run, fields);
    event_emit(&s->events, "run.started", fields);
    run_next_turn(run);
    return run;
}

void runner_reap(struct session *s)
{
    for (size_t i = 0; i < s->runs.len;) {
        struct run *run = s->runs.items[i];
        if (run->state == RUN_ENDED) {
            vec_remove(&s->runs, i);
            run_free(run);
            continue;
        }
        i++;
    }
}

bool session_confirm(struct session *s, const char *tool_call_id, bool allow, char **error)
{
    bool found = false;

    for (size_t i = 0; i < s->runs.len; i++) {
        struct run *run = s->runs.items[i];
        struct tool_confirmation *answers;
        size_t n = 0;
        bool all_answered = true;

        if (run->state != RUN_PAUSED)
            continue;
        for (size_t k = 0; k < run->calls.len; k++) {
            struct pending_call *pc = run->calls.items[k];
            if (pc->pending && !pc->answer && (!tool_call_id || strcmp(pc->tool_call_id, tool_call_id) == 0)) {
                pc->answer = allow ? 1 : -1;
                found = true;
            }
            if (pc->pending && !pc->answer)
                all_answered = false;
        }
        if (!all_answered)
            continue;
        /* Every call answered: the run goes on with the answers. */
        answers = xcalloc(run->calls.len, sizeof *answers);
        for (size_t k = 0; k < run->calls.len; k++) {
            struct pending_call *pc = run->calls.items[k];
            if (pc->pending)
                answers[n++] = (struct tool_confirmation){pc->tool_call_id, pc->answer > 0};
        }
        run->state = RUN_ACTIVE;
        run->first_new = run->conv->entries.len;
        /* The answers point into run->calls: send first, then clear. */
        run_turn(run, answers, n);
        free(answers);
        if (run->state != RUN_ENDED)
            vec_truncate(&run->calls, 0);
    }
    if (!found)
        *error = tool_call_id ? xasprintf("no function call with id \"%s\" waits for confirmation", tool_call_id)
                              : xstrdup("no function call waits for confirmation");
    return found;
}

static size_t count_runs(const struct session *s, enum run_state state)
{
    size_t n = 0;
    for (size_t i = 0; i < s->runs.len; i++) {
        const struct run *run = s->runs.items[i];
        n += run->state == state;
    }
    return n;
}

size_t session_runs_waiting(const struct session *s)
{
    return count_runs(s, RUN_PAUSED);
}

size_t session_runs_in_flight(const struct session *s)
{
    return count_runs(s, RUN_ACTIVE);
}

void session_cancel_runs(struct session *s, const char *why)
{
    for (size_t i = 0; i < s->runs.len; i++)
        run_cancel(s->runs.items[i], why);
}
