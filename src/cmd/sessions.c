/* /sessions and /retry (issue 8), and what a replay lets the user do. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cmd/internal.h"
#include "core/xalloc.h"
#include "model/journal.h"
#include "orch/resume.h"

/* /retry [RUN|PATTERN]: goes on with what a crash cut off. */
enum cmd_status cmd_retry(struct cmd_call *call)
{
    char *error = NULL;
    bool ok = session_retry(call->session, cmd_arg(call, 0), &error);
    return cmd_result(call, ok, error);
}

/* How a session's journal ends: its conversations, its runs, and the runs
 * still in flight at its end (none retried since). */
static void summarize(const struct journal_contents *jc, cJSON *item)
{
    struct vec open; /* run ids (not owned) */
    size_t conversations = 0, runs = 0;

    vec_init(&open, NULL);
    for (size_t i = 0; i < jc->lines.len; i++) {
        const cJSON *ev = ((const struct journal_line *)jc->lines.items[i])->event;
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "type"));
        const char *run = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "run"));
        const char *retry_of = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "retry_of"));

        if (strcmp(type, "conversation.started") == 0 && !cJSON_GetObjectItemCaseSensitive(ev, "server_conversation"))
            conversations++;
        if (!run || strncmp(type, "run.", 4) != 0)
            continue;
        if (strcmp(type, "run.started") == 0) {
            runs++;
            vec_push(&open, (void *)run);
        }
        /* A run ends with run.done, .error or .cancelled; one a resume
         * marked interrupted stays open until a retry goes on with it. */
        for (size_t k = 0; k < open.len; k++) {
            const char *id = open.items[k];
            if ((strcmp(type, "run.started") != 0 && strcmp(type, "run.interrupted") != 0 && strcmp(id, run) == 0) ||
                (retry_of && strcmp(id, retry_of) == 0)) {
                vec_remove(&open, k);
                break;
            }
        }
    }
    cJSON_AddNumberToObject(item, "conversations", (double)conversations);
    cJSON_AddNumberToObject(item, "runs", (double)runs);
    cJSON_AddNumberToObject(item, "interrupted", (double)open.len);
    vec_fini(&open);
}

static void copy_string(cJSON *to, const char *key, const cJSON *from, const char *from_key)
{
    const char *value = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(from, from_key));
    if (value)
        cJSON_AddStringToObject(to, key, value);
}

/* /sessions: the journaled sessions, oldest first. */
enum cmd_status cmd_sessions(struct cmd_call *call)
{
    struct session *s = call->session;
    struct vec ids;
    cJSON *fields = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(fields, "sessions");

    vec_init(&ids, free);
    journal_list_sessions(&ids);
    for (size_t i = 0; i < ids.len; i++) {
        struct resume_source src;
        char *error = NULL;
        cJSON *item;
        const cJSON *resumed;

        if (!resume_source_open(ids.items[i], &src, &error)) {
            free(error);
            continue;
        }
        item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "session", src.id);
        copy_string(item, "started", src.meta, "started");
        if (!cJSON_GetObjectItemCaseSensitive(item, "started") && src.journal.lines.len)
            copy_string(item, "started", ((struct journal_line *)src.journal.lines.items[0])->event, "ts");
        copy_string(item, "profile", src.meta, "profile");
        copy_string(item, "profile_name", src.meta, "profile_name");
        copy_string(item, "backend", src.meta, "backend");
        cJSON_AddNumberToObject(item, "events", (double)src.journal.lines.len);
        summarize(&src.journal, item);
        resumed = cJSON_GetObjectItemCaseSensitive(src.meta, "resumed");
        if (cJSON_GetArraySize(resumed))
            cJSON_AddNumberToObject(item, "resumed", cJSON_GetArraySize(resumed));
        copy_string(item, "ended", src.meta, "ended");
        cJSON_AddBoolToObject(item, "clean", cJSON_GetObjectItemCaseSensitive(src.meta, "ended") != NULL);
        if (src.journal.torn >= 0)
            cJSON_AddNumberToObject(item, "torn", (double)src.journal.torn);
        if (strcmp(src.id, s->id) == 0)
            cJSON_AddBoolToObject(item, "current", true);
        cJSON_AddItemToArray(list, item);
        resume_source_fini(&src);
    }
    vec_fini(&ids);
    event_emit(&s->events, "session.list", fields);
    return CMD_OK;
}

bool cmd_allowed_in_replay(const char *line, char **why)
{
    /* What only looks: the session of a replay is what was recorded. */
    static const char *const looking[] = {
        "help",
        "history",
        "branches",
        "switch",
        "handlers",
        "breaks",
        "sessions",
        "quit",
        "agent list",
        "agent show",
        "conversation list",
        "conversation show",
        "conversation history",
        "conversation messages",
        "state show",
        NULL,
    };
    size_t n;

    while (*line == ' ' || *line == '\t')
        line++;
    if (*line == '/') {
        for (size_t i = 0; looking[i]; i++) {
            n = strlen(looking[i]);
            if (strncmp(line + 1, looking[i], n) == 0 &&
                (line[n + 1] == '\0' || line[n + 1] == ' ' || line[n + 1] == '\t'))
                return true;
        }
    }
    n = strcspn(line, " \t");
    *why = xasprintf("%.*s would change the session: a replay only shows it (commands that look, such as "
                     "/history, work)",
                     (int)(n > 40 ? 40 : n), *line == '/' || *line == '@' ? line : "text");
    return false;
}
