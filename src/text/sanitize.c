#include "config.h"

#include "text/sanitize.h"

#include <string.h>

#include "text/utf8.h"

/* Characters that reorder text on screen (Unicode bidi controls). */
static bool is_bidi_control(uint32_t cp)
{
    return cp == 0x061C || cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

void sanitize_append(struct buf *out, const char *text, bool one_line)
{
    size_t len = strlen(text);

    buf_append(out, "", 0);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_decode(text + i, len - i, &cp);

        if (n == 0) {
            buf_puts(out, "\xEF\xBF\xBD");
            i++;
            continue;
        }
        if (cp == '\n')
            buf_putc(out, one_line ? ' ' : '\n');
        else if (cp == '\t')
            buf_putc(out, ' ');
        else if (cp < 0x20 || cp == 0x7F)
            buf_printf(out, "^%c", cp == 0x7F ? '?' : (char)(cp + 0x40));
        else if ((cp >= 0x80 && cp <= 0x9F) || is_bidi_control(cp))
            buf_printf(out, "<U+%04X>", (unsigned)cp);
        else
            buf_append(out, text + i, n);
        i += n;
    }
}
