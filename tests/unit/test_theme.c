/* Theme files (model/theme.h): the shipped themes load, dark.json and
 * mono.json match the built-in styles, and a bad file says which key of
 * which path is wrong. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/xalloc.h"
#include "model/theme.h"

static char *shipped(const char *name)
{
    const char *top = getenv("top_srcdir");
    return xasprintf("%s/themes/%s.json", top ? top : ".", name);
}

static void shipped_themes_load(void **state)
{
    const char *names[] = {"dark", "light", "mono", "high-contrast"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        struct theme t;
        char *error = NULL, *path = shipped(names[i]);
        if (!theme_load(&t, path, &error))
            fail_msg("%s", error);
        assert_string_equal(t.name, names[i]);
        theme_fini(&t);
        free(path);
    }
}

static void files_match_the_built_in_styles(void **state)
{
    struct theme file, built_in;
    char *error = NULL, *path = shipped("dark");

    assert_true(theme_load(&file, path, &error));
    theme_init_default(&built_in);
    for (int r = 0; r < ROLE_COUNT; r++) {
        assert_int_equal(file.styles[r].fg, built_in.styles[r].fg);
        assert_int_equal(file.styles[r].bg, built_in.styles[r].bg);
        assert_int_equal(file.styles[r].attrs, built_in.styles[r].attrs);
    }
    theme_fini(&file);
    theme_fini(&built_in);
    free(path);
    path = shipped("mono");
    assert_true(theme_load(&file, path, &error));
    theme_init_mono(&built_in);
    assert_memory_equal(file.styles, built_in.styles, sizeof file.styles);
    theme_fini(&file);
    theme_fini(&built_in);
    free(path);
}

/* Loads text as a theme file; returns the error (a new string) or NULL. */
static char *load_error(const char *text, char **path_out)
{
    char path[] = "/tmp/agentdeck-theme-XXXXXX";
    int fd = mkstemp(path);
    struct theme t;
    char *error = NULL;

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    if (theme_load(&t, path, &error))
        error = NULL;
    /* Good or bad, t is usable: the default theme on failure. */
    assert_non_null(t.name);
    theme_fini(&t);
    unlink(path);
    *path_out = xstrdup(path);
    return error;
}

static void bad_files_name_the_key(void **state)
{
    static const struct {
        const char *text, *says;
    } cases[] = {
        {"{\"styles\": {\"handoff\": {\"fg\": \"purplish\"}}}",
         ": styles.handoff.fg: \"purplish\" is not a colour (expected default, a name such as red or bright-blue, "
         "or 0 to 255)"},
        {"{\"styles\": {\"handof\": {}}}", ": styles.handof: unknown role"},
        {"{\"styles\": {\"error\": {\"attrs\": [\"blink\"]}}}", ": styles.error.attrs: \"blink\" is not an attribute"},
        {"{\"colours\": {}}", ": colours: unknown key (expected name, description, styles)"},
        {"{\"styles\": {\"text\": {\"bg\": 300}}}", ": styles.text.bg: 300 is not a colour"},
        {"{\n\"styles\": {,}}", ": not valid JSON (line 2)"},
        {"[]", ": a theme is a JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path;
        char *error = load_error(cases[i].text, &path);
        char *expected = xasprintf("%s%s", path, cases[i].says);
        assert_non_null(error);
        if (strncmp(error, expected, strlen(expected)) != 0)
            fail_msg("got \"%s\", expected it to start with \"%s\"", error, expected);
        free(expected);
        free(error);
        free(path);
    }
}

static void a_missing_file_says_so(void **state)
{
    struct theme t;
    char *error = NULL;
    assert_false(theme_load(&t, "/nonexistent/x.json", &error));
    assert_string_equal(error, "/nonexistent/x.json: cannot read the theme: No such file or directory");
    assert_string_equal(t.name, "dark");
    theme_fini(&t);
    free(error);
}

static void finds_themes_by_name(void **state)
{
    const char *top = getenv("top_srcdir");
    char *dir = xasprintf("%s/themes", top ? top : ".");
    const char *dirs[] = {"/nonexistent", dir, NULL};
    char *path = theme_find("light", dirs);
    struct vec names;

    setenv("XDG_CONFIG_HOME", "/nonexistent", 1);
    assert_non_null(path);
    assert_non_null(strstr(path, "/themes/light.json"));
    free(path);
    assert_null(theme_find("nosuch", dirs));
    path = theme_find("my/own.json", dirs);
    assert_string_equal(path, "my/own.json");
    free(path);
    vec_init(&names, free);
    theme_list(dirs, &names);
    assert_string_equal(names.items[0], "default");
    assert_true(names.len >= 5);
    vec_fini(&names);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shipped_themes_load),    cmocka_unit_test(files_match_the_built_in_styles),
        cmocka_unit_test(bad_files_name_the_key), cmocka_unit_test(a_missing_file_says_so),
        cmocka_unit_test(finds_themes_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
