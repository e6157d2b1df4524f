/* Splitting a command line into words: "..." with backslash escapes,
 * '...' literally, a backslash outside quotes escapes the next character. */
#ifndef AGENTDECK_CMD_PARSE_H
#define AGENTDECK_CMD_PARSE_H

#include "core/vec.h"

/* Appends the words of line to words (new strings; words should own them).
 * Returns 0, or -1 with *error set to a new message (the caller frees it)
 * and words left as they were. */
int cmd_split(const char *line, struct vec *words, char **error);

/* The same for the first n words only; *rest is set to what follows them,
 * blanks skipped, as typed (the TEXT... of a command). */
int cmd_split_prefix(const char *line, size_t n, struct vec *words, const char **rest, char **error);

/* Returns words[from..] joined by single spaces; the caller frees it. */
char *cmd_join(const struct vec *words, size_t from);

#endif
