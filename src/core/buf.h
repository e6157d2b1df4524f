/* A growable byte buffer that is always NUL-terminated. */
#ifndef AGENTDECK_CORE_BUF_H
#define AGENTDECK_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
    char *data; /* NULL until the first append */
    size_t len;
    size_t cap;
};

/* clang-format off */
#define BUF_INIT {NULL, 0, 0}
/* clang-format on */

void buf_init(struct buf *b);
void buf_fini(struct buf *b);
void buf_reset(struct buf *b);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns the contents ("" when empty); valid until the next change. */
const char *buf_str(const struct buf *b);
/* Returns the contents as a new string and empties b; the caller frees it. */
char *buf_steal(struct buf *b);
/* Removes the first line from b and returns it without its '\n' (a new
 * string); with at_end, an unfinished last line too. NULL when none. */
char *buf_take_line(struct buf *b, bool at_end);

#endif
