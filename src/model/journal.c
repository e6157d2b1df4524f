#include "config.h"

#include "model/journal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/xalloc.h"

struct journal {
    FILE *fp;
    char *path;
    bool failed; /* a write failed once: say so once, keep going */
};

char *journal_new_session_id(void)
{
    time_t now = time(NULL);
    struct tm tm;
    char stamp[32];

    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    return xasprintf("%s-%ld", stamp, (long)getpid());
}

char *journal_state_dir(void)
{
    const char *state = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");

    if (state && state[0] == '/')
        return xasprintf("%s/agentdeck", state);
    return xasprintf("%s/.local/state/agentdeck", home && *home ? home : ".");
}

int mkdir_parents(const char *dir)
{
    char *path = xstrdup(dir);
    int rc = 0;

    for (char *p = path + 1; rc == 0; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
            rc = -1;
        *p = saved;
        if (saved == '\0')
            break;
    }
    free(path);
    return rc;
}

struct journal *journal_open(const char *session_id, char **error)
{
    char *state = journal_state_dir();
    char *dir = xasprintf("%s/sessions/%s", state, session_id);
    struct journal *j = NULL;
    FILE *fp;

    free(state);
    if (mkdir_parents(dir) < 0) {
        *error = xasprintf("%s: cannot create the session folder: %s", dir, strerror(errno));
        free(dir);
        return NULL;
    }
    j = xcalloc(1, sizeof *j);
    j->path = xasprintf("%s/events.jsonl", dir);
    free(dir);
    fp = fopen(j->path, "ae"); /* "e": no function child inherits it */
    if (!fp) {
        *error = xasprintf("%s: cannot open the journal: %s", j->path, strerror(errno));
        free(j->path);
        free(j);
        return NULL;
    }
    j->fp = fp;
    return j;
}

const char *journal_path(const struct journal *j)
{
    return j->path;
}

static void journal_write(void *ud, const cJSON *ev, const char *line)
{
    struct journal *j = ud;

    if (fputs(line, j->fp) == EOF || fputc('\n', j->fp) == EOF || fflush(j->fp) == EOF) {
        if (!j->failed)
            fprintf(stderr, "agentdeck: %s: cannot write the journal: %s\n", j->path, strerror(errno));
        j->failed = true;
    }
}

static void journal_free_ud(void *ud)
{
    journal_close(ud);
}

struct event_sink journal_sink(struct journal *j)
{
    return (struct event_sink){journal_write, journal_free_ud, j};
}

void journal_close(struct journal *j)
{
    if (!j)
        return;
    fclose(j->fp);
    free(j->path);
    free(j);
}

char *journal_session_path(const char *session_id)
{
    char *state = journal_state_dir();
    char *path = xasprintf("%s/sessions/%s/events.jsonl", state, session_id);

    free(state);
    return path;
}
