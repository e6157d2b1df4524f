#include "config.h"

#include "cmd/command.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/internal.h"
#include "cmd/parse.h"
#include "core/buf.h"
#include "core/xalloc.h"
#include "model/profile.h"
#include "orch/runner.h"

enum cmd_status cmd_fail(struct cmd_call *call, const char *fmt, ...)
{
    va_list ap;
    char *message;

    va_start(ap, fmt);
    message = xvasprintf(fmt, ap);
    va_end(ap);
    session_error(call->session, call->line, "%s", message);
    free(message);
    return CMD_FAILED;
}

enum cmd_status cmd_result(struct cmd_call *call, bool ok, char *error)
{
    if (ok)
        return CMD_OK;
    cmd_fail(call, "%s", error);
    free(error);
    return CMD_FAILED;
}

const char *cmd_arg(const struct cmd_call *call, size_t i)
{
    return vec_get(&call->args, i);
}

/* ---- agents ------------------------------------------------------------ */

static const struct flag_spec agent_flags[] = {
    {"model", "M", false, "the model, e.g. mistral-medium-latest"},
    {"description", "TEXT", false, "what the agent does (read by agents handing off)"},
    {"instructions", "TEXT", false, "the agent's instructions (its system prompt)"},
    {"tool", "TYPE", true,
     "a tool; repeatable. TYPE is web_search, web_search_premium,\n"
     "                         code_interpreter, image_generation, document_library:ID[,ID...]\n"
     "                         or function:NAME (a function of the profile)"},
    {"handoff", "NAME", true, "an agent it may hand off to; repeatable"},
    {"temperature", "T", false, "sampling temperature, 0 to 1"},
    {"max-tokens", "N", false, "the most tokens a reply may have"},
    {NULL, NULL, false, NULL},
};

/* Builds the tool object for --tool TYPE. Returns NULL with *error set. */
static cJSON *tool_from_flag(const struct team *team, const char *type, char **error)
{
    cJSON *tool = cJSON_CreateObject();
    const char *colon = strchr(type, ':');
    char *kind = colon ? xstrndup(type, (size_t)(colon - type)) : xstrdup(type);
    char *detail = NULL;

    cJSON_AddStringToObject(tool, "type", kind);
    if (strcmp(kind, "function") == 0) {
        cJSON *fn = cJSON_AddObjectToObject(tool, "function");
        if (!colon || !colon[1]) {
            *error = xstrdup("--tool function needs a name: --tool function:NAME");
            goto fail;
        }
        cJSON_AddStringToObject(fn, "name", colon + 1);
    } else if (strcmp(kind, "document_library") == 0) {
        cJSON *ids = cJSON_AddArrayToObject(tool, "library_ids");
        char *list, *save = NULL;
        if (!colon || !colon[1]) {
            *error = xstrdup("--tool document_library needs library ids: --tool document_library:ID[,ID...]");
            goto fail;
        }
        list = xstrdup(colon + 1);
        for (char *id = strtok_r(list, ",", &save); id; id = strtok_r(NULL, ",", &save))
            cJSON_AddItemToArray(ids, cJSON_CreateString(id));
        free(list);
    } else if (colon) {
        *error = xasprintf("--tool %s: a %s tool takes no \":...\" part", type, kind);
        goto fail;
    }
    if (!profile_check_tool(tool, team, "", &detail)) {
        *error = xasprintf("--tool %s: %s", type, detail);
        free(detail);
        goto fail;
    }
    free(kind);
    return tool;
fail:
    free(kind);
    cJSON_Delete(tool);
    return NULL;
}

static bool parse_number(const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    /* ERANGE with a finite result is an underflow: 1e-400 is just 0. */
    return (errno == 0 || (errno == ERANGE && isfinite(*out))) && end != s && *end == '\0' && isfinite(*out);
}

/* Applies the flags of call to agent. Returns NULL, or a new error message. */
static char *apply_agent_flags(struct cmd_call *call, struct agent *agent)
{
    const struct team *team = call->session->team;
    cJSON *tools = NULL;
    bool handoffs_given = false;
    char *error = NULL;

    for (size_t i = 0; i < call->flags.len; i++) {
        const struct flag_value *fv = call->flags.items[i];
        const char *name = fv->spec->name;
        double number;

        if (strcmp(name, "model") == 0) {
            if (!*fv->value) {
                cJSON_Delete(tools);
                return xstrdup("--model needs a model name");
            }
            free(agent->model);
            agent->model = xstrdup(fv->value);
        } else if (strcmp(name, "description") == 0) {
            free(agent->description);
            agent->description = xstrdup(fv->value);
        } else if (strcmp(name, "instructions") == 0) {
            free(agent->instructions);
            agent->instructions = xstrdup(fv->value);
        } else if (strcmp(name, "tool") == 0) {
            cJSON *tool = tool_from_flag(team, fv->value, &error);
            if (!tool) {
                cJSON_Delete(tools);
                return error;
            }
            if (!tools)
                tools = cJSON_CreateArray();
            cJSON_AddItemToArray(tools, tool);
        } else if (strcmp(name, "handoff") == 0) {
            if (!handoffs_given)
                vec_truncate(&agent->handoffs, 0);
            handoffs_given = true;
            if (strcmp(fv->value, agent->name) == 0) {
                cJSON_Delete(tools);
                return xasprintf("--handoff %s: an agent cannot hand off to itself", fv->value);
            }
            if (!team_find_agent(team, fv->value)) {
                cJSON_Delete(tools);
                return xasprintf("--handoff %s: no agent named \"%s\"", fv->value, fv->value);
            }
            if (!agent_has_handoff(agent, fv->value))
                vec_push(&agent->handoffs, xstrdup(fv->value));
        } else if (strcmp(name, "temperature") == 0 || strcmp(name, "max-tokens") == 0) {
            const char *key = name[0] == 't' ? "temperature" : "max_tokens";
            if (!parse_number(fv->value, &number)) {
                cJSON_Delete(tools);
                return xasprintf("--%s: \"%s\" is not a number", name, fv->value);
            }
            cJSON_DeleteItemFromObjectCaseSensitive(agent->completion_args, key);
            cJSON_AddNumberToObject(agent->completion_args, key, number);
        }
    }
    if (tools) {
        cJSON_Delete(agent->tools);
        agent->tools = tools;
    }
    if (!profile_check_completion_args(agent->completion_args, "completion_args", &error))
        return error;
    return agent_check_rule_handoffs(agent);
}

static void emit_agent(struct session *s, const char *type, const struct agent *agent)
{
    cJSON *fields = cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "agent", agent->name);
    cJSON_AddItemToObject(fields, "definition", agent_to_json(agent));
    event_emit(&s->events, type, fields);
}

static struct agent *need_agent(struct cmd_call *call, const char *name)
{
    struct agent *agent = team_find_agent(call->session->team, name);
    if (!agent) {
        struct buf known = BUF_INIT;
        const struct vec *agents = &call->session->team->agents;
        for (size_t i = 0; i < agents->len; i++)
            buf_printf(&known, "%s%s", i ? ", " : "", ((struct agent *)agents->items[i])->name);
        cmd_fail(call, "no agent named \"%s\" (%s%s)", name, agents->len ? "agents: " : "no agents yet",
                 buf_str(&known));
        buf_fini(&known);
    }
    return agent;
}

static enum cmd_status cmd_agent_create(struct cmd_call *call)
{
    const char *name = cmd_arg(call, 0);
    struct agent *agent;
    char *error;

    if (!agent_name_is_valid(name))
        return cmd_fail(call, "\"%s\" is not a valid agent name (expected " AGENT_NAME_RULE ")", name);
    if (team_find_agent(call->session->team, name))
        return cmd_fail(call, "an agent named \"%s\" already exists (use /agent update)", name);
    agent = agent_new(name, NULL);
    if ((error = apply_agent_flags(call, agent))) {
        agent_free(agent);
        cmd_fail(call, "%s", error);
        free(error);
        return CMD_FAILED;
    }
    team_add_agent(call->session->team, agent);
    emit_agent(call->session, "agent.created", agent);
    session_team_changed(call->session);
    return CMD_OK;
}

static enum cmd_status cmd_agent_update(struct cmd_call *call)
{
    struct agent *agent = need_agent(call, cmd_arg(call, 0));
    struct agent *copy;
    char *error;

    if (!agent)
        return CMD_FAILED;
    if (call->flags.len == 0)
        return cmd_fail(call, "/agent update %s: nothing to change (give at least one flag; /help agent)", agent->name);
    /* Change a copy, so a bad flag changes nothing. */
    copy = agent_clone(agent);
    if ((error = apply_agent_flags(call, copy))) {
        agent_free(copy);
        cmd_fail(call, "%s", error);
        free(error);
        return CMD_FAILED;
    }
    for (size_t i = 0; i < call->session->team->agents.len; i++) {
        if (call->session->team->agents.items[i] == agent) {
            call->session->team->agents.items[i] = copy;
            break;
        }
    }
    agent_free(agent);
    emit_agent(call->session, "agent.updated", copy);
    session_team_changed(call->session);
    return CMD_OK;
}

static enum cmd_status cmd_agent_delete(struct cmd_call *call)
{
    struct session *s = call->session;
    struct agent *agent = need_agent(call, cmd_arg(call, 0));
    cJSON *fields;
    char *why;

    if (!agent)
        return CMD_FAILED;
    for (size_t i = 0; i < s->team->agents.len; i++) {
        const struct agent *other = s->team->agents.items[i];
        if (agent_has_handoff(other, agent->name))
            return cmd_fail(call, "cannot delete \"%s\": %s hands off to it (remove that handoff first)", agent->name,
                            other->name);
    }
    if (team_agent_is_referenced(s->team, agent->name, &why)) {
        enum cmd_status status = cmd_fail(call, "cannot delete \"%s\": %s", agent->name, why);
        free(why);
        return status;
    }
    for (size_t i = 0; i < s->conversations.len; i++) {
        const struct conversation *c = s->conversations.items[i];
        if (c->runs_in_flight && strcmp(c->agent, agent->name) == 0)
            return cmd_fail(call, "cannot delete \"%s\" while it runs in %s", agent->name, c->id);
    }
    fields = cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "agent", agent->name);
    team_delete_agent(s->team, agent->name);
    event_emit(&s->events, "agent.deleted", fields);
    session_team_changed(s);
    return CMD_OK;
}

static enum cmd_status cmd_agent_list(struct cmd_call *call)
{
    const struct team *team = call->session->team;
    cJSON *fields = cJSON_CreateObject();
    cJSON *agents = cJSON_AddArrayToObject(fields, "agents");

    for (size_t i = 0; i < team->agents.len; i++) {
        const struct agent *a = team->agents.items[i];
        cJSON *item = cJSON_CreateObject();
        cJSON *handoffs = cJSON_CreateArray();
        cJSON_AddStringToObject(item, "name", a->name);
        cJSON_AddStringToObject(item, "model", a->model);
        if (a->description)
            cJSON_AddStringToObject(item, "description", a->description);
        for (size_t k = 0; k < a->handoffs.len; k++)
            cJSON_AddItemToArray(handoffs, cJSON_CreateString(a->handoffs.items[k]));
        cJSON_AddItemToObject(item, "handoffs", handoffs);
        cJSON_AddNumberToObject(item, "tools", cJSON_GetArraySize(a->tools));
        cJSON_AddItemToArray(agents, item);
    }
    event_emit(&call->session->events, "agent.list", fields);
    return CMD_OK;
}

static enum cmd_status cmd_agent_show(struct cmd_call *call)
{
    struct agent *agent = need_agent(call, cmd_arg(call, 0));
    if (!agent)
        return CMD_FAILED;
    emit_agent(call->session, "agent.show", agent);
    return CMD_OK;
}

/* ---- conversations ----------------------------------------------------- */

static enum cmd_status cmd_start(struct cmd_call *call)
{
    struct agent *agent = need_agent(call, cmd_arg(call, 0));
    char *text;

    if (!agent)
        return CMD_FAILED;
    text = cmd_join(&call->args, 1);
    session_start(call->session, agent, text);
    free(text);
    return CMD_OK;
}

/* Sends text in the focused conversation, to agent (NULL: its current
 * agent). With no conversation yet, plain text and @AGENT start one: with
 * AGENT, or the team's first agent, its entry point. /append does not. */
static enum cmd_status send_text(struct cmd_call *call, struct agent *agent, const char *text, bool may_start)
{
    struct session *s = call->session;
    struct conversation *conv = s->focused;

    if (!*text)
        return cmd_fail(call, "nothing to send: the message is empty");
    if (!conv && may_start) {
        if (!agent && !(agent = vec_get(&s->team->agents, 0)))
            return cmd_fail(call, "no agents yet: create one with /agent create NAME, or open a profile");
        session_start(s, agent, text);
        return CMD_OK;
    }
    if (!conv)
        return cmd_fail(call, "no conversation yet: start one with /start AGENT TEXT");
    if (!agent && !(agent = need_agent(call, conv->agent)))
        return CMD_FAILED;
    if (conv->runs_in_flight)
        return cmd_fail(call, "%s is still answering in %s: wait for it to finish", conv->agent, conv->id);
    session_append(s, conv, agent, text);
    return CMD_OK;
}

static enum cmd_status cmd_append(struct cmd_call *call)
{
    char *text = cmd_join(&call->args, 0);
    enum cmd_status st = send_text(call, NULL, text, false);
    free(text);
    return st;
}

static enum cmd_status cmd_history(struct cmd_call *call)
{
    struct session *s = call->session;
    struct conversation *conv = s->focused;
    cJSON *fields;

    if (cmd_arg(call, 0) && !(conv = session_find_conversation(s, cmd_arg(call, 0))))
        return cmd_fail(call, "no conversation named \"%s\"", cmd_arg(call, 0));
    if (!conv)
        return cmd_fail(call, "no conversation yet: start one with /start AGENT TEXT");
    fields = cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "conversation", conv->id);
    cJSON_AddStringToObject(fields, "agent", conv->agent);
    if (conv->parent)
        cJSON_AddStringToObject(fields, "parent", conv->parent);
    cJSON_AddItemToObject(fields, "entries", conversation_entries_json(conv, 0, false));
    event_emit(&s->events, "conversation.history", fields);
    return CMD_OK;
}

static enum cmd_status cmd_restart(struct cmd_call *call)
{
    struct session *s = call->session;
    const char *id = cmd_arg(call, 0);
    struct conversation *conv = NULL;
    size_t index = 0;
    char *text;

    /* The focused conversation first: a branch shares its parent's entry ids. */
    if (s->focused && conversation_find_entry(s->focused, id, &index))
        conv = s->focused;
    else
        conv = session_find_entry(s, id, &index);
    if (!conv)
        return cmd_fail(call, "no entry with id \"%s\" (see /history)", id);
    if (conv->runs_in_flight)
        return cmd_fail(call, "%s is still answering in %s: wait for it to finish", conv->agent, conv->id);
    if (((const struct entry *)conv->entries.items[index])->type == ENTRY_FUNCTION_CALL)
        return cmd_fail(call, "%s is a function call: restart from its function.result, or from an entry before it",
                        id);
    text = cmd_join(&call->args, 1);
    if (!session_restart(s, conv, index, text)) {
        free(text);
        return cmd_fail(call, "the agent that held %s at %s no longer exists", conv->id, id);
    }
    free(text);
    return CMD_OK;
}

/* ---- the rest ---------------------------------------------------------- */

static enum cmd_status cmd_help(struct cmd_call *call)
{
    const char *topic = cmd_arg(call, 0);
    cJSON *fields;
    char *text;

    if (topic && *topic == '/')
        topic++;
    if (topic && !command_find(command_table(), topic) && strcmp(topic, "@") != 0)
        return cmd_fail(call, "no command named /%s (/help lists them)", topic);
    text = command_help(topic);
    if (!topic || strcmp(topic, "run") == 0) {
        /* The profile's workflows are commands too, of /run. */
        const struct team *team = call->session->team;
        struct buf more = BUF_INIT;
        buf_puts(&more, text);
        if (team->workflows.len)
            buf_puts(&more, "\nWorkflows of this profile (/run WORKFLOW TEXT...):\n");
        for (size_t i = 0; i < team->workflows.len; i++) {
            const struct workflow *w = team->workflows.items[i];
            char *what = xasprintf("%s%s%s", pattern_kind_name(w->params.kind), w->description ? ": " : "",
                                   w->description ? w->description : "");
            buf_printf(&more, "  %-29s %s\n", w->name, what);
            free(what);
        }
        free(text);
        text = buf_steal(&more);
    }
    fields = cJSON_CreateObject();
    if (topic)
        cJSON_AddStringToObject(fields, "topic", topic);
    cJSON_AddStringToObject(fields, "text", text);
    event_emit(&call->session->events, "help", fields);
    free(text);
    return CMD_OK;
}

/* /allow and /deny: the user's answer to calls waiting for confirmation. */
static enum cmd_status confirm(struct cmd_call *call, bool allow)
{
    char *error = NULL;
    bool always = allow && call->flags.len > 0; /* --always, its only flag */
    bool ok = session_confirm(call->session, cmd_arg(call, 0), allow, always, &error);
    return cmd_result(call, ok, error);
}

static const struct flag_spec allow_flags[] = {
    {"always", NULL, false, "let every call of these functions run without asking, for the rest of the session"},
    {NULL, NULL, false, NULL},
};

static enum cmd_status cmd_allow(struct cmd_call *call)
{
    return confirm(call, true);
}

static enum cmd_status cmd_deny(struct cmd_call *call)
{
    return confirm(call, false);
}

/* The console handles /theme itself (it changes the screen); this runs in batch mode only. */
static enum cmd_status cmd_theme(struct cmd_call *call)
{
    return cmd_fail(call, "/theme changes the console's colours; batch mode has no screen");
}

static enum cmd_status cmd_quit(struct cmd_call *call)
{
    return CMD_QUIT;
}

static const struct command_spec agent_subcommands[] = {
    {"create", "NAME", "create an agent", NULL, 1, 1, agent_flags, NULL, cmd_agent_create},
    {"list", "", "list the agents", NULL, 0, 0, NULL, NULL, cmd_agent_list},
    {"show", "NAME", "show an agent's definition", NULL, 1, 1, NULL, NULL, cmd_agent_show},
    {"update", "NAME", "change an agent; --tool and --handoff replace the whole list", NULL, 1, 1, agent_flags, NULL,
     cmd_agent_update},
    {"delete", "NAME", "delete an agent no other agent hands off to", NULL, 1, 1, NULL, NULL, cmd_agent_delete},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL, NULL},
};

static const struct command_spec commands[] = {
    {"help", "[COMMAND]", "show the commands, or one in full", NULL, 0, 1, NULL, NULL, cmd_help},
    {"agent", "SUBCOMMAND ...", "create, list, show, update, delete agents", NULL, 0, 0, NULL, agent_subcommands, NULL},
    {"start", "AGENT TEXT...", "start a new conversation with AGENT", NULL, 2, -1, NULL, NULL, cmd_start},
    {"append", "TEXT...", "send TEXT in the focused conversation",
     "Plain text typed without a slash does the same. @AGENT TEXT... appends with another agent.", 1, -1, NULL, NULL,
     cmd_append},
    {"history", "[CONVERSATION]", "show a conversation's entries", NULL, 0, 1, NULL, NULL, cmd_history},
    {"conversation", "SUBCOMMAND ...", "list, show, history, messages, delete conversations",
     "CONVERSATION is one of ours (c1) or, on Mistral, a server conversation id (conv_...); "
     "without one, the focused conversation.",
     0, 0, NULL, cmd_conversation_subcommands, NULL},
    {"branches", "", "show the conversations as a tree of branches", NULL, 0, 0, NULL, NULL, cmd_branches},
    {"switch", "CONVERSATION", "focus a conversation (a branch): plain text goes there", NULL, 1, 1, NULL, NULL,
     cmd_switch},
    {"restart", "ENTRY_ID TEXT...", "branch from an entry and send TEXT",
     "The new conversation keeps the entries up to and including ENTRY_ID.", 2, -1, NULL, NULL, cmd_restart},
    {"pipeline", "A,B,C TEXT...", "run agents in turn, each seeing the conversation so far",
     "Each step's prompt comes from the profile's \"prompts\" (agent -> prompt), if it has one.", 2, -1, NULL, NULL,
     cmd_pipeline},
    {"route", "CLASSIFIER TEXT...", "the classifier's label picks a specialist (profile \"routes\")",
     "The label is matched ignoring case, spaces and punctuation; an unknown label goes to the \"fallback\" route.", 2,
     -1, NULL, NULL, cmd_route},
    {"fanout", "A,B,C TEXT...", "run agents at once; --into S fans their answers in", NULL, 2, -1, cmd_fanout_flags,
     NULL, cmd_fanout},
    {"compete", "A,B,C TEXT...", "competing analysts at once; --judge J compares them", NULL, 2, -1, cmd_compete_flags,
     NULL, cmd_compete},
    {"delegate", "MANAGER TEXT...", "the manager plans subtasks, workers run them, it answers",
     "The manager answers with a JSON plan: {\"subtasks\": [{\"id\", \"worker\", \"task\", \"depends_on\"}]}. "
     "Subtasks whose dependencies are done run at the same time.",
     2, -1, NULL, NULL, cmd_delegate},
    {"decompose", "DECOMPOSER TEXT...", "split a task recursively; --executor X does the parts",
     "The decomposer answers {\"action\": \"execute\"} or {\"action\": \"decompose\", \"subtasks\": [...]}.", 2, -1,
     cmd_decompose_flags, NULL, cmd_decompose},
    {"run", "WORKFLOW TEXT...", "run a workflow of the profile", NULL, 2, -1, NULL, NULL, cmd_run},
    {"on", "EVENT AGENT", "AGENT handles EVENT: /emit EVENT DATA sends it DATA",
     "Handlers share one conversation; their runs go one at a time, in the order the events came.", 2, 2, NULL, NULL,
     cmd_on},
    {"off", "EVENT [AGENT]", "stop AGENT (or every agent) handling EVENT", NULL, 1, 2, NULL, NULL, cmd_off},
    {"emit", "EVENT [DATA...]", "fire EVENT: each of its handlers gets DATA", NULL, 1, -1, NULL, NULL, cmd_emit},
    {"handlers", "", "list the event handlers", NULL, 0, 0, NULL, NULL, cmd_handlers},
    {"state", "SUBCOMMAND ...", "set, show, clear the shared state", NULL, 0, 0, NULL, cmd_state_subcommands, NULL},
    {"step", "[on|off]", "stop before every request to the backend (no argument: say which)",
     "At each stop the breakpoint.hit event shows the agent, the entries it will receive, its tools and completion "
     "args. Runs that are not stopped go on.",
     0, 1, NULL, NULL, cmd_step},
    {"next", "[RUN]", "let a stopped run go on to its next stop", NULL, 0, 1, NULL, NULL, cmd_next},
    {"continue", "[RUN]", "let a stopped run go on, stopping only at breakpoints", NULL, 0, 1, NULL, NULL,
     cmd_continue},
    {"edit", "[TEXT...]", "change what a stopped run is about to send (or a stopped call's arguments)",
     "With no TEXT, in the console, the text opens in $VISUAL or $EDITOR (vi when neither is set); an empty file "
     "changes nothing.",
     0, -1, NULL, NULL, cmd_edit},
    {"skip", "[RUN]", "drop what a stopped run was about to do (deny the calls, refuse the handoff)", NULL, 0, 1, NULL,
     NULL, cmd_skip},
    {"abort", "[RUN]", "end a stopped run", NULL, 0, 1, NULL, NULL, cmd_abort},
    {"redirect", "AGENT", "at a handoff stop, hand off to AGENT instead", NULL, 1, 1, NULL, NULL, cmd_redirect},
    {"break", "SPEC", "stop at: handoff, function[:NAME], tool[:NAME], agent:NAME or error", NULL, 1, 1, NULL, NULL,
     cmd_break},
    {"breaks", "", "list the breakpoints", NULL, 0, 0, NULL, NULL, cmd_breaks},
    {"unbreak", "N", "remove breakpoint N", NULL, 1, 1, NULL, NULL, cmd_unbreak},
    {"context", "HANDOFF_ENTRY", "what the agent a handoff went to was given: its definition and the conversation",
     NULL, 1, 1, NULL, NULL, cmd_context},
    {"graph", "", "the team's handoffs as a graph: how often and how lately each was taken", NULL, 0, 0, NULL, NULL,
     cmd_graph},
    {"usage", "", "tokens, requests and latency per agent", NULL, 0, 0, NULL, NULL, cmd_usage},
    {"diff", "ENTRY ENTRY", "two entries side by side, e.g. the answers of two fan-out branches", NULL, 2, 2, NULL,
     NULL, cmd_diff},
    {"raw", "[RUN]", "show a run's HTTP requests and responses, the key redacted",
     "RUN is a run id (r3; default: the focused conversation's latest run), or prepare or query for the "
     "backend's agent syncs and /conversation questions. The log keeps the last 200 exchanges.",
     0, 1, NULL, NULL, cmd_raw},
    {"allow", "[TOOL_CALL_ID]", "let a call that waits for confirmation run",
     "Without an id, every call that waits is allowed. The run goes on once all of its calls are answered. With "
     "--always, later calls of the same functions run without asking, for the rest of the session.",
     0, 1, allow_flags, NULL, cmd_allow},
    {"deny", "[TOOL_CALL_ID]", "refuse a call that waits for confirmation",
     "Without an id, every call that waits is denied; the agent answers without it.", 0, 1, NULL, NULL, cmd_deny},
    {"export", "md|json|jsonl FILE", "write the session to FILE: a transcript, the histories or the events",
     "md: a Markdown transcript; json: each conversation's history as Mistral's ConversationHistory; jsonl: the "
     "session's events (from its journal). FILE is replaced whole, or not at all.",
     2, 2, NULL, NULL, cmd_export},
    {"mcp", "SUBCOMMAND ...", "list the MCP servers and their tools, restart one", NULL, 0, 0, NULL,
     cmd_mcp_subcommands, NULL},
    {"theme", "[THEME]", "switch the console's colours: dark, light, mono, high-contrast or a file",
     "Without a name, shows the theme in use. A bad theme file is reported and the default theme is used.", 0, 1, NULL,
     NULL, cmd_theme},
    {"sessions", "", "list the journaled sessions: when, which profile, whether they ended cleanly",
     "agentdeck --resume SESSION goes on with one; agentdeck --replay SESSION plays it back.", 0, 0, NULL, NULL,
     cmd_sessions},
    {"retry", "[RUN|PATTERN]", "go on with the runs and pattern steps a crash cut off (all, or the one named)",
     "After agentdeck --resume: a run goes on where it stopped (on Mistral, from what the server holds), a pattern "
     "from the step it had reached.",
     0, 1, NULL, NULL, cmd_retry},
    {"quit", "", "leave agentdeck", NULL, 0, 0, NULL, NULL, cmd_quit},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL, NULL},
};

const struct command_spec *command_table(void)
{
    return commands;
}

const struct command_spec *command_find(const struct command_spec *table, const char *name)
{
    for (const struct command_spec *c = table; c && c->name; c++) {
        if (strcmp(c->name, name) == 0)
            return c;
    }
    return NULL;
}

/* ---- help -------------------------------------------------------------- */

static void help_usage(struct buf *out, const char *prefix, const struct command_spec *c)
{
    buf_printf(out, "%s%s%s%s%s", prefix, c->name, *c->args ? " " : "", c->args, c->flags ? " [FLAG]..." : "");
}

static void help_command(struct buf *out, const struct command_spec *c)
{
    if (c->subcommands) {
        buf_printf(out, "/%s: %s\n", c->name, c->summary);
        for (const struct command_spec *sub = c->subcommands; sub->name; sub++) {
            char *prefix = xasprintf("/%s ", c->name);
            buf_puts(out, "  ");
            help_usage(out, prefix, sub);
            buf_printf(out, "\n      %s\n", sub->summary);
            free(prefix);
        }
        if (c->help)
            buf_printf(out, "  %s\n", c->help);
    } else {
        help_usage(out, "/", c);
        buf_printf(out, "\n  %s\n", c->summary);
        if (c->help)
            buf_printf(out, "  %s\n", c->help);
    }
    /* Flags are shared by subcommands: list each table once. */
    const struct flag_spec *shown = NULL;
    for (const struct command_spec *sub = c->subcommands ? c->subcommands : c; sub->name; sub++) {
        if (sub->flags && sub->flags != shown) {
            buf_puts(out, "  flags:\n");
            for (const struct flag_spec *f = sub->flags; f->name; f++) {
                char *flag = xasprintf("--%s%s%s", f->name, f->value ? " " : "", f->value ? f->value : "");
                buf_printf(out, "    %-20s %s\n", flag, f->help);
                free(flag);
            }
            shown = sub->flags;
        }
        if (!c->subcommands)
            break;
    }
}

/* One line of the command overview: synopsis, then summary in a column. */
static void help_line(struct buf *out, const char *synopsis, const char *summary)
{
    buf_printf(out, "  %-29s %s\n", synopsis, summary);
}

char *command_help(const char *topic)
{
    struct buf out = BUF_INIT;

    if (topic && strcmp(topic, "@") == 0) {
        buf_puts(&out, "@AGENT TEXT...\n  append TEXT to the focused conversation and have AGENT answer it\n");
    } else if (topic) {
        help_command(&out, command_find(commands, topic));
    } else {
        buf_puts(&out, "Commands (/help COMMAND for more):\n");
        for (const struct command_spec *c = commands; c->name; c++) {
            char *synopsis = xasprintf("/%s %s", c->name, c->args);
            help_line(&out, synopsis, c->summary);
            free(synopsis);
        }
        help_line(&out, "@AGENT TEXT...", "send TEXT and have AGENT answer it");
        help_line(&out, "TEXT...", "send TEXT to the conversation's agent");
    }
    return buf_steal(&out);
}

/* ---- parsing and dispatch --------------------------------------------- */

static void flag_value_free(void *item)
{
    struct flag_value *fv = item;
    free(fv->value);
    free(fv);
}

static char *flag_names(const struct flag_spec *flags)
{
    struct buf out = BUF_INIT;
    for (const struct flag_spec *f = flags; f->name; f++)
        buf_printf(&out, "%s--%s", f == flags ? "" : ", ", f->name);
    return buf_steal(&out);
}

static char *subcommand_names(const struct command_spec *subs)
{
    struct buf out = BUF_INIT;
    for (const struct command_spec *c = subs; c->name; c++)
        buf_printf(&out, "%s%s", c == subs ? "" : ", ", c->name);
    return buf_steal(&out);
}

/* Sorts words[from..] into flags and positional arguments. Returns NULL or a new error. */
static char *parse_words(struct cmd_call *call, const char *cmdname, struct vec *words, size_t from)
{
    const struct command_spec *spec = call->spec;
    bool flags_done = spec->flags == NULL;
    size_t nargs;

    for (size_t i = from; i < words->len; i++) {
        char *w = words->items[i];
        const struct flag_spec *f;
        struct flag_value *fv;
        char *eq;
        size_t namelen;

        if (flags_done || strncmp(w, "--", 2) != 0) {
            vec_push(&call->args, xstrdup(w));
            continue;
        }
        if (w[2] == '\0') {
            flags_done = true;
            continue;
        }
        eq = strchr(w, '=');
        namelen = eq ? (size_t)(eq - w - 2) : strlen(w + 2);
        for (f = spec->flags; f->name; f++) {
            if (strlen(f->name) == namelen && strncmp(f->name, w + 2, namelen) == 0)
                break;
        }
        if (!f->name) {
            char *names = flag_names(spec->flags);
            char *error = xasprintf("%s: unknown flag %.*s (expected %s)", cmdname, (int)namelen + 2, w, names);
            free(names);
            return error;
        }
        if (!f->repeatable) {
            for (size_t k = 0; k < call->flags.len; k++) {
                if (((struct flag_value *)call->flags.items[k])->spec == f)
                    return xasprintf("%s: --%s is given twice", cmdname, f->name);
            }
        }
        fv = xcalloc(1, sizeof *fv);
        fv->spec = f;
        if (f->value) {
            if (eq)
                fv->value = xstrdup(eq + 1);
            else if (i + 1 < words->len)
                fv->value = xstrdup(words->items[++i]);
            else {
                free(fv);
                return xasprintf("%s: --%s needs a value (%s)", cmdname, f->name, f->value);
            }
        } else if (eq) {
            free(fv);
            return xasprintf("%s: --%s takes no value", cmdname, f->name);
        }
        vec_push(&call->flags, fv);
    }
    nargs = call->args.len;
    if ((int)nargs < spec->min_args)
        return xasprintf("%s: missing argument (usage: %s%s%s)", cmdname, cmdname, *spec->args ? " " : "", spec->args);
    if (spec->max_args >= 0 && (int)nargs > spec->max_args)
        return xasprintf("%s: too many arguments (usage: %s%s%s)", cmdname, cmdname, *spec->args ? " " : "",
                         spec->args);
    return NULL;
}

/* Splits line into words: all of them, or for a command whose last
 * argument is TEXT..., its words before the text and then the rest of the
 * line as typed, as one word. Returns NULL or a new error message. */
static char *split_command(const struct command_spec *spec, size_t from, const char *line, struct vec *words)
{
    const char *rest;
    char *error = NULL;

    if (spec->max_args >= 0)
        return cmd_split(line, words, &error) < 0 ? error : NULL;
    if (!spec->flags) {
        /* The words before TEXT: all but the last required one (none when TEXT is optional). */
        if (cmd_split_prefix(line, from + (size_t)(spec->min_args > 0 ? spec->min_args - 1 : 0), words, &rest,
                             &error) < 0)
            return error;
    } else {
        /* Words one at a time: the positional ones before TEXT, and the
         * flags (with their values) before and among them. */
        size_t positional = 0;
        bool value_next = false;

        if (cmd_split_prefix(line, from, words, &rest, &error) < 0)
            return error;
        while (*rest) {
            const char *before = rest;
            const char *w;
            const struct flag_spec *f;

            if (cmd_split_prefix(before, 1, words, &rest, &error) < 0)
                return error;
            w = words->items[words->len - 1];
            if (value_next) {
                value_next = false;
                continue;
            }
            if (strcmp(w, "--") == 0) {
                break; /* what follows is text, even when it starts with -- */
            } else if (strncmp(w, "--", 2) == 0) {
                size_t namelen = strcspn(w + 2, "=");
                for (f = spec->flags; f->name; f++) {
                    if (strlen(f->name) == namelen && strncmp(f->name, w + 2, namelen) == 0)
                        break;
                }
                value_next = f->name && f->value && !strchr(w, '=');
            } else if (positional + 1 < (size_t)spec->min_args) {
                positional++;
            } else {
                free(vec_remove(words, words->len - 1));
                rest = before;
                break;
            }
        }
    }
    if (*rest)
        vec_push(words, xstrdup(rest));
    return NULL;
}

static enum cmd_status run_call(struct cmd_call *call, const char *line)
{
    struct vec head, words;
    const char *rest, *name;
    const struct command_spec *spec;
    char *cmdname = NULL, *error = NULL;
    size_t from = 1;
    enum cmd_status st = CMD_FAILED;

    vec_init(&head, free);
    vec_init(&words, free);
    /* The command and its subcommand decide how the rest is read. */
    if (cmd_split_prefix(line, 2, &head, &rest, &error) < 0)
        goto out;
    name = head.items[0];
    spec = command_find(commands, name + 1);
    if (!spec || !name[1]) {
        error = xasprintf("unknown command %s (/help lists the commands)", name);
        goto out;
    }
    cmdname = xasprintf("/%s", spec->name);
    if (spec->subcommands) {
        const char *subname = vec_get(&head, 1);
        const struct command_spec *sub = subname ? command_find(spec->subcommands, subname) : NULL;
        if (!sub) {
            char *names = subcommand_names(spec->subcommands);
            if (subname)
                error = xasprintf("%s: unknown subcommand \"%s\" (expected one of %s)", cmdname, subname, names);
            else
                error = xasprintf("%s needs a subcommand: %s", cmdname, names);
            free(names);
            goto out;
        }
        free(cmdname);
        cmdname = xasprintf("/%s %s", spec->name, sub->name);
        spec = sub;
        from = 2;
    }
    call->spec = spec;
    if ((error = split_command(spec, from, line, &words)) || (error = parse_words(call, cmdname, &words, from)))
        goto out;
    st = spec->run(call);
out:
    if (error) {
        st = cmd_fail(call, "%s", error);
        free(error);
    }
    free(cmdname);
    vec_fini(&head);
    vec_fini(&words);
    return st;
}

enum cmd_status command_execute(struct session *s, const char *line)
{
    struct cmd_call call = {.session = s, .line = line};
    enum cmd_status st;

    while (*line == ' ' || *line == '\t')
        line++;
    if (!*line)
        return CMD_OK;
    if (s->replay) {
        char *why = NULL;
        if (!cmd_allowed_in_replay(line, &why)) {
            session_error(s, line, "%s", why);
            free(why);
            return CMD_FAILED;
        }
    }
    vec_init(&call.args, free);
    vec_init(&call.flags, flag_value_free);

    if (*line != '/' && *line != '@') {
        /* Plain text: sent as typed, no quoting rules. */
        st = send_text(&call, NULL, line, true);
    } else if (*line == '@') {
        /* @AGENT, then the text as typed, like plain text. */
        size_t namelen = strcspn(line + 1, " \t");
        char *name = xstrndup(line + 1, namelen);
        struct agent *agent = need_agent(&call, name);
        const char *text = line + 1 + namelen;
        while (*text == ' ' || *text == '\t')
            text++;
        st = agent ? send_text(&call, agent, text, true) : CMD_FAILED;
        free(name);
    } else {
        st = run_call(&call, line);
    }
    vec_fini(&call.args);
    vec_fini(&call.flags);
    return st;
}
