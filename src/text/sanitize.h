/* Making untrusted text (model output, tool results, server messages) safe
 * to put on a terminal: nothing in it may move the cursor, change modes,
 * write the clipboard, ring the bell or reorder what is shown. */
#ifndef AGENTDECK_TEXT_SANITIZE_H
#define AGENTDECK_TEXT_SANITIZE_H

#include <stdbool.h>

#include "core/buf.h"

/* Appends text to out with every control shown as harmless visible text:
 * C0 controls and DEL in caret notation (ESC is "^["), C1 controls and
 * bidirectional formatting characters as "<U+XXXX>", invalid UTF-8 as
 * U+FFFD, a tab as a blank. A newline is kept, or made a blank with
 * one_line. */
void sanitize_append(struct buf *out, const char *text, bool one_line);

#endif
