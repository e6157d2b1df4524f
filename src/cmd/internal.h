/* What the files of src/cmd/ share, and nothing outside it uses. */
#ifndef AGENTDECK_CMD_INTERNAL_H
#define AGENTDECK_CMD_INTERNAL_H

#include "cmd/command.h"

/* Reports a failed command as an error event; returns CMD_FAILED. */
enum cmd_status cmd_fail(struct cmd_call *call, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* CMD_OK when ok; else reports error (taken) and returns CMD_FAILED. */
enum cmd_status cmd_result(struct cmd_call *call, bool ok, char *error);
/* The i-th positional argument, or NULL. */
const char *cmd_arg(const struct cmd_call *call, size_t i);

/* /conversation list|show|history|messages|delete (src/cmd/conversations.c). */
extern const struct command_spec cmd_conversation_subcommands[];

/* /branches and /switch (src/cmd/conversations.c). */
enum cmd_status cmd_branches(struct cmd_call *call);
enum cmd_status cmd_switch(struct cmd_call *call);

/* The patterns and the state (src/cmd/patterns.c). */
enum cmd_status cmd_pipeline(struct cmd_call *call);
enum cmd_status cmd_route(struct cmd_call *call);
enum cmd_status cmd_fanout(struct cmd_call *call);
enum cmd_status cmd_compete(struct cmd_call *call);
enum cmd_status cmd_delegate(struct cmd_call *call);
enum cmd_status cmd_decompose(struct cmd_call *call);
enum cmd_status cmd_run(struct cmd_call *call);
enum cmd_status cmd_on(struct cmd_call *call);
enum cmd_status cmd_off(struct cmd_call *call);
enum cmd_status cmd_emit(struct cmd_call *call);
enum cmd_status cmd_handlers(struct cmd_call *call);
extern const struct flag_spec cmd_fanout_flags[];
extern const struct flag_spec cmd_compete_flags[];
extern const struct flag_spec cmd_decompose_flags[];
extern const struct command_spec cmd_state_subcommands[];

/* /export md|json|jsonl FILE (src/cmd/export.c). */
enum cmd_status cmd_export(struct cmd_call *call);

/* The debugger (src/cmd/debugger.c). */
enum cmd_status cmd_step(struct cmd_call *call);
enum cmd_status cmd_next(struct cmd_call *call);
enum cmd_status cmd_continue(struct cmd_call *call);
enum cmd_status cmd_skip(struct cmd_call *call);
enum cmd_status cmd_abort(struct cmd_call *call);
enum cmd_status cmd_edit(struct cmd_call *call);
enum cmd_status cmd_redirect(struct cmd_call *call);
enum cmd_status cmd_break(struct cmd_call *call);
enum cmd_status cmd_breaks(struct cmd_call *call);
enum cmd_status cmd_unbreak(struct cmd_call *call);

/* The views that explain (src/cmd/views.c). */
enum cmd_status cmd_usage(struct cmd_call *call);
enum cmd_status cmd_graph(struct cmd_call *call);
enum cmd_status cmd_context(struct cmd_call *call);
enum cmd_status cmd_diff(struct cmd_call *call);
/* /raw: a run's HTTP exchanges (src/cmd/raw.c). */
enum cmd_status cmd_raw(struct cmd_call *call);
/* /sessions and /retry (src/cmd/sessions.c). */
enum cmd_status cmd_sessions(struct cmd_call *call);
enum cmd_status cmd_retry(struct cmd_call *call);
/* Whether line may run while a recorded session is replayed; if not, *why
 * says so (a new string). */
bool cmd_allowed_in_replay(const char *line, char **why);
/* /mcp list|tools|restart (src/cmd/mcp.c). */
extern const struct command_spec cmd_mcp_subcommands[];

#endif
