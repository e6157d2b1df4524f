/* Shared test helpers: a session on a profile held in memory, with every
 * event captured for assertions. */
#ifndef AGENTDECK_TESTS_HELPERS_H
#define AGENTDECK_TESTS_HELPERS_H

#include <cJSON.h>

#include "core/vec.h"
#include "orch/session.h"

struct harness {
    struct loop *loop;
    struct session *session;
    struct vec events; /* cJSON * copies of every event */
};

/* Builds a session on profile_json (NULL: an empty team) with the offline
 * backend at rate words a second. Fails the test when the profile is bad. */
void harness_init(struct harness *h, const char *profile_json, double rate);
void harness_fini(struct harness *h);
/* Runs the loop until no run is in flight. */
void harness_wait(struct harness *h);
/* Runs a command line and waits for its runs. */
int harness_exec(struct harness *h, const char *line);
size_t harness_count(const struct harness *h, const char *type);
/* The nth (0-based) event of type, or NULL. */
const cJSON *harness_event(const struct harness *h, const char *type, size_t nth);
const char *harness_str(const cJSON *ev, const char *key);
/* The types of all events joined by spaces; the caller frees it. */
char *harness_types(const struct harness *h);

#endif
