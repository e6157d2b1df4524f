/* UTF-8: validation, and repair of text from outside (model output, tool
 * results, typed bytes) so that what we store and emit is always UTF-8. */
#ifndef AGENTDECK_TEXT_UTF8_H
#define AGENTDECK_TEXT_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes the character at s (at most len bytes). Returns its length and
 * sets *cp, or returns 0 for an invalid, overlong, surrogate or truncated
 * sequence (with *cp set to U+FFFD). */
size_t utf8_decode(const char *s, size_t len, uint32_t *cp);

/* Whether s[0..len) is well-formed UTF-8. */
bool utf8_valid(const char *s, size_t len);

/* Returns a new copy of s[0..len) with each invalid byte replaced by U+FFFD;
 * the caller frees it. */
char *utf8_repair(const char *s, size_t len);

#endif
