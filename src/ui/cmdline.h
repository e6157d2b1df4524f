/* The command line: GNU readline in callback mode inside a curses window
 * (research/c-craft.md §6a). Readline gets the bytes the key reader does
 * not take (ui/keys.c) from a queue; it never writes to the terminal
 * (rl_outstream is /dev/null): the console draws the line itself. History
 * is kept across runs; Tab completes from the command table. */
#ifndef AGENTDECK_UI_CMDLINE_H
#define AGENTDECK_UI_CMDLINE_H

#include <stddef.h>

#include "ui/ui.h"

/* Installs readline's handler and reads the history file (NULL: none). */
void cmdline_init(struct console *c, const char *history_path);
/* Writes the history and removes the handler. */
void cmdline_fini(void);
/* Hands bytes to readline, which handles them now. */
void cmdline_feed(const char *bytes, size_t n);
bool cmdline_is_empty(void);
/* Inserts text at the cursor as typed (a newline stays in the line). */
void cmdline_insert(const char *text);
/* Forgets what is typed and any half-typed readline command. */
void cmdline_clear(void);
void cmdline_paint(struct console *c);

#endif
