#include "config.h"

#include "cmd/parse.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xalloc.h"

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The character a backslash escape inside "..." stands for. */
static char unescape(char c)
{
    switch (c) {
    case 'n':
        return '\n';
    case 't':
        return '\t';
    default:
        return c;
    }
}

int cmd_split(const char *line, struct vec *words, char **error)
{
    const char *rest;
    return cmd_split_prefix(line, SIZE_MAX, words, &rest, error);
}

int cmd_split_prefix(const char *line, size_t n, struct vec *words, const char **rest, char **error)
{
    size_t start_len = words->len;
    const char *p = line;

    for (size_t count = 0;; count++) {
        struct buf word = BUF_INIT;
        bool have_word = false;

        while (is_blank(*p))
            p++;
        if (!*p || count == n) {
            *rest = p;
            return 0;
        }
        while (*p && !is_blank(*p)) {
            char quote = *p;
            have_word = true;
            if (quote == '"' || quote == '\'') {
                const char *open = p++;
                while (*p && *p != quote) {
                    if (quote == '"' && *p == '\\' && p[1])
                        p++, buf_putc(&word, unescape(*p++));
                    else
                        buf_putc(&word, *p++);
                }
                if (!*p) {
                    *error = xasprintf("unterminated %c quote at column %zu", quote, (size_t)(open - line) + 1);
                    buf_fini(&word);
                    vec_truncate(words, start_len);
                    return -1;
                }
                p++;
            } else if (*p == '\\') {
                if (!p[1]) {
                    *error = xstrdup("a backslash at the end of the line escapes nothing");
                    buf_fini(&word);
                    vec_truncate(words, start_len);
                    return -1;
                }
                buf_putc(&word, p[1]);
                p += 2;
            } else {
                buf_putc(&word, *p++);
            }
        }
        if (have_word)
            vec_push(words, buf_steal(&word));
    }
}

char *cmd_join(const struct vec *words, size_t from)
{
    struct buf out = BUF_INIT;
    for (size_t i = from; i < words->len; i++) {
        if (i > from)
            buf_putc(&out, ' ');
        buf_puts(&out, words->items[i]);
    }
    return buf_steal(&out);
}
