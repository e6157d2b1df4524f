#include "config.h"

#include "text/utf8.h"

#include "core/buf.h"

size_t utf8_decode(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    uint32_t c, min;
    size_t n;

    *cp = 0xFFFD;
    if (len == 0)
        return 0;
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    if ((p[0] & 0xE0) == 0xC0) {
        n = 2, c = p[0] & 0x1F, min = 0x80;
    } else if ((p[0] & 0xF0) == 0xE0) {
        n = 3, c = p[0] & 0x0F, min = 0x800;
    } else if ((p[0] & 0xF8) == 0xF0) {
        n = 4, c = p[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return n;
}

bool utf8_valid(const char *s, size_t len)
{
    uint32_t cp;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_decode(s + i, len - i, &cp);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

char *utf8_repair(const char *s, size_t len)
{
    struct buf out = BUF_INIT;
    uint32_t cp;

    buf_append(&out, "", 0);
    for (size_t i = 0; i < len;) {
        size_t n = utf8_decode(s + i, len - i, &cp);
        if (n == 0) {
            buf_puts(&out, "\xEF\xBF\xBD"); /* U+FFFD */
            i++;
        } else {
            buf_append(&out, s + i, n);
            i += n;
        }
    }
    return buf_steal(&out);
}
