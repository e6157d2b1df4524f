/* The text layer: UTF-8 decoding and repair, sanitizing for the terminal. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "text/sanitize.h"
#include "text/utf8.h"

static void decodes_every_length(void **state)
{
    uint32_t cp;
    assert_int_equal(utf8_decode("A", 1, &cp), 1);
    assert_int_equal(cp, 'A');
    assert_int_equal(utf8_decode("\xC3\xA9", 2, &cp), 2); /* é */
    assert_int_equal(cp, 0xE9);
    assert_int_equal(utf8_decode("\xE4\xB8\x96", 3, &cp), 3); /* 世 */
    assert_int_equal(cp, 0x4E16);
    assert_int_equal(utf8_decode("\xF0\x9F\x91\x8B", 4, &cp), 4); /* 👋 */
    assert_int_equal(cp, 0x1F44B);
}

static void rejects_what_is_not_utf8(void **state)
{
    uint32_t cp;
    assert_int_equal(utf8_decode("\xFF", 1, &cp), 0);
    assert_int_equal(cp, 0xFFFD);
    assert_int_equal(utf8_decode("\x80", 1, &cp), 0);             /* a lone continuation byte */
    assert_int_equal(utf8_decode("\xC0\xAF", 2, &cp), 0);         /* overlong "/" */
    assert_int_equal(utf8_decode("\xED\xA0\x80", 3, &cp), 0);     /* a surrogate */
    assert_int_equal(utf8_decode("\xF4\x90\x80\x80", 4, &cp), 0); /* past U+10FFFF */
    assert_int_equal(utf8_decode("\xE4\xB8", 2, &cp), 0);         /* truncated */
    assert_int_equal(utf8_decode("\xC3"
                                 "A",
                                 2, &cp),
                     0); /* a missing continuation */
    assert_true(utf8_valid("Grüße, 世界 👋", strlen("Grüße, 世界 👋")));
    assert_false(utf8_valid("caf\xE9", 4));
}

static void repair_replaces_each_bad_byte(void **state)
{
    char *s = utf8_repair("ab\xFF"
                          "cd\xE4\xB8",
                          7);
    assert_string_equal(s, "ab\xEF\xBF\xBD"
                           "cd\xEF\xBF\xBD\xEF\xBF\xBD");
    free(s);
    s = utf8_repair("caf\xC3\xA9", 5);
    assert_string_equal(s, "caf\xC3\xA9");
    free(s);
    s = utf8_repair("", 0);
    assert_string_equal(s, "");
    free(s);
}

static char *sanitized(const char *text, bool one_line)
{
    struct buf out = BUF_INIT;
    sanitize_append(&out, text, one_line);
    return buf_steal(&out);
}

/* Checks that text comes out as want. */
static void expect_sanitized(const char *text, bool one_line, const char *want)
{
    char *got = sanitized(text, one_line);
    assert_string_equal(got, want);
    free(got);
}

static void sanitize_shows_controls_as_text(void **state)
{
    /* Clear screen, an OSC 52 clipboard write, BEL, CR, backspace, DEL. */
    expect_sanitized("a\x1b[2Jb", false, "a^[[2Jb");
    expect_sanitized("\x1b]52;c;aGk=\x07", false, "^[]52;c;aGk=^G");
    expect_sanitized("over\rwrite\b!\x7f", false, "over^Mwrite^H!^?");
    /* C1 controls (an 8-bit CSI) and bidi overrides. */
    expect_sanitized("x\xc2\x9b"
                     "2Jy",
                     false, "x<U+009B>2Jy");
    expect_sanitized("abc\xe2\x80\xae"
                     "def\xe2\x81\xa6",
                     false, "abc<U+202E>def<U+2066>");
    /* Invalid UTF-8, tabs and newlines. */
    expect_sanitized("caf\xe9", false, "caf\xef\xbf\xbd");
    expect_sanitized("a\tb\nc", false, "a b\nc");
    expect_sanitized("a\tb\nc", true, "a b c");
    /* What is safe stays as it is, wide and combining characters too. */
    expect_sanitized("Grüße, 世界 👋 e\xcc\x81", false, "Grüße, 世界 👋 e\xcc\x81");
    expect_sanitized("", false, "");
}

static void sanitize_output_is_stable(void **state)
{
    /* Sanitizing twice changes nothing more: the output holds no control. */
    const char *inputs[] = {"\x1b[31mred\x1b[0m", "\xc2\x85next", "\xe2\x80\x8fx", "\x01\x02"};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        char *once = sanitized(inputs[i], false);
        char *twice = sanitized(once, false);
        assert_string_equal(once, twice);
        for (const unsigned char *p = (const unsigned char *)once; *p; p++)
            assert_true(*p >= 0x20 && *p != 0x7f);
        free(once);
        free(twice);
    }
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decodes_every_length),
        cmocka_unit_test(rejects_what_is_not_utf8),
        cmocka_unit_test(repair_replaces_each_bad_byte),
        cmocka_unit_test(sanitize_shows_controls_as_text),
        cmocka_unit_test(sanitize_output_is_stable),
    };
    /* clang-format on */
    return cmocka_run_group_tests_name("text", tests, NULL, NULL);
}
