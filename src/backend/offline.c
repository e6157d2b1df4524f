#include "config.h"

#include "backend/offline.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xalloc.h"

struct offline_backend {
    struct backend base;
    double words_per_second;
    struct vec calls; /* struct backend_call * in flight */
    unsigned long long next_tool_call;
};

struct backend_call {
    struct offline_backend *ob;
    struct backend_reply reply;
    uint64_t timer;
    struct entry *pending; /* the entry to deliver when streaming ends */
    char *text;            /* message.output: the whole reply */
    size_t streamed;       /* bytes of text delivered as deltas */
    struct usage usage;
    bool delivering; /* inside a reply callback: cancel only marks */
    bool cancelled;
};

char *offline_expand(const char *templ, const char *input, const char *agent, const char *const groups[10])
{
    struct buf out = BUF_INIT;

    for (const char *p = templ; *p;) {
        const char *value = NULL;
        size_t skip = 0;

        if (p[0] == '{') {
            if (strncmp(p, "{input}", 7) == 0) {
                value = input;
                skip = 7;
            } else if (strncmp(p, "{agent}", 7) == 0) {
                value = agent;
                skip = 7;
            } else if (p[1] >= '0' && p[1] <= '9' && p[2] == '}') {
                value = groups ? groups[p[1] - '0'] : NULL;
                skip = 3;
            }
        }
        if (skip) {
            buf_puts(&out, value ? value : "");
            p += skip;
        } else {
            buf_putc(&out, *p++);
        }
    }
    return buf_steal(&out);
}

/* Expands templates in every string of a JSON value, in place. */
static void expand_json_strings(cJSON *item, const char *input, const char *agent, const char *const groups[10])
{
    for (cJSON *it = item; it; it = it->next) {
        if (cJSON_IsString(it)) {
            char *s = offline_expand(it->valuestring, input, agent, groups);
            cJSON_SetValuestring(it, s);
            free(s);
        } else if (it->child) {
            expand_json_strings(it->child, input, agent, groups);
        }
    }
}

/* Finds the first rule matching input and fills groups (new strings). */
static const struct offline_rule *match_rule(const struct agent *agent, const char *input, char *groups[10])
{
    for (size_t i = 0; i < agent->rules.len; i++) {
        const struct offline_rule *rule = agent->rules.items[i];
        regmatch_t m[10];

        if (!rule->when)
            return rule;
        if (regexec(&rule->when_re, input, 10, m, 0) != 0)
            continue;
        for (int g = 0; g < 10; g++) {
            if (m[g].rm_so >= 0)
                groups[g] = xstrndup(input + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so));
        }
        return rule;
    }
    return NULL;
}

static void call_free(struct backend_call *call)
{
    entry_free(call->pending);
    free(call->text);
    free(call);
}

static void call_forget(struct backend_call *call)
{
    struct vec *calls = &call->ob->calls;
    for (size_t i = 0; i < calls->len; i++) {
        if (calls->items[i] == call) {
            vec_remove(calls, i);
            break;
        }
    }
    call_free(call);
}

/* Length of the next word of s and the blanks after it. */
static size_t next_word(const char *s)
{
    size_t n = 0;
    while (s[n] == ' ' || s[n] == '\n' || s[n] == '\t')
        n++;
    while (s[n] && s[n] != ' ' && s[n] != '\n' && s[n] != '\t')
        n++;
    while (s[n] == ' ' || s[n] == '\n' || s[n] == '\t')
        n++;
    return n;
}

/* The pause between two words, kept between 1 ms and a minute. */
static int64_t offline_word_delay_ms(const struct offline_backend *ob)
{
    double ms = 1000.0 / ob->words_per_second;
    return ms < 1 ? 1 : ms > 60000 ? 60000 : (int64_t)ms;
}

static void call_step(struct loop *loop, void *ud)
{
    struct backend_call *call = ud;
    struct offline_backend *ob = call->ob;
    struct backend_reply reply = call->reply;
    struct entry *e;

    call->timer = 0;
    /* The call stays alive through each callback, which may cancel it:
     * then it is only marked, and freed here once the callback returns. */
    call->delivering = true;
    if (call->text && call->text[call->streamed]) {
        size_t n =
            ob->words_per_second > 0 ? next_word(call->text + call->streamed) : strlen(call->text + call->streamed);
        char *piece = xstrndup(call->text + call->streamed, n);
        call->streamed += n;
        reply.delta(reply.ud, call->pending->agent, call->pending->id, piece);
        free(piece);
        if (call->cancelled) {
            call_forget(call);
            return;
        }
        if (call->text[call->streamed]) {
            call->delivering = false;
            call->timer = loop_timer_add(loop, offline_word_delay_ms(ob), call_step, call);
            return;
        }
    }
    e = call->pending;
    call->pending = NULL;
    reply.entry(reply.ud, e);
    if (!call->cancelled)
        reply.done(reply.ud, &call->usage);
    call_forget(call);
}

static int64_t prompt_tokens(const struct backend_request *req)
{
    int64_t n = backend_estimate_tokens(req->agent->instructions);
    for (size_t i = 0; i < req->conv->entries.len; i++) {
        const struct entry *e = req->conv->entries.items[i];
        n += backend_estimate_tokens(e->content) + backend_estimate_tokens(e->result) +
             backend_estimate_tokens(e->arguments);
    }
    return n;
}

static struct backend_call *offline_request(struct backend *b, const struct backend_request *req,
                                            const struct backend_reply *reply)
{
    struct offline_backend *ob = (struct offline_backend *)b;
    struct backend_call *call = xcalloc(1, sizeof *call);
    const struct agent *agent = req->agent;
    const struct entry *latest = conversation_latest_input(req->conv);
    const char *input = "";
    char *groups[10] = {0};
    const struct offline_rule *rule;
    struct entry *e;

    if (latest)
        input = latest->type == ENTRY_FUNCTION_RESULT ? latest->result : latest->content;
    if (!input)
        input = "";
    call->ob = ob;
    call->reply = *reply;
    rule = match_rule(agent, input, groups);

    if (!rule || rule->action == OFFLINE_SAY) {
        /* A reply the crash cut off streams again with its id. */
        e = req->resume && req->resume_entry_id
                ? entry_new_with_id(ENTRY_MESSAGE_OUTPUT, agent->name, req->resume_entry_id)
                : entry_new(ENTRY_MESSAGE_OUTPUT, agent->name);
        if (rule)
            call->text = offline_expand(rule->say, input, agent->name, (const char *const *)groups);
        else
            call->text = xasprintf("[%s, offline: no rule matched] You said: \"%s\"", agent->name, input);
        e->content = xstrdup(call->text);
    } else if (rule->action == OFFLINE_CALL) {
        cJSON *args = cJSON_Parse(rule->call_args ? rule->call_args : "{}");
        char *text;
        if (!args)
            args = cJSON_CreateObject();
        expand_json_strings(args, input, agent->name, (const char *const *)groups);
        text = cJSON_PrintUnformatted(args);
        cJSON_Delete(args);
        e = entry_new(ENTRY_FUNCTION_CALL, agent->name);
        e->name = xstrdup(rule->call_name);
        e->arguments = xstrdup(text);
        cJSON_free(text);
        /* Nine characters, like Mistral's tool call ids. */
        e->tool_call_id = xasprintf("of%07llu", ++ob->next_tool_call % 10000000ULL);
    } else {
        e = entry_new(ENTRY_AGENT_HANDOFF, agent->name);
        e->previous_agent = xstrdup(agent->name);
        e->next_agent = xstrdup(rule->handoff);
        /* agentdeck itself, the client, carries out the handoff. */
        e->execution = xstrdup("client");
    }
    for (int g = 0; g < 10; g++)
        free(groups[g]);

    call->pending = e;
    call->usage.prompt_tokens = prompt_tokens(req);
    call->usage.completion_tokens =
        backend_estimate_tokens(e->content) + backend_estimate_tokens(e->arguments) + (e->next_agent ? 1 : 0);
    call->usage.total_tokens = call->usage.prompt_tokens + call->usage.completion_tokens;
    vec_push(&ob->calls, call);
    call->timer = loop_timer_add(b->loop, 0, call_step, call);
    return call;
}

static void offline_cancel(struct backend *b, struct backend_call *call)
{
    loop_timer_cancel(b->loop, call->timer);
    call->timer = 0;
    if (call->delivering)
        call->cancelled = true;
    else
        call_forget(call);
}

static void offline_free(struct backend *b)
{
    struct offline_backend *ob = (struct offline_backend *)b;
    for (size_t i = 0; i < ob->calls.len; i++) {
        struct backend_call *call = ob->calls.items[i];
        loop_timer_cancel(b->loop, call->timer);
        call_free(call);
    }
    vec_fini(&ob->calls);
    free(ob);
}

/* Tool call ids go on after the highest of a rebuilt session. */
static void offline_restore(struct backend *b, const struct entry *e)
{
    struct offline_backend *ob = (struct offline_backend *)b;
    unsigned long long n;

    if (e->type == ENTRY_FUNCTION_CALL && e->tool_call_id && strlen(e->tool_call_id) == 9 &&
        strncmp(e->tool_call_id, "of", 2) == 0 && strspn(e->tool_call_id + 2, "0123456789") == 7) {
        n = strtoull(e->tool_call_id + 2, NULL, 10);
        if (n > ob->next_tool_call)
            ob->next_tool_call = n;
    }
}

static const struct backend_ops offline_ops = {
    .name = "offline",
    .label = "offline (scripted)",
    .request = offline_request,
    .cancel = offline_cancel,
    .free = offline_free,
    .restore = offline_restore,
};

struct backend *offline_backend_new(struct loop *loop, double words_per_second)
{
    struct offline_backend *ob = xcalloc(1, sizeof *ob);
    ob->base.ops = &offline_ops;
    ob->base.loop = loop;
    ob->words_per_second = words_per_second > 0 ? words_per_second : 0;
    vec_init(&ob->calls, NULL);
    return &ob->base;
}
