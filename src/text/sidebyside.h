/* Two texts side by side, aligned line by line the way `diff -y` aligns
 * them, for /diff. */
#ifndef AGENTDECK_TEXT_SIDEBYSIDE_H
#define AGENTDECK_TEXT_SIDEBYSIDE_H

#include <stddef.h>

#include "core/buf.h"

/* How many lines of left and right side_by_side() found the same. */
struct side_by_side_stats {
    size_t same, changed, left_only, right_only;
};

/* Appends left and right (untrusted: sanitized here) in two columns that
 * fill width columns, lines wrapped inside their column. Lines the two
 * share are aligned; between them a marker says how a row differs: blank
 * (the same), '|' (changed), '<' (only on the left), '>' (only on the
 * right). Fills *stats when not NULL. */
void side_by_side(struct buf *out, const char *left, const char *right, size_t width,
                  struct side_by_side_stats *stats);

/* Appends a heading for side_by_side()'s columns: left and right (one
 * line each, wrapped in their column), then a rule under each. */
void side_by_side_heading(struct buf *out, const char *left, const char *right, size_t width);

#endif
