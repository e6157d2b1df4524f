#include "config.h"

#include "model/settings.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/file.h"
#include "core/xalloc.h"

enum { SETTINGS_MAX_BYTES = 1024 * 1024 };

void settings_init(struct settings *s)
{
    memset(s, 0, sizeof *s);
    s->offline_rate = -1;
    s->retries = -1;
    keymap_init(&s->keys);
}

void settings_fini(struct settings *s)
{
    free(s->path);
    free(s->backend);
    free(s->base_url_mistral);
    free(s->base_url_chat);
    free(s->theme);
    settings_init(s);
}

char *settings_default_path(void)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");

    if (xdg && *xdg == '/')
        return xasprintf("%s/agentdeck/config.json", xdg);
    if (home && *home)
        return xasprintf("%s/.config/agentdeck/config.json", home);
    return NULL;
}

const char *settings_base_url(const struct settings *s, const char *backend)
{
    if (backend && strcmp(backend, "mistral") == 0)
        return s->base_url_mistral;
    if (backend && strcmp(backend, "chat") == 0)
        return s->base_url_chat;
    return NULL;
}

/* ---- checking one setting ------------------------------------------------
 * Each check returns NULL, or a new message that the caller puts after the
 * setting's path: "offline_rate": must be a number >= 0. */

static char *need_string(const cJSON *v, char **out)
{
    if (!cJSON_IsString(v) || !*v->valuestring)
        return xstrdup("must be a non-empty string");
    free(*out);
    *out = xstrdup(v->valuestring);
    return NULL;
}

static char *need_whole(const cJSON *v, long min, long max, long *out)
{
    /* In range first: then the cast is defined, and tells a whole number. */
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= (double)min && v->valuedouble <= (double)max) ||
        v->valuedouble != (double)(long)v->valuedouble)
        return xasprintf("must be a whole number from %ld to %ld", min, max);
    *out = (long)v->valuedouble;
    return NULL;
}

static char *need_url(const cJSON *v, char **out)
{
    if (!cJSON_IsString(v) || (strncmp(v->valuestring, "http://", 7) != 0 && strncmp(v->valuestring, "https://", 8)))
        return xstrdup("must be an http:// or https:// URL");
    free(*out);
    *out = xstrdup(v->valuestring);
    return NULL;
}

/* Fails for a key given twice in obj: the second would silently win. */
static char *check_twice(const cJSON *obj, const cJSON *item)
{
    for (const cJSON *before = obj->child; before != item; before = before->next) {
        if (strcmp(before->string, item->string) == 0)
            return xstrdup("given twice");
    }
    return NULL;
}

struct context {
    struct settings *s;
    struct buf where; /* the path of the setting at fault: "retry.retries" */
};

static char *set_backend(struct context *cx, const cJSON *v)
{
    static const char *const names[] = {"offline", "mistral", "chat"};
    for (size_t i = 0; i < 3; i++) {
        if (cJSON_IsString(v) && strcmp(v->valuestring, names[i]) == 0)
            return need_string(v, &cx->s->backend);
    }
    return xstrdup("must be one of offline, mistral, chat");
}

static char *set_theme(struct context *cx, const cJSON *v)
{
    return need_string(v, &cx->s->theme);
}

static char *set_offline_rate(struct context *cx, const cJSON *v)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0)
        return xstrdup("must be a number >= 0 (words a second; 0: at once)");
    cx->s->offline_rate = v->valuedouble;
    return NULL;
}

/* Runs set on each member of the object v, named within cx->where. */
static char *each_member(struct context *cx, const cJSON *v, char *(*set)(struct context *, const cJSON *))
{
    const cJSON *item;
    size_t mark = cx->where.len;

    if (!cJSON_IsObject(v))
        return xstrdup("must be an object");
    cJSON_ArrayForEach(item, v) {
        char *problem;
        buf_printf(&cx->where, ".%s", item->string);
        if ((problem = check_twice(v, item)) || (problem = set(cx, item)))
            return problem;
        cx->where.len = mark;
        cx->where.data[mark] = '\0';
    }
    return NULL;
}

static char *set_base_url(struct context *cx, const cJSON *item)
{
    if (strcmp(item->string, "mistral") == 0)
        return need_url(item, &cx->s->base_url_mistral);
    if (strcmp(item->string, "chat") == 0)
        return need_url(item, &cx->s->base_url_chat);
    return xstrdup("unknown backend (expected mistral or chat; offline has no URL)");
}

static char *set_base_urls(struct context *cx, const cJSON *v)
{
    return each_member(cx, v, set_base_url);
}

static char *set_key(struct context *cx, const cJSON *item)
{
    char *error = NULL;

    if (!cJSON_IsString(item))
        return xstrdup("must be a key name, such as \"F5\" or \"Ctrl-G\", or \"none\"");
    keymap_bind(&cx->s->keys, item->string, item->valuestring, &error);
    return error;
}

/* Two actions on one key: the one the file names is at fault. */
static char *check_shared_keys(struct context *cx, const cJSON *v)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, v) {
        int action = keymap_find_action(item->string);
        int other = keymap_shared_key(&cx->s->keys, (enum key_action)action);
        if (other >= 0) {
            buf_printf(&cx->where, ".%s", item->string);
            return xasprintf("%s is also the key of %s (give %s another key, or \"none\")", cx->s->keys.keys[action],
                             keymap_action_name((enum key_action)other), keymap_action_name((enum key_action)other));
        }
    }
    return NULL;
}

static char *set_keys(struct context *cx, const cJSON *v)
{
    char *problem = each_member(cx, v, set_key);
    return problem ? problem : check_shared_keys(cx, v);
}

static char *set_retry_field(struct context *cx, const cJSON *item)
{
    long n = 0;
    char *problem;

    if (strcmp(item->string, "retries") == 0) {
        if (!(problem = need_whole(item, 0, 100, &n)))
            cx->s->retries = (int)n;
        return problem;
    }
    if (strcmp(item->string, "stall_timeout") == 0)
        return need_whole(item, 1, 3600, &cx->s->stall_timeout_s);
    return xstrdup("unknown setting (expected retries or stall_timeout)");
}

static char *set_retry(struct context *cx, const cJSON *v)
{
    return each_member(cx, v, set_retry_field);
}

static const struct {
    const char *key;
    char *(*set)(struct context *cx, const cJSON *v);
} top_level[] = {
    {"backend", set_backend},           {"base_urls", set_base_urls}, {"theme", set_theme},
    {"offline_rate", set_offline_rate}, {"keys", set_keys},           {"retry", set_retry},
};

static char *set_top_level(struct context *cx, const cJSON *item)
{
    for (size_t i = 0; i < sizeof top_level / sizeof top_level[0]; i++) {
        if (strcmp(item->string, top_level[i].key) == 0)
            return top_level[i].set(cx, item);
    }
    return xstrdup("unknown setting (expected one of backend, base_urls, theme, offline_rate, keys, retry)");
}

/* The line of the byte at offset in text, counting from 1. */
static int line_of(const char *text, size_t offset)
{
    int line = 1;
    for (size_t i = 0; i < offset && text[i]; i++)
        line += text[i] == '\n';
    return line;
}

bool settings_parse(struct settings *s, const char *text, const char *name, char **error)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, true);
    struct context cx = {s, BUF_INIT};
    char *problem;

    if (!root) {
        *error = xasprintf("%s: not valid JSON (line %d)", name, line_of(text, end ? (size_t)(end - text) : 0));
        return false;
    }
    if (!cJSON_IsObject(root)) {
        *error = xasprintf("%s: the configuration must be a JSON object of settings", name);
        cJSON_Delete(root);
        return false;
    }
    /* The top level has no leading dot: "retry.retries", not ".retry.retries". */
    problem = each_member(&cx, root, set_top_level);
    if (problem)
        *error = xasprintf("%s: \"%s\": %s", name, buf_str(&cx.where) + 1, problem);
    free(problem);
    buf_fini(&cx.where);
    cJSON_Delete(root);
    return !problem;
}

bool settings_load(struct settings *s, const char *path, bool must_exist, char **error)
{
    struct buf text = BUF_INIT;
    struct stat st;
    bool ok;

    if (!must_exist && stat(path, &st) < 0 && errno == ENOENT)
        return true;
    if (!file_read(path, SETTINGS_MAX_BYTES, &text, error)) {
        buf_fini(&text);
        return false;
    }
    if (strlen(buf_str(&text)) != text.len) {
        *error = xasprintf("%s: not valid JSON (a NUL byte at line %d)", path, line_of(buf_str(&text), text.len));
        buf_fini(&text);
        return false;
    }
    ok = settings_parse(s, buf_str(&text), path, error);
    if (ok) {
        free(s->path);
        s->path = xstrdup(path);
    }
    buf_fini(&text);
    return ok;
}
