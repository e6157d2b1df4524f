/* Display width of UTF-8 text on a terminal, clipping and wrapping that
 * never split a wide character or a combining sequence. The text is
 * expected to be sanitized already (text/sanitize.h): no controls but '\n'.
 * Widths come from wcwidth(), so the locale's LC_CTYPE must be UTF-8. */
#ifndef AGENTDECK_TEXT_WIDTH_H
#define AGENTDECK_TEXT_WIDTH_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Columns code point cp takes: 0 for combining and zero-width characters,
 * 1 or 2; -1 for what a terminal cannot show (unassigned, controls). */
int width_cp(uint32_t cp);

/* Columns s[0..len) takes; a character of width -1 counts as 1, as
 * width_append_drawable() shows it as U+FFFD. */
size_t width_str(const char *s, size_t len);

/* Returns how many bytes of s[0..len) fit in cols columns, stopping at a
 * newline and never cutting a character from its combining marks; sets
 * *used (may be NULL) to the columns they take. */
size_t width_clip(const char *s, size_t len, size_t cols, size_t *used);

/* Breaks off the first line of s[0..len) that fits in cols columns: up to
 * a newline, else after the last blank that keeps the words whole, else
 * (one long word) at a character boundary. At least one character is taken
 * so that wrapping always progresses. Returns the line's length in bytes
 * (without the newline or the blank it broke at) and sets *next to the
 * offset of the next line, len when this was the last. */
size_t width_wrap_line(const char *s, size_t len, size_t cols, size_t *next);

/* How many lines width_wrap_line() makes of s[0..len) at cols columns
 * (the first line first_cols wide): at least 1, even for "". */
size_t width_wrap_count(const char *s, size_t len, size_t first_cols, size_t cols);

/* Appends text (UTF-8, sanitized) to out with what a terminal cannot show
 * replaced by U+FFFD, and a combining mark with nothing to combine with
 * (at the start, or after a newline) given a blank to sit on. */
void width_append_drawable(struct buf *out, const char *text);

#endif
