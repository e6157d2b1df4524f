#include "config.h"

#include "core/clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void clock_format_rfc3339(int64_t wall_ms, char *out, size_t size)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    char date[32];

    gmtime_r(&secs, &tm);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, size, "%s.%03dZ", date, (int)(wall_ms % 1000));
}

bool clock_parse_rfc3339(const char *text, int64_t *wall_ms)
{
    struct tm tm;
    int ms = 0, n = 0;
    const char *rest;

    memset(&tm, 0, sizeof tm);
    if (!text || !(rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm)))
        return false;
    if (*rest == '.' && sscanf(rest, ".%3d%n", &ms, &n) == 1 && n == 4)
        rest += n;
    if (strcmp(rest, "Z") != 0)
        return false;
    *wall_ms = (int64_t)timegm(&tm) * 1000 + ms;
    return true;
}
