#include "config.h"

#include "orch/replay.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "core/clock.h"
#include "core/xalloc.h"
#include "model/journal.h"

struct replay {
    struct loop *loop;
    const struct vec *lines;
    double speed;
    replay_event_fn *fn;
    void *ud;
    size_t next; /* the next line to play */
    bool paused;
    uint64_t timer; /* plays the next line */
};

struct replay *replay_new(struct loop *loop, const struct vec *lines, double speed, replay_event_fn *fn, void *ud)
{
    struct replay *r = xcalloc(1, sizeof *r);
    r->loop = loop;
    r->lines = lines;
    r->speed = speed;
    r->fn = fn;
    r->ud = ud;
    return r;
}

void replay_free(struct replay *r)
{
    if (!r)
        return;
    if (r->timer)
        loop_timer_cancel(r->loop, r->timer);
    free(r);
}

static int64_t wall_ms_of(const struct journal_line *l)
{
    int64_t ms = 0;
    clock_parse_rfc3339(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(l->event, "ts")), &ms);
    return ms;
}

/* How long to wait before line i, at the current speed. */
static int64_t gap_ms(const struct replay *r, size_t i)
{
    int64_t gap;

    if (i == 0)
        return 0;
    gap = wall_ms_of(r->lines->items[i]) - wall_ms_of(r->lines->items[i - 1]);
    if (gap < 0)
        gap = 0;
    if (gap > REPLAY_MAX_GAP_MS)
        gap = REPLAY_MAX_GAP_MS; /* an idle pause in the session is not worth watching */
    return (int64_t)((double)gap / r->speed + 0.5);
}

static void play_next(struct loop *loop, void *ud);

static void schedule(struct replay *r)
{
    if (r->timer || r->paused || r->next >= r->lines->len)
        return;
    r->timer = loop_timer_add(r->loop, gap_ms(r, r->next), play_next, r);
}

/* Plays one line; the callback may pause the player. */
static void play_one(struct replay *r)
{
    const struct journal_line *l = r->lines->items[r->next++];
    r->fn(r->ud, l->event, l->text);
}

static void play_next(struct loop *loop, void *ud)
{
    struct replay *r = ud;
    r->timer = 0;
    play_one(r);
    schedule(r);
}

void replay_start(struct replay *r)
{
    schedule(r);
}

void replay_toggle_pause(struct replay *r)
{
    r->paused = !r->paused;
    if (r->paused && r->timer) {
        loop_timer_cancel(r->loop, r->timer);
        r->timer = 0;
    }
    schedule(r);
}

void replay_step(struct replay *r)
{
    if (!r->paused || r->next >= r->lines->len)
        return;
    play_one(r);
}

void replay_change_speed(struct replay *r, int direction)
{
    double speed = direction > 0 ? r->speed * 2 : r->speed / 2;
    if (speed < REPLAY_MIN_SPEED)
        speed = REPLAY_MIN_SPEED;
    if (speed > REPLAY_MAX_SPEED)
        speed = REPLAY_MAX_SPEED;
    r->speed = speed;
    /* The wait under way is measured again at the new speed. */
    if (r->timer) {
        loop_timer_cancel(r->loop, r->timer);
        r->timer = 0;
        schedule(r);
    }
}

double replay_speed(const struct replay *r)
{
    return r->speed;
}

bool replay_paused(const struct replay *r)
{
    return r->paused;
}

size_t replay_position(const struct replay *r)
{
    return r->next;
}

size_t replay_length(const struct replay *r)
{
    return r->lines->len;
}

bool replay_finished(const struct replay *r)
{
    return r->next >= r->lines->len;
}

bool replay_parse_speed(const char *text, double *speed)
{
    char *end;

    errno = 0;
    *speed = strtod(text, &end);
    return !errno && end != text && !*end && isfinite(*speed) && *speed >= REPLAY_MIN_SPEED &&
           *speed <= REPLAY_MAX_SPEED;
}
