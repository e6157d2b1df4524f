/* What the files of src/cmd/ share, and nothing outside it uses. */
#ifndef AGENTDECK_CMD_INTERNAL_H
#define AGENTDECK_CMD_INTERNAL_H

#include "cmd/command.h"

/* Reports a failed command as an error event; returns CMD_FAILED. */
enum cmd_status cmd_fail(struct cmd_call *call, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The i-th positional argument, or NULL. */
const char *cmd_arg(const struct cmd_call *call, size_t i);

/* The entry as /history shows it: its type, agent and fields. */
cJSON *cmd_entry_json(const struct entry *e);

/* /conversation list|show|history|messages|delete (src/cmd/conversation.c). */
extern const struct command_spec cmd_conversation_subcommands[];

#endif
