/* The Mistral backend's pure parts: error bodies into sentences, Retry-After. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/api.h"
#include "backend/mistral.h"
#include "net/http.h"

static void expect_message(long status, const char *body, const char *want)
{
    char *got = api_error_message(status, body);
    assert_string_equal(got, want);
    free(got);
}

static void error_bodies_of_every_shape(void **state)
{
    /* The documented glossary shape. */
    expect_message(400,
                   "{\"object\":\"error\",\"message\":\"Invalid model: x\",\"type\":\"invalid_request_error\","
                   "\"param\":\"model\",\"code\":\"unknown_model\"}",
                   "HTTP 400: Invalid model: x");
    /* The spec's 422 shape names the field. */
    expect_message(422,
                   "{\"detail\":[{\"type\":\"extra_forbidden\",\"loc\":[\"body\",\"inputs\",0,\"colour\"],"
                   "\"msg\":\"Extra inputs are not permitted\",\"input\":1}]}",
                   "the request was rejected as invalid (422): inputs[0].colour: Extra inputs are not permitted");
    /* The observed 422 where message is an object. */
    expect_message(422,
                   "{\"object\":\"error\",\"message\":{\"detail\":[{\"type\":\"extra_forbidden\",\"loc\":[\"body\","
                   "\"max_completion_tokens\"],\"msg\":\"Extra inputs are not permitted\",\"input\":32000}]},"
                   "\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}",
                   "the request was rejected as invalid (422): max_completion_tokens: Extra inputs are not permitted");
    /* 401 in both observed shapes. */
    expect_message(401, "{\"message\":\"Unauthorized\",\"request_id\":\"r1\"}",
                   "the API key was refused (401: Unauthorized)");
    expect_message(401, "{\"detail\":\"Unauthorized\"}", "the API key was refused (401: Unauthorized)");
    /* 429, and a body that is not JSON at all. */
    expect_message(429, "{\"message\":\"Requests rate limit exceeded\"}", "HTTP 429: Requests rate limit exceeded");
    expect_message(502, "<html>Bad gateway</html>", "HTTP 502: <html>Bad gateway</html>");
    expect_message(503, "", "HTTP 503: no detail");
    expect_message(503, NULL, "HTTP 503: no detail");
}

static void retry_after_in_seconds_or_a_date(void **state)
{
    char date[64];
    time_t later = time(NULL) + 30;
    struct tm tm;
    long ms;

    assert_int_equal(http_retry_after_ms("2"), 2000);
    assert_int_equal(http_retry_after_ms("0"), 0);
    assert_int_equal(http_retry_after_ms("soon"), -1);
    assert_int_equal(http_retry_after_ms(""), -1);
    assert_int_equal(http_retry_after_ms(NULL), -1);
    assert_int_equal(http_retry_after_ms("-5"), -1);
    gmtime_r(&later, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    ms = http_retry_after_ms(date);
    assert_true(ms > 25000 && ms <= 30000);
    assert_int_equal(http_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT"), 0); /* past: at once */
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(error_bodies_of_every_shape),
        cmocka_unit_test(retry_after_in_seconds_or_a_date),
    };
    /* clang-format on */
    return cmocka_run_group_tests_name("mistral", tests, NULL, NULL);
}
