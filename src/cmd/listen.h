/* --listen PATH: a Unix socket on which outside programs fire events into
 * the running session, one line `EVENT DATA` each (orch/handlers.h). */
#ifndef AGENTDECK_CMD_LISTEN_H
#define AGENTDECK_CMD_LISTEN_H

#include "orch/session.h"

struct listener;

/* Opens the socket at path (a stale socket left there is replaced; any
 * other file is not). Returns NULL with *error set. */
struct listener *listener_open(struct session *s, const char *path, char **error);
/* Closes the socket and its connections and removes the file. */
void listener_close(struct listener *l);

#endif
