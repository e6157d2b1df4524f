#include "config.h"

#include "model/keymap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xalloc.h"

static const char *const action_names[] = {
#define X(action, name, key, help) name,
    KEY_ACTIONS(X)
#undef X
};

static const char *const default_keys[] = {
#define X(action, name, key, help) key,
    KEY_ACTIONS(X)
#undef X
};

static const char *const action_helps[] = {
#define X(action, name, key, help) help,
    KEY_ACTIONS(X)
#undef X
};

/* The keys src/ui/keys.c recognizes. Ctrl-I, Ctrl-J and Ctrl-M are Tab and
 * Enter to a terminal, so they are not here. */
static const char *const key_names[] = {
    "F1",     "F2",     "F3",     "F4",     "F5",     "F6",     "F7",     "F8",     "F9",     "F10",
    "F11",    "F12",    "PgUp",   "PgDn",   "Home",   "End",    "Insert", "Delete", "Tab",    "Shift-Tab",
    "Ctrl-A", "Ctrl-B", "Ctrl-C", "Ctrl-D", "Ctrl-E", "Ctrl-F", "Ctrl-G", "Ctrl-H", "Ctrl-K", "Ctrl-L",
    "Ctrl-N", "Ctrl-O", "Ctrl-P", "Ctrl-Q", "Ctrl-R", "Ctrl-S", "Ctrl-T", "Ctrl-U", "Ctrl-V", "Ctrl-W",
    "Ctrl-X", "Ctrl-Y", "Ctrl-Z", "Alt-a",  "Alt-b",  "Alt-c",  "Alt-d",  "Alt-e",  "Alt-f",  "Alt-g",
    "Alt-h",  "Alt-i",  "Alt-j",  "Alt-k",  "Alt-l",  "Alt-m",  "Alt-n",  "Alt-o",  "Alt-p",  "Alt-q",
    "Alt-r",  "Alt-s",  "Alt-t",  "Alt-u",  "Alt-v",  "Alt-w",  "Alt-x",  "Alt-y",  "Alt-z",  NULL,
};

void keymap_init(struct keymap *map)
{
    for (int a = 0; a < ACTION_COUNT; a++)
        map->keys[a] = keymap_key_name(default_keys[a]);
}

const char *keymap_action_name(enum key_action action)
{
    return action_names[action];
}

const char *keymap_action_help(enum key_action action)
{
    return action_helps[action];
}

int keymap_find_action(const char *name)
{
    for (int a = 0; a < ACTION_COUNT; a++) {
        if (strcmp(action_names[a], name) == 0)
            return a;
    }
    return -1;
}

const char *keymap_key_name(const char *name)
{
    /* Alt-a and Alt-A are different keys: the letter keeps its case. */
    for (const char *const *k = key_names; *k; k++) {
        bool alt = strncmp(*k, "Alt-", 4) == 0;
        if (alt ? strncasecmp(*k, name, 4) == 0 && strcmp(*k + 4, name + 4) == 0 : strcasecmp(*k, name) == 0)
            return *k;
    }
    return NULL;
}

const char *keymap_key_names(void)
{
    return "F1 to F12, PgUp, PgDn, Home, End, Insert, Delete, Tab, Shift-Tab, Ctrl-A to Ctrl-Z "
           "except Ctrl-I, Ctrl-J and Ctrl-M (Tab and Enter), Alt-a to Alt-z, or none";
}

int keymap_action_of(const struct keymap *map, const char *key)
{
    for (int a = 0; a < ACTION_COUNT; a++) {
        if (map->keys[a] && strcmp(map->keys[a], key) == 0)
            return a;
    }
    return -1;
}

bool keymap_bind(struct keymap *map, const char *action, const char *key, char **error)
{
    int a = keymap_find_action(action);
    const char *name = strcasecmp(key, "none") == 0 ? NULL : keymap_key_name(key);

    if (a < 0) {
        char *names = NULL;
        for (int i = 0; i < ACTION_COUNT; i++) {
            char *more = xasprintf("%s%s%s", names ? names : "", names ? ", " : "", action_names[i]);
            free(names);
            names = more;
        }
        *error = xasprintf("unknown action (expected one of %s)", names);
        free(names);
        return false;
    }
    if (!name && strcasecmp(key, "none") != 0) {
        *error = xasprintf("\"%s\" is not a key name (expected %s)", key, keymap_key_names());
        return false;
    }
    map->keys[a] = name;
    return true;
}

int keymap_shared_key(const struct keymap *map, enum key_action action)
{
    for (int a = 0; a < ACTION_COUNT; a++) {
        if (a != (int)action && map->keys[a] && map->keys[action] && strcmp(map->keys[a], map->keys[action]) == 0)
            return a;
    }
    return -1;
}
