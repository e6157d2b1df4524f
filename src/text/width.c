#include "config.h"

#include "text/width.h"

#include <stdbool.h>
#include <string.h>
#include <wchar.h>

#include "text/utf8.h"

int width_cp(uint32_t cp)
{
    if (cp >= 0x20 && cp < 0x7f)
        return 1; /* most text: no need to ask the locale */
    if (cp == 0)
        return 0;
    return wcwidth((wchar_t)cp);
}

/* The character at s and the zero-width characters that go with it.
 * Returns its length in bytes and sets *cols to its width (at least 0). */
static size_t cluster(const char *s, size_t len, size_t *cols)
{
    uint32_t cp;
    size_t n;
    int w;

    /* ASCII followed by ASCII (or nothing) is one column, alone. */
    if ((unsigned char)s[0] >= 0x20 && (unsigned char)s[0] < 0x7f && (len == 1 || (unsigned char)s[1] < 0x80)) {
        *cols = 1;
        return 1;
    }
    n = utf8_decode(s, len, &cp);
    if (n == 0)
        n = 1; /* a bad byte: shown as U+FFFD, one column */
    w = width_cp(cp);
    *cols = w < 0 ? 1 : (size_t)w;
    while (n < len && s[n] != '\n') {
        size_t m = utf8_decode(s + n, len - n, &cp);
        if (m == 0 || width_cp(cp) != 0)
            break;
        n += m;
    }
    return n;
}

size_t width_str(const char *s, size_t len)
{
    size_t total = 0;
    for (size_t i = 0; i < len;) {
        size_t cols;
        i += cluster(s + i, len - i, &cols);
        total += cols;
    }
    return total;
}

size_t width_clip(const char *s, size_t len, size_t cols, size_t *used)
{
    size_t pos = 0, total = 0;

    while (pos < len && s[pos] != '\n') {
        size_t w;
        size_t n = cluster(s + pos, len - pos, &w);
        if (total + w > cols)
            break;
        total += w;
        pos += n;
    }
    if (used)
        *used = total;
    return pos;
}

size_t width_wrap_line(const char *s, size_t len, size_t cols, size_t *next)
{
    size_t pos = 0, used = 0, brk = 0;

    if (cols == 0)
        cols = 1;
    while (pos < len) {
        size_t w, n;
        if (s[pos] == '\n') {
            *next = pos + 1;
            return pos;
        }
        n = cluster(s + pos, len - pos, &w);
        if (used + w > cols && pos > 0) {
            if (s[pos] == ' ') {
                *next = pos + 1;
                return pos;
            }
            if (brk) {
                *next = brk + 1;
                return brk;
            }
            *next = pos;
            return pos;
        }
        if (s[pos] == ' ' && pos > 0)
            brk = pos;
        used += w;
        pos += n;
    }
    *next = len;
    return len;
}

size_t width_wrap_count(const char *s, size_t len, size_t first_cols, size_t cols)
{
    size_t pos = 0, lines = 0;

    do {
        size_t next;
        width_wrap_line(s + pos, len - pos, lines ? cols : first_cols, &next);
        pos += next;
        lines++;
    } while (pos < len);
    return lines;
}

void width_append_drawable(struct buf *out, const char *text)
{
    size_t len = strlen(text);
    bool line_start = true;

    buf_append(out, "", 0);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_decode(text + i, len - i, &cp);
        int w = width_cp(cp);

        if (n == 0) {
            buf_puts(out, "\xEF\xBF\xBD");
            i++;
            line_start = false;
            continue;
        }
        if (cp == '\n') {
            buf_putc(out, '\n');
            line_start = true;
        } else if (w < 0) {
            buf_puts(out, "\xEF\xBF\xBD");
            line_start = false;
        } else {
            if (w == 0 && line_start)
                buf_putc(out, ' ');
            buf_append(out, text + i, n);
            line_start = false;
        }
        i += n;
    }
}
