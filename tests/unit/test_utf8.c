/* UTF-8 decoding and repair. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decodes_every_length),
        cmocka_unit_test(rejects_what_is_not_utf8),
        cmocka_unit_test(repair_replaces_each_bad_byte),
    };
    /* clang-format on */
    return cmocka_run_group_tests_name("utf8", tests, NULL, NULL);
}
