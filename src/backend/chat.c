#include "config.h"

#include "backend/chat.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/api.h"
#include "core/buf.h"
#include "core/xalloc.h"

#define TRANSFER_PREFIX "transfer_to_"

/* Where the backend stands with the server: whether GET /v1/models
 * answered, and what it listed. */
enum probe_state {
    PROBE_NONE,    /* not asked yet, or the last answer was a failure */
    PROBE_RUNNING, /* asked; requests and prepares wait */
    PROBE_OK,      /* the server answered: models holds its models */
};

struct chat_backend {
    struct backend base;
    struct api_client client;
    char *models_url; /* BASE/v1/models, for messages */
    char *model;      /* --model: every agent's model, or NULL */
    bool stream;
    struct team *team;      /* set by prepare: whose models must be there */
    enum probe_state probe; /* the last question about the models */
    char *probe_error;      /* why the last one failed, or NULL */
    cJSON *models;          /* the server's ModelList "data", once it answered */
    struct vec waiting;     /* struct backend_call * that wait for the probe */
    struct vec prepares;    /* struct prepare_wait * that wait for the probe */
    struct vec warned;      /* char *: "agent/tool" built-in tools already warned about */
    unsigned probes;        /* probes started so far: the number of the last */
};

char *chat_transfer_name(const char *agent)
{
    return xasprintf(TRANSFER_PREFIX "%s", agent);
}

static const char *json_str(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* Nine characters of [a-zA-Z0-9] made from seed, as Mistral wants tool call
 * ids to be: for handoffs that came without a call (a text marker, the
 * debugger's /redirect) and for servers that send calls without an id. */
static void made_up_call_id(const char *seed, char out[10])
{
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *s = (const unsigned char *)seed; *s; s++)
        h = (h ^ *s) * 1099511628211ULL;
    for (int i = 0; i < 9; i++) {
        out[i] = digits[h % 62];
        h /= 62;
        if (!h)
            h = 1099511628211ULL * (uint64_t)(i + 7);
    }
    out[9] = '\0';
}

/* ---- the request body ---------------------------------------------------- */

/* The last message of messages if it is an assistant's, else a new one. */
static cJSON *assistant_message(cJSON *messages)
{
    cJSON *last = cJSON_GetArrayItem(messages, cJSON_GetArraySize(messages) - 1);
    const char *role = json_str(last, "role");

    if (role && strcmp(role, "assistant") == 0)
        return last;
    last = cJSON_CreateObject();
    cJSON_AddStringToObject(last, "role", "assistant");
    cJSON_AddStringToObject(last, "content", "");
    cJSON_AddItemToArray(messages, last);
    return last;
}

static void add_text_message(cJSON *messages, const char *role, const char *content)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", role);
    cJSON_AddStringToObject(m, "content", content ? content : "");
    cJSON_AddItemToArray(messages, m);
}

/* An agent's reply joins the assistant message before it, if any. */
static void add_reply(cJSON *messages, const char *content)
{
    cJSON *m = assistant_message(messages);
    cJSON *old = cJSON_GetObjectItemCaseSensitive(m, "content");
    char *joined;

    if (!content || !*content)
        return;
    joined = *old->valuestring ? xasprintf("%s\n\n%s", old->valuestring, content) : xstrdup(content);
    cJSON_ReplaceItemInObjectCaseSensitive(m, "content", cJSON_CreateString(joined));
    free(joined);
}

/* A tool call joins the assistant message before it, if any. */
static void add_tool_call(cJSON *messages, const char *id, const char *name, const char *arguments)
{
    cJSON *m = assistant_message(messages);
    cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
    cJSON *call = cJSON_CreateObject();
    cJSON *fn;

    if (!calls)
        calls = cJSON_AddArrayToObject(m, "tool_calls");
    cJSON_AddStringToObject(call, "id", id);
    cJSON_AddStringToObject(call, "type", "function");
    fn = cJSON_AddObjectToObject(call, "function");
    cJSON_AddStringToObject(fn, "name", name);
    cJSON_AddStringToObject(fn, "arguments", arguments && *arguments ? arguments : "{}");
    cJSON_AddItemToArray(calls, call);
}

static void add_tool_result(cJSON *messages, const char *id, const char *name, const char *content)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "tool");
    cJSON_AddStringToObject(m, "tool_call_id", id);
    if (name)
        cJSON_AddStringToObject(m, "name", name);
    cJSON_AddStringToObject(m, "content", content ? content : "");
    cJSON_AddItemToArray(messages, m);
}

/* Whether conv has a function.result for tool_call_id: a call without one
 * (its run ended first) is left out, or the server would refuse the history. */
static bool has_result(const struct conversation *conv, const char *tool_call_id)
{
    for (size_t i = 0; tool_call_id && i < conv->entries.len; i++) {
        const struct entry *e = conv->entries.items[i];
        if (e->type == ENTRY_FUNCTION_RESULT && e->tool_call_id && strcmp(e->tool_call_id, tool_call_id) == 0)
            return true;
    }
    return false;
}

/* The name of the function that call tool_call_id of conv called, or NULL. */
static const char *called_name(const struct conversation *conv, const char *tool_call_id)
{
    for (size_t i = 0; tool_call_id && i < conv->entries.len; i++) {
        const struct entry *e = conv->entries.items[i];
        if (e->type == ENTRY_FUNCTION_CALL && e->tool_call_id && strcmp(e->tool_call_id, tool_call_id) == 0)
            return e->name;
    }
    return NULL;
}

/* The messages of a request: the agent's instructions, its demonstrations,
 * then the conversation. A handoff is shown as the call of its
 * transfer_to_ function and that call's result, so that the history reads
 * the same whoever speaks next. */
static cJSON *chat_messages(const struct agent *agent, const struct conversation *conv)
{
    cJSON *messages = cJSON_CreateArray();
    const cJSON *demo;

    if (agent->instructions && *agent->instructions)
        add_text_message(messages, "system", agent->instructions);
    cJSON_ArrayForEach(demo, agent->demonstrations) {
        add_text_message(messages, "user", json_str(demo, "input"));
        add_text_message(messages, "assistant", json_str(demo, "output"));
    }
    for (size_t i = 0; i < conv->entries.len; i++) {
        const struct entry *e = conv->entries.items[i];
        switch (e->type) {
        case ENTRY_MESSAGE_INPUT:
            if (e->role && strcmp(e->role, "assistant") == 0)
                add_reply(messages, e->content);
            else
                add_text_message(messages, "user", e->content);
            break;
        case ENTRY_MESSAGE_OUTPUT:
            add_reply(messages, e->content);
            break;
        case ENTRY_FUNCTION_CALL:
            if (has_result(conv, e->tool_call_id))
                add_tool_call(messages, e->tool_call_id, e->name, e->arguments);
            break;
        case ENTRY_FUNCTION_RESULT:
            if (called_name(conv, e->tool_call_id))
                add_tool_result(messages, e->tool_call_id, called_name(conv, e->tool_call_id), e->result);
            break;
        case ENTRY_AGENT_HANDOFF: {
            char made_up[10], *name, *said;
            const char *id = e->tool_call_id;
            if (!e->next_agent)
                break;
            if (!id || !*id) {
                made_up_call_id(e->id, made_up);
                id = made_up;
            }
            name = chat_transfer_name(e->next_agent);
            said = xasprintf("Transferred to %s: %s now answers the user.", e->next_agent, e->next_agent);
            add_tool_call(messages, id, name, "{}");
            add_tool_result(messages, id, name, said);
            free(name);
            free(said);
            break;
        }
        case ENTRY_TOOL_EXECUTION:
            break; /* built-in tools do not run here */
        }
    }
    return messages;
}

/* The agent's function tools, and a transfer_to_ function per handoff. */
static cJSON *chat_tools(const struct team *team, const struct agent *agent)
{
    cJSON *tools = cJSON_CreateArray();
    const cJSON *tool;

    cJSON_ArrayForEach(tool, agent->tools) {
        const char *type = json_str(tool, "type");
        if (type && strcmp(type, "function") == 0)
            cJSON_AddItemToArray(tools, cJSON_Duplicate(tool, 1));
    }
    for (size_t i = 0; i < agent->handoffs.len; i++) {
        const char *to = agent->handoffs.items[i];
        const struct agent *next = team ? team_find_agent(team, to) : NULL;
        cJSON *t = cJSON_CreateObject(), *fn, *params;
        char *name = chat_transfer_name(to);
        char *what = next && next->description
                         ? xasprintf("Hand the conversation over to the agent %s: %s", to, next->description)
                         : xasprintf("Hand the conversation over to the agent %s.", to);

        cJSON_AddStringToObject(t, "type", "function");
        fn = cJSON_AddObjectToObject(t, "function");
        cJSON_AddStringToObject(fn, "name", name);
        cJSON_AddStringToObject(fn, "description", what);
        params = cJSON_AddObjectToObject(fn, "parameters");
        cJSON_AddStringToObject(params, "type", "object");
        cJSON_AddObjectToObject(params, "properties");
        cJSON_AddItemToArray(tools, t);
        free(name);
        free(what);
    }
    return tools;
}

/* The ChatCompletionRequest for agent on conv (MISTRAL_API.md §12.1). */
static cJSON *chat_body(const struct chat_backend *cb, const struct backend_request *req, const char *model)
{
    cJSON *body = cJSON_CreateObject();
    cJSON *tools = chat_tools(req->team, req->agent);
    const cJSON *arg;

    cJSON_AddStringToObject(body, "model", model);
    cJSON_AddItemToObject(body, "messages", chat_messages(req->agent, req->conv));
    if (cJSON_GetArraySize(tools))
        cJSON_AddItemToObject(body, "tools", tools);
    else
        cJSON_Delete(tools);
    /* CompletionArgs' fields all exist on chat completions, by the same names. */
    cJSON_ArrayForEach(arg, req->agent->completion_args) {
        if (!cJSON_IsNull(arg) && !(req->response_format && strcmp(arg->string, "response_format") == 0))
            cJSON_AddItemToObject(body, arg->string, cJSON_Duplicate(arg, 1));
    }
    if (req->response_format)
        cJSON_AddItemToObject(body, "response_format", cJSON_Duplicate(req->response_format, 1));
    if (req->agent->guardrails)
        cJSON_AddItemToObject(body, "guardrails", cJSON_Duplicate(req->agent->guardrails, 1));
    cJSON_AddBoolToObject(body, "stream", cb->stream);
    return body;
}

/* ---- one completion -------------------------------------------------------- */

/* A tool call being put back together from its deltas. */
struct tool_call {
    int index;
    char *id, *name;
    struct buf arguments;
};

struct backend_call {
    struct chat_backend *cb;
    struct backend_reply reply;
    struct api_call *api;
    char *agent;         /* the agent answering */
    char *model;         /* the model asked */
    char *body;          /* the request, until it is sent */
    char *tag;           /* the run's id, for the wire log */
    struct vec handoffs; /* char *: the agents it may hand off to */
    struct entry *text;  /* the reply streaming in, or NULL */
    struct vec calls;    /* struct tool_call *, in the order they began */
    struct usage usage;
    bool have_usage;
    unsigned serial;         /* waiting: the probe it waits for */
    int64_t prompt_estimate; /* tokens, should the server not count them */
    char *error;             /* an error the server sent inside the stream */
    bool delivering, cancelled;
};

static void tool_call_free(void *item)
{
    struct tool_call *t = item;
    free(t->id);
    free(t->name);
    buf_fini(&t->arguments);
    free(t);
}

static void call_free(struct backend_call *call)
{
    entry_free(call->text);
    free(call->agent);
    free(call->model);
    free(call->body);
    free(call->tag);
    vec_fini(&call->handoffs);
    vec_fini(&call->calls);
    free(call->error);
    free(call);
}

/* The tool call a delta continues: the one of its index (unless the delta
 * names another id), else of its id; a delta with neither continues the
 * last call. Else it begins a new one. */
static struct tool_call *tool_call_of(struct backend_call *call, const cJSON *delta)
{
    const cJSON *index = cJSON_GetObjectItemCaseSensitive(delta, "index");
    const char *id = json_str(delta, "id");
    struct tool_call *t;

    if (!cJSON_IsNumber(index) && !id && call->calls.len)
        return vec_last(&call->calls);
    for (size_t i = 0; i < call->calls.len; i++) {
        t = call->calls.items[i];
        bool other_id = id && t->id && strcmp(t->id, id) != 0;
        if (cJSON_IsNumber(index) ? t->index == index->valueint && !other_id : id && t->id && !other_id)
            return t;
    }
    t = xcalloc(1, sizeof *t);
    t->index = cJSON_IsNumber(index) ? index->valueint : (int)call->calls.len;
    buf_init(&t->arguments);
    vec_push(&call->calls, t);
    return t;
}

static void take_tool_delta(struct backend_call *call, const cJSON *delta)
{
    struct tool_call *t = tool_call_of(call, delta);
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(delta, "function");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");

    if (!t->id && json_str(delta, "id"))
        t->id = xstrdup(json_str(delta, "id"));
    /* The name comes once (OpenAI-style deltas) or with every piece (Mistral's). */
    if (!t->name && json_str(fn, "name"))
        t->name = xstrdup(json_str(fn, "name"));
    if (cJSON_IsString(args)) {
        buf_puts(&t->arguments, args->valuestring);
    } else if (cJSON_IsObject(args)) { /* whole, as an object (Ollama) */
        char *text = cJSON_PrintUnformatted(args);
        buf_puts(&t->arguments, text ? text : "{}");
        cJSON_free(text);
    }
}

/* A piece of the reply's text: a string, or the text of text chunks. */
static void take_content(struct backend_call *call, const cJSON *content)
{
    struct buf text = BUF_INIT;
    const cJSON *chunk;
    char *joined;

    if (cJSON_IsString(content)) {
        buf_puts(&text, content->valuestring);
    } else {
        cJSON_ArrayForEach(chunk, content) {
            const char *type = json_str(chunk, "type");
            if ((!type || strcmp(type, "text") == 0) && json_str(chunk, "text"))
                buf_puts(&text, json_str(chunk, "text"));
        }
    }
    if (text.len) {
        if (!call->text)
            call->text = entry_new(ENTRY_MESSAGE_OUTPUT, call->agent);
        joined = xasprintf("%s%s", call->text->content ? call->text->content : "", buf_str(&text));
        free(call->text->content);
        call->text->content = joined;
        call->reply.delta(call->reply.ud, call->agent, call->text->id, buf_str(&text));
    }
    buf_fini(&text);
}

static void take_usage(struct backend_call *call, const cJSON *usage)
{
    const cJSON *n;

    if (!cJSON_IsObject(usage))
        return;
    call->have_usage = true;
    if ((n = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens")) && cJSON_IsNumber(n))
        call->usage.prompt_tokens = (int64_t)n->valuedouble;
    if ((n = cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens")) && cJSON_IsNumber(n))
        call->usage.completion_tokens = (int64_t)n->valuedouble;
    if ((n = cJSON_GetObjectItemCaseSensitive(usage, "total_tokens")) && cJSON_IsNumber(n))
        call->usage.total_tokens = (int64_t)n->valuedouble;
}

/* An error object (or string) the server put in a chunk or a body. */
static bool take_error(struct backend_call *call, const cJSON *data)
{
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(data, "error");
    const char *message = cJSON_IsString(error) ? error->valuestring : json_str(error, "message");

    if (!error || cJSON_IsNull(error))
        return false;
    free(call->error);
    call->error = xasprintf("the server reported an error: %s", message ? message : "no message");
    return true;
}

/* One choice of a chunk (delta) or of a whole answer (message). */
static void take_choice(struct backend_call *call, const cJSON *message)
{
    const cJSON *delta;

    take_content(call, cJSON_GetObjectItemCaseSensitive(message, "content"));
    cJSON_ArrayForEach(delta, cJSON_GetObjectItemCaseSensitive(message, "tool_calls"))
        take_tool_delta(call, delta);
}

static void take_finish(struct backend_call *call, const cJSON *choice)
{
    const char *finish = json_str(choice, "finish_reason");
    if (finish && strcmp(finish, "error") == 0 && !call->error)
        call->error = xstrdup("the model stopped with an error (finish_reason \"error\")");
}

/* A streamed chunk: data-only events, [DONE] last (api.c ends the stream there). */
static bool chat_event(struct api_call *c, const char *type, const cJSON *data)
{
    struct backend_call *call = c->owner;
    const cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(data, "choices"), 0);

    (void)type;
    call->delivering = true;
    if (take_error(call, data)) {
        c->stream_ended = true; /* an error ends it: no [DONE] comes */
    } else {
        take_choice(call, cJSON_GetObjectItemCaseSensitive(choice, "delta"));
        take_finish(call, choice);
        take_usage(call, cJSON_GetObjectItemCaseSensitive(data, "usage"));
    }
    call->delivering = false;
    return !call->cancelled;
}

/* Whether name is transfer_to_AGENT for an agent call may hand off to. */
static const char *handoff_target(const struct backend_call *call, const char *name)
{
    size_t n = strlen(TRANSFER_PREFIX);
    if (!name || strncmp(name, TRANSFER_PREFIX, n) != 0)
        return NULL;
    for (size_t i = 0; i < call->handoffs.len; i++) {
        if (strcmp(call->handoffs.items[i], name + n) == 0)
            return call->handoffs.items[i];
    }
    return NULL;
}

/* Hands an entry to the runner; false once the call was cancelled from the callback. */
static bool deliver(struct backend_call *call, struct entry *e)
{
    call->reply.entry(call->reply.ud, e);
    return !call->cancelled;
}

/* The entries of the answer, in order: the reply's text, the function
 * calls, then the handoff (its first transfer_to_ call; a handoff takes
 * effect once the calls before it have their results). */
static bool deliver_answer(struct backend_call *call)
{
    struct tool_call *handoff = NULL;
    struct entry *e;

    if (call->text) {
        e = call->text;
        call->text = NULL;
        if (!deliver(call, e))
            return false;
    }
    for (size_t i = 0; i < call->calls.len; i++) {
        struct tool_call *t = call->calls.items[i];
        char made_up[10];
        if (handoff_target(call, t->name)) {
            if (!handoff)
                handoff = t;
            continue;
        }
        e = entry_new(ENTRY_FUNCTION_CALL, call->agent);
        e->name = xstrdup(t->name ? t->name : "");
        e->arguments = xstrdup(t->arguments.len ? buf_str(&t->arguments) : "{}");
        if (!t->id) {
            made_up_call_id(e->id, made_up);
            t->id = xstrdup(made_up);
        }
        e->tool_call_id = xstrdup(t->id);
        if (!deliver(call, e))
            return false;
    }
    if (handoff) {
        char made_up[10];
        e = entry_new(ENTRY_AGENT_HANDOFF, call->agent);
        e->previous_agent = xstrdup(call->agent);
        e->next_agent = xstrdup(handoff_target(call, handoff->name));
        e->execution = xstrdup("client"); /* agentdeck carries it out */
        if (!handoff->id) {
            made_up_call_id(e->id, made_up);
            handoff->id = xstrdup(made_up);
        }
        e->tool_call_id = xstrdup(handoff->id);
        if (!deliver(call, e))
            return false;
    }
    return true;
}

/* The call ends: its entries, then done or error, go to the runner; the
 * call is freed (also when a callback cancelled it on the way). */
static void call_end(struct backend_call *call, const char *failure)
{
    struct backend_reply reply;
    char *message = failure ? xstrdup(failure) : call->error ? xstrdup(call->error) : NULL;
    struct usage usage;
    bool going = true;

    if (!call->have_usage) {
        /* The server did not count: an estimate, as the offline backend makes. */
        call->usage.prompt_tokens = call->prompt_estimate;
        call->usage.completion_tokens = backend_estimate_tokens(call->text ? call->text->content : NULL);
        for (size_t i = 0; i < call->calls.len; i++)
            call->usage.completion_tokens +=
                backend_estimate_tokens(buf_str(&((struct tool_call *)call->calls.items[i])->arguments));
    }
    if (!call->usage.total_tokens)
        call->usage.total_tokens = call->usage.prompt_tokens + call->usage.completion_tokens;
    call->delivering = true;
    if (message) {
        /* What arrived of the reply before a failure is kept. */
        if (call->text) {
            struct entry *e = call->text;
            call->text = NULL;
            going = deliver(call, e);
        }
    } else {
        going = deliver_answer(call);
    }
    reply = call->reply;
    usage = call->usage;
    call_free(call);
    if (going && message)
        reply.error(reply.ud, message);
    else if (going)
        reply.done(reply.ud, &usage);
    free(message);
}

static void chat_success(struct api_call *c, const cJSON *body)
{
    struct backend_call *call = c->owner;
    const cJSON *choice;

    c->owner = NULL;
    call->api = NULL;
    if (body && !take_error(call, body)) {
        /* A whole answer (--no-stream): one delta with everything. */
        choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(body, "choices"), 0);
        call->delivering = true;
        take_choice(call, cJSON_GetObjectItemCaseSensitive(choice, "message"));
        call->delivering = false;
        take_finish(call, choice);
        take_usage(call, cJSON_GetObjectItemCaseSensitive(body, "usage"));
    }
    api_call_free(c);
    if (call->cancelled)
        call_free(call);
    else
        call_end(call, NULL);
}

static void chat_failure(struct api_call *c, const char *message)
{
    struct backend_call *call = c->owner;
    char *copy = xstrdup(message);

    c->owner = NULL;
    call->api = NULL;
    api_call_free(c);
    if (call->cancelled)
        call_free(call);
    else
        call_end(call, copy);
    free(copy);
}

static void chat_retrying(struct api_call *c, const char *message)
{
    struct backend_call *call = c->owner;
    if (call->reply.warning)
        call->reply.warning(call->reply.ud, message);
}

static void chat_drop(void *owner)
{
    call_free(owner);
}

static const struct api_call_ops chat_ops = {chat_event, chat_success, chat_failure, chat_retrying, chat_drop};

/* ---- the server's models ------------------------------------------------ */

/* Whether the server listed model: by id, by an alias, or (Ollama) as
 * "MODEL:latest" for a model named without a tag. */
static bool has_model(const struct chat_backend *cb, const char *model)
{
    const cJSON *card;
    size_t n = strlen(model);

    cJSON_ArrayForEach(card, cb->models) {
        const char *id = json_str(card, "id");
        const cJSON *alias;
        if (id && (strcmp(id, model) == 0 ||
                   (!strchr(model, ':') && strncmp(id, model, n) == 0 && strcmp(id + n, ":latest") == 0)))
            return true;
        cJSON_ArrayForEach(alias, cJSON_GetObjectItemCaseSensitive(card, "aliases")) {
            if (cJSON_IsString(alias) && strcmp(alias->valuestring, model) == 0)
                return true;
        }
    }
    return false;
}

/* "a, b, c" of the models the server listed (the first twenty); the caller frees it. */
static char *model_list(const struct chat_backend *cb)
{
    struct buf out = BUF_INIT;
    const cJSON *card;
    int n = 0;

    cJSON_ArrayForEach(card, cb->models) {
        const char *id = json_str(card, "id");
        if (!id)
            continue;
        if (n++ == 20) {
            buf_puts(&out, ", ...");
            break;
        }
        buf_printf(&out, "%s%s", out.len ? ", " : "", id);
    }
    if (!out.len)
        buf_puts(&out, "none");
    return buf_steal(&out);
}

/* Why agent (NULL: --model for all) cannot run on the server's models, or NULL. */
static char *missing_model(const struct chat_backend *cb, const char *model, const char *agent)
{
    char *have, *out;

    if (has_model(cb, model))
        return NULL;
    have = model_list(cb);
    out = agent ? xasprintf("%s has no model \"%s\" (agent %s; --model names another for every agent); "
                            "it has: %s",
                            cb->client.base_url, model, agent, have)
                : xasprintf("%s has no model \"%s\" (--model); it has: %s", cb->client.base_url, model, have);
    free(have);
    return out;
}

/* Why the team cannot run on the server's models, or NULL. */
static char *team_problem(const struct chat_backend *cb)
{
    if (cb->model)
        return missing_model(cb, cb->model, NULL);
    for (size_t i = 0; cb->team && i < cb->team->agents.len; i++) {
        const struct agent *a = cb->team->agents.items[i];
        char *why = missing_model(cb, a->model, a->name);
        if (why)
            return why;
    }
    return NULL;
}

static void send_call(struct backend_call *call);

struct prepare_wait {
    backend_prepared_fn *done;
    void *ud;
    unsigned serial; /* the probe it waits for */
};

/* The first of items (waiting for the probe) that asked before probe
 * number serial began, removed; NULL when none is left. Those that came
 * later, from a callback, wait for the next answer. */
static void *take_waiting(struct vec *items, unsigned serial, unsigned (*serial_of)(const void *))
{
    for (size_t i = 0; i < items->len; i++) {
        if (serial_of(items->items[i]) <= serial)
            return vec_remove(items, i);
    }
    return NULL;
}

static unsigned prepare_serial(const void *p)
{
    return ((const struct prepare_wait *)p)->serial;
}

static unsigned call_serial(const void *call)
{
    return ((const struct backend_call *)call)->serial;
}

/* Probe number serial answered (or failed): prepares learn whether the
 * team can run, waiting requests go, or fail with the reason. One at a
 * time from the lists, so that a callback may cancel the others. */
static void probe_end(struct chat_backend *cb, unsigned serial)
{
    bool ok = cb->probe == PROBE_OK;
    char *error = xstrdup(cb->probe_error ? cb->probe_error : "the server has not answered");
    struct prepare_wait *p;
    struct backend_call *call;

    while ((p = take_waiting(&cb->prepares, serial, prepare_serial))) {
        char *why = ok ? team_problem(cb) : xstrdup(error);
        p->done(p->ud, why);
        free(why);
        free(p);
    }
    while ((call = take_waiting(&cb->waiting, serial, call_serial))) {
        char *why = ok ? missing_model(cb, call->model, call->agent) : xstrdup(error);
        if (why) {
            struct backend_reply reply = call->reply;
            char *message = xasprintf("chat backend: %s", why);
            call_free(call);
            reply.error(reply.ud, message);
            free(message);
            free(why);
        } else {
            send_call(call);
        }
    }
    free(error);
}

static void probe_success(struct api_call *c, const cJSON *body)
{
    struct chat_backend *cb = c->owner;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(body, "data");
    unsigned serial = cb->probes;

    api_call_free(c);
    free(cb->probe_error);
    cb->probe_error = NULL;
    cJSON_Delete(cb->models);
    cb->models = NULL;
    if (cJSON_IsArray(data)) {
        cb->models = cJSON_Duplicate(data, 1);
        cb->probe = PROBE_OK;
    } else {
        cb->probe = PROBE_NONE;
        cb->probe_error = xasprintf("%s answered without a list of models (no \"data\" array): is it an "
                                    "OpenAI-compatible server?",
                                    cb->models_url);
    }
    probe_end(cb, serial);
}

static void probe_failure(struct api_call *c, const char *message)
{
    struct chat_backend *cb = c->owner;

    free(cb->probe_error);
    if (c->status)
        cb->probe_error = xasprintf("GET %s failed: %s", cb->models_url, message);
    else
        cb->probe_error = xasprintf("cannot reach %s: %s", cb->models_url, message);
    api_call_free(c);
    cb->probe = PROBE_NONE;
    probe_end(cb, cb->probes);
}

static void probe_drop(void *owner)
{
    (void)owner; /* the backend itself: it is being freed */
}

static const struct api_call_ops probe_ops = {NULL, probe_success, probe_failure, NULL, probe_drop};

/* Asks the server for its models, unless that is under way. */
static void probe_start(struct chat_backend *cb)
{
    struct api_call *c;

    if (cb->probe == PROBE_RUNNING)
        return;
    cb->probe = PROBE_RUNNING;
    cb->probes++;
    c = api_call_start(&cb->client, &probe_ops, cb, "prepare", "GET", xstrdup("/v1/models"), NULL, false);
    c->retries = cb->client.retries < 1 ? cb->client.retries : 1; /* a server that is down says so fast */
}

/* Warns once about each built-in tool an agent has: it cannot run here. */
static void warn_builtin_tools(struct chat_backend *cb, const struct team *team)
{
    for (size_t i = 0; cb->base.warn && i < team->agents.len; i++) {
        const struct agent *a = team->agents.items[i];
        const cJSON *tool;
        cJSON_ArrayForEach(tool, a->tools) {
            const char *type = json_str(tool, "type");
            char *key, *message;
            bool seen = false;
            if (!type || strcmp(type, "function") == 0)
                continue;
            key = xasprintf("%s/%s", a->name, type);
            for (size_t k = 0; k < cb->warned.len && !seen; k++)
                seen = strcmp(cb->warned.items[k], key) == 0;
            if (seen) {
                free(key);
                continue;
            }
            vec_push(&cb->warned, key);
            message = xasprintf("agent %s: the built-in tool %s cannot run on the chat backend (it runs on "
                                "Mistral's servers); the agent goes without it",
                                a->name, type);
            cb->base.warn(cb->base.warn_ud, a->name, message);
            free(message);
        }
    }
}

static void chat_prepare(struct backend *b, struct team *team, backend_prepared_fn *done, void *ud)
{
    struct chat_backend *cb = (struct chat_backend *)b;
    struct prepare_wait *p = xmalloc(sizeof *p);

    cb->team = team;
    warn_builtin_tools(cb, team);
    /* Asked again each time: a new agent may need a model not checked yet. */
    if (cb->probe == PROBE_OK)
        cb->probe = PROBE_NONE;
    probe_start(cb);
    *p = (struct prepare_wait){done, ud, cb->probes};
    vec_push(&cb->prepares, p);
}

/* ---- requests ------------------------------------------------------------ */

static void send_call(struct backend_call *call)
{
    char *body = call->body;
    call->body = NULL;
    call->api = api_call_start(&call->cb->client, &chat_ops, call, call->tag, "POST", xstrdup("/v1/chat/completions"), body,
                               call->cb->stream);
}

static int64_t estimate_prompt(const cJSON *messages)
{
    const cJSON *m;
    int64_t n = 0;
    cJSON_ArrayForEach(m, messages)
        n += backend_estimate_tokens(json_str(m, "content"));
    return n;
}

static struct backend_call *chat_request(struct backend *b, const struct backend_request *req,
                                         const struct backend_reply *reply)
{
    struct chat_backend *cb = (struct chat_backend *)b;
    struct backend_call *call = xcalloc(1, sizeof *call);
    const char *model = cb->model ? cb->model : req->agent->model;
    cJSON *body = chat_body(cb, req, model);

    call->cb = cb;
    call->reply = *reply;
    call->agent = xstrdup(req->agent->name);
    call->model = xstrdup(model);
    call->tag = xstrdup(req->tag ? req->tag : "");
    vec_init(&call->handoffs, free);
    for (size_t i = 0; i < req->agent->handoffs.len; i++)
        vec_push(&call->handoffs, xstrdup(req->agent->handoffs.items[i]));
    vec_init(&call->calls, tool_call_free);
    call->prompt_estimate = estimate_prompt(cJSON_GetObjectItemCaseSensitive(body, "messages"));
    call->body = api_print_json(body);
    if (cb->probe == PROBE_OK && has_model(cb, model)) {
        send_call(call);
    } else {
        /* Not known to be ready (the server was down, or lacked the model
         * when last asked): ask again, then go or fail. */
        if (cb->probe == PROBE_OK)
            cb->probe = PROBE_NONE;
        probe_start(cb);
        call->serial = cb->probes;
        vec_push(&cb->waiting, call);
    }
    return call;
}

static void chat_cancel(struct backend *b, struct backend_call *call)
{
    struct chat_backend *cb = (struct chat_backend *)b;

    for (size_t i = 0; i < cb->waiting.len; i++) {
        if (cb->waiting.items[i] == call) {
            vec_remove(&cb->waiting, i);
            call_free(call);
            return;
        }
    }
    if (call->delivering) {
        call->cancelled = true; /* freed once the callback returns */
        return;
    }
    if (call->api) {
        call->api->owner = NULL;
        api_call_free(call->api);
    }
    call_free(call);
}

static void chat_free(struct backend *b)
{
    struct chat_backend *cb = (struct chat_backend *)b;

    api_client_fini(&cb->client);
    while (cb->waiting.len)
        call_free(vec_remove(&cb->waiting, 0));
    vec_fini(&cb->waiting);
    vec_fini(&cb->prepares);
    vec_fini(&cb->warned);
    cJSON_Delete(cb->models);
    free(cb->probe_error);
    free(cb->models_url);
    free(cb->model);
    free(cb);
}

static void chat_set_wire(struct backend *b, struct wire *wire)
{
    api_client_set_wire(&((struct chat_backend *)b)->client, wire);
}

static const struct backend_ops chat_ops_table = {
    .name = "chat",
    .label = "chat",
    .request = chat_request,
    .cancel = chat_cancel,
    .free = chat_free,
    .prepare = chat_prepare,
    .set_wire = chat_set_wire,
};

struct backend *chat_backend_new(struct loop *loop, const struct chat_options *o)
{
    struct chat_backend *cb = xcalloc(1, sizeof *cb);
    char *base = xstrdup(o->base_url);
    size_t len = strlen(base);

    /* "http://host:11434/v1" (OpenAI's way of writing it) means the same server. */
    while (len && base[len - 1] == '/')
        base[--len] = '\0';
    if (len >= 3 && strcmp(base + len - 3, "/v1") == 0)
        base[len - 3] = '\0';
    cb->base.ops = &chat_ops_table;
    cb->base.loop = loop;
    api_client_init(&cb->client, loop, base, o->api_key, o->retries >= 0 ? o->retries : 4,
                    o->stall_timeout_s > 0 ? o->stall_timeout_s : 60, "data: [DONE]");
    cb->models_url = xasprintf("%s/v1/models", cb->client.base_url);
    cb->model = o->model ? xstrdup(o->model) : NULL;
    cb->stream = !o->no_stream;
    vec_init(&cb->waiting, NULL);
    vec_init(&cb->prepares, free);
    vec_init(&cb->warned, free);
    free(base);
    return &cb->base;
}
