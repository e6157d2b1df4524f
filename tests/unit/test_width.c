/* Display width, clipping and wrapping (text/width.h): wide characters
 * and combining sequences are never split. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/vec.h"
#include "core/xalloc.h"
#include "text/sidebyside.h"
#include "text/width.h"

#define CJK "\xE4\xB8\x96\xE7\x95\x8C" /* 世界: two wide characters */
#define EMOJI "\xF0\x9F\x98\x80"       /* 😀, wide */
#define E_ACUTE "e\xCC\x81"            /* e and a combining acute accent */

static size_t w(const char *s)
{
    return width_str(s, strlen(s));
}

static void measures_columns(void **state)
{
    assert_int_equal(w(""), 0);
    assert_int_equal(w("abc"), 3);
    assert_int_equal(w(CJK), 4);
    assert_int_equal(w(EMOJI), 2);
    assert_int_equal(w(E_ACUTE), 1);
    assert_int_equal(w("\xEF\xBF\xBD"), 1); /* U+FFFD */
    assert_int_equal(width_cp(0x0301), 0);
    assert_int_equal(width_cp(0x4E16), 2);
}

static void clips_without_splitting(void **state)
{
    size_t used;
    /* "a世界": three columns hold "a世", two only "a". */
    const char *s = "a" CJK;
    assert_int_equal(width_clip(s, strlen(s), 3, &used), 4);
    assert_int_equal(used, 3);
    assert_int_equal(width_clip(s, strlen(s), 2, &used), 1);
    assert_int_equal(used, 1);
    /* A combining mark stays with its letter. */
    s = "x" E_ACUTE "y";
    assert_int_equal(width_clip(s, strlen(s), 2, &used), 4);
    assert_int_equal(used, 2);
    /* A newline ends the clip. */
    assert_int_equal(width_clip("ab\ncd", 5, 10, &used), 2);
    assert_int_equal(width_clip(EMOJI, 4, 1, &used), 0);
}

/* All the lines of s at cols, as new strings. */
static void wrap_all(const char *s, size_t cols, struct vec *lines)
{
    size_t pos = 0, len = strlen(s);
    do {
        size_t next, n = width_wrap_line(s + pos, len - pos, cols, &next);
        vec_push(lines, xstrndup(s + pos, n));
        pos += next;
    } while (pos < len);
}

static void wraps_at_blanks(void **state)
{
    struct vec lines;
    vec_init(&lines, free);
    wrap_all("the quick brown fox", 10, &lines);
    assert_int_equal(lines.len, 2);
    assert_string_equal(lines.items[0], "the quick");
    assert_string_equal(lines.items[1], "brown fox");
    vec_truncate(&lines, 0);
    wrap_all("one\n\ntwo", 10, &lines);
    assert_int_equal(lines.len, 3);
    assert_string_equal(lines.items[1], "");
    vec_truncate(&lines, 0);
    wrap_all("abcdefghij", 4, &lines); /* a long word is cut */
    assert_int_equal(lines.len, 3);
    assert_string_equal(lines.items[2], "ij");
    assert_int_equal(width_wrap_count("abcdefghij", 10, 4, 4), 3);
    assert_int_equal(width_wrap_count("", 0, 4, 4), 1);
    vec_fini(&lines);
}

static void wraps_wide_and_combining_whole(void **state)
{
    struct vec lines;
    vec_init(&lines, free);
    /* 世界世界 in 3 columns: one wide character a line, never half. */
    wrap_all(CJK CJK, 3, &lines);
    assert_int_equal(lines.len, 4);
    for (size_t i = 0; i < lines.len; i++)
        assert_int_equal(w(lines.items[i]), 2);
    vec_truncate(&lines, 0);
    wrap_all("ab" E_ACUTE E_ACUTE, 3, &lines);
    assert_int_equal(lines.len, 2);
    assert_string_equal(lines.items[0], "ab" E_ACUTE);
    assert_string_equal(lines.items[1], E_ACUTE);
    vec_truncate(&lines, 0);
    /* Even one column takes a wide character rather than loop forever. */
    wrap_all(EMOJI EMOJI, 1, &lines);
    assert_int_equal(lines.len, 2);
    vec_fini(&lines);
}

static void makes_text_drawable(void **state)
{
    struct buf out = BUF_INIT;
    width_append_drawable(&out, "ok\xCC\x81\n\xCC\x81x\xF3\xA0\x80\x80\xFF");
    /* The second accent gets a blank; U+E0000 (unassigned) and the bad byte become U+FFFD. */
    assert_string_equal(buf_str(&out), "ok\xCC\x81\n \xCC\x81x\xEF\xBF\xBD\xEF\xBF\xBD");
    buf_fini(&out);
}

/* Every line of text is exactly cols columns up to its trailing blanks. */
static void assert_lines_fit(const char *text, size_t width)
{
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        assert_true(width_str(p, (size_t)(nl - p)) <= width);
        p = nl + 1;
    }
}

static void side_by_side_aligns_shared_lines(void **state)
{
    struct buf out = BUF_INIT;
    struct side_by_side_stats st;

    side_by_side(&out, "one\ntwo\nthree\n", "zero\none\nTWO\nthree", 23, &st);
    assert_string_equal(buf_str(&out), "           > zero\n"
                                       "one          one\n"
                                       "two        | TWO\n"
                                       "three        three\n");
    assert_int_equal(st.same, 2);
    assert_int_equal(st.changed, 1);
    assert_int_equal(st.left_only, 0);
    assert_int_equal(st.right_only, 1);
    buf_fini(&out);
}

static void side_by_side_wraps_wide_text_in_its_column(void **state)
{
    struct buf out = BUF_INIT;

    /* Ten columns a side: five wide characters a line, never split. */
    side_by_side(&out, CJK CJK CJK CJK CJK CJK, "left \x1b[31m escape", 23, NULL);
    assert_lines_fit(buf_str(&out), 23);
    assert_non_null(strstr(buf_str(&out), CJK CJK "\xE4\xB8\x96 | left\n"));
    assert_non_null(strstr(buf_str(&out), "^[[31m"));
    assert_null(strchr(buf_str(&out), '\x1b'));
    buf_fini(&out);
    side_by_side(&out, "", "", 3, NULL);
    assert_string_equal(buf_str(&out), "\n");
    buf_fini(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(measures_columns),    cmocka_unit_test(clips_without_splitting),
        cmocka_unit_test(wraps_at_blanks),     cmocka_unit_test(wraps_wide_and_combining_whole),
        cmocka_unit_test(makes_text_drawable), cmocka_unit_test(side_by_side_aligns_shared_lines),
        cmocka_unit_test(side_by_side_wraps_wide_text_in_its_column),
    };
    if (!setlocale(LC_CTYPE, "C.UTF-8"))
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
