/* The command-line splitter: quoting, escapes and its errors. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/parse.h"

/* Splits line and checks the words against the NULL-terminated list. */
static void expect_words(const char *line, const char *const *want)
{
    struct vec words;
    char *error = NULL;
    size_t n = 0;

    vec_init(&words, free);
    assert_int_equal(cmd_split(line, &words, &error), 0);
    assert_null(error);
    while (want[n])
        n++;
    assert_int_equal(words.len, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(words.items[i], want[i]);
    vec_fini(&words);
}

static void expect_error(const char *line, const char *message)
{
    struct vec words;
    char *error = NULL;

    vec_init(&words, free);
    vec_push(&words, strdup("kept"));
    assert_int_equal(cmd_split(line, &words, &error), -1);
    assert_string_equal(error, message);
    /* A failed split leaves what was there. */
    assert_int_equal(words.len, 1);
    free(error);
    vec_fini(&words);
}

static void plain_words(void **state)
{
    expect_words("/start cs  hello   world", (const char *[]){"/start", "cs", "hello", "world", NULL});
    expect_words("   ", (const char *[]){NULL});
    expect_words("\t/help\n", (const char *[]){"/help", NULL});
}

static void double_quotes(void **state)
{
    expect_words("/agent create x --instructions \"Be brief.  Really.\"",
                 (const char *[]){"/agent", "create", "x", "--instructions", "Be brief.  Really.", NULL});
    expect_words("\"a \\\"quoted\\\" \\\\ word\"", (const char *[]){"a \"quoted\" \\ word", NULL});
    expect_words("\"line\\none\\ttab\"", (const char *[]){"line\none\ttab", NULL});
    expect_words("\"\"", (const char *[]){"", NULL});
}

static void single_quotes(void **state)
{
    expect_words("'no \\n escapes \"here\"'", (const char *[]){"no \\n escapes \"here\"", NULL});
    expect_words("it'\"s'", (const char *[]){"it\"s", NULL});
}

static void backslash_outside_quotes(void **state)
{
    expect_words("a\\ b c\\\"d", (const char *[]){"a b", "c\"d", NULL});
}

static void mixed_quotes_join_one_word(void **state)
{
    expect_words("--x=\"a b\"'c d'e", (const char *[]){"--x=a bc de", NULL});
}

static void utf8_passes_through(void **state)
{
    expect_words("/start cs \"Grüße, 世界 👋\"", (const char *[]){"/start", "cs", "Grüße, 世界 👋", NULL});
}

static void errors(void **state)
{
    expect_error("/start cs \"unclosed", "unterminated \" quote at column 11");
    expect_error("say 'unclosed", "unterminated ' quote at column 5");
    expect_error("trailing \\", "a backslash at the end of the line escapes nothing");
}

static void join(void **state)
{
    struct vec words;
    char *error = NULL, *joined;

    vec_init(&words, free);
    assert_int_equal(cmd_split("/start cs why   was I \"charged  twice\"?", &words, &error), 0);
    joined = cmd_join(&words, 2);
    assert_string_equal(joined, "why was I charged  twice?");
    free(joined);
    joined = cmd_join(&words, 10);
    assert_string_equal(joined, "");
    free(joined);
    vec_fini(&words);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_words),
        cmocka_unit_test(double_quotes),
        cmocka_unit_test(single_quotes),
        cmocka_unit_test(backslash_outside_quotes),
        cmocka_unit_test(mixed_quotes_join_one_word),
        cmocka_unit_test(utf8_passes_through),
        cmocka_unit_test(errors),
        cmocka_unit_test(join),
    };
    /* clang-format on */
    return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
