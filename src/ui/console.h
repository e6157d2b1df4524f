/* The interactive console. */
#ifndef AGENTDECK_UI_CONSOLE_H
#define AGENTDECK_UI_CONSOLE_H

#include "orch/session.h"

/* Runs the console on session until /quit or end of input; returns the exit status. */
int console_run(struct session *s, const char *profile_path);

#endif
