/* The timeline of events: one row an event, drawn from the bottom. */
#include "config.h"

#include "ui/timeline.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/xalloc.h"
#include "text/width.h"

enum {
    TL_MAX_ROWS = 5000,
    TL_DROP_ROWS = 500,
    TL_MAX_RAW = 256 * 1024, /* a longer event is kept cut for the inspector */
};

static void row_free(void *item)
{
    struct tl_row *r = item;
    free(r->agent);
    free(r->text);
    free(r->raw);
    free(r->entry_id);
    free(r);
}

void timeline_init(struct timeline *tl)
{
    memset(tl, 0, sizeof *tl);
    vec_init(&tl->rows, row_free);
    vec_init(&tl->streams, NULL);
    tl->next_serial = 1;
    tl->scroll.follow = true;
    tl->dirty = true;
}

void timeline_fini(struct timeline *tl)
{
    if (tl->win)
        delwin(tl->win);
    vec_fini(&tl->streams);
    vec_fini(&tl->rows);
}

static void forget_stream(struct timeline *tl, const struct tl_row *row)
{
    for (size_t i = 0; i < tl->streams.len; i++) {
        if (tl->streams.items[i] == row) {
            vec_remove(&tl->streams, i);
            return;
        }
    }
}

static struct tl_row *push_row(struct timeline *tl, const char *ts, const char *agent, const char *kind,
                               const char *text, enum theme_role role, const char *raw)
{
    struct tl_row *r = xcalloc(1, sizeof *r);
    struct buf b = BUF_INIT;

    r->serial = tl->next_serial++;
    /* "2026-11-22T19:23:14.644Z" → "19:23:14" */
    if (ts && strlen(ts) >= 19)
        memcpy(r->time, ts + 11, 8);
    else
        memcpy(r->time, "--:--:--", 8);
    draw_clean(&b, agent, true);
    r->agent = buf_steal(&b);
    r->kind = kind;
    draw_clean(&b, text, true);
    r->text = buf_steal(&b);
    r->role = role;
    if (raw)
        r->raw = strlen(raw) > TL_MAX_RAW ? xstrndup(raw, TL_MAX_RAW) : xstrdup(raw);
    vec_push(&tl->rows, r);
    if (tl->rows.len > TL_MAX_ROWS) {
        for (size_t i = 0; i < TL_DROP_ROWS; i++) {
            forget_stream(tl, tl->rows.items[i]);
            row_free(tl->rows.items[i]);
        }
        memmove(tl->rows.items, tl->rows.items + TL_DROP_ROWS, (tl->rows.len - TL_DROP_ROWS) * sizeof(void *));
        tl->rows.len -= TL_DROP_ROWS;
    }
    tl->dirty = true;
    return r;
}

void timeline_add_notice(struct timeline *tl, enum theme_role role, const char *untrusted)
{
    char ts[32];
    clock_format_rfc3339(clock_wall_ms(), ts, sizeof ts);
    push_row(tl, ts, "agentdeck", "notice", untrusted, role, NULL);
}

/* The row of a reply that streams: one for all its pieces. */
static void add_delta(struct timeline *tl, const cJSON *ev, const char *line)
{
    const char *id = ev_str(ev, "entry_id");
    struct tl_row *r = NULL;
    char text[96];

    for (size_t i = 0; i < tl->streams.len; i++) {
        struct tl_row *s = tl->streams.items[i];
        if (strcmp(s->entry_id, id) == 0)
            r = s;
    }
    if (!r) {
        r = push_row(tl, ev_str(ev, "ts"), ev_str(ev, "agent"), "stream", "", ROLE_DIM, line);
        r->entry_id = xstrdup(id);
        vec_push(&tl->streams, r);
    }
    r->pieces++;
    snprintf(text, sizeof text, "%.40s: %u piece%s", id, r->pieces, r->pieces == 1 ? "" : "s");
    free(r->text);
    r->text = xstrdup(text);
    tl->dirty = true;
}

/* A pattern's progress: "p1 fanout started", "p1 1.2 decomposer done",
 * indented by its depth in a decomposition's tree. */
static void add_pattern_text(struct buf *text, const cJSON *ev, const char *what, enum theme_role *role)
{
    const char *status = ev_str(ev, "status");
    const char *step = ev_str(ev, "step");

    *role = ROLE_HANDOFF;
    if (strcmp(what, "started") == 0) {
        buf_printf(text, "%s %s%s%s started", ev_str(ev, "pattern"), ev_str(ev, "kind"),
                   *ev_str(ev, "workflow") ? " " : "", ev_str(ev, "workflow"));
        return;
    }
    if (strcmp(what, "done") == 0) {
        if (strcmp(status, "done") != 0)
            *role = ROLE_ERROR;
        buf_printf(text, "%s %s %s in %.1f s%s%s", ev_str(ev, "pattern"), ev_str(ev, "kind"), status,
                   ev_num(ev, "latency_ms") / 1000.0, *ev_str(ev, "message") ? ": " : "", ev_str(ev, "message"));
        return;
    }
    *role = strcmp(status, "failed") == 0 || strcmp(status, "skipped") == 0 ? ROLE_ERROR
            : strcmp(status, "started") == 0 || strcmp(status, "done") == 0 ? ROLE_DIM
                                                                            : ROLE_WARNING;
    buf_printf(text, "%s ", ev_str(ev, "pattern"));
    for (const char *p = step; *p; p++)
        if (*p == '.')
            buf_puts(text, "  "); /* the tree of a decomposition */
    buf_printf(text, "%s %s%s%s", step, status, *ev_str(ev, "message") ? ": " : "", ev_str(ev, "message"));
}

void timeline_add_event(struct timeline *tl, const cJSON *ev, const char *line)
{
    const char *type = ev_str(ev, "type"), *ts = ev_str(ev, "ts"), *agent = ev_str(ev, "agent");
    const char *kind = "event"; /* rows outlive ev: kinds are static strings */
    enum theme_role role = ROLE_TEXT;
    struct buf text = BUF_INIT;

    if (strcmp(type, "message.output.delta") == 0) {
        add_delta(tl, ev, line);
        return;
    }
    /* A server's log lines and a call's progress stay in the journal and the panes. */
    if (strcmp(type, "mcp.log") == 0 || strcmp(type, "mcp.progress") == 0)
        return;
    if (strcmp(type, "message.output") == 0) {
        for (size_t i = 0; i < tl->streams.len; i++) {
            struct tl_row *s = tl->streams.items[i];
            if (strcmp(s->entry_id, ev_str(ev, "entry_id")) == 0) {
                vec_remove(&tl->streams, i);
                break;
            }
        }
        kind = "reply";
        buf_puts(&text, ev_str(ev, "content"));
    } else if (strcmp(type, "message.input") == 0) {
        kind = "input";
        role = ROLE_USER;
        buf_puts(&text, ev_str(ev, "content"));
    } else if (strcmp(type, "conversation.started") == 0) {
        kind = "conv";
        role = ROLE_DIM;
        if (*ev_str(ev, "server_conversation") && !*ev_str(ev, "server_parent"))
            buf_printf(&text, "%s is server conversation %s", ev_str(ev, "conversation"),
                       ev_str(ev, "server_conversation"));
        else if (*ev_str(ev, "server_conversation"))
            buf_printf(&text, "%s now on server conversation %s (context carried: %.0f entries)",
                       ev_str(ev, "conversation"), ev_str(ev, "server_conversation"), ev_num(ev, "carried"));
        else if (*ev_str(ev, "parent"))
            buf_printf(&text, "%s branched from %s at %s", ev_str(ev, "conversation"), ev_str(ev, "parent"),
                       ev_str(ev, "from_entry"));
        else
            buf_printf(&text, "%s started", ev_str(ev, "conversation"));
    } else if (strcmp(type, "run.started") == 0) {
        kind = "run";
        role = ROLE_DIM;
        buf_printf(&text, "%s started in %s", ev_str(ev, "run"), ev_str(ev, "conversation"));
        if (*ev_str(ev, "retry_of"))
            buf_printf(&text, ", going on with %s", ev_str(ev, "retry_of"));
    } else if (strcmp(type, "run.interrupted") == 0) {
        kind = "cut";
        role = ROLE_WARNING;
        buf_printf(&text, "%s was in flight when agentdeck stopped: /retry goes on with it", ev_str(ev, "run"));
    } else if (strcmp(type, "session.resumed") == 0) {
        kind = "resume";
        role = ROLE_HANDOFF;
        buf_printf(&text, "session %s resumed from %.0f events; %d run%s cut off", ev_str(ev, "session"),
                   ev_num(ev, "events"), cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ev, "interrupted")),
                   cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ev, "interrupted")) == 1 ? "" : "s");
    } else if (strcmp(type, "function.call") == 0) {
        kind = "call";
        role = ROLE_TOOL;
        buf_printf(&text, "%s %s", ev_str(ev, "name"), ev_str(ev, "arguments"));
    } else if (strcmp(type, "function.result") == 0) {
        kind = "result";
        role = ROLE_TOOL;
        buf_puts(&text, ev_str(ev, "result"));
    } else if (strcmp(type, "tool.execution") == 0) {
        kind = "tool";
        role = ROLE_TOOL;
        buf_printf(&text, "%s %s", ev_str(ev, "name"), ev_str(ev, "arguments"));
    } else if (strcmp(type, "agent.handoff") == 0) {
        kind = "handoff";
        role = ROLE_HANDOFF;
        if (strcmp(ev_str(ev, "execution"), "user") == 0) /* a /redirect: previous_agent was meant */
            buf_printf(&text, "%s \xE2\x87\xA2 %s, redirected by you from %s", ev_str(ev, "agent"),
                       ev_str(ev, "next_agent"), ev_str(ev, "previous_agent"));
        else
            buf_printf(&text, "%s \xE2\x87\xA2 %s", ev_str(ev, "previous_agent"), ev_str(ev, "next_agent")); /* ⇢ */
    } else if (strcmp(type, "run.done") == 0) {
        const cJSON *usage = cJSON_GetObjectItemCaseSensitive(ev, "usage");
        kind = "done";
        role = ROLE_DIM;
        buf_printf(&text, "%s in %.1f s, %.0f tokens", ev_str(ev, "run"), ev_num(ev, "latency_ms") / 1000.0,
                   ev_num(usage, "total_tokens"));
    } else if (strcmp(type, "run.error") == 0) {
        kind = "failed";
        role = ROLE_ERROR;
        buf_printf(&text, "%s: %s", ev_str(ev, "run"), ev_str(ev, "message"));
    } else if (strcmp(type, "run.cancelled") == 0) {
        kind = "cancel";
        role = ROLE_WARNING;
        buf_printf(&text, "%s: %s", ev_str(ev, "run"), ev_str(ev, "message"));
    } else if (strcmp(type, "error") == 0) {
        kind = "error";
        role = ROLE_ERROR;
        if (*ev_str(ev, "function"))
            buf_printf(&text, "function %s failed: ", ev_str(ev, "function"));
        buf_puts(&text, ev_str(ev, "message"));
    } else if (strcmp(type, "warning") == 0) {
        kind = "warning";
        role = ROLE_WARNING;
        buf_puts(&text, ev_str(ev, "message"));
    } else if (strcmp(type, "branch.list") == 0) {
        /* The tree of branches: a row each, indented by depth. */
        const cJSON *b;
        cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(ev, "branches")) {
            struct buf row = BUF_INIT;
            for (int d = 0; d < (int)ev_num(b, "depth"); d++)
                buf_puts(&row, "  ");
            buf_printf(&row, "%s %s (%.0f entries)", ev_str(b, "conversation"), ev_str(b, "agent"),
                       ev_num(b, "entries"));
            if (*ev_str(b, "parent"))
                buf_printf(&row, ", from %s at %s", ev_str(b, "parent"), ev_str(b, "from_entry"));
            if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "focused")))
                buf_puts(&row, "  <- focused");
            push_row(tl, ts, ev_str(b, "agent"), "branch", buf_str(&row), ROLE_DIM, line);
            buf_fini(&row);
        }
        buf_fini(&text);
        return;
    } else if (strcmp(type, "entry.edited") == 0) {
        kind = "edit";
        role = ROLE_WARNING;
        buf_printf(&text, "%s now: %s", ev_str(ev, "entry_id"), ev_str(ev, "text"));
    } else if (strcmp(type, "step.mode") == 0) {
        kind = "step";
        role = ROLE_DIM;
        buf_puts(&text, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev, "on")) ? "step mode on" : "step mode off");
    } else if (strncmp(type, "breakpoint.", 11) == 0 && strcmp(type, "breakpoint.hit") != 0) {
        kind = "break";
        role = ROLE_DIM;
        buf_printf(&text, "%s %s", type + 11, ev_str(ev, "spec"));
    } else if (strcmp(type, "breakpoint.hit") == 0) {
        kind = "stop";
        role = ROLE_WARNING;
        if (strcmp(ev_str(ev, "reason"), "confirmation") == 0)
            buf_printf(&text, "%s %s: %s", ev_str(ev, "name"), ev_str(ev, "tool_call_id"), ev_str(ev, "message"));
        else if (strcmp(ev_str(ev, "reason"), "handoff") == 0)
            buf_printf(&text, "before %s \xE2\x87\xA2 %s", ev_str(ev, "previous_agent"), ev_str(ev, "next_agent"));
        else
            buf_printf(&text, "%s%s%s before %s's request (Enter shows what it will send)", ev_str(ev, "reason"),
                       *ev_str(ev, "spec") ? " " : "", ev_str(ev, "spec"), ev_str(ev, "agent"));
    } else if (strcmp(type, "confirmation.answered") == 0) {
        kind = "answer";
        role = ROLE_WARNING;
        buf_printf(&text, "%s %s %s%s", ev_str(ev, "answer"), ev_str(ev, "name"), ev_str(ev, "tool_call_id"),
                   cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev, "always")) ? " (always)" : "");
    } else if (strncmp(type, "agent.", 6) == 0) {
        kind = "agent";
        role = ROLE_DIM;
        buf_puts(&text, type + 6);
    } else if (strcmp(type, "conversation.history") == 0) {
        kind = "history";
        role = ROLE_DIM;
        buf_printf(&text, "%s: %d entries", ev_str(ev, "conversation"),
                   cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ev, "entries")));
    } else if (strcmp(type, "help") == 0) {
        kind = "help";
        role = ROLE_DIM;
        buf_puts(&text, *ev_str(ev, "topic") ? ev_str(ev, "topic") : "commands");
    } else if (strncmp(type, "pattern.", 8) == 0) {
        add_pattern_text(&text, ev, type + 8, &role);
        kind = "pattern";
    } else if (strcmp(type, "state") == 0) {
        char *state = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(ev, "state"));
        kind = "state";
        role = ROLE_DIM;
        buf_printf(&text, "%s: %s", ev_str(ev, "change"), state ? state : "{}");
        cJSON_free(state);
    } else if (strcmp(type, "event.emitted") == 0) {
        kind = "emit";
        role = ROLE_HANDOFF;
        buf_printf(&text, "%s %s (from %s, %d handler%s)", ev_str(ev, "event"), ev_str(ev, "data"),
                   ev_str(ev, "source"), cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ev, "handlers")),
                   cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ev, "handlers")) == 1 ? "" : "s");
    } else if (strncmp(type, "handler.", 8) == 0) {
        kind = "handler";
        role = ROLE_DIM;
        buf_printf(&text, "%s %s", type + 8, ev_str(ev, "event"));
    } else if (strncmp(type, "mcp.", 4) == 0) {
        kind = "mcp";
        role = strcmp(type, "mcp.error") == 0 ? ROLE_ERROR : ROLE_DIM;
        if (strcmp(type, "mcp.error") == 0)
            buf_puts(&text, ev_str(ev, "message"));
        else if (strcmp(type, "mcp.started") == 0)
            buf_printf(&text, "%s ready (%s, %.0f tools)", ev_str(ev, "server"), ev_str(ev, "transport"),
                       ev_num(ev, "tools"));
        else if (strcmp(type, "mcp.tools_changed") == 0)
            buf_printf(&text, "%s now has %.0f tools", ev_str(ev, "server"), ev_num(ev, "tools"));
        else
            buf_printf(&text, "%s %s", type + 4, ev_str(ev, "server"));
    } else if (strncmp(type, "conversation.", 13) == 0) {
        kind = "conv";
        role = ROLE_DIM;
        buf_printf(&text, "%s %s%s%s", type + 13, ev_str(ev, "conversation"), *ev_str(ev, "remote_id") ? " " : "",
                   ev_str(ev, "remote_id"));
    } else {
        buf_puts(&text, type);
    }
    push_row(tl, ts, *agent ? agent : "-", kind, buf_str(&text), role, line);
    buf_fini(&text);
}

/* ---- scrolling and selection ------------------------------------------- */

/* Rows for events: the first row of the window is the title. */
static int content_rows(const struct timeline *tl)
{
    return tl->r.h - 1;
}

static size_t first_serial(const struct timeline *tl)
{
    return tl->rows.len ? ((struct tl_row *)tl->rows.items[0])->serial : tl->next_serial;
}

static int content_rows(const struct timeline *tl);

/* Index of the bottom row drawn. */
static size_t bottom_index(const struct timeline *tl)
{
    size_t first = first_serial(tl);
    if (!tl->scroll.follow && tl->scroll.anchor < first) {
        /* The anchor was dropped: the oldest page left. */
        size_t rows = content_rows(tl) > 0 ? (size_t)content_rows(tl) : 1;
        return rows - 1 < tl->rows.len - 1 ? rows - 1 : tl->rows.len - 1;
    }
    if (tl->scroll.follow || tl->scroll.anchor - first >= tl->rows.len)
        return tl->rows.len - 1;
    return tl->scroll.anchor - first;
}

void timeline_scroll(struct timeline *tl, int lines)
{
    long b, last = (long)tl->rows.len - 1, rows = content_rows(tl);

    if (!tl->rows.len)
        return;
    b = (long)bottom_index(tl) - lines;
    if (b < rows - 1)
        b = rows - 1 < last ? rows - 1 : last;
    tl->scroll.follow = b >= last;
    tl->scroll.anchor = first_serial(tl) + (size_t)(b < 0 ? 0 : b);
    tl->dirty = true;
}

static size_t selected_index(const struct timeline *tl)
{
    size_t first = first_serial(tl);
    if (!tl->selected || tl->selected < first || tl->selected - first >= tl->rows.len)
        return tl->rows.len - 1;
    return tl->selected - first;
}

const struct tl_row *timeline_selected(const struct timeline *tl)
{
    return tl->rows.len ? tl->rows.items[selected_index(tl)] : NULL;
}

void timeline_select(struct timeline *tl, int dir)
{
    long i, b, rows = content_rows(tl) > 0 ? content_rows(tl) : 1;

    if (!tl->rows.len)
        return;
    i = (long)selected_index(tl) + dir;
    if (i < 0)
        i = 0;
    if (i >= (long)tl->rows.len - 1) {
        tl->selected = 0; /* the newest, and it stays the newest */
        i = (long)tl->rows.len - 1;
    } else {
        tl->selected = first_serial(tl) + (size_t)i;
    }
    /* Keep it in view. */
    b = (long)bottom_index(tl);
    if (i > b)
        timeline_scroll(tl, (int)(b - i));
    else if (i < b - rows + 1)
        timeline_scroll(tl, (int)(b - rows + 1 - i));
    tl->dirty = true;
}

/* ---- painting ----------------------------------------------------------- */

static int row_top_index(const struct timeline *tl, int rows)
{
    long top = (long)bottom_index(tl) - rows + 1;
    return top < 0 ? 0 : (int)top;
}

bool timeline_select_at(struct timeline *tl, int y)
{
    size_t i;
    if (!tl->rows.len || --y < 0)
        return false;
    i = (size_t)row_top_index(tl, content_rows(tl)) + (size_t)y;
    if (i >= tl->rows.len || i > bottom_index(tl))
        return false;
    tl->selected = i + 1 == tl->rows.len ? 0 : first_serial(tl) + i;
    tl->dirty = true;
    return true;
}

void timeline_paint(struct timeline *tl, struct console *c, bool focused)
{
    int rows = content_rows(tl), cols = tl->r.w;
    bool show_time = cols >= 60;
    size_t top, bottom, sel;
    attr_t title = c->attrs[focused ? ROLE_TITLE_FOCUSED : ROLE_TITLE];
    char head[64];

    werase(tl->win);
    draw_row(tl->win, 0, cols, title);
    snprintf(head, sizeof head, " timeline  %zu event%s", tl->rows.len, tl->rows.len == 1 ? "" : "s");
    draw_text(tl->win, head, strlen(head), cols, title);
    if (focused && cols > 60) {
        static const char keys[] = "Up/Down select, Enter inspects ";
        wmove(tl->win, 0, cols - (int)strlen(keys));
        draw_text(tl->win, keys, strlen(keys), cols, title);
    }
    tl->lines_below = 0;
    if (!tl->rows.len || rows <= 0)
        return;
    bottom = bottom_index(tl);
    top = (size_t)row_top_index(tl, rows);
    sel = selected_index(tl);
    for (size_t i = top; i <= bottom; i++) {
        const struct tl_row *r = tl->rows.items[i];
        bool selected = focused && i == sel;
        attr_t base = selected ? c->attrs[ROLE_SELECTED] : 0;
        attr_t role = selected ? base : c->attrs[r->role];
        int x = 0;
        char kind[16];

        if (selected)
            draw_row(tl->win, 1 + (int)(i - top), cols, base);
        wmove(tl->win, 1 + (int)(i - top), 0);
        if (show_time) {
            x += draw_text(tl->win, r->time, 8, cols - x, selected ? base : c->attrs[ROLE_DIM]);
            x += draw_text(tl->win, " ", 1, cols - x, base);
        }
        /* The agent in a column of 10. */
        int aw = draw_text(tl->win, r->agent, strlen(r->agent), 10 < cols - x ? 10 : cols - x,
                           selected ? base : c->attrs[ROLE_AGENT]);
        x += aw;
        wmove(tl->win, 1 + (int)(i - top), x + (10 - aw));
        x += 10 - aw;
        snprintf(kind, sizeof kind, " %-8s", r->kind);
        x += draw_text(tl->win, kind, strlen(kind), cols - x, role);
        draw_text(tl->win, r->text, strlen(r->text), cols - x, role);
    }
    if (!tl->scroll.follow) {
        char more[32];
        tl->lines_below = tl->rows.len - 1 - bottom;
        int len = snprintf(more, sizeof more, "-MORE(%zu)-", tl->lines_below);
        if (len < cols) {
            wmove(tl->win, rows, cols - len);
            draw_text(tl->win, more, (size_t)len, len, c->attrs[ROLE_MORE]);
        }
    }
}
