#include "config.h"

#include "orch/resume.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/xalloc.h"
#include "model/profile.h"
#include "orch/handlers.h"
#include "orch/pattern.h"
#include "orch/runner.h"

/* ---- what /retry goes on with ------------------------------------------------ */

void unfinished_free(void *item)
{
    struct unfinished *u = item;
    free(u->run);
    free(u->conversation);
    free(u->pattern);
    free(u->step);
    free(u->agent);
    free(u->streamed);
    cJSON_Delete(u->response_format);
    free(u);
}

struct unfinished *session_find_unfinished(struct session *s, const char *run)
{
    for (size_t i = 0; i < s->unfinished.len; i++) {
        struct unfinished *u = s->unfinished.items[i];
        if (u->run && run && strcmp(u->run, run) == 0)
            return u;
    }
    return NULL;
}

/* Goes on with u; returns false with *error set when it cannot (u stays). */
static bool retry_one(struct session *s, struct unfinished *u, char **error)
{
    struct conversation *conv = u->conversation ? session_find_conversation(s, u->conversation) : NULL;
    struct run *run = NULL;

    if (u->run) {
        if (!conv) {
            *error = xasprintf("%s cannot go on: its conversation %s is gone", u->run, u->conversation);
            return false;
        }
        if (!(run = run_retry(s, conv, u->first_entry, u->response_format, u->run, u->streamed, error)))
            return false;
    }
    return !u->go || u->go(u->ud, run, error);
}

bool session_retry(struct session *s, const char *what, char **error)
{
    struct vec todo;
    bool ok = true;

    vec_init(&todo, NULL);
    for (size_t i = 0; i < s->unfinished.len; i++) {
        struct unfinished *u = s->unfinished.items[i];
        if (!what || (u->run && strcmp(u->run, what) == 0) || (u->pattern && strcmp(u->pattern, what) == 0))
            vec_push(&todo, u);
    }
    if (!todo.len) {
        if (what)
            *error = xasprintf("nothing to retry named %s: it is no run or pattern that a crash cut off (%zu %s)", what,
                               s->unfinished.len, s->unfinished.len == 1 ? "is" : "are");
        else
            *error = xstrdup("nothing to retry: no run or pattern step was cut off (agentdeck --resume brings back "
                             "a session that a crash ended)");
        vec_fini(&todo);
        return false;
    }
    /* Taken off the list first: going on with one may add others. */
    for (size_t i = 0; i < todo.len; i++) {
        for (size_t k = 0; k < s->unfinished.len; k++) {
            if (s->unfinished.items[k] == todo.items[i]) {
                vec_remove(&s->unfinished, k);
                break;
            }
        }
    }
    for (size_t i = 0; i < todo.len; i++) {
        struct unfinished *u = todo.items[i];
        char *why = NULL;
        if (retry_one(s, u, &why)) {
            unfinished_free(u);
            continue;
        }
        if (ok)
            *error = why;
        else
            free(why);
        ok = false;
        vec_push(&s->unfinished, u); /* it may go on later (an agent made again) */
    }
    vec_fini(&todo);
    return ok;
}

/* ---- the session folder ------------------------------------------------------- */

bool resume_source_open(const char *name, struct resume_source *src, char **error)
{
    const char *slash;

    memset(src, 0, sizeof *src);
    if (!journal_locate(name, &src->dir, &src->events, error))
        return false;
    if (!journal_read(src->events, &src->journal, error)) {
        free(src->dir);
        free(src->events);
        memset(src, 0, sizeof *src);
        return false;
    }
    src->meta = journal_read_meta(src->dir);
    slash = strrchr(src->dir, '/');
    src->id = xstrdup(resume_source_meta(src, "session") ? resume_source_meta(src, "session")
                      : slash                            ? slash + 1
                                                         : src->dir);
    return true;
}

void resume_source_fini(struct resume_source *src)
{
    free(src->dir);
    free(src->events);
    free(src->id);
    cJSON_Delete(src->meta);
    journal_contents_fini(&src->journal);
    memset(src, 0, sizeof *src);
}

const char *resume_source_meta(const struct resume_source *src, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(src->meta, key));
}

struct team *resume_source_team(const struct resume_source *src, const char **profile_path, char **error)
{
    const char *path = resume_source_meta(src, "profile");
    char *text = journal_read_profile(src->dir);
    struct team *team;

    *profile_path = path;
    if (text) {
        /* The copy: the profile as it was, even if its file changed since.
         * Relative commands still resolve against the original's folder. */
        char *name = path ? xstrdup(path) : xasprintf("%s/profile.json", src->dir);
        team = profile_parse(text, name, error);
        free(name);
        free(text);
        return team;
    }
    if (path)
        return profile_load(path, error);
    return team_new();
}

void resume_record(const char *dir, const struct session *s, const char *what, const char *profile_path,
                   const char *base_url)
{
    cJSON *meta = strcmp(what, "started") == 0 ? NULL : journal_read_meta(dir);
    char ts[40], *error = NULL;

    clock_format_rfc3339(clock_wall_ms(), ts, sizeof ts);
    if (!meta) {
        /* Absolute: a resume may start from another folder. */
        char *absolute = profile_path ? realpath(profile_path, NULL) : NULL;
        meta = cJSON_CreateObject();
        cJSON_AddStringToObject(meta, "session", s->id);
        cJSON_AddStringToObject(meta, "started", ts);
        if (profile_path)
            cJSON_AddStringToObject(meta, "profile", absolute ? absolute : profile_path);
        free(absolute);
        if (s->team->name)
            cJSON_AddStringToObject(meta, "profile_name", s->team->name);
        cJSON_AddStringToObject(meta, "backend", s->backend->ops->name);
        if (base_url)
            cJSON_AddStringToObject(meta, "base_url", base_url);
        if (profile_path && !journal_save_profile(dir, profile_path, &error)) {
            fprintf(stderr, "agentdeck: warning: %s; --resume will read the profile from its file\n", error);
            free(error);
            error = NULL;
        }
    }
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "pid");
    cJSON_AddNumberToObject(meta, "pid", (double)getpid());
    if (strcmp(what, "resumed") == 0) {
        cJSON *list = cJSON_GetObjectItemCaseSensitive(meta, "resumed");
        if (!cJSON_IsArray(list)) {
            cJSON_DeleteItemFromObjectCaseSensitive(meta, "resumed");
            list = cJSON_AddArrayToObject(meta, "resumed");
        }
        cJSON_AddItemToArray(list, cJSON_CreateString(ts));
    }
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "ended");
    if (strcmp(what, "ended") == 0)
        cJSON_AddStringToObject(meta, "ended", ts);
    if (!journal_write_meta(dir, meta, &error)) {
        fprintf(stderr, "agentdeck: warning: %s\n", error);
        free(error);
    }
    cJSON_Delete(meta);
}

/* ---- rebuilding, one event at a time ---------------------------------------- */

/* What the journal tells of one run. */
struct run_record {
    char *id, *conversation, *agent;
    size_t first_entry; /* the conversation's length when it started */
    char *status;       /* "done", "error", "cancelled", "interrupted"; NULL while in flight */
    char *output;       /* its last reply */
    char *message;      /* why it failed */
    char *retried_by;   /* the run that went on with it */
    char *streaming;    /* the reply it was streaming, until it came whole */
};

struct pattern_record {
    cJSON *started;
    struct vec steps; /* cJSON *: its pattern.step events */
    bool done;
};

struct rebuild {
    struct session *s;
    struct vec runs;     /* struct run_record * */
    struct vec patterns; /* struct pattern_record * */
};

static void run_record_free(void *item)
{
    struct run_record *r = item;
    free(r->id);
    free(r->conversation);
    free(r->agent);
    free(r->status);
    free(r->output);
    free(r->message);
    free(r->retried_by);
    free(r->streaming);
    free(r);
}

static void json_free_item(void *item)
{
    cJSON_Delete(item);
}

static void pattern_record_free(void *item)
{
    struct pattern_record *p = item;
    cJSON_Delete(p->started);
    vec_fini(&p->steps);
    free(p);
}

struct rebuild *rebuild_new(struct session *s)
{
    struct rebuild *rb = xcalloc(1, sizeof *rb);
    rb->s = s;
    vec_init(&rb->runs, run_record_free);
    vec_init(&rb->patterns, pattern_record_free);
    return rb;
}

void rebuild_free(struct rebuild *rb)
{
    if (!rb)
        return;
    vec_fini(&rb->runs);
    vec_fini(&rb->patterns);
    free(rb);
}

static const char *str(const cJSON *obj, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

static void replace(char **field, const char *value)
{
    char *copy = value ? xstrdup(value) : NULL;
    free(*field);
    *field = copy;
}

/* Keeps a session counter (next_run ...) past the number in id ("r12"). */
static void note_serial(unsigned *counter, const char *id, char prefix)
{
    char *end;
    unsigned long n;

    if (!id || id[0] != prefix || !id[1])
        return;
    n = strtoul(id + 1, &end, 10);
    if (!*end && n > *counter && n < 1000000000UL)
        *counter = (unsigned)n;
}

static struct run_record *find_run(const struct rebuild *rb, const char *id)
{
    for (size_t i = rb->runs.len; id && i-- > 0;) {
        struct run_record *r = rb->runs.items[i];
        if (strcmp(r->id, id) == 0)
            return r;
    }
    return NULL;
}

static struct pattern_record *find_pattern(const struct rebuild *rb, const char *id)
{
    for (size_t i = 0; id && i < rb->patterns.len; i++) {
        struct pattern_record *p = rb->patterns.items[i];
        if (strcmp(str(p->started, "pattern"), id) == 0)
            return p;
    }
    return NULL;
}

static void read_usage(const cJSON *obj, struct usage *u)
{
    const cJSON *n;
    if (!cJSON_IsObject(obj))
        return;
    if (cJSON_IsNumber(n = cJSON_GetObjectItemCaseSensitive(obj, "prompt_tokens")))
        u->prompt_tokens = (int64_t)n->valuedouble;
    if (cJSON_IsNumber(n = cJSON_GetObjectItemCaseSensitive(obj, "completion_tokens")))
        u->completion_tokens = (int64_t)n->valuedouble;
    if (cJSON_IsNumber(n = cJSON_GetObjectItemCaseSensitive(obj, "total_tokens")))
        u->total_tokens = (int64_t)n->valuedouble;
}

/* An agent as agent.created or agent.updated defined it (the definition
 * was checked when it was made). Its offline rules are kept. */
static void apply_definition(struct agent *a, const cJSON *def)
{
    const cJSON *item;

    if (str(def, "model"))
        replace(&a->model, str(def, "model"));
    replace(&a->description, str(def, "description"));
    replace(&a->instructions, str(def, "instructions"));
    if (cJSON_IsArray(item = cJSON_GetObjectItemCaseSensitive(def, "tools"))) {
        cJSON_Delete(a->tools);
        a->tools = cJSON_Duplicate(item, 1);
    }
    if (cJSON_IsObject(item = cJSON_GetObjectItemCaseSensitive(def, "completion_args"))) {
        cJSON_Delete(a->completion_args);
        a->completion_args = cJSON_Duplicate(item, 1);
    }
    if (cJSON_IsArray(item = cJSON_GetObjectItemCaseSensitive(def, "handoffs"))) {
        const cJSON *h;
        vec_truncate(&a->handoffs, 0);
        cJSON_ArrayForEach(h, item) {
            if (cJSON_IsString(h))
                vec_push(&a->handoffs, xstrdup(h->valuestring));
        }
    }
    if (cJSON_IsArray(item = cJSON_GetObjectItemCaseSensitive(def, "demonstrations"))) {
        cJSON_Delete(a->demonstrations);
        a->demonstrations = cJSON_Duplicate(item, 1);
    }
    cJSON_Delete(a->metadata);
    item = cJSON_GetObjectItemCaseSensitive(def, "metadata");
    a->metadata = item ? cJSON_Duplicate(item, 1) : NULL;
    cJSON_Delete(a->guardrails);
    item = cJSON_GetObjectItemCaseSensitive(def, "guardrails");
    a->guardrails = item ? cJSON_Duplicate(item, 1) : NULL;
    item = cJSON_GetObjectItemCaseSensitive(def, "max_turns");
    a->max_turns = cJSON_IsNumber(item) ? item->valueint : 0;
}

static void rebuild_agent(struct rebuild *rb, const char *type, const cJSON *ev)
{
    struct team *team = rb->s->team;
    const char *name = str(ev, "agent");
    const cJSON *def = cJSON_GetObjectItemCaseSensitive(ev, "definition");
    struct agent *a = name ? team_find_agent(team, name) : NULL;

    if (!name)
        return;
    if (strcmp(type, "agent.deleted") == 0) {
        team_delete_agent(team, name);
        return;
    }
    if (!a && strcmp(type, "agent.created") == 0) {
        a = agent_new(name, str(def, "model") ? str(def, "model") : AGENT_DEFAULT_MODEL);
        team_add_agent(team, a);
    }
    if (a)
        apply_definition(a, def);
}

/* Adds or removes a handler as the event says, with the session's event
 * stream muted: handlers_add and handlers_remove announce what they do,
 * and a rebuild announces nothing. */
static bool muted_handlers(struct session *s, const char *type, const cJSON *ev)
{
    struct vec sinks = s->events.sinks;
    int64_t seq = s->events.seq;
    char *error = NULL;
    bool ok;

    vec_init(&s->events.sinks, sinks.free_item);
    if (strcmp(type, "handler.added") == 0)
        ok = str(ev, "event") && str(ev, "agent") && handlers_add(s, str(ev, "event"), str(ev, "agent"), &error);
    else
        ok = str(ev, "event") && handlers_remove(s, str(ev, "event"), str(ev, "agent"), &error);
    vec_fini(&s->events.sinks);
    s->events.sinks = sinks;
    s->events.seq = seq;
    free(error);
    return ok;
}

/* conversation.started: a new conversation (a branch has copies of its
 * parent's first entries), or the server conversation that now holds one. */
static void rebuild_conversation(struct rebuild *rb, const cJSON *ev)
{
    struct session *s = rb->s;
    const char *id = str(ev, "conversation"), *agent = str(ev, "agent"), *parent = str(ev, "parent");
    const cJSON *span = cJSON_GetObjectItemCaseSensitive(ev, "span");
    struct conversation *c = id ? session_find_conversation(s, id) : NULL;
    struct conversation *pc;
    size_t upto;

    if (!id || !agent)
        return;
    if (str(ev, "server_conversation")) {
        const cJSON *local = cJSON_GetObjectItemCaseSensitive(span, "local");
        const cJSON *server = cJSON_GetObjectItemCaseSensitive(span, "server");
        const cJSON *carried = cJSON_GetObjectItemCaseSensitive(ev, "carried");
        if (!c)
            return;
        replace(&c->remote_id, str(ev, "server_conversation"));
        replace(&c->remote_agent, agent);
        c->remote_span.first = cJSON_IsNumber(local) ? (size_t)local->valuedouble : c->entries.len;
        c->remote_span.carried = cJSON_IsNumber(server)    ? (size_t)server->valuedouble
                                 : cJSON_IsNumber(carried) ? (size_t)carried->valuedouble
                                                           : 0;
        c->remote_span.appended = false;
        conversation_clear_branch(c);
        return;
    }
    if (c)
        return; /* seen already */
    c = conversation_new(id, agent);
    pc = parent ? session_find_conversation(s, parent) : NULL;
    if (pc && str(ev, "from_entry") && conversation_find_entry(pc, str(ev, "from_entry"), &upto)) {
        c->parent = xstrdup(parent);
        c->from_entry = xstrdup(str(ev, "from_entry"));
        for (size_t i = 0; i <= upto; i++)
            conversation_append_entry(c, entry_clone(pc->entries.items[i]));
        if (pc->remote_id) {
            /* As session_restart left it: the backend may branch its own. */
            c->branch.remote_id = xstrdup(pc->remote_id);
            c->branch.remote_agent = pc->remote_agent ? xstrdup(pc->remote_agent) : NULL;
            c->branch.span = pc->remote_span;
            c->branch.from = upto;
        }
    }
    vec_push(&s->conversations, c);
    s->focused = c;
    note_serial(&s->next_conversation, id, 'c');
}

static void rebuild_entry(struct rebuild *rb, const cJSON *ev)
{
    struct session *s = rb->s;
    struct conversation *c = str(ev, "conversation") ? session_find_conversation(s, str(ev, "conversation")) : NULL;
    struct run_record *r = find_run(rb, str(ev, "run"));
    struct entry *e = c ? entry_from_json(ev) : NULL;

    if (!e)
        return;
    conversation_append_entry(c, e);
    entry_serial_note(e->id);
    if (s->backend->ops->restore)
        s->backend->ops->restore(s->backend, e);
    if (e->type == ENTRY_MESSAGE_INPUT && e->agent) {
        replace(&c->agent, e->agent); /* the agent asked to answer it */
    } else if (e->type == ENTRY_AGENT_HANDOFF && e->next_agent) {
        replace(&c->agent, e->next_agent);
        if (e->execution && strcmp(e->execution, "server") == 0)
            replace(&c->remote_agent, e->next_agent);
    } else if (e->type == ENTRY_MESSAGE_OUTPUT && r) {
        replace(&r->output, e->content ? e->content : "");
        if (r->streaming && strcmp(r->streaming, e->id) == 0)
            replace(&r->streaming, NULL);
    }
}

static void rebuild_edit(struct rebuild *rb, const cJSON *ev)
{
    struct conversation *c = str(ev, "conversation") ? session_find_conversation(rb->s, str(ev, "conversation")) : NULL;
    struct entry *e = c && str(ev, "entry_id") ? conversation_find_entry(c, str(ev, "entry_id"), NULL) : NULL;
    const char *text = str(ev, "text");

    if (!e || !text)
        return;
    if (e->type == ENTRY_MESSAGE_INPUT)
        replace(&e->content, text);
    else if (e->type == ENTRY_FUNCTION_RESULT)
        replace(&e->result, text);
    else if (e->type == ENTRY_FUNCTION_CALL)
        replace(&e->arguments, text);
}

static void rebuild_run(struct rebuild *rb, const char *type, const cJSON *ev)
{
    struct session *s = rb->s;
    const char *id = str(ev, "run");
    struct conversation *c = str(ev, "conversation") ? session_find_conversation(s, str(ev, "conversation")) : NULL;
    struct run_record *r;
    struct agent *agent;

    if (!id)
        return;
    if (strcmp(type, "run.started") == 0) {
        r = xcalloc(1, sizeof *r);
        r->id = xstrdup(id);
        r->conversation = xstrdup(str(ev, "conversation"));
        r->agent = xstrdup(str(ev, "agent"));
        r->first_entry = c ? c->entries.len : 0;
        vec_push(&rb->runs, r);
        note_serial(&s->next_run, id, 'r');
        if (str(ev, "retry_of") && (r = find_run(rb, str(ev, "retry_of"))))
            replace(&r->retried_by, id);
        return;
    }
    if (!(r = find_run(rb, id)) || (r->status && strcmp(r->status, "interrupted") != 0))
        return;
    replace(&r->status, type + 4);
    replace(&r->message, str(ev, "message"));
    if (c)
        read_usage(cJSON_GetObjectItemCaseSensitive(ev, "conversation_usage"), &c->usage);
    if (str(ev, "agent") && (agent = team_find_agent(s->team, str(ev, "agent"))))
        read_usage(cJSON_GetObjectItemCaseSensitive(ev, "agent_usage"), &agent->usage);
}

static void rebuild_pattern(struct rebuild *rb, const char *type, const cJSON *ev)
{
    struct pattern_record *p = find_pattern(rb, str(ev, "pattern"));

    if (strcmp(type, "pattern.started") == 0) {
        if (p || !str(ev, "pattern"))
            return;
        p = xcalloc(1, sizeof *p);
        p->started = cJSON_Duplicate(ev, 1);
        vec_init(&p->steps, json_free_item);
        vec_push(&rb->patterns, p);
        note_serial(&rb->s->next_pattern, str(ev, "pattern"), 'p');
    } else if (p && strcmp(type, "pattern.step") == 0) {
        vec_push(&p->steps, cJSON_Duplicate(ev, 1));
    } else if (p) {
        p->done = true;
    }
}

void rebuild_event(struct rebuild *rb, const cJSON *ev)
{
    struct session *s = rb->s;
    const char *type = str(ev, "type");
    struct conversation *c;

    if (!type)
        return;
    if (entry_type_from_name(type) >= 0) {
        rebuild_entry(rb, ev);
    } else if (strcmp(type, "message.output.delta") == 0) {
        struct run_record *r = find_run(rb, str(ev, "run"));
        if (r && str(ev, "entry_id")) {
            replace(&r->streaming, str(ev, "entry_id"));
            entry_serial_note(str(ev, "entry_id")); /* its id is taken */
        }
    } else if (strcmp(type, "conversation.started") == 0) {
        rebuild_conversation(rb, ev);
    } else if (strncmp(type, "run.", 4) == 0) {
        rebuild_run(rb, type, ev);
    } else if (strcmp(type, "entry.edited") == 0) {
        rebuild_edit(rb, ev);
    } else if (strncmp(type, "pattern.", 8) == 0) {
        rebuild_pattern(rb, type, ev);
    } else if (strcmp(type, "agent.created") == 0 || strcmp(type, "agent.updated") == 0 ||
               strcmp(type, "agent.deleted") == 0) {
        rebuild_agent(rb, type, ev);
    } else if (strcmp(type, "handler.added") == 0 || strcmp(type, "handler.removed") == 0) {
        muted_handlers(s, type, ev);
    } else if (strcmp(type, "state") == 0 && cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(ev, "state"))) {
        cJSON_Delete(s->state);
        s->state = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(ev, "state"), 1);
    } else if (strcmp(type, "conversation.focused") == 0) {
        if (str(ev, "conversation") && (c = session_find_conversation(s, str(ev, "conversation"))))
            s->focused = c;
    } else if (strcmp(type, "conversation.deleted") == 0) {
        if (str(ev, "conversation") && (c = session_find_conversation(s, str(ev, "conversation"))))
            session_remove_conversation(s, c);
    }
}

/* ---- resuming ----------------------------------------------------------------- */

/* Mistral restarts only a server conversation that was appended to: one
 * that answered a second request (an output after an input, twice). */
static void note_appended(struct session *s)
{
    for (size_t i = 0; i < s->conversations.len; i++) {
        struct conversation *c = s->conversations.items[i];
        int answers = 0;
        for (size_t k = c->remote_span.first + 1; c->remote_id && k < c->entries.len; k++) {
            const struct entry *e = c->entries.items[k], *before = c->entries.items[k - 1];
            bool in = before->type == ENTRY_MESSAGE_INPUT || before->type == ENTRY_FUNCTION_RESULT;
            bool out = e->type != ENTRY_MESSAGE_INPUT && e->type != ENTRY_FUNCTION_RESULT;
            answers += in && out;
        }
        c->remote_span.appended = answers >= 2;
    }
}

/* What a pattern step's run came to: the last run that went on with it. */
static bool fate_of(void *ud, const char *run, struct run_fate *fate)
{
    struct rebuild *rb = ud;
    struct run_record *r = find_run(rb, run), *next;
    int hops = 0;

    if (!r)
        return false;
    while (r->retried_by && (next = find_run(rb, r->retried_by)) && hops++ < 1000)
        r = next;
    fate->run = xstrdup(r->id);
    fate->status = r->status && strcmp(r->status, "interrupted") != 0 ? xstrdup(r->status) : NULL;
    fate->output = r->output ? xstrdup(r->output) : NULL;
    fate->message = r->message ? xstrdup(r->message) : NULL;
    return true;
}

/* The runs in flight when the session stopped, or cut off before and
 * never retried: they become unfinished, and their ids go to list. */
static void collect_unfinished(struct rebuild *rb, cJSON *list)
{
    struct session *s = rb->s;

    for (size_t i = 0; i < rb->runs.len; i++) {
        struct run_record *r = rb->runs.items[i];
        struct conversation *c = r->conversation ? session_find_conversation(s, r->conversation) : NULL;
        struct unfinished *u;
        if ((r->status && strcmp(r->status, "interrupted") != 0) || r->retried_by)
            continue;
        u = xcalloc(1, sizeof *u);
        u->run = xstrdup(r->id);
        u->conversation = r->conversation ? xstrdup(r->conversation) : NULL;
        u->first_entry = r->first_entry;
        u->agent = xstrdup(c ? c->agent : r->agent);
        u->streamed = r->streaming ? xstrdup(r->streaming) : NULL;
        vec_push(&s->unfinished, u);
        cJSON_AddItemToArray(list, cJSON_CreateString(r->id));
    }
}

/* run.interrupted for each run in flight that no earlier resume marked. */
static void emit_interrupted(struct rebuild *rb)
{
    for (size_t i = 0; i < rb->runs.len; i++) {
        struct run_record *r = rb->runs.items[i];
        struct unfinished *u = session_find_unfinished(rb->s, r->id);
        cJSON *fields;
        if (r->status || !u)
            continue;
        fields = cJSON_CreateObject();
        cJSON_AddStringToObject(fields, "conversation", r->conversation ? r->conversation : "");
        cJSON_AddStringToObject(fields, "agent", u->agent ? u->agent : "");
        cJSON_AddStringToObject(fields, "run", r->id);
        cJSON_AddStringToObject(fields, "message",
                                "agentdeck stopped while the run was in flight (a crash, a kill or a power cut); "
                                "/retry goes on with it");
        event_emit(&rb->s->events, "run.interrupted", fields);
    }
}

void resume_session(struct session *s, const struct resume_source *src)
{
    struct rebuild *rb = rebuild_new(s);
    cJSON *fields = cJSON_CreateObject(), *interrupted;

    for (size_t i = 0; i < src->journal.lines.len; i++)
        rebuild_event(rb, ((struct journal_line *)src->journal.lines.items[i])->event);
    note_appended(s);
    s->events.seq = src->journal.last_seq;

    cJSON_AddStringToObject(fields, "session", s->id);
    cJSON_AddStringToObject(fields, "journal", src->events);
    cJSON_AddNumberToObject(fields, "events", (double)src->journal.lines.len);
    cJSON_AddNumberToObject(fields, "conversations", (double)s->conversations.len);
    if (s->focused)
        cJSON_AddStringToObject(fields, "focused", s->focused->id);
    interrupted = cJSON_AddArrayToObject(fields, "interrupted");
    collect_unfinished(rb, interrupted);
    event_emit(&s->events, "session.resumed", fields);
    for (size_t i = 0; i < src->journal.warnings.len; i++) {
        fields = cJSON_CreateObject();
        cJSON_AddStringToObject(fields, "message", src->journal.warnings.items[i]);
        event_emit(&s->events, "warning", fields);
    }
    emit_interrupted(rb);
    for (size_t i = 0; i < rb->patterns.len; i++) {
        struct pattern_record *p = rb->patterns.items[i];
        if (!p->done && !pattern_resume(s, p->started, &p->steps, fate_of, rb)) {
            fields = cJSON_CreateObject();
            cJSON_AddStringToObject(fields, "message", "a pattern cannot go on: its pattern.started cannot be read");
            event_emit(&s->events, "warning", fields);
        }
    }
    rebuild_free(rb);
}
