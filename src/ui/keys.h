/* The key reader: bytes from the terminal, read by the loop (never with
 * getch), sorted into the console's own keys (F1, PgUp, Shift-Tab, the
 * mouse, bracketed paste ...) and everything else, which goes to readline.
 * The key map is one table: the help overlay and doc/keys.md list it. */
#ifndef AGENTDECK_UI_KEYS_H
#define AGENTDECK_UI_KEYS_H

#include <stddef.h>

#include "model/keymap.h"
#include "ui/ui.h"

/* A row of the help: one or two actions (their keys come from the key
 * map), or fixed keys and what they do. */
struct key_doc {
    int action; /* enum key_action, or -1 */
    int second; /* a second action on the row (PgUp, PgDn), or -1 */
    const char *keys;
    const char *what; /* NULL: the action's own help */
};

/* The help's rows, ending with {-1, -1, NULL, NULL}. */
const struct key_doc *keys_table(void);
/* Appends the key map as text lines. */
void keys_help(struct buf *out);
/* The key of action now ("F1"), or "(no key)". */
const char *keys_of(enum key_action action);

/* Starts with the keys of map (NULL: the defaults). */
void keys_init(const struct keymap *map);
void keys_fini(void);
/* Handles bytes read from the terminal. A sequence cut at the end waits
 * for the next bytes; keys_flush() gives up waiting (a lone Esc). */
void keys_feed(struct console *c, const char *bytes, size_t n);
bool keys_pending(void);
void keys_flush(struct console *c);

#endif
