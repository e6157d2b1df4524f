/* The debugger's commands: /step, /next, /continue, /skip, /abort, /edit,
 * /redirect, /break, /breaks, /unbreak (orch/debug.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cmd/internal.h"
#include "core/xalloc.h"
#include "orch/debug.h"

enum cmd_status cmd_step(struct cmd_call *call)
{
    struct session *s = call->session;
    const char *v = cmd_arg(call, 0);
    cJSON *fields;

    if (v && strcmp(v, "on") != 0 && strcmp(v, "off") != 0)
        return cmd_fail(call, "/step: \"%s\" is neither on nor off", v);
    if (v)
        s->step_mode = strcmp(v, "on") == 0;
    fields = cJSON_CreateObject();
    cJSON_AddBoolToObject(fields, "on", s->step_mode);
    event_emit(&s->events, "step.mode", fields);
    return CMD_OK;
}

static enum cmd_status resume(struct cmd_call *call, enum debug_action action)
{
    char *error = NULL;
    bool ok = session_debug_resume(call->session, cmd_arg(call, 0), action, &error);
    return cmd_result(call, ok, error);
}

enum cmd_status cmd_next(struct cmd_call *call)
{
    return resume(call, DEBUG_NEXT);
}

enum cmd_status cmd_continue(struct cmd_call *call)
{
    return resume(call, DEBUG_CONTINUE);
}

enum cmd_status cmd_skip(struct cmd_call *call)
{
    return resume(call, DEBUG_SKIP);
}

enum cmd_status cmd_abort(struct cmd_call *call)
{
    return resume(call, DEBUG_ABORT);
}

enum cmd_status cmd_edit(struct cmd_call *call)
{
    struct session *s = call->session;
    char *error = NULL, *text;
    bool ok;

    char *edited;

    if (cmd_arg(call, 0)) {
        ok = session_debug_edit(s, NULL, cmd_arg(call, 0), &error);
        return cmd_result(call, ok, error);
    }
    if (!s->edit_text)
        return cmd_fail(call, "/edit needs the new TEXT here (in the console, /edit alone opens $EDITOR)");
    if (!(text = session_debug_editable(s, NULL, &error)))
        return cmd_result(call, false, error);
    edited = s->edit_text(s->edit_ud, text, &error);
    free(text);
    if (!edited)
        return cmd_result(call, false, error);
    ok = session_debug_edit(s, NULL, edited, &error);
    free(edited);
    return cmd_result(call, ok, error);
}

enum cmd_status cmd_redirect(struct cmd_call *call)
{
    char *error = NULL;
    bool ok = session_debug_redirect(call->session, NULL, cmd_arg(call, 0), &error);
    return cmd_result(call, ok, error);
}

enum cmd_status cmd_break(struct cmd_call *call)
{
    char *error = NULL;
    bool ok = debug_break(call->session, cmd_arg(call, 0), &error);
    return cmd_result(call, ok, error);
}

enum cmd_status cmd_breaks(struct cmd_call *call)
{
    cJSON *fields = cJSON_CreateObject();
    cJSON_AddBoolToObject(fields, "step", call->session->step_mode);
    cJSON_AddItemToObject(fields, "breakpoints", debug_list(call->session));
    event_emit(&call->session->events, "breakpoint.list", fields);
    return CMD_OK;
}

enum cmd_status cmd_unbreak(struct cmd_call *call)
{
    const char *v = cmd_arg(call, 0);
    char *end, *error = NULL;
    long id = strtol(v, &end, 10);
    bool ok;

    if (end == v || *end || id <= 0 || id > 1000000)
        return cmd_fail(call, "/unbreak: \"%s\" is not a breakpoint number (/breaks lists them)", v);
    ok = debug_unbreak(call->session, (int)id, &error);
    return cmd_result(call, ok, error);
}
