#include "config.h"

#include "orch/debug.h"

#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

/* clang-format off */
static const char *const kind_names[] = {
    [BREAK_HANDOFF] = "handoff", [BREAK_FUNCTION] = "function", [BREAK_TOOL] = "tool",
    [BREAK_AGENT] = "agent", [BREAK_ERROR] = "error",
};
/* clang-format on */

static void breakpoint_free(void *item)
{
    struct breakpoint *b = item;
    free(b->name);
    free(b);
}

static void ensure_init(struct session *s)
{
    if (!s->breakpoints_ready) {
        vec_init(&s->breakpoints, breakpoint_free);
        s->breakpoints_ready = true;
    }
}

char *breakpoint_describe(const struct breakpoint *b)
{
    return b->name ? xasprintf("%s:%s", kind_names[b->kind], b->name) : xstrdup(kind_names[b->kind]);
}

static cJSON *breakpoint_json(const struct breakpoint *b)
{
    cJSON *obj = cJSON_CreateObject();
    char *spec = breakpoint_describe(b);
    cJSON_AddNumberToObject(obj, "breakpoint", b->id);
    cJSON_AddStringToObject(obj, "spec", spec);
    free(spec);
    return obj;
}

bool debug_break(struct session *s, const char *spec, char **error)
{
    const char *colon = strchr(spec, ':');
    size_t klen = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *name = colon ? colon + 1 : NULL;
    struct breakpoint *b;
    int kind = -1;

    for (size_t i = 0; i < sizeof kind_names / sizeof kind_names[0]; i++) {
        if (strlen(kind_names[i]) == klen && strncmp(kind_names[i], spec, klen) == 0)
            kind = (int)i;
    }
    if (kind < 0) {
        *error = xasprintf("\"%s\" is no breakpoint (expected handoff, function[:NAME], tool[:NAME], agent:NAME or "
                           "error)",
                           spec);
        return false;
    }
    if (name && !*name) {
        *error = xasprintf("%s: the name after the colon is empty", spec);
        return false;
    }
    if ((kind == BREAK_HANDOFF || kind == BREAK_ERROR) && name) {
        *error = xasprintf("a %s breakpoint takes no name", kind_names[kind]);
        return false;
    }
    if (kind == BREAK_AGENT && !name) {
        *error = xstrdup("agent needs a name: /break agent:NAME");
        return false;
    }
    if (kind == BREAK_AGENT && !team_find_agent(s->team, name)) {
        *error = xasprintf("agent:%s: no agent named \"%s\"", name, name);
        return false;
    }
    ensure_init(s);
    b = xcalloc(1, sizeof *b);
    b->id = ++s->next_breakpoint;
    b->kind = (enum break_kind)kind;
    b->name = name ? xstrdup(name) : NULL;
    vec_push(&s->breakpoints, b);
    event_emit(&s->events, "breakpoint.added", breakpoint_json(b));
    return true;
}

bool debug_unbreak(struct session *s, int id, char **error)
{
    ensure_init(s);
    for (size_t i = 0; i < s->breakpoints.len; i++) {
        struct breakpoint *b = s->breakpoints.items[i];
        if (b->id == id) {
            event_emit(&s->events, "breakpoint.removed", breakpoint_json(b));
            breakpoint_free(vec_remove(&s->breakpoints, i));
            return true;
        }
    }
    *error = xasprintf("no breakpoint %d (/breaks lists them)", id);
    return false;
}

const struct breakpoint *debug_match(const struct session *s, enum break_kind kind, const char *name)
{
    if (!s->breakpoints_ready)
        return NULL;
    for (size_t i = 0; i < s->breakpoints.len; i++) {
        const struct breakpoint *b = s->breakpoints.items[i];
        if (b->kind == kind && (!b->name || (name && strcmp(b->name, name) == 0)))
            return b;
    }
    return NULL;
}

bool debug_wants_client_handoffs(const struct session *s)
{
    return s->step_mode || debug_match(s, BREAK_HANDOFF, NULL);
}

cJSON *debug_list(struct session *s)
{
    cJSON *list = cJSON_CreateArray();
    ensure_init(s);
    for (size_t i = 0; i < s->breakpoints.len; i++)
        cJSON_AddItemToArray(list, breakpoint_json(s->breakpoints.items[i]));
    return list;
}

void debug_free(struct session *s)
{
    if (s->breakpoints_ready)
        vec_fini(&s->breakpoints);
    s->breakpoints_ready = false;
}
