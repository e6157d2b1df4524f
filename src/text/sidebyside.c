#include "config.h"

#include "text/sidebyside.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/vec.h"
#include "core/xalloc.h"
#include "text/sanitize.h"
#include "text/width.h"

/* Above this many cells the alignment table is not built: the lines are
 * paired in order instead. */
#define MAX_CELLS (4u * 1024 * 1024)

struct line {
    const char *s;
    size_t len;
};

/* One row of the output: a line of each side (NULL for none). */
struct row {
    const struct line *left, *right;
    char mark;
};

/* Splits text (kept alive by the caller) into lines. */
static struct line *split_lines(const char *text, size_t *n)
{
    size_t cap = 1, count = 0;
    struct line *lines;
    const char *p = text;

    for (const char *q = text; *q; q++)
        cap += *q == '\n';
    lines = xcalloc(cap, sizeof *lines);
    for (;;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (!nl && !len && count)
            break; /* a final newline ends the last line, it starts none */
        lines[count++] = (struct line){p, len};
        if (!nl)
            break;
        p = nl + 1;
    }
    *n = count;
    return lines;
}

static bool same_line(const struct line *a, const struct line *b)
{
    return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

static void push_row(struct row **rows, size_t *n, const struct line *l, const struct line *r, char mark)
{
    *rows = xrealloc(*rows, (*n + 1) * sizeof **rows);
    (*rows)[(*n)++] = (struct row){l, r, mark};
}

/* Rows for the lines between two shared ones: changed pairs first, then
 * what is left on one side. */
static void push_gap(struct row **rows, size_t *n, const struct line *l, size_t nl, const struct line *r, size_t nr)
{
    size_t k = 0;
    for (; k < nl && k < nr; k++)
        push_row(rows, n, &l[k], &r[k], '|');
    for (size_t i = k; i < nl; i++)
        push_row(rows, n, &l[i], NULL, '<');
    for (size_t j = k; j < nr; j++)
        push_row(rows, n, NULL, &r[j], '>');
}

/* Aligns the two sides on their longest common sequence of lines. */
static struct row *align(const struct line *l, size_t nl, const struct line *r, size_t nr, size_t *nrows)
{
    struct row *rows = NULL;
    uint32_t *t;
    size_t i = 0, j = 0, gi = 0, gj = 0, w = nr + 1;

    *nrows = 0;
    if ((nl + 1) * (nr + 1) > MAX_CELLS) {
        push_gap(&rows, nrows, l, nl, r, nr);
        return rows;
    }
    /* t[i][j]: the longest common sequence of l[i..] and r[j..]. */
    t = xcalloc((nl + 1) * w, sizeof *t);
    for (size_t a = nl; a-- > 0;)
        for (size_t b = nr; b-- > 0;)
            t[a * w + b] = same_line(&l[a], &r[b]) ? t[(a + 1) * w + b + 1] + 1
                           : t[(a + 1) * w + b] >= t[a * w + b + 1] ? t[(a + 1) * w + b]
                                                                     : t[a * w + b + 1];
    while (i < nl && j < nr) {
        if (same_line(&l[i], &r[j])) {
            push_gap(&rows, nrows, &l[gi], i - gi, &r[gj], j - gj);
            push_row(&rows, nrows, &l[i], &r[j], ' ');
            gi = ++i;
            gj = ++j;
        } else if (t[(i + 1) * w + j] >= t[i * w + j + 1])
            i++;
        else
            j++;
    }
    push_gap(&rows, nrows, &l[gi], nl - gi, &r[gj], nr - gj);
    free(t);
    return rows;
}

/* Appends the next piece of *line that fits in cols, padded to cols. */
static void put_piece(struct buf *out, struct line *line, size_t cols)
{
    size_t used = 0;

    if (line->len) {
        size_t next, len = width_wrap_line(line->s, line->len, cols, &next);
        buf_append(out, line->s, len);
        used = width_str(line->s, len);
        line->s += next;
        line->len -= next;
    }
    for (; used < cols; used++)
        buf_putc(out, ' ');
}

static void put_row(struct buf *out, const struct row *row, size_t cols)
{
    struct line l = row->left ? *row->left : (struct line){"", 0};
    struct line r = row->right ? *row->right : (struct line){"", 0};
    bool first = true;

    do {
        put_piece(out, &l, cols);
        buf_printf(out, " %c ", first ? row->mark : ' ');
        put_piece(out, &r, cols);
        while (out->len && out->data[out->len - 1] == ' ')
            out->len--; /* no trailing blanks */
        buf_putc(out, '\n');
        first = false;
    } while (l.len || r.len);
}

static size_t column_width(size_t width)
{
    return width > 7 ? (width - 3) / 2 : 2;
}

void side_by_side_heading(struct buf *out, const char *left, const char *right, size_t width)
{
    struct buf lt = BUF_INIT, rt = BUF_INIT;
    struct line l, r;
    size_t cols = column_width(width);

    sanitize_append(&lt, left, true);
    sanitize_append(&rt, right, true);
    l = (struct line){buf_str(&lt), lt.len};
    r = (struct line){buf_str(&rt), rt.len};
    put_row(out, &(struct row){&l, &r, ' '}, cols);
    for (int side = 0; side < 2; side++) {
        for (size_t i = 0; i < cols; i++)
            buf_puts(out, "\xE2\x94\x80"); /* ─ */
        buf_puts(out, side ? "\n" : "   ");
    }
    buf_fini(&lt);
    buf_fini(&rt);
}

void side_by_side(struct buf *out, const char *left, const char *right, size_t width,
                  struct side_by_side_stats *stats)
{
    struct buf lt = BUF_INIT, rt = BUF_INIT;
    struct line *ll, *rl;
    struct row *rows;
    size_t nl, nr, nrows, cols = column_width(width);
    struct side_by_side_stats st = {0};

    sanitize_append(&lt, left, false);
    sanitize_append(&rt, right, false);
    ll = split_lines(buf_str(&lt), &nl);
    rl = split_lines(buf_str(&rt), &nr);
    rows = align(ll, nl, rl, nr, &nrows);
    for (size_t i = 0; i < nrows; i++) {
        put_row(out, &rows[i], cols);
        st.same += rows[i].mark == ' ';
        st.changed += rows[i].mark == '|';
        st.left_only += rows[i].mark == '<';
        st.right_only += rows[i].mark == '>';
    }
    if (stats)
        *stats = st;
    free(rows);
    free(ll);
    free(rl);
    buf_fini(&lt);
    buf_fini(&rt);
}
