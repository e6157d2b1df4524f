/* Themes (DESIGN §1): a JSON file of styles, one per role the console
 * draws (text, pane titles, handoffs, errors ...), each a foreground and a
 * background colour and attributes. No curses here: src/ui/colors.c turns a
 * theme into curses attributes. Format: doc/keys.md#themes. */
#ifndef AGENTDECK_MODEL_THEME_H
#define AGENTDECK_MODEL_THEME_H

#include <stdbool.h>

#include "core/vec.h"

/* role, its key in a theme file */
#define THEME_ROLES(X)                     \
    X(ROLE_TEXT, "text")                   \
    X(ROLE_DIM, "dim")                     \
    X(ROLE_BORDER, "border")               \
    X(ROLE_TITLE, "title")                 \
    X(ROLE_TITLE_FOCUSED, "title.focused") \
    X(ROLE_USER, "user")                   \
    X(ROLE_AGENT, "agent")                 \
    X(ROLE_TOOL, "tool")                   \
    X(ROLE_HANDOFF, "handoff")             \
    X(ROLE_ERROR, "error")                 \
    X(ROLE_WARNING, "warning")             \
    X(ROLE_STATE_IDLE, "state.idle")       \
    X(ROLE_STATE_BUSY, "state.busy")       \
    X(ROLE_STATE_WAITING, "state.waiting") \
    X(ROLE_STATE_ERROR, "state.error")     \
    X(ROLE_MORE, "more")                   \
    X(ROLE_SELECTED, "selected")           \
    X(ROLE_STATUS, "status")               \
    X(ROLE_PROMPT, "prompt")               \
    X(ROLE_INPUT, "input")                 \
    X(ROLE_OVERLAY, "overlay")             \
    X(ROLE_OVERLAY_TITLE, "overlay.title")

enum theme_role {
#define X(role, key) role,
    THEME_ROLES(X)
#undef X
        ROLE_COUNT
};

enum {
    THEME_BOLD = 1,
    THEME_DIM = 2,
    THEME_REVERSE = 4,
    THEME_UNDERLINE = 8,
    THEME_ITALIC = 16,
};

#define THEME_DEFAULT_COLOR (-1) /* the terminal's own colour */

struct theme_style {
    short fg, bg; /* 0-255, or THEME_DEFAULT_COLOR */
    int attrs;    /* THEME_BOLD ... */
};

struct theme {
    char *name;
    struct theme_style styles[ROLE_COUNT];
};

const char *theme_role_key(enum theme_role role);

/* Fills t with the built-in dark theme (themes/dark.json is the same). */
void theme_init_default(struct theme *t);
/* The built-in monochrome styles: attributes only, for NO_COLOR and
 * terminals without colours. */
void theme_init_mono(struct theme *t);
void theme_fini(struct theme *t);

/* Loads the theme file path into t. Roles the file leaves out keep the
 * default theme's style. Returns false with *error set (a new string that
 * names the path and the key at fault), leaving t the default theme. */
bool theme_load(struct theme *t, const char *path, char **error);

/* Finds theme NAME: a path when it holds a slash or ends with .json, else
 * NAME.json in $XDG_CONFIG_HOME/agentdeck/themes, then in each of dirs
 * (NULL-terminated). Returns a new path, or NULL when there is none. */
char *theme_find(const char *name, const char *const *dirs);

/* Appends (new strings) the names of the themes found in the same places,
 * without duplicates, "default" first. */
void theme_list(const char *const *dirs, struct vec *names);

#endif
