/* Replay (issue 8): a recorded session played back at its own pace, for
 * live demos with no network and no key. The player hands the journal's
 * events, one at a time, to a callback, waiting between two events as long
 * as the session did (a gap longer than REPLAY_MAX_GAP_MS counts as that
 * long), divided by the speed. It can pause, step one event, and change
 * its speed while it plays. */
#ifndef AGENTDECK_ORCH_REPLAY_H
#define AGENTDECK_ORCH_REPLAY_H

#include <stdbool.h>
#include <stddef.h>

#include "core/loop.h"
#include "core/vec.h"
#include "model/event.h"

#define REPLAY_MAX_GAP_MS 2000
#define REPLAY_MIN_SPEED 0.125
#define REPLAY_MAX_SPEED 1000.0

struct replay;

/* Called for each event: ev as parsed, line as written in the journal. */
typedef void replay_event_fn(void *ud, const cJSON *ev, const char *line);

/* A player of lines (struct journal_line *, not owned: they must outlive
 * it) at speed; nothing plays before replay_start(). */
struct replay *replay_new(struct loop *loop, const struct vec *lines, double speed, replay_event_fn *fn, void *ud);
void replay_free(struct replay *r);
void replay_start(struct replay *r);
/* Pauses, or goes on from where it paused. */
void replay_toggle_pause(struct replay *r);
/* While paused: plays the next event at once. */
void replay_step(struct replay *r);
/* Doubles or halves the speed (between REPLAY_MIN_SPEED and REPLAY_MAX_SPEED). */
void replay_change_speed(struct replay *r, int direction);

double replay_speed(const struct replay *r);
bool replay_paused(const struct replay *r);
/* Events played so far, and in all. */
size_t replay_position(const struct replay *r);
size_t replay_length(const struct replay *r);
bool replay_finished(const struct replay *r);

/* Parses a --speed value: a number from REPLAY_MIN_SPEED to REPLAY_MAX_SPEED. */
bool replay_parse_speed(const char *text, double *speed);

#endif
