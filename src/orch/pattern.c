#include "config.h"

#include "orch/pattern.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/xalloc.h"
#include "orch/resume.h"
#include "orch/runner.h"

#define DELEGATE_MAX_SUBTASKS 16
#define DECOMPOSE_MAX_SUBTASKS 8
#define DECOMPOSE_MAX_DEPTH 8

struct pattern;

/* One unit of a pattern: a run of an agent, and what follows it. */
struct task {
    struct pattern *p;
    char *step; /* "2", "cleaner", "s1", "1.2": names it in the events */
    char *agent;
    char *input; /* the text it was given */
    struct conversation *conv;
    struct run *run;
    char *run_id;   /* its latest run's id, once it has one */
    uint64_t timer; /* its time limit, or 0 */
    bool started, finished, failed;
    char *output; /* when done */
    char *error;  /* when failed */
    /* delegate: the subtask's id, worker task and dependencies */
    char *id;
    struct vec deps; /* char * */
    /* decompose: the tree */
    struct task *parent;
    int level;
    size_t children, children_left;
    bool combining; /* the decomposer is combining its children's results */
    bool exec;      /* the executor's run for its parent node */
    void (*then)(struct task *t);
    /* resumed: a step that had yet to start, until /retry starts it */
    char *parked_conv; /* the conversation it runs in, or NULL for a new one */
    cJSON *parked_format;
};

/* A pattern.step event of the journal, for a resumed pattern. */
struct step_record {
    char *step, *status, *run, *conversation;
    bool used; /* met again by the pattern's logic */
};

/* A recorded outcome that a resumed pattern has yet to take in. */
struct replayed {
    struct task *t;
    struct run_fate fate;
};

struct pattern {
    struct session *s;
    char *id;
    char *workflow;
    struct pattern_params params;
    char *text;
    int64_t started_ms;
    struct vec tasks; /* struct task *, owned */
    size_t running;   /* tasks whose run has not ended */
    bool finished;
    bool failing;              /* a failure ends the pattern once its runs end */
    char *failure;             /* why it failed */
    char *output;              /* its answer */
    struct conversation *conv; /* pipeline, route, delegate: the main conversation */
    /* Resumed from the journal: its logic runs again over what it had
     * done, sending nothing and emitting nothing it had emitted. */
    bool replaying;
    struct vec records;  /* struct step_record * */
    struct vec replayed; /* struct replayed *, taken in order */
    run_fate_fn *fate;
    void *fate_ud;
};

static void task_free(void *item)
{
    struct task *t = item;
    if (t->timer)
        loop_timer_cancel(t->p->s->loop, t->timer);
    free(t->step);
    free(t->agent);
    free(t->run_id);
    free(t->input);
    free(t->output);
    free(t->error);
    free(t->id);
    vec_fini(&t->deps);
    free(t->parked_conv);
    cJSON_Delete(t->parked_format);
    free(t);
}

static void step_record_free(void *item)
{
    struct step_record *r = item;
    free(r->step);
    free(r->status);
    free(r->run);
    free(r->conversation);
    free(r);
}

static void replayed_free(void *item)
{
    struct replayed *r = item;
    run_fate_fini(&r->fate);
    free(r);
}

static void pattern_free(void *item)
{
    struct pattern *p = item;
    vec_fini(&p->tasks);
    vec_fini(&p->records);
    vec_fini(&p->replayed);
    pattern_params_fini(&p->params);
    free(p->id);
    free(p->workflow);
    free(p->text);
    free(p->failure);
    free(p->output);
    free(p);
}

void pattern_free_all(struct session *s)
{
    while (s->patterns.len)
        pattern_free(vec_remove(&s->patterns, s->patterns.len - 1));
}

/* ---- events ------------------------------------------------------------- */

static cJSON *pattern_fields(const struct pattern *p)
{
    cJSON *fields = cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "pattern", p->id);
    cJSON_AddStringToObject(fields, "kind", pattern_kind_name(p->params.kind));
    if (p->workflow)
        cJSON_AddStringToObject(fields, "workflow", p->workflow);
    return fields;
}

/* While a resumed pattern replays, whether the journal has this step
 * event already (it is then not emitted again). */
static bool recorded(struct pattern *p, const char *step, const char *status)
{
    for (size_t i = 0; p->replaying && i < p->records.len; i++) {
        struct step_record *r = p->records.items[i];
        if (!r->used && strcmp(r->step, step) == 0 && strcmp(r->status, status) == 0) {
            r->used = true;
            return true;
        }
    }
    return false;
}

static void emit_step(const struct task *t, const char *status, const char *message)
{
    cJSON *fields;

    if (recorded(t->p, t->step, status))
        return;
    fields = pattern_fields(t->p);

    cJSON_AddStringToObject(fields, "step", t->step);
    cJSON_AddStringToObject(fields, "status", status);
    cJSON_AddStringToObject(fields, "agent", t->agent);
    if (t->conv)
        cJSON_AddStringToObject(fields, "conversation", t->conv->id);
    if (t->run_id)
        cJSON_AddStringToObject(fields, "run", t->run_id);
    if (t->p->params.kind == PATTERN_DECOMPOSE) {
        cJSON_AddNumberToObject(fields, "level", t->level);
        if (t->parent)
            cJSON_AddStringToObject(fields, "parent", t->parent->step);
    }
    if (t->deps.len) {
        cJSON *deps = cJSON_AddArrayToObject(fields, "depends_on");
        for (size_t i = 0; i < t->deps.len; i++)
            cJSON_AddItemToArray(deps, cJSON_CreateString(t->deps.items[i]));
    }
    if (message)
        cJSON_AddStringToObject(fields, "message", message);
    event_emit(&t->p->s->events, "pattern.step", fields);
}

/* A note about the pattern that is neither a step nor its end. */
static void emit_note(struct pattern *p, const char *step, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void emit_note(struct pattern *p, const char *step, const char *status, const char *fmt, ...)
{
    cJSON *fields;
    va_list ap;

    if (recorded(p, step, status))
        return;
    fields = pattern_fields(p);
    cJSON_AddStringToObject(fields, "step", step);
    cJSON_AddStringToObject(fields, "status", status);
    va_start(ap, fmt);
    event_emit_message(&p->s->events, "pattern.step", fields, fmt, ap);
    va_end(ap);
}

static void pattern_finish(struct pattern *p)
{
    cJSON *fields = pattern_fields(p);
    const char *status = p->failure ? "failed" : "done";

    if (p->finished)
        return;
    p->finished = true;
    if (p->s->interrupted && p->failure)
        status = "cancelled";
    cJSON_AddStringToObject(fields, "status", status);
    if (p->failure) {
        cJSON_AddStringToObject(fields, "message", p->failure);
        p->s->patterns_failed++;
    }
    if (p->output)
        cJSON_AddStringToObject(fields, "output", p->output);
    if (p->conv)
        cJSON_AddStringToObject(fields, "conversation", p->conv->id);
    cJSON_AddNumberToObject(fields, "steps", (double)p->tasks.len);
    cJSON_AddNumberToObject(fields, "latency_ms", (double)(clock_now_ms() - p->started_ms));
    event_emit(&p->s->events, "pattern.done", fields);
}

/* The pattern fails: it ends once the runs it has going have ended. */
static void pattern_fail(struct pattern *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void pattern_fail(struct pattern *p, const char *fmt, ...)
{
    va_list ap;

    if (!p->failure) {
        va_start(ap, fmt);
        p->failure = xvasprintf(fmt, ap);
        va_end(ap);
    }
    p->failing = true;
    for (size_t i = 0; i < p->tasks.len; i++) {
        struct task *t = p->tasks.items[i];
        if (t->run && !t->finished)
            run_cancel(t->run, "the pattern failed");
    }
    if (p->running == 0)
        pattern_finish(p);
}

/* ---- tasks -------------------------------------------------------------- */

static struct task *task_new(struct pattern *p, const char *step, const char *agent, void (*then)(struct task *t))
{
    struct task *t = xcalloc(1, sizeof *t);
    t->p = p;
    t->step = xstrdup(step);
    t->agent = xstrdup(agent);
    t->then = then;
    vec_init(&t->deps, free);
    vec_push(&p->tasks, t);
    return t;
}

static void on_task_timeout(struct loop *loop, void *ud)
{
    struct task *t = ud;
    char *why = xasprintf("timed out after %g s", t->p->params.timeout_ms / 1000.0);
    t->timer = 0;
    free(t->error);
    t->error = why;
    if (t->run && !t->finished)
        run_cancel(t->run, why);
}

static void on_task_ended(void *ud, const struct run_outcome *o)
{
    struct task *t = ud;
    struct pattern *p = t->p;

    p->running--;
    t->run = NULL;
    t->finished = true;
    if (t->timer) {
        loop_timer_cancel(p->s->loop, t->timer);
        t->timer = 0;
    }
    if (strcmp(o->status, "done") == 0 && o->output) {
        free(t->output);
        t->output = xstrdup(o->output);
        emit_step(t, "done", NULL);
    } else {
        t->failed = true;
        if (!t->error)
            t->error = xstrdup(o->message                       ? o->message
                               : strcmp(o->status, "done") == 0 ? "the run ended without a reply"
                                                                : o->status);
        emit_step(t, "failed", t->error);
    }
    if (p->failing || p->s->interrupted) {
        if (!p->failure)
            p->failure = xstrdup(p->s->interrupted ? "interrupted" : "a step failed");
        p->failing = true;
        if (p->running == 0)
            pattern_finish(p);
        return;
    }
    t->then(t);
}

/* Runs t's agent on text, in conv (NULL: a new conversation), asking for
 * an answer of the JSON shape format where the backend can (may be NULL). */
static void task_replay(struct task *t, struct conversation *conv, const char *text, const cJSON *format);

static void task_run_as(struct task *t, struct conversation *conv, const char *text, const cJSON *format)
{
    struct pattern *p = t->p;
    const struct agent *agent = team_find_agent(p->s->team, t->agent);

    if (p->replaying) {
        task_replay(t, conv, text, format);
        return;
    }
    t->started = true;
    free(t->input);
    t->input = xstrdup(text);
    if (!agent) {
        t->finished = t->failed = true;
        t->error = xasprintf("agent \"%s\" no longer exists", t->agent);
        emit_step(t, "failed", t->error);
        pattern_fail(p, "%s", t->error);
        return;
    }
    t->conv = conv;
    p->running++;
    t->run = session_send(p->s, &t->conv, agent, text, format);
    free(t->run_id);
    t->run_id = xstrdup(run_id_of(t->run));
    emit_step(t, t->combining ? "combining" : "started", NULL);
    run_watch(t->run, on_task_ended, t);
    if (p->params.timeout_ms > 0)
        t->timer = loop_timer_add(p->s->loop, p->params.timeout_ms, on_task_timeout, t);
}

static void task_run(struct task *t, struct conversation *conv, const char *text)
{
    task_run_as(t, conv, text, NULL);
}

/* ---- resuming: the recorded steps, and the steps left for /retry ----------- */

/* /retry: the run that goes on with t's run, which a crash cut off. */
static bool task_adopt(void *ud, struct run *run, char **error)
{
    struct task *t = ud;
    struct pattern *p = t->p;

    (void)error;
    if (p->finished)
        return true; /* the pattern has ended meanwhile: the run goes on alone */
    t->run = run;
    free(t->run_id);
    t->run_id = xstrdup(run_id_of(run));
    p->running++;
    run_watch(run, on_task_ended, t);
    if (p->params.timeout_ms > 0 && !t->timer)
        t->timer = loop_timer_add(p->s->loop, p->params.timeout_ms, on_task_timeout, t);
    return true;
}

/* /retry: a step the pattern had yet to start when the crash came starts now. */
static bool task_unpark(void *ud, struct run *run, char **error)
{
    struct task *t = ud;
    struct pattern *p = t->p;
    struct conversation *conv = t->parked_conv ? session_find_conversation(p->s, t->parked_conv) : NULL;
    cJSON *format = t->parked_format;
    char *text = t->input;

    (void)run;
    if (p->finished) {
        *error =
            xasprintf("%s %s has ended: its step %s will not start", pattern_kind_name(p->params.kind), p->id, t->step);
        return false;
    }
    if (t->parked_conv && !conv) {
        *error = xasprintf("step %s of %s cannot start: its conversation %s is gone", t->step, p->id, t->parked_conv);
        return false;
    }
    t->parked_format = NULL;
    t->input = NULL;
    task_run_as(t, conv, text, format);
    if (!p->conv && t == p->tasks.items[0] && p->params.kind != PATTERN_FANOUT && p->params.kind != PATTERN_COMPETE)
        p->conv = t->conv; /* the pattern's first step makes its conversation */
    cJSON_Delete(format);
    free(text);
    return true;
}

/* The pattern.step record of step with status, not yet met again. */
static struct step_record *take_record(struct pattern *p, const char *step, const char *status)
{
    for (size_t i = 0; i < p->records.len; i++) {
        struct step_record *r = p->records.items[i];
        if (!r->used && strcmp(r->step, step) == 0 && strcmp(r->status, status) == 0) {
            r->used = true;
            return r;
        }
    }
    return NULL;
}

/* A resumed pattern's logic starts t: when the journal has the step, its
 * run's outcome is taken in (or, for a run cut off, left to /retry);
 * otherwise the step waits for /retry to start it. */
static void task_replay(struct task *t, struct conversation *conv, const char *text, const cJSON *format)
{
    struct pattern *p = t->p;
    const char *status = t->combining ? "combining" : "started";
    struct step_record *r = take_record(p, t->step, status);
    struct run_fate fate = {0};
    struct unfinished *u;

    t->started = true;
    free(t->input);
    t->input = xstrdup(text);
    if (!r) {
        u = xcalloc(1, sizeof *u);
        t->parked_conv = conv ? xstrdup(conv->id) : NULL;
        t->parked_format = format ? cJSON_Duplicate(format, 1) : NULL;
        u->conversation = xstrdup(t->parked_conv);
        u->pattern = xstrdup(p->id);
        u->step = xstrdup(t->step);
        u->agent = xstrdup(t->agent);
        u->go = task_unpark;
        u->ud = t;
        vec_push(&p->s->unfinished, u);
        emit_note(p, t->step, "waiting", "step %s (%s) had yet to start when agentdeck stopped; /retry starts it",
                  t->step, t->agent);
        return;
    }
    t->conv = r->conversation ? session_find_conversation(p->s, r->conversation) : NULL;
    if (!t->conv)
        t->conv = conv;
    if (!r->run || !p->fate(p->fate_ud, r->run, &fate)) {
        run_fate_fini(&fate);
        fate.run = xstrdup(r->run ? r->run : "");
        fate.status = xstrdup("error");
        fate.message = xstrdup("the journal does not say how the step's run ended");
    }
    free(t->run_id);
    t->run_id = xstrdup(fate.run);
    if (!fate.status) {
        /* Cut off: /retry goes on with it, and hands the new run to t. */
        if ((u = session_find_unfinished(p->s, fate.run))) {
            free(u->pattern);
            free(u->step);
            u->pattern = xstrdup(p->id);
            u->step = xstrdup(t->step);
            cJSON_Delete(u->response_format);
            u->response_format = format ? cJSON_Duplicate(format, 1) : NULL;
            u->go = task_adopt;
            u->ud = t;
        }
        run_fate_fini(&fate);
        return;
    }
    struct replayed *rp = xcalloc(1, sizeof *rp);
    rp->t = t;
    rp->fate = fate;
    p->running++;
    vec_push(&p->replayed, rp);
}

/* Takes in the recorded outcomes, in order: each may start further steps,
 * recorded or not. */
static void pattern_replay_outcomes(struct pattern *p)
{
    while (p->replayed.len) {
        struct replayed *rp = vec_remove(&p->replayed, 0);
        struct run_outcome o = {rp->fate.run,    rp->fate.status,  rp->t->agent,
                                rp->fate.output, rp->fate.message, rp->t->conv};
        on_task_ended(rp->t, &o);
        replayed_free(rp);
    }
}

void run_fate_fini(struct run_fate *f)
{
    free(f->run);
    free(f->status);
    free(f->output);
    free(f->message);
    memset(f, 0, sizeof *f);
}

/* A ResponseFormat asking for JSON that follows schema (JSON text). */
static cJSON *json_format(const char *name, const char *schema)
{
    cJSON *format = cJSON_CreateObject();
    cJSON *js = cJSON_AddObjectToObject(format, "json_schema");
    cJSON_AddStringToObject(format, "type", "json_schema");
    cJSON_AddStringToObject(js, "name", name);
    cJSON_AddItemToObject(js, "schema", cJSON_Parse(schema));
    return format;
}

static const char plan_schema[] =
    "{\"type\": \"object\", \"required\": [\"subtasks\"], \"properties\": {\"subtasks\": {\"type\": \"array\", "
    "\"items\": {\"type\": \"object\", \"required\": [\"id\", \"worker\", \"task\"], \"properties\": {"
    "\"id\": {\"type\": \"string\"}, \"worker\": {\"type\": \"string\"}, \"task\": {\"type\": \"string\"}, "
    "\"depends_on\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}}}}}}}";

static const char decision_schema[] = "{\"type\": \"object\", \"required\": [\"action\"], \"properties\": {"
                                      "\"action\": {\"type\": \"string\", \"enum\": [\"execute\", \"decompose\"]}, "
                                      "\"subtasks\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}}}}";

/* "## label\ntext\n\n" for each finished task of list, in order. */
static void append_results(struct buf *b, struct task *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct task *t = list[i];
        if (t->output)
            buf_printf(b, "## %s (%s)\n%s\n\n", t->step, t->agent, t->output);
        else
            buf_printf(b, "## %s (%s)\n(no result: %s)\n\n", t->step, t->agent, t->error ? t->error : "skipped");
    }
}

/* ---- pipeline ------------------------------------------------------------ */

static const char *step_prompt(const struct pattern *p, const char *agent)
{
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(p->params.prompts, agent);
    if (!cJSON_IsString(prompt))
        prompt = cJSON_GetObjectItemCaseSensitive(p->s->team->prompts, agent);
    return cJSON_IsString(prompt) ? prompt->valuestring : NULL;
}

static void pipeline_next(struct task *done)
{
    struct pattern *p = done->p;
    size_t k = p->tasks.len;
    const char *agent, *prompt;
    char step[32];
    struct task *t;
    char *text;

    if (done->failed) {
        pattern_fail(p, "step %s (%s) failed: %s", done->step, done->agent, done->error);
        return;
    }
    if (k == p->params.agents.len) {
        p->output = xstrdup(done->output);
        pattern_finish(p);
        return;
    }
    agent = p->params.agents.items[k];
    prompt = step_prompt(p, agent);
    text = prompt ? xstrdup(prompt)
                  : xasprintf("Step %zu of %zu: do your part of the task above, working from what the previous "
                              "step gave, and give your result.",
                              k + 1, p->params.agents.len);
    snprintf(step, sizeof step, "%zu", k + 1);
    t = task_new(p, step, agent, pipeline_next);
    task_run(t, p->conv, text);
    free(text);
}

static void pipeline_start(struct pattern *p)
{
    struct task *t = task_new(p, "1", p->params.agents.items[0], pipeline_next);
    task_run(t, NULL, p->text);
    p->conv = t->conv;
}

/* ---- route --------------------------------------------------------------- */

static char *route_names(const struct team *team)
{
    struct buf b = BUF_INIT;
    const cJSON *r;
    cJSON_ArrayForEach(r, team->routes) {
        buf_printf(&b, "%s%s", b.len ? ", " : "", r->string);
    }
    return buf_steal(&b);
}

static void route_done(struct task *t)
{
    struct pattern *p = t->p;
    if (t->failed)
        pattern_fail(p, "%s could not answer: %s", t->agent, t->error);
    else {
        p->output = xstrdup(t->output);
        pattern_finish(p);
    }
}

static void route_classified(struct task *t)
{
    struct pattern *p = t->p;
    const struct team *team = p->s->team;
    const cJSON *to = NULL;
    char *label, *first_line;
    struct task *next;

    if (t->failed) {
        pattern_fail(p, "the classifier %s failed: %s", t->agent, t->error);
        return;
    }
    first_line = xstrndup(t->output, strcspn(t->output, "\n"));
    label = route_label_normalize(first_line);
    if (*label)
        to = cJSON_GetObjectItemCaseSensitive(team->routes, label);
    if (!cJSON_IsString(to)) {
        char *names = route_names(team);
        to = cJSON_GetObjectItemCaseSensitive(team->routes, "fallback");
        if (cJSON_IsString(to))
            emit_note(p, "route", "unmatched", "the label \"%.80s\" matches no route (routes: %s): taking fallback",
                      first_line, names);
        else
            pattern_fail(p, "the label \"%.80s\" matches no route (routes: %s) and there is no fallback route",
                         first_line, names);
        free(names);
        if (!cJSON_IsString(to)) {
            free(first_line);
            free(label);
            return;
        }
    }
    next = task_new(p, "route", to->valuestring, route_done);
    task_run(next, p->conv, p->text);
    free(first_line);
    free(label);
}

static void route_start(struct pattern *p)
{
    struct task *t = task_new(p, "classify", p->params.lead, route_classified);
    task_run(t, NULL, p->text);
    p->conv = t->conv;
}

/* ---- fan-out / fan-in, and compete ----------------------------------------- */

static void fanin_done(struct task *t)
{
    struct pattern *p = t->p;
    if (t->failed) {
        pattern_fail(p, "%s could not %s: %s", t->agent, p->params.kind == PATTERN_COMPETE ? "judge" : "fan in",
                     t->error);
        return;
    }
    p->output = xstrdup(t->output);
    pattern_finish(p);
}

static void branch_done(struct task *done)
{
    struct pattern *p = done->p;
    size_t ok = 0, failed = 0;
    struct buf text = BUF_INIT;

    if (done->failed && p->params.all) {
        pattern_fail(p, "branch %s failed: %s", done->agent, done->error);
        return;
    }
    for (size_t i = 0; i < p->tasks.len; i++) {
        const struct task *t = p->tasks.items[i];
        if (!t->finished)
            return; /* branches still running */
        ok += !t->failed;
        failed += t->failed;
    }
    if (ok == 0) {
        pattern_fail(p, "every branch failed");
        return;
    }
    if (failed)
        emit_note(p, "fan-in", "partial", "%zu of %zu branches failed; going on with the other %zu", failed,
                  p->tasks.len, ok);
    if (p->params.kind == PATTERN_COMPETE)
        buf_printf(&text, "The task: %s\n\nThe analysts' answers:\n\n", p->text);
    else
        buf_printf(&text, "The task: %s\n\nThe answers of the agents it was given to:\n\n", p->text);
    append_results(&text, (struct task *const *)p->tasks.items, p->tasks.len);
    if (p->params.kind == PATTERN_COMPETE)
        buf_puts(&text, "Compare these answers, say where they differ, and recommend one, saying why.");
    else
        buf_puts(&text, "Combine them into one answer.");
    if (p->params.lead) {
        struct task *t =
            task_new(p, p->params.kind == PATTERN_COMPETE ? "judge" : "fan-in", p->params.lead, fanin_done);
        p->params.timeout_ms = 0; /* the limit is for branches */
        task_run(t, NULL, buf_str(&text));
        p->conv = t->conv;
    } else {
        p->output = buf_steal(&text);
        pattern_finish(p);
    }
    buf_fini(&text);
}

static void fanout_start(struct pattern *p)
{
    for (size_t i = 0; i < p->params.agents.len; i++) {
        const char *agent = p->params.agents.items[i];
        task_new(p, agent, agent, branch_done);
    }
    /* Every branch exists before the first starts: a branch that fails at
     * once must not see the others as missing. */
    for (size_t i = 0; i < p->params.agents.len && !p->finished && !p->failing; i++)
        task_run(p->tasks.items[i], NULL, p->text);
}

/* ---- delegate: a manager's plan, run by workers ----------------------------- */

cJSON *pattern_parse_json(const char *text)
{
    const char *fence = strstr(text, "```");
    const char *open, *close;
    cJSON *json = cJSON_Parse(text);
    char *inner;

    if (cJSON_IsObject(json))
        return json;
    cJSON_Delete(json);
    if (fence) {
        const char *start = strchr(fence + 3, '\n');
        const char *end = start ? strstr(start, "```") : NULL;
        if (end) {
            inner = xstrndup(start + 1, (size_t)(end - start - 1));
            json = cJSON_Parse(inner);
            free(inner);
            if (cJSON_IsObject(json))
                return json;
            cJSON_Delete(json);
        }
    }
    open = strchr(text, '{');
    close = strrchr(text, '}');
    if (!open || !close || close < open)
        return NULL;
    inner = xstrndup(open, (size_t)(close - open + 1));
    json = cJSON_Parse(inner);
    free(inner);
    if (cJSON_IsObject(json))
        return json;
    cJSON_Delete(json);
    return NULL;
}

static struct task *find_subtask(const struct pattern *p, const char *id)
{
    for (size_t i = 1; i < p->tasks.len; i++) {
        struct task *t = p->tasks.items[i];
        if (t->id && strcmp(t->id, id) == 0)
            return t;
    }
    return NULL;
}

/* Checks the plan and makes its subtasks. Returns NULL, or what is wrong. */
static char *plan_subtasks(struct pattern *p, const cJSON *plan, void (*then)(struct task *t))
{
    const cJSON *subtasks = cJSON_GetObjectItemCaseSensitive(plan, "subtasks");
    const cJSON *st;
    int i = 0;

    if (!cJSON_IsArray(subtasks) || cJSON_GetArraySize(subtasks) == 0)
        return xstrdup("\"subtasks\" is missing, or not a non-empty array");
    if (cJSON_GetArraySize(subtasks) > DELEGATE_MAX_SUBTASKS)
        return xasprintf("%d subtasks: at most %d", cJSON_GetArraySize(subtasks), DELEGATE_MAX_SUBTASKS);
    cJSON_ArrayForEach(st, subtasks) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(st, "id");
        const cJSON *worker = cJSON_GetObjectItemCaseSensitive(st, "worker");
        const cJSON *task = cJSON_GetObjectItemCaseSensitive(st, "task");
        char fallback_id[16];
        const char *name;
        struct task *t;

        snprintf(fallback_id, sizeof fallback_id, "s%d", i + 1);
        name = cJSON_IsString(id) && *id->valuestring ? id->valuestring : fallback_id;
        if (!cJSON_IsString(worker) || !team_find_agent(p->s->team, worker->valuestring))
            return xasprintf("subtasks[%d].worker: %s", i,
                             cJSON_IsString(worker) ? "no such agent in the team" : "missing");
        if (!cJSON_IsString(task) || !*task->valuestring)
            return xasprintf("subtasks[%d].task: missing, or not a string", i);
        if (find_subtask(p, name))
            return xasprintf("subtasks[%d].id: \"%s\" is given twice", i, name);
        t = task_new(p, name, worker->valuestring, then);
        t->id = xstrdup(name);
        t->input = xstrdup(task->valuestring);
        i++;
    }
    /* Dependencies, once every id is known. */
    i = 0;
    cJSON_ArrayForEach(st, subtasks) {
        const cJSON *deps = cJSON_GetObjectItemCaseSensitive(st, "depends_on");
        const cJSON *d;
        struct task *t = p->tasks.items[(size_t)i + 1];
        if (deps && !cJSON_IsArray(deps))
            return xasprintf("subtasks[%d].depends_on: expected an array of subtask ids", i);
        cJSON_ArrayForEach(d, deps) {
            if (!cJSON_IsString(d) || !find_subtask(p, d->valuestring))
                return xasprintf("subtasks[%d].depends_on: %s%s%s is no subtask of the plan", i,
                                 cJSON_IsString(d) ? "\"" : "", cJSON_IsString(d) ? d->valuestring : "a non-string",
                                 cJSON_IsString(d) ? "\"" : "");
            if (strcmp(d->valuestring, t->id) == 0)
                return xasprintf("subtasks[%d].depends_on: \"%s\" depends on itself", i, t->id);
            vec_push(&t->deps, xstrdup(d->valuestring));
        }
        i++;
    }
    /* No cycles: repeatedly mark the subtasks whose dependencies are all marked. */
    {
        size_t n = p->tasks.len - 1, marked = 0;
        bool *ok = xcalloc(n, sizeof *ok), progress = true;
        while (progress) {
            progress = false;
            for (size_t k = 0; k < n; k++) {
                struct task *t = p->tasks.items[k + 1];
                bool ready = !ok[k];
                for (size_t d = 0; ready && d < t->deps.len; d++) {
                    struct task *dep = find_subtask(p, t->deps.items[d]);
                    size_t di = 0;
                    while (p->tasks.items[di + 1] != dep)
                        di++;
                    ready = ok[di];
                }
                if (ready) {
                    ok[k] = progress = true;
                    marked++;
                }
            }
        }
        free(ok);
        if (marked < n)
            return xstrdup("the dependencies go round in a circle");
    }
    return NULL;
}

static void delegate_answered(struct task *t)
{
    struct pattern *p = t->p;
    if (t->failed) {
        pattern_fail(p, "the manager %s could not answer with the results: %s", t->agent, t->error);
        return;
    }
    p->output = xstrdup(t->output);
    pattern_finish(p);
}

static void delegate_run_ready(struct pattern *p);

static void subtask_done(struct task *t)
{
    delegate_run_ready(t->p);
}

/* Starts each subtask whose dependencies are done; skips those whose
 * dependencies failed; when all have finished, the manager answers. */
static void delegate_run_ready(struct pattern *p)
{
    bool all_finished = true;
    struct buf text = BUF_INIT;
    struct task *manager = p->tasks.items[0], *answer;

    for (size_t i = 1; i < p->tasks.len && !p->failing; i++) {
        struct task *t = p->tasks.items[i];
        bool ready = true, blocked = false;
        if (t->started) {
            all_finished &= t->finished;
            continue;
        }
        for (size_t d = 0; d < t->deps.len; d++) {
            const struct task *dep = find_subtask(p, t->deps.items[d]);
            ready &= dep->finished && !dep->failed;
            blocked |= dep->finished && dep->failed;
        }
        if (blocked) {
            t->started = t->finished = t->failed = true;
            t->error = xstrdup("skipped: a subtask it depends on failed");
            emit_step(t, "skipped", t->error);
            i = 0; /* its dependents may now be blocked too */
            all_finished = true;
            continue;
        }
        if (!ready) {
            all_finished = false;
            continue;
        }
        buf_reset(&text);
        buf_printf(&text, "%s", t->input);
        if (t->deps.len) {
            buf_puts(&text, "\n\nResults of earlier subtasks you can use:\n\n");
            for (size_t d = 0; d < t->deps.len; d++) {
                struct task *dep = find_subtask(p, t->deps.items[d]);
                append_results(&text, &dep, 1);
            }
        }
        all_finished = false;
        task_run(t, NULL, buf_str(&text));
    }
    if (!all_finished || p->failing || p->finished) {
        buf_fini(&text);
        return;
    }
    buf_reset(&text);
    buf_puts(&text, "The results of the subtasks of your plan:\n\n");
    append_results(&text, (struct task *const *)p->tasks.items + 1, p->tasks.len - 1);
    buf_puts(&text, "Now answer the original request with them.");
    answer = task_new(p, "answer", manager->agent, delegate_answered);
    task_run(answer, p->conv, buf_str(&text));
    buf_fini(&text);
}

static void delegate_planned(struct task *t)
{
    struct pattern *p = t->p;
    cJSON *plan;
    char *wrong;

    if (t->failed) {
        pattern_fail(p, "the manager %s could not plan: %s", t->agent, t->error);
        return;
    }
    plan = pattern_parse_json(t->output);
    if (!plan) {
        pattern_fail(p, "the manager's plan is not JSON; it answered: %.300s", t->output);
        return;
    }
    wrong = plan_subtasks(p, plan, subtask_done);
    cJSON_Delete(plan);
    if (wrong) {
        pattern_fail(p, "the manager's plan is not valid: %s; it answered: %.300s", wrong, t->output);
        free(wrong);
        return;
    }
    emit_note(p, "plan", "planned", "%zu subtasks", p->tasks.len - 1);
    delegate_run_ready(p);
}

static char *workers_list(const struct team *team, const char *except)
{
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < team->agents.len; i++) {
        const struct agent *a = team->agents.items[i];
        if (strcmp(a->name, except) == 0)
            continue;
        buf_printf(&b, "- %s: %s\n", a->name, a->description ? a->description : "(no description)");
    }
    return buf_steal(&b);
}

static void delegate_start(struct pattern *p)
{
    char *workers = workers_list(p->s->team, p->params.lead);
    char *text = xasprintf("%s\n\nPlan this as subtasks for the workers below. Answer with JSON only: "
                           "{\"subtasks\": [{\"id\": \"s1\", \"worker\": \"NAME\", \"task\": \"what to do\", "
                           "\"depends_on\": []}]}. Subtasks that depend on none run at the same time.\n\n"
                           "Workers:\n%s",
                           p->text, workers);
    struct task *t = task_new(p, "plan", p->params.lead, delegate_planned);
    cJSON *format = json_format("plan", plan_schema);
    task_run_as(t, NULL, text, format);
    cJSON_Delete(format);
    p->conv = t->conv;
    free(workers);
    free(text);
}

/* ---- decompose: recursive ---------------------------------------------------- */

static void decompose_node(struct pattern *p, struct task *parent, const char *step, int level, const char *task);

/* A node has its result: its parent may now combine. */
static void node_result(struct task *node)
{
    struct pattern *p = node->p;
    struct task *parent = node->parent;
    struct buf text = BUF_INIT;

    if (!parent) {
        if (node->failed)
            pattern_fail(p, "%s", node->error);
        else {
            p->output = xstrdup(node->output);
            pattern_finish(p);
        }
        return;
    }
    if (--parent->children_left > 0)
        return;
    buf_printf(&text, "The results of the subtasks of \"%s\":\n\n", parent->input);
    for (size_t i = 0; i < p->tasks.len; i++) {
        struct task *t = p->tasks.items[i];
        if (t->parent == parent && !t->exec)
            append_results(&text, &t, 1);
    }
    buf_puts(&text, "Combine them into the answer to that task.");
    parent->combining = true;
    parent->finished = false;
    task_run(parent, parent->conv, buf_str(&text));
    buf_fini(&text);
}

static void node_executed(struct task *t)
{
    struct task *node = t->parent; /* the decision node this execution answers */
    free(node->output);
    node->output = NULL;
    if (!t->failed)
        node->output = xstrdup(t->output);
    else {
        node->failed = true;
        node->error = xstrdup(t->error);
    }
    node->finished = true;
    node_result(node);
}

static void node_execute(struct task *node, const char *why)
{
    struct pattern *p = node->p;
    char *step = xasprintf("%s:exec", node->step);
    struct task *t = task_new(p, step, p->params.executor, node_executed);
    t->parent = node;
    t->level = node->level;
    t->exec = true; /* not one of node's children */
    if (why)
        emit_note(p, node->step, "depth-limit", "%s", why);
    task_run(t, NULL, node->input);
    free(step);
}

static void node_decided(struct task *node)
{
    struct pattern *p = node->p;
    const cJSON *action, *subtasks, *st;
    cJSON *decision;
    int i = 0;

    if (node->combining) {
        /* The decomposer combined its children's results. */
        node->finished = true;
        node_result(node);
        return;
    }
    if (node->failed) {
        node_result(node);
        return;
    }
    decision = pattern_parse_json(node->output);
    action = cJSON_GetObjectItemCaseSensitive(decision, "action");
    subtasks = cJSON_GetObjectItemCaseSensitive(decision, "subtasks");
    if (!cJSON_IsString(action) ||
        (strcmp(action->valuestring, "execute") != 0 && strcmp(action->valuestring, "decompose") != 0)) {
        pattern_fail(p,
                     "the decomposer's decision at %s is not {\"action\": \"execute\"|\"decompose\", ...}; "
                     "it answered: %.300s",
                     node->step, node->output);
        cJSON_Delete(decision);
        return;
    }
    if (strcmp(action->valuestring, "execute") == 0) {
        node_execute(node, NULL);
        cJSON_Delete(decision);
        return;
    }
    if (!cJSON_IsArray(subtasks) || cJSON_GetArraySize(subtasks) < 1 ||
        cJSON_GetArraySize(subtasks) > DECOMPOSE_MAX_SUBTASKS) {
        pattern_fail(p, "the decomposer's decision at %s needs 1 to %d \"subtasks\"; it answered: %.300s", node->step,
                     DECOMPOSE_MAX_SUBTASKS, node->output);
        cJSON_Delete(decision);
        return;
    }
    if (node->level >= p->params.depth) {
        char *why = xasprintf("the depth limit (%d) is reached at %s: executing it instead of splitting it",
                              p->params.depth, node->step);
        node_execute(node, why);
        free(why);
        cJSON_Delete(decision);
        return;
    }
    node->children = node->children_left = (size_t)cJSON_GetArraySize(subtasks);
    free(node->output);
    node->output = NULL;
    cJSON_ArrayForEach(st, subtasks) {
        const cJSON *task = cJSON_IsObject(st) ? cJSON_GetObjectItemCaseSensitive(st, "task") : st;
        char *step = xasprintf("%s.%d", node->step, ++i);
        decompose_node(p, node, step, node->level + 1,
                       cJSON_IsString(task) && *task->valuestring ? task->valuestring : "(empty subtask)");
        free(step);
        if (p->failing)
            break;
    }
    cJSON_Delete(decision);
}

static void decompose_node(struct pattern *p, struct task *parent, const char *step, int level, const char *task)
{
    struct task *t = task_new(p, step, p->params.lead, node_decided);
    char *text = xasprintf("Task: %s\n\nThis is level %d; tasks may be split down to level %d. Decide: answer "
                           "with JSON only, {\"action\": \"execute\"} when the task is small enough to do at once, "
                           "or {\"action\": \"decompose\", \"subtasks\": [\"...\", \"...\"]}.",
                           task, level, p->params.depth);
    cJSON *format = json_format("decision", decision_schema);
    t->parent = parent;
    t->level = level;
    task_run_as(t, NULL, text, format);
    cJSON_Delete(format);
    free(t->input);
    t->input = xstrdup(task);
    free(text);
}

static void decompose_start(struct pattern *p)
{
    decompose_node(p, NULL, "1", 0, p->text);
    if (p->tasks.len)
        p->conv = ((struct task *)p->tasks.items[0])->conv;
}

/* ---- starting ------------------------------------------------------------------ */

static char *check_agent(const struct team *team, const char *role, const char *name)
{
    if (!name)
        return xasprintf("%s is missing", role);
    if (!team_find_agent(team, name))
        return xasprintf("%s: no agent named \"%s\"", role, name);
    return NULL;
}

static char *check_params(const struct team *team, const struct pattern_params *pp)
{
    char *error = NULL;
    size_t min_agents = 0;

    switch (pp->kind) {
    case PATTERN_PIPELINE:
        min_agents = 2;
        break;
    case PATTERN_FANOUT:
        min_agents = 2;
        if (pp->lead)
            error = check_agent(team, "--into", pp->lead);
        break;
    case PATTERN_COMPETE:
        min_agents = 2;
        error = check_agent(team, "--judge", pp->lead);
        break;
    case PATTERN_ROUTE:
        error = check_agent(team, "the classifier", pp->lead);
        if (!error && !cJSON_GetArraySize(team->routes))
            error = xstrdup("the profile has no routes (a \"routes\" map from labels to agents)");
        break;
    case PATTERN_DELEGATE:
        error = check_agent(team, "the manager", pp->lead);
        if (!error && team->agents.len < 2)
            error = xstrdup("the manager has no workers: the team has no other agent");
        break;
    case PATTERN_DECOMPOSE:
        error = check_agent(team, "the decomposer", pp->lead);
        if (!error)
            error = check_agent(team, "--executor", pp->executor);
        if (!error && (pp->depth < 0 || pp->depth > DECOMPOSE_MAX_DEPTH))
            error = xasprintf("--depth %d: expected 0 to %d", pp->depth, DECOMPOSE_MAX_DEPTH);
        break;
    }
    if (error)
        return error;
    if (pp->agents.len < min_agents)
        return xasprintf("%s needs at least %zu agents, got %zu", pattern_kind_name(pp->kind), min_agents,
                         pp->agents.len);
    for (size_t i = 0; i < pp->agents.len; i++) {
        if ((error = check_agent(team, "agents", pp->agents.items[i])))
            return error;
        if (pp->kind != PATTERN_PIPELINE) {
            for (size_t k = 0; k < i; k++) {
                if (strcmp(pp->agents.items[k], pp->agents.items[i]) == 0)
                    return xasprintf("agents: %s is given twice (a branch each)", (char *)pp->agents.items[i]);
            }
        }
    }
    return NULL;
}

/* A new pattern of the session, not started yet. */
static struct pattern *pattern_new(struct session *s, const char *id, const struct pattern_params *params,
                                   const char *workflow, const char *text)
{
    struct pattern *p = xcalloc(1, sizeof *p);
    p->s = s;
    p->id = xstrdup(id);
    p->workflow = workflow ? xstrdup(workflow) : NULL;
    pattern_params_copy(&p->params, params);
    p->text = xstrdup(text);
    p->started_ms = clock_now_ms();
    vec_init(&p->tasks, task_free);
    vec_init(&p->records, step_record_free);
    vec_init(&p->replayed, replayed_free);
    vec_push(&s->patterns, p);
    return p;
}

/* Starts the pattern's first steps. */
static void pattern_begin(struct pattern *p)
{
    switch (p->params.kind) {
    case PATTERN_PIPELINE:
        pipeline_start(p);
        break;
    case PATTERN_ROUTE:
        route_start(p);
        break;
    case PATTERN_FANOUT:
    case PATTERN_COMPETE:
        fanout_start(p);
        break;
    case PATTERN_DELEGATE:
        delegate_start(p);
        break;
    case PATTERN_DECOMPOSE:
        decompose_start(p);
        break;
    }
}

bool pattern_start(struct session *s, const struct pattern_params *params, const char *workflow, const char *text,
                   char **error)
{
    struct pattern *p;
    cJSON *fields, *agents;
    char id[32];

    if ((*error = check_params(s->team, params)))
        return false;
    snprintf(id, sizeof id, "p%u", ++s->next_pattern);
    p = pattern_new(s, id, params, workflow, text);

    fields = pattern_fields(p);
    agents = cJSON_AddArrayToObject(fields, "agents");
    for (size_t i = 0; i < params->agents.len; i++)
        cJSON_AddItemToArray(agents, cJSON_CreateString(params->agents.items[i]));
    if (params->lead)
        cJSON_AddStringToObject(fields, "lead", params->lead);
    if (params->executor)
        cJSON_AddStringToObject(fields, "executor", params->executor);
    if (params->kind == PATTERN_DECOMPOSE)
        cJSON_AddNumberToObject(fields, "depth", params->depth);
    if (params->timeout_ms)
        cJSON_AddNumberToObject(fields, "timeout_ms", params->timeout_ms);
    if (params->all)
        cJSON_AddBoolToObject(fields, "all", true);
    cJSON_AddStringToObject(fields, "input", text);
    event_emit(&s->events, "pattern.started", fields);
    pattern_begin(p);
    return true;
}

static const char *string_field(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* The parameters pattern.started recorded (a workflow's: the profile's). */
static bool params_of(const struct session *s, const cJSON *started, struct pattern_params *pp)
{
    const char *workflow = string_field(started, "workflow");
    const struct workflow *w = workflow ? team_find_workflow(s->team, workflow) : NULL;
    const char *kind = string_field(started, "kind");
    int k = kind ? pattern_kind_from_name(kind) : -1;
    const cJSON *item;

    if (k < 0)
        return false;
    if (w && (int)w->params.kind == k) {
        pattern_params_copy(pp, &w->params);
        return true;
    }
    pattern_params_init(pp, (enum pattern_kind)k);
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(started, "agents")) {
        if (cJSON_IsString(item))
            vec_push(&pp->agents, xstrdup(item->valuestring));
    }
    if (string_field(started, "lead"))
        pp->lead = xstrdup(string_field(started, "lead"));
    if (string_field(started, "executor"))
        pp->executor = xstrdup(string_field(started, "executor"));
    if (cJSON_IsNumber(item = cJSON_GetObjectItemCaseSensitive(started, "depth")))
        pp->depth = item->valueint;
    if (cJSON_IsNumber(item = cJSON_GetObjectItemCaseSensitive(started, "timeout_ms")))
        pp->timeout_ms = item->valueint;
    pp->all = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(started, "all"));
    return true;
}

bool pattern_resume(struct session *s, const cJSON *started, const struct vec *steps, run_fate_fn *fate, void *ud)
{
    struct pattern_params params;
    const char *id = string_field(started, "pattern");
    const char *text = string_field(started, "input");
    const char *ts = string_field(started, "ts");
    struct pattern *p;
    int64_t wall;

    if (!id || !text || !params_of(s, started, &params))
        return false;
    p = pattern_new(s, id, &params, string_field(started, "workflow"), text);
    pattern_params_fini(&params);
    if (ts && clock_parse_rfc3339(ts, &wall))
        p->started_ms -= clock_wall_ms() - wall; /* pattern.done's latency counts from the first start */
    for (size_t i = 0; i < steps->len; i++) {
        const cJSON *ev = steps->items[i];
        struct step_record *r;
        if (!string_field(ev, "step") || !string_field(ev, "status"))
            continue;
        r = xcalloc(1, sizeof *r);
        r->step = xstrdup(string_field(ev, "step"));
        r->status = xstrdup(string_field(ev, "status"));
        r->run = string_field(ev, "run") ? xstrdup(string_field(ev, "run")) : NULL;
        r->conversation = string_field(ev, "conversation") ? xstrdup(string_field(ev, "conversation")) : NULL;
        vec_push(&p->records, r);
    }
    p->fate = fate;
    p->fate_ud = ud;
    p->replaying = true;
    pattern_begin(p);
    pattern_replay_outcomes(p);
    p->replaying = false;
    vec_truncate(&p->records, 0);
    return true;
}
