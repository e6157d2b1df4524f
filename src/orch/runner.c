#include "config.h"

#include "orch/runner.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/xalloc.h"
#include "orch/debug.h"
#include "orch/stats.h"
#include "tools/function.h"
#include "tools/mcp.h"

enum run_state {
    RUN_ACTIVE,
    RUN_PAUSED, /* waits for the user: /allow or /deny, or the debugger's commands */
    RUN_ENDED,  /* waiting to be reaped */
};

/* Why a paused run waits. */
enum pause_kind {
    PAUSE_CONFIRM,  /* function calls wait for /allow or /deny */
    PAUSE_STEP,     /* before a request: step mode or an agent breakpoint */
    PAUSE_TOOL,     /* after a built-in tool ran */
    PAUSE_FUNCTION, /* before function calls run */
    PAUSE_HANDOFF,  /* before the next agent gets control */
    PAUSE_ERROR,    /* instead of failing */
};

/* Where a turn's end goes on from, after a stop. */
enum turn_stage { AT_TOOLS, AT_CONFIRM, AT_FUNCTION_BREAK, AT_FUNCTIONS, AT_HANDOFF_BREAK, AT_HANDOFF };

/* Who asks the user before a function call runs. */
enum ask {
    ASK_NONE,
    ASK_SERVER, /* the server holds the call until it has the answer (Mistral's requires_confirmation) */
    ASK_LOCAL,  /* agentdeck asks before it runs a function the profile does not mark "auto" */
};

struct pending_call {
    struct run *run;
    char *tool_call_id;
    char *name;
    char *arguments;
    struct function_run *process; /* NULL once it reported */
    uint64_t report_timer;        /* reports a denial, or a function the profile lacks */
    enum ask ask;                 /* whether it waits for confirmation, and whose */
    struct mcp_call *mcp;         /* an MCP tool's call; NULL once it reported */
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
    enum pause_kind pause;  /* when RUN_PAUSED */
    enum turn_stage resume; /* PAUSE_TOOL, _FUNCTION, _HANDOFF: where to go on */
    char *error;            /* PAUSE_ERROR: the failure held back */
    bool continuing;        /* /continue: no more step-mode stops */
    bool handoff_by_marker; /* handoff_to comes from a HANDOFF: line */
    char *turn_agent;       /* the agent this turn's request went to (for /usage) */
    int64_t turn_sent_ms;   /* when it went */
    int64_t turn_first_ms;  /* how long its first piece took; -1: none yet */
    bool resuming;          /* the next request goes on with one a crash cut off */
    char *resume_entry;     /* ... whose reply was cut in the middle, with this id */
    uint64_t retry_timer;   /* a retried run that had its reply ends from the loop */
};

static void run_next_turn(struct run *run);
static void run_proceed(struct run *run, enum turn_stage from);
static bool must_ask(const struct session *s, const char *name);

static void pending_call_free(void *item)
{
    struct pending_call *pc = item;
    function_run_cancel(pc->process);
    if (pc->report_timer)
        loop_timer_cancel(pc->run->s->loop, pc->report_timer);
    mcp_call_cancel(pc->mcp);
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
    if (run->retry_timer)
        loop_timer_cancel(run->s->loop, run->retry_timer);
    mcp_hub_unwait(run->s->mcp, run);
    vec_fini(&run->calls);
    free(run->id);
    free(run->agent);
    free(run->handoff_to);
    free(run->resume_entry);
    free(run->error);
    free(run->turn_agent);
    cJSON_Delete(run->response_format);
    free(run);
}

const char *run_id_of(const struct run *run)
{
    return run->id;
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

/* Ends the run; it stays in s->runs until runner_reap(). */
static void run_end(struct run *run, const char *type, const char *message)
{
    cJSON *fields = cJSON_CreateObject();
    struct agent *agent;

    if (run->state == RUN_ENDED)
        return;
    run->state = RUN_ENDED;
    mcp_hub_unwait(run->s->mcp, run);
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
    stats_run_ended(run->s, run->agent);

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

/* The first piece of a turn's answer has come. */
static void note_first_piece(struct run *run)
{
    if (run->turn_first_ms < 0)
        run->turn_first_ms = clock_now_ms() - run->turn_sent_ms;
}

/* The turn's request ended: /usage counts it for the agent it went to. */
static void note_turn_end(struct run *run, const struct usage *usage, bool failed)
{
    stats_request(run->s, run->turn_agent, usage, clock_now_ms() - run->turn_sent_ms, run->turn_first_ms, failed);
}

static void on_delta(void *ud, const char *agent, const char *entry_id, const char *text)
{
    struct run *run = ud;
    cJSON *fields;

    note_first_piece(run);
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

    note_first_piece(run);
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
        if (e->confirmation && strcmp(e->confirmation, "pending") == 0)
            pc->ask = ASK_SERVER;
        else if (!e->confirmation && must_ask(run->s, e->name))
            pc->ask = ASK_LOCAL;
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

bool session_always_allowed(const struct session *s, const char *name)
{
    for (size_t i = 0; i < s->always_allowed.len; i++) {
        if (strcmp(s->always_allowed.items[i], name) == 0)
            return true;
    }
    return false;
}

/* Whether the user must allow a call of function name before it runs: a
 * function of the profile that is not marked "auto", when --yes was not
 * given and the user did not allow it for the session (/allow --always).
 * A name the profile lacks is not asked about: the call fails at once. */
static bool must_ask(const struct session *s, const char *name)
{
    const struct function_def *fn = name ? team_find_function(s->team, name) : NULL;
    return fn && !fn->auto_allow && !s->allow_functions && !session_always_allowed(s, name);
}

/* Adds a function.result entry saying that the user denied the call. */
static void add_denial(struct run *run, const struct pending_call *pc)
{
    struct entry *e = entry_new(ENTRY_FUNCTION_RESULT, run->agent);
    e->tool_call_id = xstrdup(pc->tool_call_id);
    e->result = xasprintf("The user denied the call to %s.", pc->name);
    conversation_append_entry(run->conv, e);
    session_emit_entry(run->s, run->conv, run, e);
}

/* The turn's function calls all have their results: the next agent takes
 * over if the turn also handed off, else the same agent answers them. */
static void after_function_calls(struct run *run)
{
    vec_truncate(&run->calls, 0);
    if (run->handoff_to)
        run_proceed(run, AT_HANDOFF_BREAK);
    else
        run_next_turn(run);
}

/* One call of the turn has its result entry. */
static void call_finished(struct run *run)
{
    if (--run->calls_left == 0 && run->state == RUN_ACTIVE)
        after_function_calls(run);
}

static void on_function_done(void *ud, bool ok, const char *output)
{
    struct pending_call *pc = ud;
    struct run *run = pc->run;
    struct entry *e = entry_new(ENTRY_FUNCTION_RESULT, run->agent);

    pc->process = NULL;
    pc->mcp = NULL;
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
    call_finished(run);
}

static void report_missing_function(struct loop *loop, void *ud)
{
    struct pending_call *pc = ud;
    pc->report_timer = 0;
    char *message = xasprintf("no local function named \"%s\" (add it to the profile's functions)", pc->name);
    on_function_done(pc, false, message);
    free(message);
}

static void report_denial(struct loop *loop, void *ud)
{
    struct pending_call *pc = ud;
    pc->report_timer = 0;
    add_denial(pc->run, pc);
    call_finished(pc->run);
}

/* Runs the turn's calls; those the user denied get a result that says so. */
static void run_function_calls(struct run *run)
{
    run->first_new = run->conv->entries.len;
    run->calls_left = run->calls.len;
    for (size_t i = 0; i < run->calls.len; i++) {
        struct pending_call *pc = run->calls.items[i];
        const struct function_def *fn = team_find_function(run->s->team, pc->name);
        /* Reported from the loop: a callback here would free run->calls under us. */
        if (pc->ask == ASK_LOCAL && pc->answer < 0) {
            pc->report_timer = loop_timer_add(run->s->loop, 0, report_denial, pc);
            continue;
        }
        if (!fn && mcp_hub_claims(run->s->mcp, pc->name)) {
            /* SERVER__TOOL: the MCP server runs it; progress events name the call. */
            cJSON *context = cJSON_CreateObject();
            run_add_context(run, context);
            cJSON_AddStringToObject(context, "tool_call_id", pc->tool_call_id);
            pc->mcp = mcp_call_start(run->s->mcp, pc->name, pc->arguments, context, on_function_done, pc);
            cJSON_Delete(context);
            continue;
        }
        if (!fn) {
            pc->report_timer = loop_timer_add(run->s->loop, 0, report_missing_function, pc);
            continue;
        }
        pc->process = function_run_start(run->s->loop, fn, pc->arguments, on_function_done, pc);
    }
}

/* Says how the user answered a call that waited (confirmation.answered). */
static void emit_answer(struct run *run, const struct pending_call *pc, bool always)
{
    cJSON *fields = cJSON_CreateObject();
    run_add_context(run, fields);
    cJSON_AddStringToObject(fields, "name", pc->name);
    cJSON_AddStringToObject(fields, "tool_call_id", pc->tool_call_id);
    cJSON_AddStringToObject(fields, "answer", pc->answer > 0 ? "allow" : "deny");
    if (always)
        cJSON_AddBoolToObject(fields, "always", true);
    event_emit(&run->s->events, "confirmation.answered", fields);
}

static void run_confirmed(struct run *run);

/* Stops the run until the user answers each call that needs confirming.
 * Calls of a function the user allowed for the session are answered at
 * once. Returns whether the run went on elsewhere (stopped, or answered). */
static bool pause_for_confirmations(struct run *run)
{
    bool waits = false, answered = false;

    for (size_t i = 0; i < run->calls.len; i++) {
        struct pending_call *pc = run->calls.items[i];
        cJSON *fields;
        if (pc->ask == ASK_NONE || pc->answer)
            continue;
        if (session_always_allowed(run->s, pc->name)) {
            pc->answer = 1;
            emit_answer(run, pc, true);
            answered = true;
            continue;
        }
        waits = true;
        fields = cJSON_CreateObject();
        run_add_context(run, fields);
        cJSON_AddStringToObject(fields, "reason", "confirmation");
        cJSON_AddStringToObject(fields, "name", pc->name);
        cJSON_AddStringToObject(fields, "arguments", pc->arguments ? pc->arguments : "{}");
        cJSON_AddStringToObject(fields, "tool_call_id", pc->tool_call_id);
        cJSON_AddStringToObject(fields, "asked_by", pc->ask == ASK_SERVER ? "server" : "agentdeck");
        cJSON_AddStringToObject(fields, "message", "waiting for /allow, /allow --always or /deny");
        event_emit(&run->s->events, "breakpoint.hit", fields);
    }
    if (waits) {
        run->state = RUN_PAUSED;
        run->pause = PAUSE_CONFIRM;
        return true;
    }
    if (answered)
        run_confirmed(run);
    return answered;
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

/* ---- stops: step mode and breakpoints (orch/debug.h) ---------------------- */

static const char *const pause_names[] = {"confirmation", "step", "tool", "function", "handoff", "error"};

/* Stops the run: breakpoint.hit says why and what is about to happen. */
static void run_pause(struct run *run, enum pause_kind kind, const struct breakpoint *b, enum turn_stage resume,
                      const char *message)
{
    cJSON *fields = cJSON_CreateObject();
    const struct agent *agent = team_find_agent(run->s->team, run->agent);

    run->state = RUN_PAUSED;
    run->pause = kind;
    run->resume = resume;
    run_add_context(run, fields);
    cJSON_AddStringToObject(fields, "reason", pause_names[kind]);
    if (b) {
        char *spec = breakpoint_describe(b);
        cJSON_AddNumberToObject(fields, "breakpoint", b->id);
        cJSON_AddStringToObject(fields, "spec", spec);
        free(spec);
    }
    cJSON_AddStringToObject(fields, "message", message);
    if (kind == PAUSE_STEP && agent) {
        cJSON_AddStringToObject(fields, "model", agent->model);
        cJSON_AddItemToObject(fields, "inputs", conversation_entries_json(run->conv, run->first_new, false));
        cJSON_AddItemToObject(fields, "tools", cJSON_Duplicate(agent->tools, 1));
        cJSON_AddItemToObject(fields, "completion_args", cJSON_Duplicate(agent->completion_args, 1));
    } else if (kind == PAUSE_FUNCTION) {
        cJSON *calls = cJSON_AddArrayToObject(fields, "calls");
        for (size_t i = 0; i < run->calls.len; i++) {
            const struct pending_call *pc = run->calls.items[i];
            cJSON *call = cJSON_CreateObject();
            cJSON_AddStringToObject(call, "name", pc->name);
            cJSON_AddStringToObject(call, "arguments", pc->arguments ? pc->arguments : "{}");
            cJSON_AddStringToObject(call, "tool_call_id", pc->tool_call_id);
            cJSON_AddItemToArray(calls, call);
        }
    } else if (kind == PAUSE_HANDOFF) {
        cJSON_AddStringToObject(fields, "previous_agent", run->agent);
        cJSON_AddStringToObject(fields, "next_agent", run->handoff_to);
        cJSON_AddItemToObject(fields, "context", conversation_entries_json(run->conv, 0, true));
    }
    if (kind == PAUSE_STEP && run->first_new == run->conv->entries.len)
        cJSON_AddItemToObject(fields, "context", conversation_entries_json(run->conv, 0, true)); /* a handoff's turn */
    event_emit(&run->s->events, "breakpoint.hit", fields);
}

/* A built-in tool of this turn that a breakpoint stops at, or NULL. */
static const struct breakpoint *tool_hit(const struct run *run)
{
    for (size_t i = run->turn_start; i < run->conv->entries.len; i++) {
        const struct entry *e = run->conv->entries.items[i];
        const struct breakpoint *b;
        if (e->type == ENTRY_TOOL_EXECUTION && (b = debug_match(run->s, BREAK_TOOL, e->name)))
            return b;
    }
    return NULL;
}

static const struct breakpoint *function_hit(const struct run *run)
{
    for (size_t i = 0; i < run->calls.len; i++) {
        const struct pending_call *pc = run->calls.items[i];
        const struct breakpoint *b = debug_match(run->s, BREAK_FUNCTION, pc->name);
        if (b)
            return b;
    }
    return NULL;
}

/* The next agent takes control: a handoff the backend left to agentdeck,
 * or a text marker's. */
static void take_handoff(struct run *run)
{
    char *next = run->handoff_to;

    run->handoff_to = NULL;
    if (run->handoff_by_marker) {
        run->handoff_by_marker = false;
        marker_handoff_to(run, next);
        free(next);
        return;
    }
    free(run->agent);
    run->agent = next;
    free(run->conv->agent);
    run->conv->agent = xstrdup(run->agent);
    run->first_new = run->conv->entries.len;
    run_next_turn(run);
}

/* The end of a turn, from stage on: stops, function calls, handoffs, or
 * the end of the run. */
static void run_proceed(struct run *run, enum turn_stage from)
{
    const struct breakpoint *b;
    const char *next;

    if (from <= AT_TOOLS && (b = tool_hit(run))) {
        run_pause(run, PAUSE_TOOL, b, AT_CONFIRM, "a built-in tool ran: /next goes on");
        return;
    }
    if (run->calls.len) {
        if (from <= AT_CONFIRM && pause_for_confirmations(run))
            return;
        if (from <= AT_FUNCTION_BREAK && (b = function_hit(run))) {
            run_pause(run, PAUSE_FUNCTION, b, AT_FUNCTIONS,
                      "/next runs the calls, /edit ARGUMENTS changes the first one's, /skip denies them");
            return;
        }
        run_function_calls(run);
        return;
    }
    if (!run->handoff_to && (next = marker_handoff(run, run->turn_start))) {
        run->handoff_to = xstrdup(next);
        run->handoff_by_marker = true;
    }
    if (run->handoff_to) {
        if (from <= AT_HANDOFF_BREAK && (b = debug_match(run->s, BREAK_HANDOFF, NULL))) {
            run_pause(run, PAUSE_HANDOFF, b, AT_HANDOFF,
                      "/next lets the handoff go on, /redirect AGENT sends it elsewhere, /skip or /abort stops it");
            return;
        }
        take_handoff(run);
        return;
    }
    run_end(run, "run.done", NULL);
}

static void on_done(void *ud, const struct usage *usage)
{
    struct run *run = ud;

    run->call = NULL;
    note_turn_end(run, usage, false);
    usage_add(&run->usage, usage);
    run_proceed(run, AT_TOOLS);
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
    cJSON *span;

    run_add_context(run, fields);
    /* The first server conversation, or another agent taking the
     * conversation on: to the user it stays one. Resume reads it back. */
    cJSON_AddStringToObject(fields, "server_conversation", remote_id);
    if (parent)
        cJSON_AddStringToObject(fields, "server_parent", parent);
    cJSON_AddNumberToObject(fields, "carried", (double)carried);
    span = cJSON_AddObjectToObject(fields, "span");
    cJSON_AddNumberToObject(span, "local", (double)run->conv->remote_span.first);
    cJSON_AddNumberToObject(span, "server", (double)run->conv->remote_span.carried);
    event_emit(&run->s->events, "conversation.started", fields);
}

static void on_error(void *ud, const char *message)
{
    struct run *run = ud;
    const struct breakpoint *b = debug_match(run->s, BREAK_ERROR, NULL);

    run->call = NULL;
    note_turn_end(run, NULL, true);
    if (!b) {
        run_fail(run, message);
        return;
    }
    free(run->error);
    run->error = xstrdup(message);
    run_pause(run, PAUSE_ERROR, b, AT_TOOLS, message);
}

/* Sends a turn: the new entries, and the answers to confirmations (or none). */
static void run_turn(struct run *run, const struct tool_confirmation *confirmations, size_t n);

static void run_next_turn(struct run *run)
{
    run_turn(run, NULL, 0);
}

static void run_send(struct run *run, const struct agent *agent, const struct tool_confirmation *confirmations,
                     size_t n);

/* The MCP servers the agent takes tools from have settled: try the turn again. */
static void on_mcp_settled(void *ud)
{
    run_turn(ud, NULL, 0);
}

static void run_turn(struct run *run, const struct tool_confirmation *confirmations, size_t n)
{
    const struct agent *agent = team_find_agent(run->s->team, run->agent);

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
    /* Its MCP tools first: a turn sent while a server starts would lack them. */
    if (!n && mcp_hub_wait(run->s->mcp, agent->mcp, on_mcp_settled, run))
        return;
    if (!n) {
        const struct breakpoint *b = debug_match(run->s, BREAK_AGENT, run->agent);
        if (b || (run->s->step_mode && !run->continuing)) {
            run_pause(run, PAUSE_STEP, b, AT_TOOLS,
                      "/next sends it, /continue runs on, /edit TEXT changes the input, /skip drops it, /abort ends "
                      "the run");
            return;
        }
    }
    run_send(run, agent, confirmations, n);
}

/* Sends the turn's request. */
static void run_send(struct run *run, const struct agent *agent, const struct tool_confirmation *confirmations,
                     size_t n)
{
    struct backend_reply reply = {run, on_delta, on_entry, on_done, on_error, on_warning, on_remote_started};
    struct backend_request req;

    run->turns++;
    run->turn_start = run->conv->entries.len;
    free(run->turn_agent);
    run->turn_agent = xstrdup(agent->name);
    run->turn_sent_ms = clock_now_ms();
    run->turn_first_ms = -1;
    req = (struct backend_request){run->s->team,
                                   agent,
                                   run->conv,
                                   run->first_new,
                                   confirmations,
                                   n,
                                   run->response_format,
                                   debug_wants_client_handoffs(run->s),
                                   run->id,
                                   run->resuming,
                                   run->resuming ? run->resume_entry : NULL};
    run->resuming = false;
    run->call = backend_request(run->s->backend, &req, &reply);
}

/* A new run, registered and announced with run.started (retry_of: the
 * run a crash cut off that it continues, or NULL). */
static struct run *run_begin(struct session *s, struct conversation *conv, const struct agent *agent, size_t first_new,
                             const cJSON *response_format, const char *retry_of)
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
    session_note_run(s, conv, run->id);

    run_add_context(run, fields);
    if (retry_of)
        cJSON_AddStringToObject(fields, "retry_of", retry_of);
    event_emit(&s->events, "run.started", fields);
    return run;
}

struct run *run_start(struct session *s, struct conversation *conv, const struct agent *agent, size_t first_new,
                      const cJSON *response_format)
{
    struct run *run = run_begin(s, conv, agent, first_new, response_format, NULL);
    run_next_turn(run);
    return run;
}

static void on_retry_timer(struct loop *loop, void *ud)
{
    struct run *run = ud;
    run->retry_timer = 0;
    if (run->state == RUN_ACTIVE)
        run_proceed(run, AT_TOOLS);
}

static bool is_input(const struct entry *e)
{
    return e->type == ENTRY_MESSAGE_INPUT || e->type == ENTRY_FUNCTION_RESULT;
}

/* The calls of the last turn that have no result yet, as pending calls of
 * run; returns the index just after those calls, or 0 when the
 * conversation does not end with calls (and their results). */
static size_t unanswered_calls(struct run *run)
{
    const struct vec *entries = &run->conv->entries;
    size_t results = entries->len, calls;

    while (results > 0 && ((struct entry *)entries->items[results - 1])->type == ENTRY_FUNCTION_RESULT)
        results--;
    calls = results;
    while (calls > 0 && ((struct entry *)entries->items[calls - 1])->type == ENTRY_FUNCTION_CALL)
        calls--;
    if (calls == results)
        return 0;
    for (size_t i = calls; i < results; i++) {
        const struct entry *call = entries->items[i];
        bool answered = false;
        struct pending_call *pc;
        for (size_t k = results; k < entries->len && !answered; k++) {
            const struct entry *e = entries->items[k];
            answered = e->tool_call_id && call->tool_call_id && strcmp(e->tool_call_id, call->tool_call_id) == 0;
        }
        if (answered)
            continue;
        pc = xcalloc(1, sizeof *pc);
        pc->run = run;
        pc->tool_call_id = xstrdup(call->tool_call_id);
        pc->name = xstrdup(call->name);
        pc->arguments = xstrdup(call->arguments);
        vec_push(&run->calls, pc);
    }
    return results;
}

struct run *run_retry(struct session *s, struct conversation *conv, size_t first_entry, const cJSON *response_format,
                      const char *retry_of, const char *streamed, char **error)
{
    const struct agent *agent = team_find_agent(s->team, conv->agent);
    const struct vec *entries = &conv->entries;
    const struct entry *last = vec_last(entries);
    struct run *run;
    size_t after_calls, first_input;

    if (!agent) {
        *error = xasprintf("%s cannot go on: agent \"%s\" no longer exists", retry_of, conv->agent);
        return NULL;
    }
    if (!last) {
        *error = xasprintf("%s cannot go on: %s has no entries", retry_of, conv->id);
        return NULL;
    }
    run = run_begin(s, conv, agent, entries->len, response_format, retry_of);
    run->first_entry = first_entry < entries->len ? first_entry : entries->len;
    after_calls = unanswered_calls(run);
    if (run->calls.len) {
        /* Calls whose results the crash lost run again; then the turn
         * sends every result of the calls, old and new. */
        run_function_calls(run);
        run->first_new = after_calls;
        return run;
    }
    if (last->type == ENTRY_MESSAGE_OUTPUT) {
        /* The reply had come: the run ends as it would have, from the
         * loop, once the caller watches it. */
        run->turn_start = entries->len - 1;
        run->retry_timer = loop_timer_add(s->loop, 0, on_retry_timer, run);
        return run;
    }
    if (last->type == ENTRY_AGENT_HANDOFF && last->execution && strcmp(last->execution, "server") != 0) {
        /* A handoff agentdeck carries out: the next agent's turn. */
        run_next_turn(run);
        return run;
    }
    /* The request was cut off: its inputs are the latest ones (none after
     * a tool or a handoff the server ran). The backend picks up what its
     * server finished, if it keeps conversations. */
    first_input = after_calls ? after_calls : entries->len;
    while (!after_calls && first_input > 0 && is_input(entries->items[first_input - 1]))
        first_input--;
    run->first_new = first_input;
    run->resuming = true;
    run->resume_entry = streamed ? xstrdup(streamed) : NULL;
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

/* Every call of the turn that asked has its answer: the run goes on. The
 * server's calls go back to it as tool_confirmations; agentdeck's own run,
 * or get a result saying they were denied. */
static void run_confirmed(struct run *run)
{
    struct tool_confirmation *answers = xcalloc(run->calls.len + 1, sizeof *answers);
    size_t n = 0;

    for (size_t k = 0; k < run->calls.len; k++) {
        struct pending_call *pc = run->calls.items[k];
        if (pc->ask == ASK_SERVER)
            answers[n++] = (struct tool_confirmation){pc->tool_call_id, pc->answer > 0};
    }
    run->state = RUN_ACTIVE;
    if (n) {
        run->first_new = run->conv->entries.len;
        /* The answers point into run->calls: send first, then clear. */
        run_turn(run, answers, n);
        if (run->state != RUN_ENDED)
            vec_truncate(&run->calls, 0);
    } else {
        run_proceed(run, AT_FUNCTION_BREAK);
    }
    free(answers);
}

/* Whether call pc of a run stopped for confirmations still waits for an answer. */
static bool call_waits(const struct run *run, const struct pending_call *pc)
{
    return run->state == RUN_PAUSED && run->pause == PAUSE_CONFIRM && pc->ask != ASK_NONE && !pc->answer;
}

bool session_confirm(struct session *s, const char *tool_call_id, bool allow, bool always, char **error)
{
    bool found = false;

    for (size_t i = 0; i < s->runs.len; i++) {
        struct run *run = s->runs.items[i];
        for (size_t k = 0; k < run->calls.len; k++) {
            struct pending_call *pc = run->calls.items[k];
            if (!call_waits(run, pc) || (tool_call_id && strcmp(pc->tool_call_id, tool_call_id) != 0))
                continue;
            pc->answer = allow ? 1 : -1;
            found = true;
            emit_answer(run, pc, allow && always);
            if (allow && always && !session_always_allowed(s, pc->name))
                vec_push(&s->always_allowed, xstrdup(pc->name));
        }
    }
    if (!found) {
        *error = tool_call_id ? xasprintf("no function call with id \"%s\" waits for confirmation", tool_call_id)
                              : xstrdup("no function call waits for confirmation");
        return false;
    }
    /* Allowed for the session: the other calls of those functions too. */
    for (size_t i = 0; allow && always && i < s->runs.len; i++) {
        struct run *run = s->runs.items[i];
        for (size_t k = 0; k < run->calls.len; k++) {
            struct pending_call *pc = run->calls.items[k];
            if (call_waits(run, pc) && session_always_allowed(s, pc->name)) {
                pc->answer = 1;
                emit_answer(run, pc, true);
            }
        }
    }
    /* Runs whose calls are all answered go on. */
    for (size_t i = 0; i < s->runs.len; i++) {
        struct run *run = s->runs.items[i];
        bool all_answered = run->state == RUN_PAUSED && run->pause == PAUSE_CONFIRM;
        for (size_t k = 0; all_answered && k < run->calls.len; k++)
            all_answered = !call_waits(run, run->calls.items[k]);
        if (all_answered)
            run_confirmed(run);
    }
    return true;
}

bool session_waiting_call(const struct session *s, struct waiting_call *out)
{
    for (size_t i = 0; i < s->runs.len; i++) {
        const struct run *run = s->runs.items[i];
        for (size_t k = 0; k < run->calls.len; k++) {
            const struct pending_call *pc = run->calls.items[k];
            if (!call_waits(run, pc))
                continue;
            *out = (struct waiting_call){
                run->id, run->conv->id, run->agent, pc->name, pc->arguments ? pc->arguments : "{}", pc->tool_call_id};
            return true;
        }
    }
    return false;
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

/* ---- the debugger's commands ----------------------------------------------- */

/* The run a debugger command acts on: run_id, or the only one stopped. */
static struct run *stopped_run(struct session *s, const char *run_id, char **error)
{
    struct run *found = NULL;

    for (size_t i = 0; i < s->runs.len; i++) {
        struct run *run = s->runs.items[i];
        if (run->state != RUN_PAUSED || run->pause == PAUSE_CONFIRM)
            continue;
        if (run_id && strcmp(run->id, run_id) != 0)
            continue;
        if (!found)
            found = run;
    }
    if (!found)
        *error = run_id ? xasprintf("run %s is not stopped at a breakpoint", run_id)
                        : xstrdup("no run is stopped at a breakpoint");
    return found; /* the oldest when several are: runs are kept in the order they started */
}

bool session_debug_resume(struct session *s, const char *run_id, enum debug_action action, char **error)
{
    struct run *run = stopped_run(s, run_id, error);
    const struct agent *agent;

    if (!run)
        return false;
    if (action == DEBUG_ABORT) {
        run_cancel(run, "aborted at a breakpoint");
        return true;
    }
    if (action == DEBUG_CONTINUE)
        run->continuing = true;
    run->state = RUN_ACTIVE;
    switch (run->pause) {
    case PAUSE_STEP:
        if (action == DEBUG_SKIP) {
            run_cancel(run, "the request was skipped at a breakpoint");
            break;
        }
        if ((agent = team_find_agent(s->team, run->agent)))
            run_send(run, agent, NULL, 0);
        else
            run_turn(run, NULL, 0); /* says the agent is gone */
        break;
    case PAUSE_FUNCTION:
        if (action == DEBUG_SKIP) {
            /* Denied: each call gets a result that says so, and the agent goes on. */
            run->first_new = run->conv->entries.len;
            for (size_t i = 0; i < run->calls.len; i++)
                add_denial(run, run->calls.items[i]);
            after_function_calls(run);
            break;
        }
        run_proceed(run, run->resume);
        break;
    case PAUSE_HANDOFF:
        if (action == DEBUG_SKIP) {
            free(run->handoff_to);
            run->handoff_to = NULL;
            run->handoff_by_marker = false;
            run_end(run, "run.done", NULL);
            break;
        }
        run_proceed(run, run->resume);
        break;
    case PAUSE_TOOL:
        run_proceed(run, run->resume);
        break;
    case PAUSE_ERROR:
        if (action == DEBUG_SKIP) {
            char *message = run->error;
            run->error = NULL;
            run_fail(run, message);
            free(message);
            break;
        }
        run->turns--; /* the same turn, again */
        run_turn(run, NULL, 0);
        break;
    case PAUSE_CONFIRM:
        break;
    }
    return true;
}

/* What /edit changes at run's stop: the text (*field, a string the entry
 * or call owns) and the entry that holds it (may be NULL for a call whose
 * entry is gone). NULL field with *error set when there is nothing to edit. */
static char **edit_target(struct run *run, struct entry **entry, char **error)
{
    *entry = NULL;
    if (run->pause == PAUSE_STEP) {
        for (size_t i = run->conv->entries.len; i > run->first_new; i--) {
            struct entry *e = run->conv->entries.items[i - 1];
            if (e->type == ENTRY_MESSAGE_INPUT || e->type == ENTRY_FUNCTION_RESULT) {
                *entry = e;
                return e->type == ENTRY_MESSAGE_INPUT ? &e->content : &e->result;
            }
        }
        *error = xstrdup("the request has no new input to edit");
        return NULL;
    }
    if (run->pause == PAUSE_FUNCTION && run->calls.len) {
        struct pending_call *pc = run->calls.items[0];
        for (size_t i = 0; i < run->conv->entries.len; i++) {
            struct entry *e = run->conv->entries.items[i];
            if (e->type == ENTRY_FUNCTION_CALL && e->tool_call_id && strcmp(e->tool_call_id, pc->tool_call_id) == 0)
                *entry = e;
        }
        return &pc->arguments;
    }
    *error = xasprintf("nothing to edit at a %s stop%s", pause_names[run->pause],
                       run->pause == PAUSE_HANDOFF ? " (/redirect AGENT sends the handoff elsewhere)" : "");
    return NULL;
}

char *session_debug_editable(struct session *s, const char *run_id, char **error)
{
    struct run *run = stopped_run(s, run_id, error);
    struct entry *entry;
    char **field = run ? edit_target(run, &entry, error) : NULL;

    return field ? xstrdup(*field ? *field : "") : NULL;
}

bool session_debug_edit(struct session *s, const char *run_id, const char *text, char **error)
{
    struct run *run = stopped_run(s, run_id, error);
    struct entry *target;
    char **field = run ? edit_target(run, &target, error) : NULL;
    cJSON *fields;

    if (!field)
        return false;
    if (run->pause == PAUSE_FUNCTION) {
        const struct pending_call *pc = run->calls.items[0];
        cJSON *check = cJSON_Parse(text);
        bool object = cJSON_IsObject(check);
        cJSON_Delete(check);
        if (!object) {
            *error = xasprintf("the arguments of %s must be a JSON object, like {\"year\": \"2023\"}", pc->name);
            return false;
        }
        if (target) {
            free(target->arguments);
            target->arguments = xstrdup(text);
        }
    }
    free(*field);
    *field = xstrdup(text);
    fields = cJSON_CreateObject();
    run_add_context(run, fields);
    if (target) {
        cJSON_AddStringToObject(fields, "entry_id", target->id);
        cJSON_AddStringToObject(fields, "entry_type", entry_type_name(target->type));
    }
    cJSON_AddStringToObject(fields, "text", text);
    event_emit(&s->events, "entry.edited", fields);
    return true;
}

bool session_debug_redirect(struct session *s, const char *run_id, const char *agent, char **error)
{
    struct run *run = stopped_run(s, run_id, error);
    struct entry *e;

    if (!run)
        return false;
    if (run->pause != PAUSE_HANDOFF) {
        *error = xstrdup("/redirect works at a handoff stop (/break handoff)");
        return false;
    }
    if (!team_find_agent(s->team, agent)) {
        *error = xasprintf("no agent named \"%s\"", agent);
        return false;
    }
    /* The user's choice is an entry of its own: who was meant, who goes on. */
    e = entry_new(ENTRY_AGENT_HANDOFF, run->agent);
    e->previous_agent = xstrdup(run->handoff_to);
    e->next_agent = xstrdup(agent);
    e->execution = xstrdup("user");
    conversation_append_entry(run->conv, e);
    session_emit_entry(s, run->conv, run, e);
    free(run->handoff_to);
    run->handoff_to = xstrdup(agent);
    run->handoff_by_marker = false; /* the marker's entry would name the first choice */
    run->state = RUN_ACTIVE;
    take_handoff(run);
    return true;
}
