/* The configuration file (model/settings.h) and the key map
 * (model/keymap.h): every setting is read, a bad one is refused with a
 * message naming its key, and key bindings move keys between actions. */
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
#include "model/settings.h"

static void every_setting_is_read(void **state)
{
    struct settings s;
    char *error = NULL;
    const char *text =
        "{\"backend\": \"mistral\",\n"
        " \"base_urls\": {\"mistral\": \"http://127.0.0.1:8080\", \"chat\": \"http://localhost:11434\"},\n"
        " \"theme\": \"light\", \"offline_rate\": 12.5,\n"
        " \"keys\": {\"help\": \"f5\", \"zoom\": \"Ctrl-G\", \"redraw\": \"none\", \"cancel\": \"Alt-x\"},\n"
        " \"retry\": {\"retries\": 2, \"stall_timeout\": 30}}";

    settings_init(&s);
    if (!settings_parse(&s, text, "config.json", &error))
        fail_msg("%s", error);
    assert_string_equal(s.backend, "mistral");
    assert_string_equal(settings_base_url(&s, "mistral"), "http://127.0.0.1:8080");
    assert_string_equal(settings_base_url(&s, "chat"), "http://localhost:11434");
    assert_null(settings_base_url(&s, "offline"));
    assert_string_equal(s.theme, "light");
    assert_true(s.offline_rate == 12.5);
    assert_int_equal(s.retries, 2);
    assert_int_equal(s.stall_timeout_s, 30);
    /* Names are matched ignoring case and come back as spelled in the table. */
    assert_string_equal(s.keys.keys[ACTION_HELP], "F5");
    assert_string_equal(s.keys.keys[ACTION_ZOOM], "Ctrl-G");
    assert_null(s.keys.keys[ACTION_REDRAW]);
    assert_string_equal(s.keys.keys[ACTION_CANCEL], "Alt-x");
    assert_int_equal(keymap_action_of(&s.keys, "F5"), ACTION_HELP);
    assert_int_equal(keymap_action_of(&s.keys, "F1"), -1);
    assert_int_equal(keymap_action_of(&s.keys, "F2"), ACTION_FOLDS);
    settings_fini(&s);
}

static void nothing_set_keeps_the_defaults(void **state)
{
    struct settings s;
    char *error = NULL;

    settings_init(&s);
    assert_true(settings_parse(&s, "{}", "config.json", &error));
    assert_null(s.backend);
    assert_null(s.theme);
    assert_true(s.offline_rate < 0);
    assert_true(s.retries < 0);
    assert_int_equal(s.stall_timeout_s, 0);
    assert_string_equal(s.keys.keys[ACTION_HELP], "F1");
    assert_string_equal(s.keys.keys[ACTION_FOCUS_NEXT], "Tab");
    assert_string_equal(s.keys.keys[ACTION_CANCEL], "Ctrl-C");
    settings_fini(&s);
}

/* Two bindings may swap keys: only the end result must have one action a key. */
static void keys_can_swap(void **state)
{
    struct settings s;
    char *error = NULL;

    settings_init(&s);
    if (!settings_parse(&s, "{\"keys\": {\"help\": \"F2\", \"toggle-folds\": \"F1\"}}", "c", &error))
        fail_msg("%s", error);
    assert_int_equal(keymap_action_of(&s.keys, "F2"), ACTION_HELP);
    assert_int_equal(keymap_action_of(&s.keys, "F1"), ACTION_FOLDS);
    settings_fini(&s);
}

static void bad_settings_name_their_key(void **state)
{
    static const struct {
        const char *text, *says;
    } cases[] = {
        {"{\"offline_rate\": -1}", "config.json: \"offline_rate\": must be a number >= 0"},
        {"{\"offline_rate\": \"fast\"}", "config.json: \"offline_rate\": must be a number >= 0"},
        {"{\"backend\": \"openai\"}", "config.json: \"backend\": must be one of offline, mistral, chat"},
        {"{\"theme\": 3}", "config.json: \"theme\": must be a non-empty string"},
        {"{\"colour\": \"red\"}", "config.json: \"colour\": unknown setting (expected one of backend, base_urls"},
        {"{\"base_urls\": []}", "config.json: \"base_urls\": must be an object"},
        {"{\"base_urls\": {\"offline\": \"http://x\"}}", "config.json: \"base_urls.offline\": unknown backend"},
        {"{\"base_urls\": {\"mistral\": \"ftp://x\"}}",
         "config.json: \"base_urls.mistral\": must be an http:// or https:// URL"},
        {"{\"retry\": {\"retries\": 101}}", "config.json: \"retry.retries\": must be a whole number from 0 to 100"},
        {"{\"retry\": {\"stall_timeout\": 0}}",
         "config.json: \"retry.stall_timeout\": must be a whole number from 1 to 3600"},
        {"{\"retry\": {\"backoff\": 1}}", "config.json: \"retry.backoff\": unknown setting (expected retries or"},
        {"{\"keys\": {\"jump\": \"F5\"}}", "config.json: \"keys.jump\": unknown action (expected one of help,"},
        {"{\"keys\": {\"help\": \"F13\"}}", "config.json: \"keys.help\": \"F13\" is not a key name (expected F1 to"},
        {"{\"keys\": {\"help\": 5}}", "config.json: \"keys.help\": must be a key name"},
        {"{\"keys\": {\"help\": \"F2\"}}",
         "config.json: \"keys.help\": F2 is also the key of toggle-folds (give toggle-folds another key, or \"none\")"},
        {"{\"theme\": \"a\", \"theme\": \"b\"}", "config.json: \"theme\": given twice"},
        {"{\n\"theme\": \"a\",\n}", "config.json: not valid JSON (line 3)"},
        {"[1]", "config.json: the configuration must be a JSON object"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct settings s;
        char *error = NULL;
        settings_init(&s);
        if (settings_parse(&s, cases[i].text, "config.json", &error))
            fail_msg("%s was accepted", cases[i].text);
        if (strncmp(error, cases[i].says, strlen(cases[i].says)) != 0)
            fail_msg("%s: got \"%s\", expected it to start with \"%s\"", cases[i].text, error, cases[i].says);
        free(error);
        settings_fini(&s);
    }
}

static void files_missing_or_not(void **state)
{
    struct settings s;
    char *error = NULL;
    char dir[] = "/tmp/agentdeck-settings-XXXXXX";
    char *path;
    FILE *fp;

    assert_non_null(mkdtemp(dir));
    path = xasprintf("%s/config.json", dir);
    settings_init(&s);
    /* The default file may be missing; a file the user named may not. */
    assert_true(settings_load(&s, path, false, &error));
    assert_null(s.path);
    assert_false(settings_load(&s, path, true, &error));
    assert_non_null(strstr(error, "config.json: cannot read: No such file or directory"));
    free(error);
    error = NULL;
    fp = fopen(path, "w");
    fputs("{\"theme\": \"mono\"}\n", fp);
    fclose(fp);
    assert_true(settings_load(&s, path, false, &error));
    assert_string_equal(s.path, path);
    assert_string_equal(s.theme, "mono");
    settings_fini(&s);
    unlink(path);
    rmdir(dir);
    free(path);

    setenv("XDG_CONFIG_HOME", "/xdg", 1);
    path = settings_default_path();
    assert_string_equal(path, "/xdg/agentdeck/config.json");
    free(path);
    setenv("XDG_CONFIG_HOME", "relative", 1);
    setenv("HOME", "/home/u", 1);
    path = settings_default_path();
    assert_string_equal(path, "/home/u/.config/agentdeck/config.json");
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_setting_is_read), cmocka_unit_test(nothing_set_keeps_the_defaults),
        cmocka_unit_test(keys_can_swap),         cmocka_unit_test(bad_settings_name_their_key),
        cmocka_unit_test(files_missing_or_not),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
