/* The configuration file: $XDG_CONFIG_HOME/agentdeck/config.json (or
 * --config FILE), the defaults a user wants on every start. Command-line
 * options override it. Format: doc/sessions.md#configuration. */
#ifndef AGENTDECK_MODEL_SETTINGS_H
#define AGENTDECK_MODEL_SETTINGS_H

#include <stdbool.h>

#include "model/keymap.h"

struct settings {
    char *path;             /* the file read, or NULL when there was none */
    char *backend;          /* "offline", "mistral" or "chat"; NULL: not set */
    char *base_url_mistral; /* base_urls.mistral; NULL: not set */
    char *base_url_chat;    /* base_urls.chat; NULL: not set */
    char *theme;            /* a theme name or file; NULL: not set */
    double offline_rate;    /* words a second; < 0: not set */
    int retries;            /* retry.retries; < 0: not set */
    long stall_timeout_s;   /* retry.stall_timeout; 0: not set */
    struct keymap keys;     /* the default keys, with the file's bindings */
};

void settings_init(struct settings *s);
void settings_fini(struct settings *s);

/* $XDG_CONFIG_HOME/agentdeck/config.json, else ~/.config/agentdeck/config.json;
 * a new string, or NULL with no home. */
char *settings_default_path(void);

/* Reads the file path into s. A missing file is no error unless
 * must_exist (a file the user named). Returns false with *error set (a new
 * string naming the file and the setting at fault, the caller frees it). */
bool settings_load(struct settings *s, const char *path, bool must_exist, char **error);
/* The same for text, named name in messages. */
bool settings_parse(struct settings *s, const char *text, const char *name, char **error);

/* The base URL the file gives for backend (a name), or NULL. */
const char *settings_base_url(const struct settings *s, const char *backend);

#endif
