/* Token usage, as the APIs report it (estimated by the offline backend). */
#ifndef AGENTDECK_MODEL_USAGE_H
#define AGENTDECK_MODEL_USAGE_H

#include <cJSON.h>
#include <stdint.h>

struct usage {
    int64_t prompt_tokens;
    int64_t completion_tokens;
    int64_t total_tokens;
};

void usage_add(struct usage *sum, const struct usage *u);
/* {"prompt_tokens", "completion_tokens", "total_tokens"}; the caller frees it. */
cJSON *usage_to_json(const struct usage *u);

#endif
