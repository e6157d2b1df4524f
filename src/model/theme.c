#include "config.h"

#include "model/theme.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/xalloc.h"

static const char *const role_keys[ROLE_COUNT] = {
#define X(role, key) key,
    THEME_ROLES(X)
#undef X
};

static const char *const color_names[16] = {
    "black",       "red",          "green",      "yellow",       "blue",          "magenta",     "cyan",
    "white",       "bright-black", "bright-red", "bright-green", "bright-yellow", "bright-blue", "bright-magenta",
    "bright-cyan", "bright-white",
};

static const struct {
    const char *name;
    int bit;
} attr_names[] = {
    {"bold", THEME_BOLD},           {"dim", THEME_DIM},       {"reverse", THEME_REVERSE},
    {"underline", THEME_UNDERLINE}, {"italic", THEME_ITALIC},
};

#define D THEME_DEFAULT_COLOR
#define B THEME_BOLD

/* The built-in dark theme; themes/dark.json holds the same styles. */
static const struct theme_style dark_styles[ROLE_COUNT] = {
    [ROLE_TEXT] = {D, D, 0},
    [ROLE_DIM] = {244, D, 0},
    [ROLE_BORDER] = {240, D, 0},
    [ROLE_TITLE] = {252, 236, 0},
    [ROLE_TITLE_FOCUSED] = {16, 38, B},
    [ROLE_USER] = {114, D, B},
    [ROLE_AGENT] = {80, D, B},
    [ROLE_TOOL] = {179, D, 0},
    [ROLE_HANDOFF] = {213, D, B},
    [ROLE_ERROR] = {203, D, B},
    [ROLE_WARNING] = {221, D, 0},
    [ROLE_STATE_IDLE] = {250, 238, 0},
    [ROLE_STATE_BUSY] = {16, 114, B},
    [ROLE_STATE_WAITING] = {16, 221, B},
    [ROLE_STATE_ERROR] = {231, 160, B},
    [ROLE_MORE] = {16, 221, B},
    [ROLE_SELECTED] = {231, 238, B},
    [ROLE_STATUS] = {252, 236, 0},
    [ROLE_PROMPT] = {80, D, B},
    [ROLE_INPUT] = {D, D, 0},
    [ROLE_OVERLAY] = {252, 235, 0},
    [ROLE_OVERLAY_TITLE] = {16, 38, B},
};

#define R THEME_REVERSE
#define U THEME_UNDERLINE
#define M THEME_DIM

/* Attributes only (themes/mono.json holds the same). */
static const struct theme_style mono_styles[ROLE_COUNT] = {
    [ROLE_TEXT] = {D, D, 0},
    [ROLE_DIM] = {D, D, M},
    [ROLE_BORDER] = {D, D, M},
    [ROLE_TITLE] = {D, D, R},
    [ROLE_TITLE_FOCUSED] = {D, D, R | B},
    [ROLE_USER] = {D, D, B},
    [ROLE_AGENT] = {D, D, B},
    [ROLE_TOOL] = {D, D, U},
    [ROLE_HANDOFF] = {D, D, B | U},
    [ROLE_ERROR] = {D, D, B | R},
    [ROLE_WARNING] = {D, D, B},
    [ROLE_STATE_IDLE] = {D, D, 0},
    [ROLE_STATE_BUSY] = {D, D, B},
    [ROLE_STATE_WAITING] = {D, D, B | U},
    [ROLE_STATE_ERROR] = {D, D, B | U},
    [ROLE_MORE] = {D, D, R | B},
    [ROLE_SELECTED] = {D, D, R},
    [ROLE_STATUS] = {D, D, R},
    [ROLE_PROMPT] = {D, D, B},
    [ROLE_INPUT] = {D, D, 0},
    [ROLE_OVERLAY] = {D, D, 0},
    [ROLE_OVERLAY_TITLE] = {D, D, R | B},
};

#undef D
#undef B
#undef R
#undef U
#undef M

const char *theme_role_key(enum theme_role role)
{
    return role < ROLE_COUNT ? role_keys[role] : "?";
}

void theme_init_default(struct theme *t)
{
    t->name = xstrdup("dark");
    memcpy(t->styles, dark_styles, sizeof t->styles);
}

void theme_init_mono(struct theme *t)
{
    t->name = xstrdup("mono");
    memcpy(t->styles, mono_styles, sizeof t->styles);
}

void theme_fini(struct theme *t)
{
    free(t->name);
    t->name = NULL;
}

/* Reads a colour: a name, "default" or 0-255. */
static bool parse_color(const cJSON *item, short *out)
{
    if (cJSON_IsNumber(item)) {
        double v = item->valuedouble;
        if (v < 0 || v > 255 || v != (int)v)
            return false;
        *out = (short)v;
        return true;
    }
    if (!cJSON_IsString(item))
        return false;
    if (strcmp(item->valuestring, "default") == 0) {
        *out = THEME_DEFAULT_COLOR;
        return true;
    }
    for (short i = 0; i < 16; i++) {
        if (strcmp(item->valuestring, color_names[i]) == 0) {
            *out = i;
            return true;
        }
    }
    return false;
}

/* The item as the user wrote it, for messages (a new string). */
static char *show(const cJSON *item)
{
    char *text = cJSON_PrintUnformatted(item);
    char *copy = xstrdup(text ? text : "?");
    cJSON_free(text);
    return copy;
}

/* Reads one style object at key into st. Returns NULL or a new message. */
static char *parse_style(const cJSON *obj, const char *key, struct theme_style *st)
{
    const cJSON *field;

    if (!cJSON_IsObject(obj))
        return xasprintf("styles.%s: a style is an object with fg, bg and attrs", key);
    cJSON_ArrayForEach(field, obj) {
        const char *name = field->string;
        if (strcmp(name, "fg") == 0 || strcmp(name, "bg") == 0) {
            short *color = name[0] == 'f' ? &st->fg : &st->bg;
            if (!parse_color(field, color)) {
                char *shown = show(field);
                char *msg = xasprintf("styles.%s.%s: %s is not a colour (expected default, a name such as red or "
                                      "bright-blue, or 0 to 255)",
                                      key, name, shown);
                free(shown);
                return msg;
            }
        } else if (strcmp(name, "attrs") == 0) {
            const cJSON *a;
            if (!cJSON_IsArray(field))
                return xasprintf("styles.%s.attrs: expected an array such as [\"bold\"]", key);
            st->attrs = 0;
            cJSON_ArrayForEach(a, field) {
                size_t k, n = sizeof attr_names / sizeof attr_names[0];
                for (k = 0; k < n; k++) {
                    if (cJSON_IsString(a) && strcmp(a->valuestring, attr_names[k].name) == 0)
                        break;
                }
                if (k == n) {
                    char *shown = show(a);
                    char *msg = xasprintf("styles.%s.attrs: %s is not an attribute (expected bold, dim, reverse, "
                                          "underline or italic)",
                                          key, shown);
                    free(shown);
                    return msg;
                }
                st->attrs |= attr_names[k].bit;
            }
        } else {
            return xasprintf("styles.%s.%s: unknown key (expected fg, bg, attrs)", key, name);
        }
    }
    return NULL;
}

/* The line of the byte at offset in text, counting from 1. */
static int line_of(const char *text, size_t offset)
{
    int line = 1;
    for (size_t i = 0; i < offset && text[i]; i++)
        line += text[i] == '\n';
    return line;
}

static char *read_file(const char *path, char **error)
{
    FILE *fp = fopen(path, "re");
    struct buf b = BUF_INIT;
    char chunk[4096];
    size_t n;

    if (!fp) {
        *error = xasprintf("%s: cannot read the theme: %s", path, strerror(errno));
        return NULL;
    }
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
        buf_append(&b, chunk, n);
        if (b.len > 1024 * 1024) {
            *error = xasprintf("%s: the theme is larger than 1 MiB", path);
            fclose(fp);
            buf_fini(&b);
            return NULL;
        }
    }
    if (ferror(fp)) {
        *error = xasprintf("%s: cannot read the theme: %s", path, strerror(errno));
        fclose(fp);
        buf_fini(&b);
        return NULL;
    }
    fclose(fp);
    return buf_steal(&b);
}

bool theme_load(struct theme *t, const char *path, char **error)
{
    struct theme loaded;
    char *text, *problem = NULL;
    const char *slash, *dot;
    cJSON *root, *item, *top;

    theme_init_default(t);
    if (!(text = read_file(path, error)))
        return false;
    root = cJSON_Parse(text);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        *error = xasprintf("%s: not valid JSON (line %d)", path, at ? line_of(text, (size_t)(at - text)) : 1);
        free(text);
        return false;
    }
    theme_init_default(&loaded);
    if (!cJSON_IsObject(root))
        problem = xstrdup("a theme is a JSON object with \"styles\"");
    top = cJSON_IsObject(root) ? root : NULL;
    cJSON_ArrayForEach(item, top) {
        if (problem)
            break;
        if (strcmp(item->string, "name") == 0 || strcmp(item->string, "description") == 0) {
            if (!cJSON_IsString(item))
                problem = xasprintf("%s: expected a string", item->string);
        } else if (strcmp(item->string, "styles") == 0) {
            const cJSON *style;
            if (!cJSON_IsObject(item)) {
                problem = xstrdup("styles: expected an object of roles");
                break;
            }
            cJSON_ArrayForEach(style, item) {
                int role;
                for (role = 0; role < ROLE_COUNT; role++) {
                    if (strcmp(style->string, role_keys[role]) == 0)
                        break;
                }
                if (role == ROLE_COUNT) {
                    problem =
                        xasprintf("styles.%s: unknown role (see doc/keys.md#themes for the roles)", style->string);
                    break;
                }
                if ((problem = parse_style(style, style->string, &loaded.styles[role])))
                    break;
            }
        } else {
            problem = xasprintf("%s: unknown key (expected name, description, styles)", item->string);
        }
    }
    if (problem) {
        *error = xasprintf("%s: %s", path, problem);
        free(problem);
        theme_fini(&loaded);
        cJSON_Delete(root);
        free(text);
        return false;
    }
    /* Named after its file: "light" for themes/light.json. */
    slash = strrchr(path, '/');
    slash = slash ? slash + 1 : path;
    dot = strrchr(slash, '.');
    free(loaded.name);
    loaded.name = xstrndup(slash, dot && dot != slash ? (size_t)(dot - slash) : strlen(slash));
    theme_fini(t);
    *t = loaded;
    cJSON_Delete(root);
    free(text);
    return true;
}

/* $XDG_CONFIG_HOME/agentdeck/themes (a new string), or NULL. */
static char *user_theme_dir(void)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");

    if (xdg && *xdg == '/')
        return xasprintf("%s/agentdeck/themes", xdg);
    if (home && *home)
        return xasprintf("%s/.config/agentdeck/themes", home);
    return NULL;
}

char *theme_find(const char *name, const char *const *dirs)
{
    size_t len = strlen(name);
    char *user = user_theme_dir();

    if (strchr(name, '/') || (len > 5 && strcmp(name + len - 5, ".json") == 0)) {
        free(user);
        return xstrdup(name);
    }
    for (int i = -1; i < 0 || (dirs && dirs[i]); i++) {
        const char *dir = i < 0 ? user : dirs[i];
        char *path;
        if (!dir)
            continue;
        path = xasprintf("%s/%s.json", dir, name);
        if (access(path, R_OK) == 0) {
            free(user);
            return path;
        }
        free(path);
    }
    free(user);
    return NULL;
}

static void add_name(struct vec *names, const char *name, size_t len)
{
    for (size_t i = 0; i < names->len; i++) {
        const char *have = names->items[i];
        if (strlen(have) == len && strncmp(have, name, len) == 0)
            return;
    }
    vec_push(names, xstrndup(name, len));
}

void theme_list(const char *const *dirs, struct vec *names)
{
    char *user = user_theme_dir();

    add_name(names, "default", 7);
    for (int i = -1; i < 0 || (dirs && dirs[i]); i++) {
        const char *dir = i < 0 ? user : dirs[i];
        DIR *d = dir ? opendir(dir) : NULL;
        struct dirent *de;
        if (!d)
            continue;
        while ((de = readdir(d))) {
            size_t len = strlen(de->d_name);
            if (len > 5 && de->d_name[0] != '.' && strcmp(de->d_name + len - 5, ".json") == 0)
                add_name(names, de->d_name, len - 5);
        }
        closedir(d);
    }
    free(user);
}
