/* The key reader: bytes from the terminal, read by the loop (never with
 * getch), sorted into the console's own keys (F1, PgUp, Shift-Tab, the
 * mouse, bracketed paste ...) and everything else, which goes to readline.
 * The key map is one table: the help overlay and doc/keys.md list it. */
#ifndef AGENTDECK_UI_KEYS_H
#define AGENTDECK_UI_KEYS_H

#include <stddef.h>

#include "ui/ui.h"

struct key_doc {
    const char *keys;
    const char *what;
};

/* The key map, ending with {NULL, NULL}. */
const struct key_doc *keys_table(void);
/* Appends the key map as text lines. */
void keys_help(struct buf *out);

void keys_init(void);
void keys_fini(void);
/* Handles bytes read from the terminal. A sequence cut at the end waits
 * for the next bytes; keys_flush() gives up waiting (a lone Esc). */
void keys_feed(struct console *c, const char *bytes, size_t n);
bool keys_pending(void);
void keys_flush(struct console *c);

#endif
