/* Time: a monotonic clock for intervals, wall-clock stamps for events. */
#ifndef AGENTDECK_CORE_CLOCK_H
#define AGENTDECK_CORE_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Milliseconds on the monotonic clock. */
int64_t clock_now_ms(void);
/* Milliseconds since the epoch on the wall clock. */
int64_t clock_wall_ms(void);
/* Writes wall_ms as RFC 3339 UTC with milliseconds ("2026-11-22T19:07:01.123Z"). */
void clock_format_rfc3339(int64_t wall_ms, char *out, size_t size);
/* Reads such a stamp back (UTC, with or without milliseconds) into
 * *wall_ms; returns false when text is not one. */
bool clock_parse_rfc3339(const char *text, int64_t *wall_ms);

#endif
