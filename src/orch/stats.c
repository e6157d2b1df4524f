#include "config.h"

#include "orch/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/xalloc.h"

struct agent_stats {
    char *agent;
    unsigned requests, failed, runs;
    struct usage usage;
    int64_t latency_sum, latency_max;
    int64_t first_sum; /* over the requests that streamed */
    unsigned first_n;
};

/* A handoff from one agent to another: declared in the team, taken, or both. */
struct edge {
    char *from, *to;
    unsigned count;
    int64_t last_wall_ms; /* when it was last taken */
};

/* What the agent that received a handoff was given: the conversation up to
 * and including the handoff, and its definition at that moment. */
struct handoff_record {
    char *entry_id;
    char *conversation;
    size_t index; /* of the handoff entry in the conversation */
    char *previous_agent, *next_agent, *execution;
    char *redirected_to; /* the user sent it to this agent instead (/redirect), or NULL */
    cJSON *definition; /* agent_to_json() of the receiving agent, or NULL when it was gone */
};

struct stats {
    struct vec agents;   /* struct agent_stats * */
    struct vec edges;    /* struct edge *, taken ones only */
    struct vec handoffs; /* struct handoff_record * */
};

static void agent_stats_free(void *item)
{
    struct agent_stats *a = item;
    free(a->agent);
    free(a);
}

static void edge_free(void *item)
{
    struct edge *e = item;
    free(e->from);
    free(e->to);
    free(e);
}

static void handoff_record_free(void *item)
{
    struct handoff_record *h = item;
    free(h->entry_id);
    free(h->conversation);
    free(h->previous_agent);
    free(h->next_agent);
    free(h->execution);
    free(h->redirected_to);
    cJSON_Delete(h->definition);
    free(h);
}

static const char *field(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static struct agent_stats *agent_stats(struct stats *st, const char *agent)
{
    struct agent_stats *a;
    for (size_t i = 0; i < st->agents.len; i++) {
        a = st->agents.items[i];
        if (strcmp(a->agent, agent) == 0)
            return a;
    }
    a = xcalloc(1, sizeof *a);
    a->agent = xstrdup(agent);
    vec_push(&st->agents, a);
    return a;
}

static struct edge *find_edge(const struct stats *st, const char *from, const char *to)
{
    for (size_t i = 0; i < st->edges.len; i++) {
        struct edge *e = st->edges.items[i];
        if (strcmp(e->from, from) == 0 && strcmp(e->to, to) == 0)
            return e;
    }
    return NULL;
}

/* The user's /redirect at a handoff stop: the handoff from->meant that
 * was about to happen never did. */
static void undo_meant_handoff(struct stats *st, const char *conv_id, const char *from, const char *meant,
                               const char *to)
{
    struct edge *e = find_edge(st, from, meant);

    if (e && e->count)
        e->count--;
    for (size_t i = st->handoffs.len; i-- > 0;) {
        struct handoff_record *h = st->handoffs.items[i];
        if (strcmp(h->conversation, conv_id) == 0 && strcmp(h->next_agent, meant) == 0 && !h->redirected_to) {
            h->redirected_to = xstrdup(to);
            return;
        }
    }
}

/* An agent.handoff entry: the edge is taken once more, and what the
 * receiving agent holds now is kept for /context. A redirect's entry names
 * the agent that was meant as previous_agent: the edge starts at the
 * agent that handed off. */
static void record_handoff(struct session *s, const cJSON *ev)
{
    const char *from = field(ev, "previous_agent"), *to = field(ev, "next_agent"), *id = field(ev, "entry_id");
    const char *conv_id = field(ev, "conversation"), *execution = field(ev, "execution");
    struct stats *st = s->stats;
    struct conversation *conv = conv_id ? session_find_conversation(s, conv_id) : NULL;
    struct edge *e;
    struct handoff_record *h;
    const struct agent *next;
    size_t index;

    if (!from || !to || !id || !conv || !conversation_find_entry(conv, id, &index))
        return;
    if (execution && strcmp(execution, "user") == 0 && field(ev, "agent")) {
        undo_meant_handoff(st, conv_id, field(ev, "agent"), from, to);
        from = field(ev, "agent");
    }
    if (!(e = find_edge(st, from, to))) {
        e = xcalloc(1, sizeof *e);
        e->from = xstrdup(from);
        e->to = xstrdup(to);
        vec_push(&st->edges, e);
    }
    e->count++;
    e->last_wall_ms = clock_wall_ms();

    h = xcalloc(1, sizeof *h);
    h->entry_id = xstrdup(id);
    h->conversation = xstrdup(conv_id);
    h->index = index;
    h->previous_agent = xstrdup(from);
    h->next_agent = xstrdup(to);
    h->execution = xstrdup(execution ? execution : "server");
    next = team_find_agent(s->team, to);
    h->definition = next ? agent_to_json(next) : NULL;
    vec_push(&st->handoffs, h);
}

static void on_event(void *ud, const cJSON *ev, const char *line)
{
    struct session *s = ud;

    (void)line;
    if (s->stats && strcmp(field(ev, "type"), "agent.handoff") == 0)
        record_handoff(s, ev);
}

void stats_attach(struct session *s)
{
    struct event_sink sink = {on_event, NULL, s};

    s->stats = xcalloc(1, sizeof *s->stats);
    vec_init(&s->stats->agents, agent_stats_free);
    vec_init(&s->stats->edges, edge_free);
    vec_init(&s->stats->handoffs, handoff_record_free);
    event_stream_add_sink(&s->events, &sink);
}

void stats_free(struct session *s)
{
    if (!s->stats)
        return;
    vec_fini(&s->stats->agents);
    vec_fini(&s->stats->edges);
    vec_fini(&s->stats->handoffs);
    free(s->stats);
    s->stats = NULL;
}

void stats_request(struct session *s, const char *agent, const struct usage *usage, int64_t latency_ms,
                   int64_t first_ms, bool failed)
{
    struct agent_stats *a = agent_stats(s->stats, agent);

    a->requests++;
    a->failed += failed;
    if (usage)
        usage_add(&a->usage, usage);
    a->latency_sum += latency_ms;
    if (latency_ms > a->latency_max)
        a->latency_max = latency_ms;
    if (first_ms >= 0) {
        a->first_sum += first_ms;
        a->first_n++;
    }
}

void stats_run_ended(struct session *s, const char *agent)
{
    agent_stats(s->stats, agent)->runs++;
}

/* ---- /usage ------------------------------------------------------------ */

static int64_t mean(int64_t sum, unsigned n)
{
    return n ? (sum + n / 2) / n : 0;
}

static void usage_row(struct buf *out, int name_w, const char *name, const struct agent_stats *a)
{
    char first[24] = "-";

    if (a->first_n)
        snprintf(first, sizeof first, "%lld", (long long)mean(a->first_sum, a->first_n));
    buf_printf(out, "%-*s %4u %4u %4u %7lld %7lld %7lld %6lld %6lld %6s\n", name_w, name, a->requests, a->runs,
               a->failed, (long long)a->usage.prompt_tokens, (long long)a->usage.completion_tokens,
               (long long)a->usage.total_tokens, (long long)mean(a->latency_sum, a->requests),
               (long long)a->latency_max, first);
}

static cJSON *agent_usage_json(const struct agent_stats *a)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "agent", a->agent);
    cJSON_AddNumberToObject(o, "requests", a->requests);
    cJSON_AddNumberToObject(o, "runs", a->runs);
    cJSON_AddNumberToObject(o, "failed", a->failed);
    cJSON_AddItemToObject(o, "usage", usage_to_json(&a->usage));
    cJSON_AddNumberToObject(o, "latency_mean_ms", (double)mean(a->latency_sum, a->requests));
    cJSON_AddNumberToObject(o, "latency_max_ms", (double)a->latency_max);
    if (a->first_n)
        cJSON_AddNumberToObject(o, "first_piece_mean_ms", (double)mean(a->first_sum, a->first_n));
    else
        cJSON_AddNullToObject(o, "first_piece_mean_ms");
    return o;
}

/* The totals, as one more agent_stats: the latency maximum is the largest,
 * the means are over every request. */
static void add_to_total(struct agent_stats *total, const struct agent_stats *a)
{
    total->requests += a->requests;
    total->runs += a->runs;
    total->failed += a->failed;
    usage_add(&total->usage, &a->usage);
    total->latency_sum += a->latency_sum;
    if (a->latency_max > total->latency_max)
        total->latency_max = a->latency_max;
    total->first_sum += a->first_sum;
    total->first_n += a->first_n;
}

cJSON *stats_usage_json(const struct session *s)
{
    cJSON *fields = cJSON_CreateObject();
    cJSON *agents = cJSON_AddArrayToObject(fields, "agents");
    struct agent_stats total = {0};
    struct buf text = BUF_INIT;
    int name_w = 5; /* "total" */

    for (size_t i = 0; i < s->stats->agents.len; i++) {
        const struct agent_stats *a = s->stats->agents.items[i];
        if ((int)strlen(a->agent) > name_w)
            name_w = (int)strlen(a->agent);
    }
    for (size_t i = 0; i < s->team->agents.len; i++) {
        const struct agent *agent = s->team->agents.items[i];
        if ((int)strlen(agent->name) > name_w)
            name_w = (int)strlen(agent->name);
    }
    buf_printf(&text, "%-*s %4s %4s %4s %7s %7s %7s %6s %6s %6s\n", name_w, "agent", "reqs", "runs", "errs", "in",
               "out", "total", "mean", "max", "first");
    /* The team's agents in its order, then those gone from it since. */
    for (size_t i = 0; i < s->team->agents.len; i++) {
        const struct agent *agent = s->team->agents.items[i];
        struct agent_stats *a = agent_stats(s->stats, agent->name);
        cJSON_AddItemToArray(agents, agent_usage_json(a));
        usage_row(&text, name_w, agent->name, a);
        add_to_total(&total, a);
    }
    for (size_t i = 0; i < s->stats->agents.len; i++) {
        const struct agent_stats *a = s->stats->agents.items[i];
        if (team_find_agent(s->team, a->agent))
            continue;
        cJSON_AddItemToArray(agents, agent_usage_json(a));
        usage_row(&text, name_w, a->agent, a);
        add_to_total(&total, a);
    }
    total.agent = "total";
    cJSON_AddItemToObject(fields, "total", agent_usage_json(&total));
    usage_row(&text, name_w, "total", &total);
    buf_puts(&text, "\nreqs: requests to the backend, each counted for the agent it was sent to; runs: the runs the "
                    "agent ended; errs: requests that failed; in, out, total: tokens; mean, max: milliseconds a request "
                    "took; first: mean milliseconds to the first piece of the answer.\n");
    cJSON_AddStringToObject(fields, "text", buf_str(&text));
    buf_fini(&text);
    return fields;
}

/* ---- /graph ------------------------------------------------------------ */

static void format_ago(char *out, size_t size, int64_t ms)
{
    int64_t sec = ms / 1000;
    if (sec < 1)
        snprintf(out, size, "just now");
    else if (sec < 120)
        snprintf(out, size, "%lld s ago", (long long)sec);
    else if (sec < 7200)
        snprintf(out, size, "%lld min ago", (long long)(sec / 60));
    else
        snprintf(out, size, "%lld h ago", (long long)(sec / 3600));
}

/* One edge of the graph: declared in the team or not, taken or not. */
struct graph_edge {
    const char *to;
    bool declared;
    const struct edge *taken; /* NULL: never */
};

static void put_repeat(struct buf *out, const char *s, size_t n)
{
    while (n--)
        buf_puts(out, s);
}

/* Draws agent `from` as a box with its edges fanning out to the right:
 *   ╭────╮
 *   │ cs │─┬─▶ billing    3×  last 12 s ago
 *   ╰────╯ ├─▶ technical  never taken
 *          └─▶ sales      never taken */
static void draw_node(struct buf *out, const char *from, const struct graph_edge *edges, size_t n, int64_t now)
{
    size_t w = strlen(from), name_w = 0, rows = n + 1 > 3 ? n + 1 : 3;

    for (size_t i = 0; i < n; i++)
        if (strlen(edges[i].to) > name_w)
            name_w = strlen(edges[i].to);
    for (size_t row = 0; row < rows; row++) {
        size_t k = row - 1; /* the edge on this row, from row 1 on */
        if (row == 0) {
            buf_puts(out, "\xE2\x95\xAD"); /* ╭ */
            put_repeat(out, "\xE2\x94\x80", w + 2);
            buf_puts(out, "\xE2\x95\xAE\n"); /* ╮ */
            continue;
        }
        if (row == 1)
            buf_printf(out, "\xE2\x94\x82 %s \xE2\x94\x82", from); /* │ name │ */
        else if (row == 2) {
            buf_puts(out, "\xE2\x95\xB0"); /* ╰ */
            put_repeat(out, "\xE2\x94\x80", w + 2);
            buf_puts(out, "\xE2\x95\xAF"); /* ╯ */
        } else
            put_repeat(out, " ", w + 4);
        if (k >= n) {
            buf_putc(out, '\n');
            continue;
        }
        if (row == 1)
            buf_puts(out, n == 1 ? "\xE2\x94\x80\xE2\x94\x80\xE2\x94\x80\xE2\x96\xB6 " /* ───▶ */
                                 : "\xE2\x94\x80\xE2\x94\xAC\xE2\x94\x80\xE2\x96\xB6 " /* ─┬─▶ */);
        else
            buf_puts(out, k + 1 < n ? " \xE2\x94\x9C\xE2\x94\x80\xE2\x96\xB6 " /*  ├─▶ */
                                    : " \xE2\x94\x94\xE2\x94\x80\xE2\x96\xB6 " /*  └─▶ */);
        buf_printf(out, "%-*s  ", (int)name_w, edges[k].to);
        if (edges[k].taken) {
            char ago[32];
            format_ago(ago, sizeof ago, now - edges[k].taken->last_wall_ms);
            buf_printf(out, "%u\xC3\x97  last %s", edges[k].taken->count, ago); /* N× */
        } else
            buf_puts(out, "never taken");
        if (!edges[k].declared)
            buf_puts(out, "  (not among its handoffs)");
        buf_putc(out, '\n');
    }
}

/* The edges out of agent `from`: its declared handoffs in order, then the
 * ones taken that it does not declare (a redirect, a marker, a change
 * since). Returns how many; *edges is a new array. */
static size_t edges_from(const struct session *s, const char *from, const struct agent *agent,
                         struct graph_edge **edges)
{
    size_t n = 0, cap = (agent ? agent->handoffs.len : 0) + s->stats->edges.len;
    struct graph_edge *out = xcalloc(cap ? cap : 1, sizeof *out);

    for (size_t i = 0; agent && i < agent->handoffs.len; i++) {
        const char *to = agent->handoffs.items[i];
        out[n++] = (struct graph_edge){to, true, find_edge(s->stats, from, to)};
    }
    for (size_t i = 0; i < s->stats->edges.len; i++) {
        const struct edge *e = s->stats->edges.items[i];
        if (strcmp(e->from, from) == 0 && !(agent && agent_has_handoff(agent, e->to)))
            out[n++] = (struct graph_edge){e->to, false, e};
    }
    *edges = out;
    return n;
}

static void add_edges_json(cJSON *list, const char *from, const struct graph_edge *edges, size_t n)
{
    char ts[40];

    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "from", from);
        cJSON_AddStringToObject(o, "to", edges[i].to);
        cJSON_AddBoolToObject(o, "declared", edges[i].declared);
        cJSON_AddNumberToObject(o, "count", edges[i].taken ? edges[i].taken->count : 0);
        if (edges[i].taken) {
            clock_format_rfc3339(edges[i].taken->last_wall_ms, ts, sizeof ts);
            cJSON_AddStringToObject(o, "last", ts);
        } else
            cJSON_AddNullToObject(o, "last");
        cJSON_AddItemToArray(list, o);
    }
}

/* Every name the graph has a node for: the team's agents, then agents
 * that took part in a handoff but are gone from the team. */
static void graph_nodes(const struct session *s, struct vec *names)
{
    for (size_t i = 0; i < s->team->agents.len; i++)
        vec_push(names, ((const struct agent *)s->team->agents.items[i])->name);
    for (size_t i = 0; i < s->stats->edges.len; i++) {
        const struct edge *e = s->stats->edges.items[i];
        const char *ends[2] = {e->from, e->to};
        for (int k = 0; k < 2; k++) {
            bool known = false;
            for (size_t j = 0; j < names->len && !known; j++)
                known = strcmp(names->items[j], ends[k]) == 0;
            if (!known)
                vec_push(names, (void *)ends[k]);
        }
    }
}

cJSON *stats_graph_json(const struct session *s)
{
    cJSON *fields = cJSON_CreateObject();
    cJSON *nodes = cJSON_AddArrayToObject(fields, "agents");
    cJSON *edge_list = cJSON_AddArrayToObject(fields, "edges");
    struct buf text = BUF_INIT, lone = BUF_INIT;
    struct vec names;
    int64_t now = clock_wall_ms();
    unsigned taken = 0;

    vec_init(&names, NULL);
    graph_nodes(s, &names);
    for (size_t i = 0; i < s->stats->edges.len; i++)
        taken += ((const struct edge *)s->stats->edges.items[i])->count;
    buf_printf(&text, "%zu agents, %u handoff%s taken\n\n", names.len, taken, taken == 1 ? "" : "s");
    for (size_t i = 0; i < names.len; i++) {
        const char *name = names.items[i];
        struct graph_edge *edges;
        size_t n = edges_from(s, name, team_find_agent(s->team, name), &edges);

        cJSON_AddItemToArray(nodes, cJSON_CreateString(name));
        add_edges_json(edge_list, name, edges, n);
        if (n)
            draw_node(&text, name, edges, n, now);
        else
            buf_printf(&lone, "%s%s", lone.len ? ", " : "", name);
        free(edges);
    }
    if (lone.len)
        buf_printf(&text, "\nno handoffs out of: %s\n", buf_str(&lone));
    cJSON_AddStringToObject(fields, "text", buf_str(&text));
    vec_fini(&names);
    buf_fini(&lone);
    buf_fini(&text);
    return fields;
}

/* ---- /context ---------------------------------------------------------- */

static const struct handoff_record *find_handoff(const struct stats *st, const char *entry_id)
{
    for (size_t i = 0; i < st->handoffs.len; i++) {
        const struct handoff_record *h = st->handoffs.items[i];
        if (strcmp(h->entry_id, entry_id) == 0)
            return h;
    }
    return NULL;
}

/* The definition's fields that shape what the agent does, as text. */
static void render_definition(struct buf *out, const cJSON *def)
{
    const cJSON *tool, *args = cJSON_GetObjectItemCaseSensitive(def, "completion_args");
    const char *sep = "";
    char *json;

    buf_printf(out, "model          %s\n", field(def, "model") ? field(def, "model") : "");
    buf_printf(out, "instructions   %s\n", field(def, "instructions") ? field(def, "instructions") : "(none)");
    buf_puts(out, "tools          ");
    cJSON_ArrayForEach(tool, cJSON_GetObjectItemCaseSensitive(def, "tools")) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
        const char *type = field(tool, "type") ? field(tool, "type") : "?";
        buf_printf(out, "%s%s", sep, fn && field(fn, "name") ? field(fn, "name") : type);
        sep = ", ";
    }
    buf_puts(out, *sep ? "\n" : "(none)\n");
    json = args && cJSON_GetArraySize(args) ? cJSON_PrintUnformatted(args) : NULL;
    buf_printf(out, "completion     %s\n", json ? json : "(defaults)");
    cJSON_free(json);
}

/* Who carried out a handoff of this execution (agent.handoff's field). */
static const char *carried_out_by(const char *execution)
{
    if (strcmp(execution, "client") == 0)
        return "agentdeck";
    if (strcmp(execution, "marker") == 0)
        return "agentdeck, from a HANDOFF: line in the reply";
    if (strcmp(execution, "user") == 0)
        return "you (/redirect)";
    return "the backend";
}

cJSON *stats_context_json(const struct session *s, const char *entry_id, char **error)
{
    const struct handoff_record *h = find_handoff(s->stats, entry_id);
    const struct conversation *conv;
    const struct entry *e;
    cJSON *fields, *entries;
    struct buf text = BUF_INIT;
    size_t index;

    if (!h) {
        conv = session_find_entry(s, entry_id, &index);
        if (!conv)
            *error = xasprintf("no entry \"%s\" (/history lists a conversation's entries)", entry_id);
        else {
            e = conv->entries.items[index];
            *error = xasprintf("%s is a %s, not a handoff: /context shows what a handoff's receiving agent was given",
                               entry_id, entry_type_name(e->type));
        }
        return NULL;
    }
    if (!(conv = session_find_conversation(s, h->conversation))) {
        *error = xasprintf("the conversation %s of handoff %s has been deleted", h->conversation, entry_id);
        return NULL;
    }
    fields = cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "entry_id", h->entry_id);
    cJSON_AddStringToObject(fields, "conversation", h->conversation);
    cJSON_AddStringToObject(fields, "previous_agent", h->previous_agent);
    cJSON_AddStringToObject(fields, "agent", h->next_agent);
    cJSON_AddStringToObject(fields, "execution", h->execution);
    if (h->redirected_to)
        cJSON_AddStringToObject(fields, "redirected_to", h->redirected_to);
    cJSON_AddItemToObject(fields, "definition", h->definition ? cJSON_Duplicate(h->definition, 1) : cJSON_CreateNull());
    entries = conversation_entries_json(conv, 0, false);
    while (cJSON_GetArraySize(entries) > (int)h->index + 1)
        cJSON_DeleteItemFromArray(entries, cJSON_GetArraySize(entries) - 1);
    cJSON_AddItemToObject(fields, "entries", entries);

    buf_printf(&text, "%s handed %s to %s (%s, carried out by %s)\n\n", h->previous_agent, h->conversation,
               h->next_agent, h->entry_id, carried_out_by(h->execution));
    if (h->redirected_to)
        buf_printf(&text, "You stopped this handoff and sent the conversation to %s instead (/redirect): %s never "
                          "got it. Had it gone on, this is what %s would have been given.\n\n",
                   h->redirected_to, h->next_agent, h->next_agent);
    if (h->definition)
        render_definition(&text, h->definition);
    else
        buf_printf(&text, "(%s was not in the team when it was handed the conversation)\n", h->next_agent);
    buf_printf(&text, "\nthe conversation it was given, %d entries:\n", cJSON_GetArraySize(entries));
    entries_render_text(&text, entries);
    cJSON_AddStringToObject(fields, "text", buf_str(&text));
    buf_fini(&text);
    return fields;
}
