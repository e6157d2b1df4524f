/* The command language, shared by the console and batch mode. One table
 * defines each command once: its parser, its /help text and (in the
 * console) its completion come from it. */
#ifndef AGENTDECK_CMD_COMMAND_H
#define AGENTDECK_CMD_COMMAND_H

#include <stdbool.h>

#include "core/vec.h"
#include "orch/session.h"

enum cmd_status {
    CMD_OK,
    CMD_FAILED, /* an error event said why; nothing changed */
    CMD_QUIT,
};

struct flag_spec {
    const char *name;  /* "model", typed as --model */
    const char *value; /* the value's placeholder ("M"), NULL for a switch */
    bool repeatable;
    const char *help;
};

struct cmd_call;

struct command_spec {
    const char *name;                       /* "agent", or "create" for a subcommand */
    const char *args;                       /* synopsis of positional arguments: "AGENT TEXT..." */
    const char *summary;                    /* one line for /help */
    const char *help;                       /* more, for /help COMMAND; may be NULL */
    int min_args;                           /* positional arguments required */
    int max_args;                           /* -1: the rest is text */
    const struct flag_spec *flags;          /* ends with {NULL}; NULL: none */
    const struct command_spec *subcommands; /* ends with {NULL}; NULL: none */
    enum cmd_status (*run)(struct cmd_call *call);
};

struct flag_value {
    const struct flag_spec *spec;
    char *value; /* NULL for a switch */
};

/* One parsed command line, handed to the command's run function. */
struct cmd_call {
    struct session *session;
    const char *line; /* as typed, for error events */
    const struct command_spec *spec;
    struct vec args;  /* char *: positional arguments */
    struct vec flags; /* struct flag_value * */
};

/* The top-level commands, ending with {NULL}. */
const struct command_spec *command_table(void);
const struct command_spec *command_find(const struct command_spec *table, const char *name);

/* Runs one line: a /command, @AGENT TEXT, or plain text for the focused
 * conversation. Errors become `error` events naming the command line. */
enum cmd_status command_execute(struct session *s, const char *line);

/* Returns the help text for topic (NULL: every command); the caller frees it. */
char *command_help(const char *topic);

#endif
