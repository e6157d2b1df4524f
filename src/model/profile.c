#include "config.h"

#include "model/profile.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/vec.h"
#include "core/xalloc.h"

/* The longest timeout (of a function, or a workflow's branch) a profile may
 * ask for, in seconds. */
#define MAX_TIMEOUT_S 86400

/* The state of one validation: where we are and the first error. */
struct loader {
    const char *file;   /* names the profile in messages; NULL for the bare checks */
    char *dir;          /* the profile's folder made absolute, computed when first needed */
    struct buf path;    /* where we are: "agents[2].handoffs[0]" ("" at the top) */
    char *error;        /* "PATH: what is wrong", set by fail() */
    struct vec scratch; /* strings that live until loader_fini (quoted values) */
};

static void loader_init(struct loader *ld, const char *file, const char *where)
{
    memset(ld, 0, sizeof *ld);
    ld->file = file;
    buf_init(&ld->path);
    buf_puts(&ld->path, where ? where : "");
    vec_init(&ld->scratch, free);
}

static void loader_fini(struct loader *ld)
{
    free(ld->dir);
    buf_fini(&ld->path);
    free(ld->error);
    vec_fini(&ld->scratch);
}

/* Hands the error over to the caller: ld no longer owns it. */
static char *loader_take_error(struct loader *ld)
{
    char *error = ld->error;
    ld->error = NULL;
    return error;
}

/* Keeps s until loader_fini() and returns it. */
static const char *scratch(struct loader *ld, char *s)
{
    vec_push(&ld->scratch, s);
    return s;
}

/* Records "PATH: what" (just "what" at the top) and returns false, so that
 * callers can `return fail(...)`. Only the first error is kept. */
static bool fail(struct loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(struct loader *ld, const char *fmt, ...)
{
    va_list ap;
    char *what;

    if (ld->error)
        return false;
    va_start(ap, fmt);
    what = xvasprintf(fmt, ap);
    va_end(ap);
    if (ld->path.len) {
        ld->error = xasprintf("%s: %s", buf_str(&ld->path), what);
        free(what);
    } else {
        ld->error = what;
    }
    return false;
}

/* Returns s as a JSON string literal ("bi\"ling"), so that a message stays on
 * one line whatever the profile holds; the loader frees it. */
static const char *quote(struct loader *ld, const char *s)
{
    cJSON *str = cJSON_CreateString(s);
    char *printed = str ? cJSON_PrintUnformatted(str) : NULL;
    char *copy;

    cJSON_Delete(str);
    if (!printed)
        fatal("out of memory quoting a string");
    copy = xstrdup(printed);
    cJSON_free(printed);
    return scratch(ld, copy);
}

/* Returns a JSON value as its text (1.5, "x"); the loader frees it. */
static const char *show(struct loader *ld, const cJSON *v)
{
    char *printed, *copy;

    if (cJSON_IsNumber(v) && !isfinite(v->valuedouble))
        return "a number out of range"; /* cJSON would print null */
    printed = cJSON_PrintUnformatted(v);
    if (!printed)
        fatal("out of memory printing a value");
    copy = xstrdup(printed);
    cJSON_free(printed);
    return scratch(ld, copy);
}

/* Path steps: each returns the length to restore with path_pop(). */
static size_t path_key(struct loader *ld, const char *key)
{
    size_t mark = ld->path.len;

    if (name_is_valid(key)) {
        if (ld->path.len)
            buf_putc(&ld->path, '.');
        buf_puts(&ld->path, key);
    } else {
        buf_printf(&ld->path, "[%s]", quote(ld, key));
    }
    return mark;
}

static size_t path_index(struct loader *ld, size_t i)
{
    size_t mark = ld->path.len;

    buf_printf(&ld->path, "[%zu]", i);
    return mark;
}

static void path_pop(struct loader *ld, size_t mark)
{
    ld->path.len = mark;
    if (ld->path.data)
        ld->path.data[mark] = '\0';
}

/* "a, b, c" from a NULL-terminated list; the loader frees it. */
static const char *join_names(struct loader *ld, const char *const *names)
{
    struct buf b = BUF_INIT;

    for (size_t i = 0; names[i]; i++) {
        if (i)
            buf_puts(&b, ", ");
        buf_puts(&b, names[i]);
    }
    return scratch(ld, buf_steal(&b));
}

static bool name_in(const char *name, const char *const *names)
{
    for (size_t i = 0; names[i]; i++) {
        if (strcmp(names[i], name) == 0)
            return true;
    }
    return false;
}

/* Rejects a key given twice in one object: cJSON keeps both, and one would
 * silently win. */
static bool check_duplicates(struct loader *ld, const cJSON *obj)
{
    for (const cJSON *a = obj->child; a; a = a->next) {
        for (const cJSON *b = obj->child; b != a; b = b->next) {
            if (strcmp(a->string, b->string) == 0) {
                path_key(ld, a->string);
                return fail(ld, "duplicate key");
            }
        }
    }
    return true;
}

/* Rejects keys that are not in allowed (NULL-terminated), naming them all. */
static bool check_keys(struct loader *ld, const cJSON *obj, const char *const *allowed)
{
    for (const cJSON *item = obj->child; item; item = item->next) {
        if (!name_in(item->string, allowed)) {
            path_key(ld, item->string);
            return fail(ld, "unknown field (expected one of %s)", join_names(ld, allowed));
        }
    }
    return check_duplicates(ld, obj);
}

/* ---- Scalar checks: the value at the current path. ---- */

static bool check_object(struct loader *ld, const cJSON *v)
{
    return cJSON_IsObject(v) ? true : fail(ld, "expected an object");
}

/* *out is always set (NULL on failure), which keeps -Wmaybe-uninitialized quiet. */
static bool get_string(struct loader *ld, const cJSON *v, const char **out)
{
    *out = cJSON_IsString(v) ? v->valuestring : NULL;
    return *out ? true : fail(ld, "expected a string");
}

static bool get_nonempty_string(struct loader *ld, const cJSON *v, const char **out)
{
    *out = cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
    return *out ? true : fail(ld, "expected a non-empty string");
}

/* Replaces *field with a copy of the string v. */
static bool set_string(struct loader *ld, const cJSON *v, char **field)
{
    const char *s;

    if (!get_string(ld, v, &s))
        return false;
    free(*field);
    *field = xstrdup(s);
    return true;
}

static bool is_integer(double d)
{
    if (!isfinite(d))
        return false;
    /* Beyond 2^53 every double is an integer, and the cast would overflow. */
    if (d < -9007199254740992.0 || d > 9007199254740992.0)
        return d == d;
    return d == (double)(long long)d;
}

/* An integer from min to INT_MAX. */
static bool get_int_min(struct loader *ld, const cJSON *v, int min, int *out)
{
    if (!cJSON_IsNumber(v))
        return fail(ld, "expected an integer >= %d", min);
    if (!is_integer(v->valuedouble) || v->valuedouble < min)
        return fail(ld, "expected an integer >= %d, got %s", min, show(ld, v));
    if (v->valuedouble > INT_MAX)
        return fail(ld, "expected an integer from %d to %d, got %s", min, INT_MAX, show(ld, v));
    *out = (int)v->valuedouble;
    return true;
}

static bool check_number_range(struct loader *ld, const cJSON *v, double lo, double hi)
{
    if (!cJSON_IsNumber(v))
        return fail(ld, "expected a number from %g to %g", lo, hi);
    if (!(v->valuedouble >= lo && v->valuedouble <= hi)) /* NaN fails too */
        return fail(ld, "expected a number from %g to %g, got %s", lo, hi, show(ld, v));
    return true;
}

static bool check_enum(struct loader *ld, const cJSON *v, const char *const *values)
{
    if (!cJSON_IsString(v))
        return fail(ld, "expected one of %s", join_names(ld, values));
    if (!name_in(v->valuestring, values))
        return fail(ld, "expected one of %s, got %s", join_names(ld, values), quote(ld, v->valuestring));
    return true;
}

static bool check_bool(struct loader *ld, const cJSON *v)
{
    return cJSON_IsBool(v) ? true : fail(ld, "expected true or false");
}

/* An array of strings, with a message naming the bad element. */
static bool check_string_array(struct loader *ld, const cJSON *v, bool nonempty)
{
    size_t i = 0;
    const cJSON *item;

    if (!cJSON_IsArray(v) || (nonempty && !v->child))
        return fail(ld, nonempty ? "expected a non-empty array of strings" : "expected an array of strings");
    cJSON_ArrayForEach(item, v) {
        size_t mark = path_index(ld, i++);
        if (!cJSON_IsString(item))
            return fail(ld, "expected a string");
        path_pop(ld, mark);
    }
    return true;
}

/* A time limit in seconds (> 0, at most MAX_TIMEOUT_S), as milliseconds. */
static bool get_timeout_ms(struct loader *ld, const cJSON *v, int *out_ms)
{
    double ms;

    if (!cJSON_IsNumber(v))
        return fail(ld, "expected a number > 0");
    if (!(v->valuedouble > 0)) /* NaN fails too */
        return fail(ld, "expected a number > 0, got %s", show(ld, v));
    if (v->valuedouble > MAX_TIMEOUT_S)
        return fail(ld, "expected at most %d seconds, got %s", MAX_TIMEOUT_S, show(ld, v));
    ms = v->valuedouble * 1000.0;
    *out_ms = (int)ms;
    if (*out_ms < ms) /* round up: 0.0001 s is still a timeout */
        (*out_ms)++;
    return true;
}

/* The one message for a reference to an agent the profile does not define. */
static bool fail_no_agent(struct loader *ld, const char *name)
{
    return fail(ld, "no agent named %s", quote(ld, name));
}

/* An integer from min to max. */
static bool get_int_range(struct loader *ld, const cJSON *v, int min, int max, int *out)
{
    if (!cJSON_IsNumber(v))
        return fail(ld, "expected an integer from %d to %d", min, max);
    if (!is_integer(v->valuedouble) || v->valuedouble < min || v->valuedouble > max)
        return fail(ld, "expected an integer from %d to %d, got %s", min, max, show(ld, v));
    *out = (int)v->valuedouble;
    return true;
}

/* Looks up a required member; the message says what it should have been. */
static const cJSON *require(struct loader *ld, const cJSON *obj, const char *key, const char *expected)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (!v) {
        path_key(ld, key);
        fail(ld, "missing, expected %s", expected);
    }
    return v;
}

/* ---- Mistral shapes: tools and completion args (MISTRAL_API.md §4, §5). ---- */

static bool check_tool_configuration(struct loader *ld, const cJSON *v)
{
    static const char *const keys[] = {"include", "exclude", "requires_confirmation", NULL};
    const cJSON *item;

    if (cJSON_IsNull(v))
        return true;
    if (!check_object(ld, v) || !check_keys(ld, v, keys))
        return false;
    cJSON_ArrayForEach(item, v) {
        size_t mark = path_key(ld, item->string);
        if (!cJSON_IsNull(item) && !check_string_array(ld, item, false))
            return false;
        path_pop(ld, mark);
    }
    return true;
}

static bool check_authorization(struct loader *ld, const cJSON *v)
{
    static const char *const keys[] = {"type", "value", NULL};
    static const char *const types[] = {"oauth2-token", "api-key", NULL};
    const cJSON *item;
    const char *s;
    size_t mark;

    if (cJSON_IsNull(v))
        return true;
    if (!check_object(ld, v) || !check_keys(ld, v, keys))
        return false;
    if ((item = cJSON_GetObjectItemCaseSensitive(v, "type"))) {
        mark = path_key(ld, "type");
        if (!check_enum(ld, item, types))
            return false;
        path_pop(ld, mark);
    }
    if (!(item = require(ld, v, "value", "a string")))
        return false;
    mark = path_key(ld, "value");
    if (!get_string(ld, item, &s))
        return false;
    path_pop(ld, mark);
    return true;
}

static cJSON *default_parameters(void)
{
    cJSON *schema = cJSON_CreateObject();

    cJSON_AddStringToObject(schema, "type", "object");
    cJSON_AddItemToObject(schema, "properties", cJSON_CreateObject());
    return schema;
}

/* The "function" member of a function tool; fills description and
 * parameters from the profile's function definition. */
static bool check_tool_function(struct loader *ld, cJSON *fn, const struct team *team)
{
    static const char *const keys[] = {"name", "description", "parameters", "strict", NULL};
    const struct function_def *def = NULL;
    const cJSON *item;
    const char *name;
    size_t mark;

    if (!check_object(ld, fn) || !check_keys(ld, fn, keys))
        return false;
    if (!(item = require(ld, fn, "name", "a string")))
        return false;
    mark = path_key(ld, "name");
    if (!get_string(ld, item, &name))
        return false;
    if (team && !(def = team_find_function(team, name)))
        return fail(ld, "no function named %s in functions", quote(ld, name));
    path_pop(ld, mark);

    if ((item = cJSON_GetObjectItemCaseSensitive(fn, "description"))) {
        const char *s;
        mark = path_key(ld, "description");
        if (!get_string(ld, item, &s))
            return false;
        path_pop(ld, mark);
    } else if (def && def->description) {
        cJSON_AddStringToObject(fn, "description", def->description);
    }
    if ((item = cJSON_GetObjectItemCaseSensitive(fn, "parameters"))) {
        mark = path_key(ld, "parameters");
        if (!check_object(ld, item))
            return false;
        path_pop(ld, mark);
    } else {
        cJSON_AddItemToObject(fn, "parameters", def ? cJSON_Duplicate(def->parameters, 1) : default_parameters());
    }
    if ((item = cJSON_GetObjectItemCaseSensitive(fn, "strict"))) {
        mark = path_key(ld, "strict");
        if (!check_bool(ld, item))
            return false;
        path_pop(ld, mark);
    }
    return true;
}

/* One row per Mistral tool type, with the fields it takes. */
struct tool_kind {
    const char *type;
    const char *const *keys;
};

static const char *const function_tool_keys[] = {"type", "function", NULL};
static const char *const builtin_tool_keys[] = {"type", "tool_configuration", NULL};
static const char *const library_tool_keys[] = {"type", "library_ids", "tool_configuration", NULL};
static const char *const connector_tool_keys[] = {"type", "connector_id", "authorization", "tool_configuration", NULL};

/* clang-format off */
static const struct tool_kind tool_kinds[] = {
    {"function", function_tool_keys},
    {"web_search", builtin_tool_keys},
    {"web_search_premium", builtin_tool_keys},
    {"code_interpreter", builtin_tool_keys},
    {"image_generation", builtin_tool_keys},
    {"document_library", library_tool_keys},
    {"connector", connector_tool_keys},
};
/* clang-format on */

#define N_TOOL_KINDS (sizeof tool_kinds / sizeof tool_kinds[0])

static bool check_tool(struct loader *ld, cJSON *tool, const struct team *team)
{
    const char *types[N_TOOL_KINDS + 1];
    const struct tool_kind *kind = NULL;
    const cJSON *type, *item;
    const char *s;
    size_t mark;

    if (!check_object(ld, tool))
        return false;
    for (size_t i = 0; i < N_TOOL_KINDS; i++)
        types[i] = tool_kinds[i].type;
    types[N_TOOL_KINDS] = NULL;
    if (!(type = require(ld, tool, "type", scratch(ld, xasprintf("one of %s", join_names(ld, types))))))
        return false;
    mark = path_key(ld, "type");
    if (!check_enum(ld, type, types))
        return false;
    path_pop(ld, mark);
    for (size_t i = 0; i < N_TOOL_KINDS; i++) {
        if (strcmp(tool_kinds[i].type, type->valuestring) == 0)
            kind = &tool_kinds[i];
    }
    if (!check_keys(ld, tool, kind->keys))
        return false;

    if (strcmp(kind->type, "function") == 0) {
        cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
        if (!require(ld, tool, "function", "an object with name, description and parameters"))
            return false;
        mark = path_key(ld, "function");
        if (!check_tool_function(ld, fn, team))
            return false;
        path_pop(ld, mark);
    } else if (strcmp(kind->type, "document_library") == 0) {
        if (!(item = require(ld, tool, "library_ids", "a non-empty array of strings")))
            return false;
        mark = path_key(ld, "library_ids");
        if (!check_string_array(ld, item, true))
            return false;
        path_pop(ld, mark);
    } else if (strcmp(kind->type, "connector") == 0) {
        if (!(item = require(ld, tool, "connector_id", "a string")))
            return false;
        mark = path_key(ld, "connector_id");
        if (!get_nonempty_string(ld, item, &s))
            return false;
        path_pop(ld, mark);
        if ((item = cJSON_GetObjectItemCaseSensitive(tool, "authorization"))) {
            mark = path_key(ld, "authorization");
            if (!check_authorization(ld, item))
                return false;
            path_pop(ld, mark);
        }
    }
    if ((item = cJSON_GetObjectItemCaseSensitive(tool, "tool_configuration"))) {
        mark = path_key(ld, "tool_configuration");
        if (!check_tool_configuration(ld, item))
            return false;
        path_pop(ld, mark);
    }
    return true;
}

static bool check_response_format(struct loader *ld, const cJSON *v)
{
    static const char *const keys[] = {"type", "json_schema", NULL};
    static const char *const types[] = {"text", "json_object", "json_schema", NULL};
    static const char *const schema_keys[] = {"name", "description", "schema", "strict", NULL};
    const cJSON *type, *schema, *item;
    const char *s;
    size_t mark, inner;

    if (!check_object(ld, v) || !check_keys(ld, v, keys))
        return false;
    if ((type = cJSON_GetObjectItemCaseSensitive(v, "type"))) {
        mark = path_key(ld, "type");
        if (!check_enum(ld, type, types))
            return false;
        path_pop(ld, mark);
    }
    schema = cJSON_GetObjectItemCaseSensitive(v, "json_schema");
    if (type && strcmp(type->valuestring, "json_schema") == 0 && (!schema || cJSON_IsNull(schema))) {
        path_key(ld, "json_schema");
        return fail(ld, "missing, expected an object with name and schema");
    }
    if (!schema || cJSON_IsNull(schema))
        return true;
    mark = path_key(ld, "json_schema");
    inner = ld->path.len;
    if (!check_object(ld, schema) || !check_keys(ld, schema, schema_keys))
        return false;
    if (!(item = require(ld, schema, "name", "a string")))
        return false;
    path_key(ld, "name");
    if (!get_nonempty_string(ld, item, &s))
        return false;
    path_pop(ld, inner);
    if (!(item = require(ld, schema, "schema", "an object")))
        return false;
    path_key(ld, "schema");
    if (!check_object(ld, item))
        return false;
    path_pop(ld, inner);
    if ((item = cJSON_GetObjectItemCaseSensitive(schema, "description")) && !cJSON_IsNull(item)) {
        path_key(ld, "description");
        if (!get_string(ld, item, &s))
            return false;
        path_pop(ld, inner);
    }
    if ((item = cJSON_GetObjectItemCaseSensitive(schema, "strict"))) {
        path_key(ld, "strict");
        if (!check_bool(ld, item))
            return false;
    }
    path_pop(ld, mark);
    return true;
}

static bool check_prediction(struct loader *ld, const cJSON *v)
{
    static const char *const keys[] = {"type", "content", NULL};
    static const char *const types[] = {"content", NULL};
    const cJSON *item;
    const char *s;
    size_t mark;

    if (!check_object(ld, v) || !check_keys(ld, v, keys))
        return false;
    if ((item = cJSON_GetObjectItemCaseSensitive(v, "type"))) {
        mark = path_key(ld, "type");
        if (!check_enum(ld, item, types))
            return false;
        path_pop(ld, mark);
    }
    if ((item = cJSON_GetObjectItemCaseSensitive(v, "content"))) {
        mark = path_key(ld, "content");
        if (!get_string(ld, item, &s))
            return false;
        path_pop(ld, mark);
    }
    return true;
}

static bool check_completion_arg(struct loader *ld, const cJSON *v)
{
    static const char *const tool_choices[] = {"auto", "none", "any", "required", NULL};
    static const char *const efforts[] = {"none", "minimal", "low", "medium", "high", "xhigh", NULL};
    const char *key = v->string;

    if (cJSON_IsNull(v)) /* the API takes null for "unset" everywhere here */
        return true;
    if (strcmp(key, "temperature") == 0 || strcmp(key, "top_p") == 0)
        return check_number_range(ld, v, 0, 1);
    if (strcmp(key, "presence_penalty") == 0 || strcmp(key, "frequency_penalty") == 0)
        return check_number_range(ld, v, -2, 2);
    if (strcmp(key, "max_tokens") == 0 || strcmp(key, "random_seed") == 0) {
        if (!cJSON_IsNumber(v))
            return fail(ld, "expected an integer >= 0");
        if (!is_integer(v->valuedouble) || v->valuedouble < 0)
            return fail(ld, "expected an integer >= 0, got %s", show(ld, v));
        if (v->valuedouble > INT_MAX)
            return fail(ld, "expected an integer from 0 to %d, got %s", INT_MAX, show(ld, v));
        return true;
    }
    if (strcmp(key, "stop") == 0) {
        const cJSON *item;
        if (cJSON_IsString(v))
            return true;
        if (!cJSON_IsArray(v))
            return fail(ld, "expected a string or an array of strings");
        cJSON_ArrayForEach(item, v) {
            if (!cJSON_IsString(item))
                return fail(ld, "expected a string or an array of strings");
        }
        return true;
    }
    if (strcmp(key, "response_format") == 0)
        return check_response_format(ld, v);
    if (strcmp(key, "tool_choice") == 0)
        return check_enum(ld, v, tool_choices);
    if (strcmp(key, "prediction") == 0)
        return check_prediction(ld, v);
    if (strcmp(key, "reasoning_effort") == 0)
        return check_enum(ld, v, efforts);
    return true; /* check_keys let only the keys above through */
}

static bool check_completion_args(struct loader *ld, const cJSON *args)
{
    static const char *const keys[] = {
        "temperature",       "top_p",           "max_tokens",  "stop",       "random_seed",      "presence_penalty",
        "frequency_penalty", "response_format", "tool_choice", "prediction", "reasoning_effort", NULL};
    const cJSON *item;

    if (!check_object(ld, args) || !check_keys(ld, args, keys))
        return false;
    cJSON_ArrayForEach(item, args) {
        size_t mark = path_key(ld, item->string);
        if (!check_completion_arg(ld, item))
            return false;
        path_pop(ld, mark);
    }
    return true;
}

bool profile_check_tool(cJSON *tool, const struct team *team, const char *where, char **error)
{
    struct loader ld;
    bool ok;

    loader_init(&ld, NULL, where);
    ok = check_tool(&ld, tool, team);
    if (!ok)
        *error = loader_take_error(&ld);
    loader_fini(&ld);
    return ok;
}

bool profile_check_completion_args(const cJSON *args, const char *where, char **error)
{
    struct loader ld;
    bool ok;

    loader_init(&ld, NULL, where);
    ok = check_completion_args(&ld, args);
    if (!ok)
        *error = loader_take_error(&ld);
    loader_fini(&ld);
    return ok;
}

/* ---- Functions ---- */

/* The profile's folder, absolute: relative commands resolve against it. */
static const char *profile_dir(struct loader *ld)
{
    const char *slash;
    char *dir, *real, *cwd;

    if (ld->dir)
        return ld->dir;
    slash = ld->file ? strrchr(ld->file, '/') : NULL;
    if (!slash)
        dir = xstrdup(".");
    else if (slash == ld->file)
        dir = xstrdup("/");
    else
        dir = xstrndup(ld->file, (size_t)(slash - ld->file));
    if ((real = realpath(dir, NULL))) {
        ld->dir = xstrdup(real);
        free(real);
        free(dir);
    } else if (dir[0] == '/') {
        ld->dir = dir;
    } else if ((cwd = getcwd(NULL, 0))) {
        ld->dir = strcmp(dir, ".") == 0 ? xstrdup(cwd) : xasprintf("%s/%s", cwd, dir);
        free(cwd);
        free(dir);
    } else {
        fail(ld, "cannot find the current folder: %s", strerror(errno));
        free(dir);
    }
    return ld->dir;
}

/* An argv array; argv[0] with a slash resolves against the profile's folder. */
static bool load_argv(struct loader *ld, const cJSON *v, struct function_def *fn)
{
    size_t n = (size_t)cJSON_GetArraySize(v), i = 0;
    const cJSON *item;

    if (!cJSON_IsArray(v) || n == 0)
        return fail(ld, "expected a non-empty array of strings");
    fn->argv = xcalloc(n + 1, sizeof *fn->argv);
    cJSON_ArrayForEach(item, v) {
        size_t mark = path_index(ld, i);
        const char *arg;
        if (i == 0 ? !get_nonempty_string(ld, item, &arg) : !get_string(ld, item, &arg))
            return false;
        if (i == 0 && arg[0] != '/' && strchr(arg, '/')) {
            const char *dir = profile_dir(ld);
            if (!dir)
                return false;
            while (arg[0] == '.' && arg[1] == '/') {
                for (arg += 2; arg[0] == '/'; arg++)
                    ;
            }
            fn->argv[i] = xasprintf("%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", arg);
        } else {
            fn->argv[i] = xstrdup(arg);
        }
        path_pop(ld, mark);
        i++;
    }
    return true;
}

static bool load_function_object(struct loader *ld, const cJSON *v, struct function_def *fn)
{
    static const char *const keys[] = {"command", "timeout", "description", "parameters", "auto", NULL};
    const cJSON *item;
    size_t mark;

    if (!check_keys(ld, v, keys))
        return false;
    if (!(item = require(ld, v, "command", "an array of strings")))
        return false;
    mark = path_key(ld, "command");
    if (!load_argv(ld, item, fn))
        return false;
    path_pop(ld, mark);
    if ((item = cJSON_GetObjectItemCaseSensitive(v, "timeout"))) {
        mark = path_key(ld, "timeout");
        if (!get_timeout_ms(ld, item, &fn->timeout_ms))
            return false;
        path_pop(ld, mark);
    }
    if ((item = cJSON_GetObjectItemCaseSensitive(v, "description"))) {
        mark = path_key(ld, "description");
        if (!set_string(ld, item, &fn->description))
            return false;
        path_pop(ld, mark);
    }
    if ((item = cJSON_GetObjectItemCaseSensitive(v, "parameters"))) {
        mark = path_key(ld, "parameters");
        if (!check_object(ld, item))
            return false;
        cJSON_Delete(fn->parameters);
        fn->parameters = cJSON_Duplicate(item, 1);
        path_pop(ld, mark);
    }
    if ((item = cJSON_GetObjectItemCaseSensitive(v, "auto"))) {
        mark = path_key(ld, "auto");
        if (!check_bool(ld, item))
            return false;
        fn->auto_allow = cJSON_IsTrue(item);
        path_pop(ld, mark);
    }
    return true;
}

static bool load_functions(struct loader *ld, struct team *team, const cJSON *v)
{
    const cJSON *item;

    if (!cJSON_IsObject(v))
        return fail(ld, "expected an object mapping function names to commands");
    if (!check_duplicates(ld, v))
        return false;
    cJSON_ArrayForEach(item, v) {
        struct function_def *fn;
        size_t mark;
        bool ok;

        if (!name_is_valid(item->string))
            return fail(ld, "%s is not a valid function name (expected " NAME_RULE ")", quote(ld, item->string));
        mark = path_key(ld, item->string);
        fn = xcalloc(1, sizeof *fn);
        fn->name = xstrdup(item->string);
        fn->timeout_ms = FUNCTION_DEFAULT_TIMEOUT_MS;
        fn->parameters = default_parameters();
        if (cJSON_IsArray(item))
            ok = load_argv(ld, item, fn);
        else if (cJSON_IsObject(item))
            ok = load_function_object(ld, item, fn);
        else
            ok = fail(ld, "expected a command (an array of strings) or an object with \"command\"");
        if (!ok) {
            function_def_free(fn);
            return false;
        }
        vec_push(&team->functions, fn);
        path_pop(ld, mark);
    }
    return true;
}

/* ---- MCP servers (doc/mcp.md) ---- */

/* An object of string values: environment variables or HTTP headers. */
static bool load_string_map(struct loader *ld, const cJSON *v, const char *what, cJSON **out)
{
    const cJSON *item;

    if (!cJSON_IsObject(v))
        return fail(ld, "expected an object mapping %s to strings", what);
    if (!check_duplicates(ld, v))
        return false;
    cJSON_ArrayForEach(item, v) {
        size_t mark = path_key(ld, item->string);
        const char *s;
        if (!item->string[0] || strpbrk(item->string, "=:\r\n"))
            return fail(ld, "%s is not a valid name here", quote(ld, item->string));
        if (!get_string(ld, item, &s))
            return false;
        if (strpbrk(s, "\r\n"))
            return fail(ld, "a value may not hold a line break");
        path_pop(ld, mark);
    }
    cJSON_Delete(*out);
    *out = cJSON_Duplicate(v, 1);
    return true;
}

static bool load_mcp_server_name(struct loader *ld, const struct team *team, const cJSON *v, struct mcp_server_def *def)
{
    const char *name;

    if (!get_string(ld, v, &name))
        return false;
    if (!name_is_valid(name) || strstr(name, "__") || strlen(name) > MCP_SERVER_NAME_MAX)
        return fail(ld, "%s is not a valid server name (expected 1 to %d letters, digits, _ or -, without \"__\")",
                    quote(ld, name), MCP_SERVER_NAME_MAX);
    if (team_find_mcp_server(team, name))
        return fail(ld, "%s is already the name of another server", quote(ld, name));
    /* Its tools are named NAME__TOOL: a function must not look like one. */
    for (size_t i = 0; i < team->functions.len; i++) {
        const struct function_def *fn = team->functions.items[i];
        if (strncmp(fn->name, name, strlen(name)) == 0 && strncmp(fn->name + strlen(name), "__", 2) == 0)
            return fail(ld, "the function %s would look like a tool of this server (%s__TOOL)", quote(ld, fn->name),
                        name);
    }
    def->name = xstrdup(name);
    return true;
}

static bool load_mcp_server_url(struct loader *ld, const cJSON *v, struct mcp_server_def *def)
{
    const char *url;

    if (!get_nonempty_string(ld, v, &url))
        return false;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return fail(ld, "expected an http:// or https:// URL, got %s", quote(ld, url));
    def->url = xstrdup(url);
    return true;
}

/* One server: {name, command, env} or {name, url, headers, transport}. */
static bool load_mcp_server(struct loader *ld, const struct team *team, const cJSON *v, struct mcp_server_def *def)
{
    static const char *const keys[] = {"name", "command", "env", "url", "headers", "transport", "timeout", NULL};
    static const char *const transports[] = {"http", "sse", NULL};
    const cJSON *command, *url, *item;
    size_t mark;

    if (!check_object(ld, v) || !check_keys(ld, v, keys))
        return false;
    if (!(item = require(ld, v, "name", "a string")))
        return false;
    mark = path_key(ld, "name");
    if (!load_mcp_server_name(ld, team, item, def))
        return false;
    path_pop(ld, mark);
    command = cJSON_GetObjectItemCaseSensitive(v, "command");
    url = cJSON_GetObjectItemCaseSensitive(v, "url");
    if (!command == !url)
        return fail(ld, "expected exactly one of command (a server to start) and url (a server to reach)");
    for (item = v->child; item; item = item->next) {
        bool stdio_only = strcmp(item->string, "env") == 0;
        bool http_only = strcmp(item->string, "headers") == 0 || strcmp(item->string, "transport") == 0;
        if ((stdio_only && url) || (http_only && command)) {
            path_key(ld, item->string);
            return fail(ld, "%s goes with %s only", quote(ld, item->string), stdio_only ? "command" : "url");
        }
    }
    if (command) {
        /* load_argv fills a function's argv: borrow one for the resolving. */
        struct function_def fn = {0};
        mark = path_key(ld, "command");
        bool ok = load_argv(ld, command, &fn);
        def->argv = fn.argv;
        if (!ok)
            return false;
        path_pop(ld, mark);
    } else {
        mark = path_key(ld, "url");
        if (!load_mcp_server_url(ld, url, def))
            return false;
        path_pop(ld, mark);
    }
    if ((item = cJSON_GetObjectItemCaseSensitive(v, "env"))) {
        mark = path_key(ld, "env");
        if (!load_string_map(ld, item, "variable names", &def->env))
            return false;
        path_pop(ld, mark);
    }
    if ((item = cJSON_GetObjectItemCaseSensitive(v, "headers"))) {
        mark = path_key(ld, "headers");
        if (!load_string_map(ld, item, "header names", &def->headers))
            return false;
        path_pop(ld, mark);
    }
    if ((item = cJSON_GetObjectItemCaseSensitive(v, "transport"))) {
        mark = path_key(ld, "transport");
        if (!check_enum(ld, item, transports))
            return false;
        def->legacy_sse = strcmp(item->valuestring, "sse") == 0;
        path_pop(ld, mark);
    }
    if ((item = cJSON_GetObjectItemCaseSensitive(v, "timeout"))) {
        mark = path_key(ld, "timeout");
        if (!get_timeout_ms(ld, item, &def->timeout_ms))
            return false;
        path_pop(ld, mark);
    }
    return true;
}

static bool load_mcp_servers(struct loader *ld, struct team *team, const cJSON *v)
{
    const cJSON *item;
    size_t i = 0;

    if (!cJSON_IsArray(v))
        return fail(ld, "expected an array of servers ({\"name\", \"command\": [...]} or {\"name\", \"url\"})");
    cJSON_ArrayForEach(item, v) {
        size_t mark = path_index(ld, i++);
        struct mcp_server_def *def = xcalloc(1, sizeof *def);
        def->env = cJSON_CreateObject();
        def->headers = cJSON_CreateObject();
        def->timeout_ms = MCP_DEFAULT_TIMEOUT_MS;
        if (!load_mcp_server(ld, team, item, def)) {
            mcp_server_def_free(def);
            return false;
        }
        vec_push(&team->mcp_servers, def);
        path_pop(ld, mark);
    }
    return true;
}

/* ---- Agents ---- */

static bool load_agent_name(struct loader *ld, struct team *team, struct agent *a, const cJSON *v)
{
    const char *name;

    if (!get_string(ld, v, &name))
        return false;
    if (!agent_name_is_valid(name))
        return fail(ld, "%s is not a valid name (expected " AGENT_NAME_RULE ")", quote(ld, name));
    for (size_t i = 0; i < team->agents.len; i++) {
        const struct agent *other = team->agents.items[i];
        if (strcmp(other->name, name) == 0)
            return fail(ld, "%s is already defined by agents[%zu]", quote(ld, name), i);
    }
    free(a->name);
    a->name = xstrdup(name);
    return true;
}

static bool load_agent_model(struct loader *ld, struct team *team, struct agent *a, const cJSON *v)
{
    const char *model;

    (void)team;
    if (!get_nonempty_string(ld, v, &model))
        return false;
    free(a->model);
    a->model = xstrdup(model);
    return true;
}

static bool load_agent_description(struct loader *ld, struct team *team, struct agent *a, const cJSON *v)
{
    (void)team;
    return set_string(ld, v, &a->description);
}

static bool load_agent_instructions(struct loader *ld, struct team *team, struct agent *a, const cJSON *v)
{
    (void)team;
    return set_string(ld, v, &a->instructions);
}

/* The function name of a function tool, or NULL. */
static const char *tool_function_name(const cJSON *tool)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(tool, "type");
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");

    if (!cJSON_IsString(type) || strcmp(type->valuestring, "function") != 0 || !cJSON_IsString(name))
        return NULL;
    return name->valuestring;
}

static bool is_mcp_tool(const cJSON *tool)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(tool, "type");
    return cJSON_IsString(type) && strcmp(type->valuestring, "mcp") == 0;
}

/* {"type": "mcp", "server": NAME, "tools": [...]}: some or (without tools)
 * all of a server's tools. The tools are named as the server names them. */
static bool check_mcp_tool(struct loader *ld, const struct team *team, const struct agent *a, const cJSON *tool)
{
    static const char *const keys[] = {"type", "server", "tools", NULL};
    const cJSON *item, *other;
    const char *server;
    size_t mark, i = 0;

    if (!check_keys(ld, tool, keys))
        return false;
    if (!(item = require(ld, tool, "server", "the name of a server in mcp")))
        return false;
    mark = path_key(ld, "server");
    if (!get_string(ld, item, &server))
        return false;
    if (!team_find_mcp_server(team, server))
        return fail(ld, "no MCP server named %s in mcp", quote(ld, server));
    for (other = a->tools->child; other != tool; other = other->next) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(other, "server");
        if (is_mcp_tool(other) && cJSON_IsString(s) && strcmp(s->valuestring, server) == 0)
            return fail(ld, "%s is already used by another tool of this agent", quote(ld, server));
    }
    path_pop(ld, mark);
    if (!(item = cJSON_GetObjectItemCaseSensitive(tool, "tools")))
        return true;
    mark = path_key(ld, "tools");
    if (!check_string_array(ld, item, true))
        return false;
    cJSON_ArrayForEach(other, item) {
        size_t inner = path_index(ld, i++);
        if (!other->valuestring[0])
            return fail(ld, "expected a tool name");
        for (const cJSON *prev = item->child; prev != other; prev = prev->next) {
            if (strcmp(prev->valuestring, other->valuestring) == 0)
                return fail(ld, "%s is listed twice", quote(ld, other->valuestring));
        }
        path_pop(ld, inner);
    }
    path_pop(ld, mark);
    return true;
}

/* Moves the mcp entries of a->tools to a->mcp, as {"server", "tools"?}. */
static void take_mcp_tools(struct agent *a)
{
    cJSON *tool = a->tools->child;

    while (tool) {
        cJSON *next = tool->next;
        if (is_mcp_tool(tool)) {
            cJSON_DetachItemViaPointer(a->tools, tool);
            cJSON_DeleteItemFromObjectCaseSensitive(tool, "type");
            cJSON_AddItemToArray(a->mcp, tool);
        }
        tool = next;
    }
}

static bool load_agent_tools(struct loader *ld, struct team *team, struct agent *a, const cJSON *v)
{
    size_t i = 0;
    cJSON *tool;

    if (!cJSON_IsArray(v))
        return fail(ld, "expected an array of tools");
    cJSON_Delete(a->tools);
    a->tools = cJSON_Duplicate(v, 1);
    cJSON_ArrayForEach(tool, a->tools) {
        size_t mark = path_index(ld, i++);
        const char *name;
        if (is_mcp_tool(tool)) {
            if (!check_mcp_tool(ld, team, a, tool))
                return false;
            path_pop(ld, mark);
            continue;
        }
        if (!check_tool(ld, tool, team))
            return false;
        if ((name = tool_function_name(tool))) {
            size_t j = 0;
            for (const cJSON *other = a->tools->child; other != tool; other = other->next, j++) {
                const char *other_name = tool_function_name(other);
                if (other_name && strcmp(other_name, name) == 0) {
                    buf_puts(&ld->path, ".function.name");
                    return fail(ld, "%s is already a tool of this agent (tools[%zu])", quote(ld, name), j);
                }
            }
        }
        path_pop(ld, mark);
    }
    take_mcp_tools(a);
    return true;
}

static bool load_agent_completion_args(struct loader *ld, struct team *team, struct agent *a, const cJSON *v)
{
    (void)team;
    if (!check_completion_args(ld, v))
        return false;
    cJSON_Delete(a->completion_args);
    a->completion_args = cJSON_Duplicate(v, 1);
    return true;
}

/* Names only; whether they exist is checked once every agent is read. */
static bool load_agent_handoffs(struct loader *ld, struct team *team, struct agent *a, const cJSON *v)
{
    size_t i = 0;
    const cJSON *item;

    (void)team;
    if (!cJSON_IsArray(v))
        return fail(ld, "expected an array of agent names");
    cJSON_ArrayForEach(item, v) {
        size_t mark = path_index(ld, i++);
        const char *name;
        if (!get_string(ld, item, &name))
            return false;
        if (strcmp(name, a->name) == 0)
            return fail(ld, "an agent cannot hand off to itself");
        if (agent_has_handoff(a, name))
            return fail(ld, "%s is listed twice", quote(ld, name));
        vec_push(&a->handoffs, xstrdup(name));
        path_pop(ld, mark);
    }
    return true;
}

static bool load_agent_demonstrations(struct loader *ld, struct team *team, struct agent *a, const cJSON *v)
{
    static const char *const keys[] = {"input", "output", NULL};
    size_t i = 0;
    const cJSON *demo;

    (void)team;
    if (!cJSON_IsArray(v))
        return fail(ld, "expected an array of {\"input\", \"output\"} objects");
    cJSON_ArrayForEach(demo, v) {
        size_t mark = path_index(ld, i++);
        if (!check_object(ld, demo) || !check_keys(ld, demo, keys))
            return false;
        for (size_t k = 0; keys[k]; k++) {
            const cJSON *item = require(ld, demo, keys[k], "a string");
            const char *s;
            size_t inner;
            if (!item)
                return false;
            inner = path_key(ld, keys[k]);
            if (!get_string(ld, item, &s))
                return false;
            path_pop(ld, inner);
        }
        path_pop(ld, mark);
    }
    cJSON_Delete(a->demonstrations);
    a->demonstrations = cJSON_Duplicate(v, 1);
    return true;
}

static bool load_agent_max_turns(struct loader *ld, struct team *team, struct agent *a, const cJSON *v)
{
    (void)team;
    return get_int_min(ld, v, 1, &a->max_turns);
}

static bool load_agent_metadata(struct loader *ld, struct team *team, struct agent *a, const cJSON *v)
{
    (void)team;
    if (!check_object(ld, v))
        return false;
    cJSON_Delete(a->metadata);
    a->metadata = cJSON_Duplicate(v, 1);
    return true;
}

/* Mistral GuardrailConfig objects, passed to the API as written. */
static bool load_agent_guardrails(struct loader *ld, struct team *team, struct agent *a, const cJSON *v)
{
    static const char *const keys[] = {"block_on_error", "moderation_llm_v1", "moderation_llm_v2", NULL};
    const cJSON *item;
    size_t i = 0;

    (void)team;
    if (!cJSON_IsArray(v))
        return fail(ld, "expected an array of guardrail objects");
    cJSON_ArrayForEach(item, v) {
        size_t mark = path_index(ld, i++);
        const cJSON *field;
        if (!check_object(ld, item) || !check_keys(ld, item, keys))
            return false;
        cJSON_ArrayForEach(field, item) {
            size_t inner = path_key(ld, field->string);
            bool ok = strcmp(field->string, "block_on_error") == 0 ? check_bool(ld, field)
                      : cJSON_IsNull(field)                        ? true
                                                                   : check_object(ld, field);
            if (!ok)
                return false;
            path_pop(ld, inner);
        }
        path_pop(ld, mark);
    }
    cJSON_Delete(a->guardrails);
    a->guardrails = cJSON_Duplicate(v, 1);
    return true;
}

static bool agent_has_function_tool(const struct agent *a, const char *name)
{
    const cJSON *tool;

    cJSON_ArrayForEach(tool, a->tools) {
        const char *fn = tool_function_name(tool);
        if (fn && strcmp(fn, name) == 0)
            return true;
    }
    /* An MCP server's tools, SERVER__TOOL, are known once it runs. */
    cJSON_ArrayForEach(tool, a->mcp) {
        const cJSON *server = cJSON_GetObjectItemCaseSensitive(tool, "server");
        size_t n = strlen(server->valuestring);
        if (strncmp(name, server->valuestring, n) == 0 && strncmp(name + n, "__", 2) == 0 && name[n + 2])
            return true;
    }
    return false;
}

/* The action of a rule: say, call or handoff (exactly one is present). */
static bool load_rule_action(struct loader *ld, const struct agent *a, const cJSON *v, struct offline_rule *rule)
{
    static const char *const call_keys[] = {"name", "arguments", NULL};
    const cJSON *item;
    const char *s;
    size_t mark;

    if ((item = cJSON_GetObjectItemCaseSensitive(v, "say"))) {
        mark = path_key(ld, "say");
        if (!get_string(ld, item, &s))
            return false;
        rule->action = OFFLINE_SAY;
        rule->say = xstrdup(s);
        path_pop(ld, mark);
    } else if ((item = cJSON_GetObjectItemCaseSensitive(v, "handoff"))) {
        mark = path_key(ld, "handoff");
        if (!get_string(ld, item, &s))
            return false;
        if (!agent_has_handoff(a, s))
            return fail(ld, "%s is not one of this agent's handoffs", quote(ld, s));
        rule->action = OFFLINE_HANDOFF;
        rule->handoff = xstrdup(s);
        path_pop(ld, mark);
    } else {
        const cJSON *call = cJSON_GetObjectItemCaseSensitive(v, "call");
        const cJSON *args;
        size_t inner;

        mark = path_key(ld, "call");
        inner = ld->path.len;
        if (!check_object(ld, call) || !check_keys(ld, call, call_keys))
            return false;
        if (!(item = require(ld, call, "name", "a string")))
            return false;
        path_key(ld, "name");
        if (!get_string(ld, item, &s))
            return false;
        if (!agent_has_function_tool(a, s))
            return fail(ld, "%s is not a function tool of this agent", quote(ld, s));
        path_pop(ld, inner);
        rule->action = OFFLINE_CALL;
        rule->call_name = xstrdup(s);
        if ((args = cJSON_GetObjectItemCaseSensitive(call, "arguments"))) {
            char *printed;
            path_key(ld, "arguments");
            if (!check_object(ld, args))
                return false;
            if (!(printed = cJSON_PrintUnformatted(args)))
                fatal("out of memory printing call arguments");
            rule->call_args = xstrdup(printed);
            cJSON_free(printed);
        } else {
            rule->call_args = xstrdup("{}");
        }
        path_pop(ld, mark);
    }
    return true;
}

static bool load_rule(struct loader *ld, struct agent *a, const cJSON *v, struct offline_rule *rule)
{
    static const char *const keys[] = {"when", "say", "call", "handoff", NULL};
    const cJSON *when;
    int actions = 0;

    if (!check_object(ld, v) || !check_keys(ld, v, keys))
        return false;
    for (size_t k = 1; keys[k]; k++)
        actions += cJSON_GetObjectItemCaseSensitive(v, keys[k]) != NULL;
    if (actions != 1)
        return fail(ld, "expected exactly one of say, call, handoff");
    if ((when = cJSON_GetObjectItemCaseSensitive(v, "when"))) {
        size_t mark = path_key(ld, "when");
        const char *pattern;
        int rc;
        if (!get_string(ld, when, &pattern))
            return false;
        rc = regcomp(&rule->when_re, pattern, REG_EXTENDED | REG_ICASE);
        if (rc != 0) {
            char why[256];
            regerror(rc, &rule->when_re, why, sizeof why);
            return fail(ld, "not a valid regular expression: %s", why);
        }
        rule->when = xstrdup(pattern); /* from here on, offline_rule_free() frees the pattern */
        path_pop(ld, mark);
    }
    return load_rule_action(ld, a, v, rule);
}

static bool load_agent_offline(struct loader *ld, struct team *team, struct agent *a, const cJSON *v)
{
    size_t i = 0;
    const cJSON *item;

    (void)team;
    if (!cJSON_IsArray(v))
        return fail(ld, "expected an array of rules");
    cJSON_ArrayForEach(item, v) {
        size_t mark = path_index(ld, i++);
        struct offline_rule *rule = xcalloc(1, sizeof *rule);
        if (!load_rule(ld, a, item, rule)) {
            offline_rule_free(rule);
            return false;
        }
        vec_push(&a->rules, rule);
        path_pop(ld, mark);
    }
    return true;
}

/* The fields of an agent, in the order they are read: name first (the
 * others may name the agent), tools and handoffs before the offline rules
 * that refer to them. */
struct agent_field {
    const char *key;
    bool (*load)(struct loader *ld, struct team *team, struct agent *a, const cJSON *v);
    const char *required; /* what to expect when missing; NULL: optional */
};

static const struct agent_field agent_fields[] = {
    {"name", load_agent_name, "a string"},
    {"model", load_agent_model, NULL},
    {"description", load_agent_description, NULL},
    {"instructions", load_agent_instructions, NULL},
    {"tools", load_agent_tools, NULL},
    {"completion_args", load_agent_completion_args, NULL},
    {"handoffs", load_agent_handoffs, NULL},
    {"demonstrations", load_agent_demonstrations, NULL},
    {"max_turns", load_agent_max_turns, NULL},
    {"metadata", load_agent_metadata, NULL},
    {"guardrails", load_agent_guardrails, NULL},
    {"offline", load_agent_offline, NULL},
};

#define N_AGENT_FIELDS (sizeof agent_fields / sizeof agent_fields[0])

static bool load_agent(struct loader *ld, struct team *team, const cJSON *v)
{
    const char *keys[N_AGENT_FIELDS + 1];
    struct agent *a;

    if (!check_object(ld, v))
        return false;
    for (size_t i = 0; i < N_AGENT_FIELDS; i++)
        keys[i] = agent_fields[i].key;
    keys[N_AGENT_FIELDS] = NULL;
    if (!check_keys(ld, v, keys))
        return false;
    a = agent_new("", NULL);
    for (size_t i = 0; i < N_AGENT_FIELDS; i++) {
        const struct agent_field *f = &agent_fields[i];
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(v, f->key);
        size_t mark;

        if (!item) {
            if (f->required) {
                require(ld, v, f->key, f->required);
                agent_free(a);
                return false;
            }
            continue;
        }
        mark = path_key(ld, f->key);
        if (!f->load(ld, team, a, item)) {
            agent_free(a);
            return false;
        }
        path_pop(ld, mark);
    }
    team_add_agent(team, a);
    return true;
}

static bool load_agents(struct loader *ld, struct team *team, const cJSON *v)
{
    size_t i = 0;
    const cJSON *item;

    if (!cJSON_IsArray(v))
        return fail(ld, "expected an array of agents");
    if (!v->child)
        return fail(ld, "expected at least one agent");
    cJSON_ArrayForEach(item, v) {
        size_t mark = path_index(ld, i++);
        if (!load_agent(ld, team, item))
            return false;
        path_pop(ld, mark);
    }
    /* Handoffs may name agents defined further down. */
    for (i = 0; i < team->agents.len; i++) {
        const struct agent *a = team->agents.items[i];
        for (size_t k = 0; k < a->handoffs.len; k++) {
            const char *name = a->handoffs.items[k];
            if (!team_find_agent(team, name)) {
                path_index(ld, i);
                buf_printf(&ld->path, ".handoffs[%zu]", k);
                return fail_no_agent(ld, name);
            }
        }
    }
    return true;
}

/* ---- Patterns: routes, markers, prompts, state, handlers, workflows ----
 * They name agents, so they are read after "agents". */

/* The deepest a decompose workflow may split. */
#define WORKFLOW_MAX_DEPTH 8

#define MARKER_RULE "1 to 32 capital letters, digits or _"
#define EVENT_NAME_RULE "1 to 64 letters, digits, _, ., : or -"

/* A string naming an agent of team, at the current path. *out is always set. */
static bool get_agent_name(struct loader *ld, const struct team *team, const cJSON *v, const char **out)
{
    if (!get_string(ld, v, out))
        return false;
    if (!team_find_agent(team, *out))
        return fail_no_agent(ld, *out);
    return true;
}

/* "HANDOFF: BILLING" names BILLING. */
static bool marker_is_valid(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return n >= 1 && n <= 32;
}

/* Event names such as "order.created" or "stripe:payment-failed". */
static bool event_name_is_valid(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("_.:-", c)))
            return false;
    }
    return n >= 1 && n <= 64;
}

/* How one kind of "KEY -> agent name" object names and checks its keys. */
struct agent_map_kind {
    const char *keys; /* "markers", for "expected an object mapping ... to agent names" */
    const char *key;  /* "marker", for "... is not a valid ..." */
    const char *rule; /* what a valid key is */
    bool (*key_is_valid)(const char *key);
};

static const struct agent_map_kind marker_map = {"markers", "marker", MARKER_RULE, marker_is_valid};
static const struct agent_map_kind handler_map = {"event names", "event name", EVENT_NAME_RULE, event_name_is_valid};

/* An object whose values name agents; *out becomes a copy of it. */
static bool load_agent_map(struct loader *ld, const struct team *team, const cJSON *v,
                           const struct agent_map_kind *kind, cJSON **out)
{
    const cJSON *item;

    if (!cJSON_IsObject(v))
        return fail(ld, "expected an object mapping %s to agent names", kind->keys);
    if (!check_duplicates(ld, v))
        return false;
    cJSON_ArrayForEach(item, v) {
        size_t mark;
        const char *agent;

        if (!kind->key_is_valid(item->string))
            return fail(ld, "%s is not a valid %s (expected %s)", quote(ld, item->string), kind->key, kind->rule);
        mark = path_key(ld, item->string);
        if (!get_agent_name(ld, team, item, &agent))
            return false;
        path_pop(ld, mark);
    }
    cJSON_Delete(*out);
    *out = cJSON_Duplicate(v, 1);
    return true;
}

/* Route labels match loosely ("Technical support." is "technicalsupport"),
 * so they are stored normalized, and two that normalize alike clash. */
static bool load_routes(struct loader *ld, struct team *team, const cJSON *v)
{
    const cJSON *item;

    if (!cJSON_IsObject(v))
        return fail(ld, "expected an object mapping route labels to agent names");
    if (!check_duplicates(ld, v))
        return false;
    cJSON_Delete(team->routes);
    team->routes = cJSON_CreateObject();
    cJSON_ArrayForEach(item, v) {
        const char *label = scratch(ld, route_label_normalize(item->string));
        const char *agent;
        size_t mark;

        if (!label[0])
            return fail(ld, "%s is not a valid route label (expected at least one letter or digit)",
                        quote(ld, item->string));
        mark = path_key(ld, item->string);
        for (const cJSON *other = v->child; other != item; other = other->next) {
            if (strcmp(scratch(ld, route_label_normalize(other->string)), label) == 0)
                return fail(ld, "%s is the same route label as %s (both match as %s)", quote(ld, item->string),
                            quote(ld, other->string), quote(ld, label));
        }
        if (!get_agent_name(ld, team, item, &agent))
            return false;
        cJSON_AddStringToObject(team->routes, label, agent);
        path_pop(ld, mark);
    }
    return true;
}

static bool load_markers(struct loader *ld, struct team *team, const cJSON *v)
{
    return load_agent_map(ld, team, v, &marker_map, &team->markers);
}

static bool load_handlers(struct loader *ld, struct team *team, const cJSON *v)
{
    return load_agent_map(ld, team, v, &handler_map, &team->handlers);
}

/* Agent name -> non-empty prompt. When steps is not NULL (a pipeline
 * workflow's agents), every key must be one of them. *out becomes a copy. */
static bool load_prompt_map(struct loader *ld, const struct team *team, const cJSON *v, const struct vec *steps,
                            cJSON **out)
{
    const cJSON *item;

    if (!cJSON_IsObject(v))
        return fail(ld, "expected an object mapping agent names to prompts");
    if (!check_duplicates(ld, v))
        return false;
    cJSON_ArrayForEach(item, v) {
        size_t mark = path_key(ld, item->string);
        const char *prompt;

        if (!team_find_agent(team, item->string))
            return fail_no_agent(ld, item->string);
        if (steps) {
            bool found = false;
            for (size_t i = 0; i < steps->len && !found; i++)
                found = strcmp(steps->items[i], item->string) == 0;
            if (!found)
                return fail(ld, "%s is not one of this workflow's agents", quote(ld, item->string));
        }
        if (!get_nonempty_string(ld, item, &prompt))
            return false;
        path_pop(ld, mark);
    }
    cJSON_Delete(*out);
    *out = cJSON_Duplicate(v, 1);
    return true;
}

static bool load_prompts(struct loader *ld, struct team *team, const cJSON *v)
{
    return load_prompt_map(ld, team, v, NULL, &team->prompts);
}

static bool load_state(struct loader *ld, struct team *team, const cJSON *v)
{
    static const char *const keys[] = {"inject", "read", "initial", NULL};
    const cJSON *item;
    size_t mark;

    if (!check_object(ld, v) || !check_keys(ld, v, keys))
        return false;
    if ((item = cJSON_GetObjectItemCaseSensitive(v, "inject"))) {
        mark = path_key(ld, "inject");
        if (!check_bool(ld, item))
            return false;
        team->state.inject = cJSON_IsTrue(item);
        path_pop(ld, mark);
    }
    if ((item = cJSON_GetObjectItemCaseSensitive(v, "read"))) {
        mark = path_key(ld, "read");
        if (!check_bool(ld, item))
            return false;
        team->state.read = cJSON_IsTrue(item);
        path_pop(ld, mark);
    }
    if ((item = cJSON_GetObjectItemCaseSensitive(v, "initial"))) {
        mark = path_key(ld, "initial");
        if (!check_object(ld, item))
            return false;
        cJSON_Delete(team->state.initial);
        team->state.initial = cJSON_Duplicate(item, 1);
        path_pop(ld, mark);
    }
    return true;
}

/* ---- Workflows ---- */

#define PATTERN_BIT(kind) (1u << (kind))
#define ON_PIPELINE PATTERN_BIT(PATTERN_PIPELINE)
#define ON_ROUTE PATTERN_BIT(PATTERN_ROUTE)
#define ON_FANOUT PATTERN_BIT(PATTERN_FANOUT)
#define ON_COMPETE PATTERN_BIT(PATTERN_COMPETE)
#define ON_DELEGATE PATTERN_BIT(PATTERN_DELEGATE)
#define ON_DECOMPOSE PATTERN_BIT(PATTERN_DECOMPOSE)
#define ON_ALL (ON_PIPELINE | ON_ROUTE | ON_FANOUT | ON_COMPETE | ON_DELEGATE | ON_DECOMPOSE)

/* clang-format off */
static const char *const pattern_kind_names[] = {
#define X(e, name) name,
    PATTERN_KINDS(X)
#undef X
    NULL,
};
/* clang-format on */

#define N_PATTERN_KINDS (sizeof pattern_kind_names / sizeof pattern_kind_names[0] - 1)

/* "fanout and compete", from PATTERN_BIT()s; the loader frees it. */
static const char *pattern_list(struct loader *ld, unsigned patterns)
{
    struct buf b = BUF_INIT;
    size_t n = 0, count = 0;

    for (size_t i = 0; i < N_PATTERN_KINDS; i++)
        count += (patterns & PATTERN_BIT(i)) != 0;
    for (size_t i = 0; i < N_PATTERN_KINDS; i++) {
        if (!(patterns & PATTERN_BIT(i)))
            continue;
        if (n++)
            buf_puts(&b, n == count ? " and " : ", ");
        buf_puts(&b, pattern_kind_names[i]);
    }
    return scratch(ld, buf_steal(&b));
}

static bool load_workflow_description(struct loader *ld, const struct team *team, struct workflow *w, const cJSON *v)
{
    (void)team;
    return set_string(ld, v, &w->description);
}

/* Pipeline steps, fan-out branches or competitors: at least two, except that
 * a fan-out may have a single branch. */
static bool load_workflow_agents(struct loader *ld, const struct team *team, struct workflow *w, const cJSON *v)
{
    size_t min = w->params.kind == PATTERN_FANOUT ? 1 : 2, i = 0;
    const cJSON *item;

    if (!cJSON_IsArray(v))
        return fail(ld, "expected an array of agent names");
    cJSON_ArrayForEach(item, v) {
        size_t mark = path_index(ld, i++);
        const char *name;
        if (!get_agent_name(ld, team, item, &name))
            return false;
        for (size_t k = 0; k < w->params.agents.len; k++) {
            if (strcmp(w->params.agents.items[k], name) == 0)
                return fail(ld, "%s is listed twice", quote(ld, name));
        }
        vec_push(&w->params.agents, xstrdup(name));
        path_pop(ld, mark);
    }
    if (w->params.agents.len < min)
        return fail(ld, "a %s workflow needs at least %zu agent%s, got %zu", pattern_kind_name(w->params.kind), min,
                    min == 1 ? "" : "s", w->params.agents.len);
    return true;
}

/* into, judge, classifier, manager or decomposer: one per pattern. */
static bool load_workflow_lead(struct loader *ld, const struct team *team, struct workflow *w, const cJSON *v)
{
    const char *name;

    if (!get_agent_name(ld, team, v, &name))
        return false;
    free(w->params.lead);
    w->params.lead = xstrdup(name);
    return true;
}

static bool load_workflow_executor(struct loader *ld, const struct team *team, struct workflow *w, const cJSON *v)
{
    const char *name;

    if (!get_agent_name(ld, team, v, &name))
        return false;
    free(w->params.executor);
    w->params.executor = xstrdup(name);
    return true;
}

static bool load_workflow_depth(struct loader *ld, const struct team *team, struct workflow *w, const cJSON *v)
{
    (void)team;
    return get_int_range(ld, v, 1, WORKFLOW_MAX_DEPTH, &w->params.depth);
}

static bool load_workflow_timeout(struct loader *ld, const struct team *team, struct workflow *w, const cJSON *v)
{
    (void)team;
    return get_timeout_ms(ld, v, &w->params.timeout_ms);
}

static bool load_workflow_all(struct loader *ld, const struct team *team, struct workflow *w, const cJSON *v)
{
    (void)team;
    if (!check_bool(ld, v))
        return false;
    w->params.all = cJSON_IsTrue(v);
    return true;
}

static bool load_workflow_prompts(struct loader *ld, const struct team *team, struct workflow *w, const cJSON *v)
{
    return load_prompt_map(ld, team, v, &w->params.agents, &w->params.prompts);
}

/* The keys of a workflow, in the order they are read (agents before the
 * prompts that must name them), with the patterns that take each. */
struct workflow_field {
    const char *key;
    unsigned patterns;    /* PATTERN_BIT()s of the patterns that take it */
    unsigned required;    /* ... of the patterns that cannot do without it */
    const char *expected; /* what to expect when missing */
    bool (*load)(struct loader *ld, const struct team *team, struct workflow *w, const cJSON *v);
};

/* clang-format off */
static const struct workflow_field workflow_fields[] = {
    {"description", ON_ALL, 0, NULL, load_workflow_description},
    {"pattern", ON_ALL, ON_ALL, NULL, NULL}, /* read first: it decides which keys apply */
    {"agents", ON_PIPELINE | ON_FANOUT | ON_COMPETE, ON_PIPELINE | ON_FANOUT | ON_COMPETE,
     "an array of agent names", load_workflow_agents},
    {"into", ON_FANOUT, 0, NULL, load_workflow_lead},
    {"judge", ON_COMPETE, ON_COMPETE, "an agent name", load_workflow_lead},
    {"classifier", ON_ROUTE, ON_ROUTE, "an agent name", load_workflow_lead},
    {"manager", ON_DELEGATE, ON_DELEGATE, "an agent name", load_workflow_lead},
    {"decomposer", ON_DECOMPOSE, ON_DECOMPOSE, "an agent name", load_workflow_lead},
    {"executor", ON_DECOMPOSE, ON_DECOMPOSE, "an agent name", load_workflow_executor},
    {"depth", ON_DECOMPOSE, 0, NULL, load_workflow_depth},
    {"timeout", ON_FANOUT | ON_COMPETE, 0, NULL, load_workflow_timeout},
    {"all", ON_FANOUT | ON_COMPETE, 0, NULL, load_workflow_all},
    {"prompts", ON_PIPELINE, 0, NULL, load_workflow_prompts},
};
/* clang-format on */

#define N_WORKFLOW_FIELDS (sizeof workflow_fields / sizeof workflow_fields[0])

static const struct workflow_field *find_workflow_field(const char *key)
{
    for (size_t i = 0; i < N_WORKFLOW_FIELDS; i++) {
        if (strcmp(workflow_fields[i].key, key) == 0)
            return &workflow_fields[i];
    }
    return NULL;
}

static bool load_workflow(struct loader *ld, const struct team *team, const cJSON *v, struct workflow *w)
{
    const char *keys[N_WORKFLOW_FIELDS + 1];
    const cJSON *pattern, *item;
    unsigned bit;
    size_t mark;

    if (!cJSON_IsObject(v))
        return fail(ld, "expected an object with \"pattern\"");
    for (size_t i = 0; i < N_WORKFLOW_FIELDS; i++)
        keys[i] = workflow_fields[i].key;
    keys[N_WORKFLOW_FIELDS] = NULL;
    if (!check_keys(ld, v, keys))
        return false;
    if (!(pattern = require(ld, v, "pattern", scratch(ld, xasprintf("one of %s", join_names(ld, pattern_kind_names))))))
        return false;
    mark = path_key(ld, "pattern");
    if (!check_enum(ld, pattern, pattern_kind_names))
        return false;
    path_pop(ld, mark);
    w->params.kind = (enum pattern_kind)pattern_kind_from_name(pattern->valuestring);
    bit = PATTERN_BIT(w->params.kind);

    cJSON_ArrayForEach(item, v) {
        const struct workflow_field *f = find_workflow_field(item->string);
        if (!(f->patterns & bit)) {
            path_key(ld, item->string);
            return fail(ld, "%s is for %s workflows only", quote(ld, f->key), pattern_list(ld, f->patterns));
        }
    }
    for (size_t i = 0; i < N_WORKFLOW_FIELDS; i++) {
        const struct workflow_field *f = &workflow_fields[i];

        if (!f->load)
            continue;
        if (!(item = cJSON_GetObjectItemCaseSensitive(v, f->key))) {
            if ((f->required & bit) && !require(ld, v, f->key, f->expected))
                return false;
            continue;
        }
        mark = path_key(ld, f->key);
        if (!f->load(ld, team, w, item))
            return false;
        path_pop(ld, mark);
    }
    return true;
}

static bool load_workflows(struct loader *ld, struct team *team, const cJSON *v)
{
    const cJSON *item;

    if (!cJSON_IsObject(v))
        return fail(ld, "expected an object mapping workflow names to workflows");
    if (!check_duplicates(ld, v))
        return false;
    cJSON_ArrayForEach(item, v) {
        struct workflow *w;
        size_t mark;

        if (!name_is_valid(item->string))
            return fail(ld, "%s is not a valid workflow name (expected " NAME_RULE ")", quote(ld, item->string));
        mark = path_key(ld, item->string);
        w = xcalloc(1, sizeof *w);
        w->name = xstrdup(item->string);
        pattern_params_init(&w->params, PATTERN_PIPELINE);
        /* The team owns it from here, so a failure frees it with the team. */
        vec_push(&team->workflows, w);
        if (!load_workflow(ld, team, item, w))
            return false;
        path_pop(ld, mark);
    }
    return true;
}

/* ---- The top level ---- */

static bool load_team_name(struct loader *ld, struct team *team, const cJSON *v)
{
    return set_string(ld, v, &team->name);
}

static bool load_team_description(struct loader *ld, struct team *team, const cJSON *v)
{
    return set_string(ld, v, &team->description);
}

static bool load_team_max_turns(struct loader *ld, struct team *team, const cJSON *v)
{
    return get_int_min(ld, v, 1, &team->max_turns);
}

/* The top-level keys, in the order they are read (functions before the
 * agents whose tools refer to them, agents before the sections that name
 * them). A new section is one more row. */
struct team_field {
    const char *key;
    bool (*load)(struct loader *ld, struct team *team, const cJSON *v);
    const char *required; /* what to expect when missing; NULL: optional */
};

static const struct team_field team_fields[] = {
    {"name", load_team_name, NULL},
    {"description", load_team_description, NULL},
    {"max_turns", load_team_max_turns, NULL},
    {"functions", load_functions, NULL},
    {"mcp", load_mcp_servers, NULL},
    {"agents", load_agents, "an array of agents"},
    {"routes", load_routes, NULL},
    {"markers", load_markers, NULL},
    {"prompts", load_prompts, NULL},
    {"state", load_state, NULL},
    {"handlers", load_handlers, NULL},
    {"workflows", load_workflows, NULL},
};

#define N_TEAM_FIELDS (sizeof team_fields / sizeof team_fields[0])

static bool load_team(struct loader *ld, struct team *team, const cJSON *root)
{
    const char *keys[N_TEAM_FIELDS + 1];

    if (!cJSON_IsObject(root))
        return fail(ld, "expected a JSON object with \"agents\"");
    for (size_t i = 0; i < N_TEAM_FIELDS; i++)
        keys[i] = team_fields[i].key;
    keys[N_TEAM_FIELDS] = NULL;
    if (!check_keys(ld, root, keys))
        return false;
    for (size_t i = 0; i < N_TEAM_FIELDS; i++) {
        const struct team_field *f = &team_fields[i];
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, f->key);
        size_t mark;

        if (!item && f->required && !require(ld, root, f->key, f->required))
            return false;
        if (!item)
            continue;
        mark = path_key(ld, f->key);
        if (!f->load(ld, team, item))
            return false;
        path_pop(ld, mark);
    }
    return true;
}

/* "line L, column C" of offset in text; columns count characters, not bytes. */
static char *describe_position(const char *text, size_t offset)
{
    size_t line = 1, column = 1;

    for (size_t i = 0; i < offset; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\n') {
            line++;
            column = 1;
        } else if ((c & 0xC0) != 0x80) {
            column++;
        }
    }
    return xasprintf("line %zu, column %zu", line, column);
}

static char *json_error(const char *name, const char *text, size_t offset)
{
    char *where = describe_position(text, offset);
    char *error = xasprintf("%s: %s: not valid JSON", name, where);

    free(where);
    return error;
}

struct team *profile_parse(const char *text, const char *path, char **error)
{
    const char *name = path ? path : "profile";
    const char *end = NULL;
    struct loader ld;
    struct team *team;
    cJSON *root;

    root = cJSON_ParseWithOpts(text, &end, true);
    if (!root) {
        size_t offset = end ? (size_t)(end - text) : 0;
        /* cJSON reports a key it expected but did not find (`{"a": 1,}`)
         * one byte past the character at fault: point at the brace. */
        if (offset > 0 && text[offset - 1] == '}') {
            size_t before = offset - 1;
            while (before > 0 && strchr(" \t\r\n", text[before - 1]))
                before--;
            if (before > 0 && text[before - 1] == ',')
                offset--;
        }
        *error = json_error(name, text, offset);
        return NULL;
    }
    team = team_new();
    team->path = xstrdup(path);
    loader_init(&ld, path, "");
    if (!load_team(&ld, team, root)) {
        *error = xasprintf("%s: %s", name, ld.error);
        team_free(team);
        team = NULL;
    }
    loader_fini(&ld);
    cJSON_Delete(root);
    return team;
}

struct team *profile_load(const char *path, char **error)
{
    struct buf text = BUF_INIT;
    struct team *team;
    char chunk[8192];
    size_t n;
    FILE *f = fopen(path, "rb");

    if (!f) {
        *error = xasprintf("%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&text, chunk, n);
    if (ferror(f)) {
        *error = xasprintf("%s: cannot read: %s", path, strerror(errno));
        fclose(f);
        buf_fini(&text);
        return NULL;
    }
    fclose(f);
    if (strlen(buf_str(&text)) != text.len) {
        /* cJSON would stop at the NUL and miss what follows. */
        *error = json_error(path, buf_str(&text), strlen(buf_str(&text)));
        buf_fini(&text);
        return NULL;
    }
    team = profile_parse(buf_str(&text), path, error);
    buf_fini(&text);
    return team;
}
