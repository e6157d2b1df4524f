/* Profiles: JSON files that define a team. Loading validates everything; each
 * error names the file, the path to the bad field and what was expected:
 *   profiles/x.json: agents[2].handoffs[0]: no agent named "biling" */
#ifndef AGENTDECK_MODEL_PROFILE_H
#define AGENTDECK_MODEL_PROFILE_H

#include <cJSON.h>
#include <stdbool.h>

#include "model/team.h"

/* Loads and validates the profile at path. Returns a new team (the caller
 * frees it with team_free), or NULL with *error set to a new one-line
 * message (the caller frees it). */
struct team *profile_load(const char *path, char **error);

/* The same for a profile held in memory; path names it in messages and
 * relative function commands resolve against its folder. */
struct team *profile_parse(const char *text, const char *path, char **error);

/* Checks one Mistral tool object (agent "tools" item) against the API's
 * shape and, for function tools, against team's functions; fills a function
 * tool's missing description and parameters from the function definition.
 * where names the field in messages ("agents[0].tools[1]"). Returns false
 * with *error set to a new message "WHERE: what is wrong". */
bool profile_check_tool(cJSON *tool, const struct team *team, const char *where, char **error);

/* Checks a Mistral CompletionArgs object (ranges and known keys only). */
bool profile_check_completion_args(const cJSON *args, const char *where, char **error);

#endif
