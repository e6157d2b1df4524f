/* The console's rebindable keys: the actions a key can do, the names of
 * the keys, and which key does which action. No curses here: src/ui/keys.c
 * turns terminal bytes into these key names; the configuration file
 * (model/settings.h) binds them. */
#ifndef AGENTDECK_MODEL_KEYMAP_H
#define AGENTDECK_MODEL_KEYMAP_H

#include <stdbool.h>

/* action, its name in the configuration, its default key, what it does */
#define KEY_ACTIONS(X)                                                                                              \
    X(ACTION_HELP, "help", "F1", "this help: the commands and the keys (also /help)")                               \
    X(ACTION_FOLDS, "toggle-folds", "F2", "open or close every folded tool call and result of the focused pane")    \
    X(ACTION_LAYOUT, "next-layout", "F3",                                                                           \
      "next layout: grid of panes + timeline, focused pane + timeline, timeline only")                              \
    X(ACTION_ZOOM, "zoom", "F4", "zoom the focused pane (or the timeline) to the whole screen, and back")           \
    X(ACTION_PAGE_UP, "page-up", "PgUp", "scroll the focused pane or the timeline a page up")                       \
    X(ACTION_PAGE_DOWN, "page-down", "PgDn", "scroll a page down; back at the bottom it follows the new lines")     \
    X(ACTION_FOCUS_NEXT, "focus-next", "Tab", "focus the next pane (Tab does it on an empty line, else completes)") \
    X(ACTION_FOCUS_PREVIOUS, "focus-previous", "Shift-Tab",                                                         \
      "focus the previous pane (the timeline comes after the last)")                                                \
    X(ACTION_REDRAW, "redraw", "Ctrl-L", "redraw the screen")                                                       \
    X(ACTION_SUSPEND, "suspend", "Ctrl-Z", "suspend agentdeck (the shell's fg brings it back)")                     \
    X(ACTION_CANCEL, "cancel", "Ctrl-C", "cancel the runs in flight; with none: clear the line; twice in a row: quit")

enum key_action {
#define X(action, name, key, help) action,
    KEY_ACTIONS(X)
#undef X
        ACTION_COUNT
};

/* Which key does each action: a key name of keymap_key_names(), or NULL
 * for an action with no key. */
struct keymap {
    const char *keys[ACTION_COUNT];
};

/* Fills map with the default keys. */
void keymap_init(struct keymap *map);
const char *keymap_action_name(enum key_action action);
const char *keymap_action_help(enum key_action action);
/* The action named name, or -1. */
int keymap_find_action(const char *name);
/* The canonical spelling of key name (matched ignoring case: "f5" is
 * "F5"), or NULL when no key has that name. */
const char *keymap_key_name(const char *name);
/* Every key name, one list for messages ("F1 to F12, PgUp, ..."). */
const char *keymap_key_names(void);

/* Binds action (a name) to key (a name, or "none": no key). Returns false
 * with *error set (a new string naming what is wrong). Another action may
 * still have the key: keymap_shared_key() finds it once all are bound. */
bool keymap_bind(struct keymap *map, const char *action, const char *key, char **error);
/* Another action with the same key as action, or -1. */
int keymap_shared_key(const struct keymap *map, enum key_action action);
/* The action of key (a canonical name), or -1 when it has none. */
int keymap_action_of(const struct keymap *map, const char *key);

#endif
