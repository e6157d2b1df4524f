/* What the console shares with the debugger's views (src/cmd/views.c). */
#ifndef AGENTDECK_CMD_VIEWS_H
#define AGENTDECK_CMD_VIEWS_H

#include <cJSON.h>
#include <stddef.h>

#include "text/sidebyside.h"

/* The two sides of a `diff` event (its "left" and "right") side by side in
 * width columns, under a heading naming each entry (a new string). Fills
 * *stats when not NULL. */
char *diff_render(const cJSON *left, const cJSON *right, size_t width, struct side_by_side_stats *stats);

#endif
