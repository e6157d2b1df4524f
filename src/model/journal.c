#include "config.h"

#include "model/journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/file.h"
#include "core/xalloc.h"

struct journal {
    FILE *fp;
    char *path;
    bool sync;   /* fsync at run boundaries */
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

char *journal_session_dir(const char *session_id)
{
    char *state = journal_state_dir();
    char *dir = xasprintf("%s/sessions/%s", state, session_id);
    free(state);
    return dir;
}

/* Wraps the open journal file fd of path, taking the lock that keeps a
 * second agentdeck from writing to it. Closes fd on failure. */
static struct journal *journal_wrap(int fd, const char *path, char **error)
{
    struct journal *j;
    FILE *fp;

    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        *error = errno == EWOULDBLOCK
                     ? xasprintf("%s: another agentdeck has this session open (it holds the journal's lock)", path)
                     : xasprintf("%s: cannot lock the journal: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!(fp = fdopen(fd, "a"))) {
        *error = xasprintf("%s: cannot open the journal: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    j = xcalloc(1, sizeof *j);
    j->fp = fp;
    j->path = xstrdup(path);
    j->sync = true;
    return j;
}

struct journal *journal_open(const char *session_id, char **error)
{
    char *dir = journal_session_dir(session_id);
    char *path = NULL;
    struct journal *j = NULL;
    int fd;

    if (mkdir_parents(dir) < 0) {
        *error = xasprintf("%s: cannot create the session folder: %s", dir, strerror(errno));
        goto out;
    }
    path = xasprintf("%s/events.jsonl", dir);
    /* O_CLOEXEC: no function child inherits it. */
    if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600)) < 0)
        *error = xasprintf("%s: cannot open the journal: %s", path, strerror(errno));
    else
        j = journal_wrap(fd, path, error);
out:
    free(path);
    free(dir);
    return j;
}

struct journal *journal_reopen(const char *dir, off_t keep, char **error)
{
    char *path = xasprintf("%s/events.jsonl", dir);
    struct journal *j = NULL;
    struct stat st;
    char last;
    int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);

    if (fd < 0) {
        *error = xasprintf("%s: cannot open the journal: %s", path, strerror(errno));
        goto out;
    }
    if (!(j = journal_wrap(fd, path, error)))
        goto out;
    /* Locked: only now is it safe to change the file. */
    if ((keep >= 0 && ftruncate(fd, keep) < 0) || fstat(fd, &st) < 0 ||
        (st.st_size > 0 && (pread(fd, &last, 1, st.st_size - 1) != 1 || (last != '\n' && write(fd, "\n", 1) != 1)))) {
        *error = xasprintf("%s: cannot repair the end of the journal: %s", path, strerror(errno));
        journal_close(j);
        j = NULL;
    }
out:
    free(path);
    return j;
}

const char *journal_path(const struct journal *j)
{
    return j->path;
}

void journal_set_sync(struct journal *j, bool on)
{
    j->sync = on;
}

/* The events after which the journal is synced to the disk: where a run or
 * a pattern step begins or ends, so that a power cut loses at most the
 * entries of the runs in flight, never the fact that they ran. */
static bool is_boundary(const char *type)
{
    static const char *const boundaries[] = {
        "run.started",          "run.done",        "run.error",    "run.cancelled",
        "run.interrupted",      "pattern.started", "pattern.step", "pattern.done",
        "conversation.started", "session.resumed", NULL,
    };
    for (size_t i = 0; boundaries[i]; i++) {
        if (strcmp(type, boundaries[i]) == 0)
            return true;
    }
    return false;
}

static void journal_write(void *ud, const cJSON *ev, const char *line)
{
    struct journal *j = ud;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");

    if (fputs(line, j->fp) == EOF || fputc('\n', j->fp) == EOF || fflush(j->fp) == EOF ||
        (j->sync && cJSON_IsString(type) && is_boundary(type->valuestring) && fdatasync(fileno(j->fp)) < 0)) {
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
    fclose(j->fp); /* and the lock with it */
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

/* ---- reading back ---------------------------------------------------------- */

static void line_free(void *item)
{
    struct journal_line *l = item;
    cJSON_Delete(l->event);
    free(l->text);
    free(l);
}

/* The event of one line: a JSON object with seq, ts and type, or NULL. */
static cJSON *parse_event(const char *text, size_t len)
{
    cJSON *ev = cJSON_ParseWithLength(text, len);
    if (cJSON_IsObject(ev) && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(ev, "seq")) &&
        cJSON_IsString(cJSON_GetObjectItemCaseSensitive(ev, "ts")) &&
        cJSON_IsString(cJSON_GetObjectItemCaseSensitive(ev, "type")))
        return ev;
    cJSON_Delete(ev);
    return NULL;
}

/* Reads all of path into *out, which is left empty when it fails. */
static bool read_file(const char *path, struct buf *out, char **error)
{
    if (file_read(path, SIZE_MAX, out, error))
        return true;
    buf_fini(out);
    return false;
}

bool journal_read(const char *path, struct journal_contents *jc, char **error)
{
    struct buf data = BUF_INIT;
    size_t pos = 0, number = 0;

    vec_init(&jc->lines, line_free);
    vec_init(&jc->warnings, free);
    jc->torn = -1;
    jc->missing_newline = false;
    jc->last_seq = 0;
    if (!read_file(path, &data, error))
        return false;
    while (pos < data.len) {
        const char *start = data.data + pos;
        const char *nl = memchr(start, '\n', data.len - pos);
        size_t len = nl ? (size_t)(nl - start) : data.len - pos;
        cJSON *ev = parse_event(start, len);

        number++;
        if (ev) {
            struct journal_line *l = xcalloc(1, sizeof *l);
            l->event = ev;
            l->text = xstrndup(start, len);
            l->offset = (off_t)pos;
            vec_push(&jc->lines, l);
            jc->last_seq = (int64_t)cJSON_GetObjectItemCaseSensitive(ev, "seq")->valuedouble;
            jc->missing_newline = !nl;
        } else if (!nl) {
            jc->torn = (off_t)pos;
            vec_push(&jc->warnings, xasprintf("%s: the last line (from byte %zu) was cut off when agentdeck "
                                              "stopped while writing it; it is skipped",
                                              path, pos));
        } else if (len) {
            vec_push(&jc->warnings,
                     xasprintf("%s: line %zu (from byte %zu) is not a JSON event; it is skipped", path, number, pos));
        }
        pos += len + (nl ? 1 : 0);
    }
    buf_fini(&data);
    return true;
}

void journal_contents_fini(struct journal_contents *jc)
{
    vec_fini(&jc->lines);
    vec_fini(&jc->warnings);
}

/* ---- the session folder ------------------------------------------------------ */

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void journal_list_sessions(struct vec *ids)
{
    char *state = journal_state_dir();
    char *root = xasprintf("%s/sessions", state);
    DIR *d = opendir(root);
    struct dirent *de;

    free(state);
    while (d && (de = readdir(d))) {
        char *events;
        if (de->d_name[0] == '.')
            continue;
        events = xasprintf("%s/%s/events.jsonl", root, de->d_name);
        if (access(events, R_OK) == 0)
            vec_push(ids, xstrdup(de->d_name));
        free(events);
    }
    if (d)
        closedir(d);
    free(root);
    /* Session ids start with their UTC start time: by name is by age. */
    if (ids->len > 1)
        qsort(ids->items, ids->len, sizeof(void *), compare_names);
}

bool journal_locate(const char *name, char **dir, char **events, char **error)
{
    struct stat st;

    if (!name) {
        struct vec ids;
        vec_init(&ids, free);
        journal_list_sessions(&ids);
        if (!ids.len) {
            char *state = journal_state_dir();
            *error = xasprintf("no session has been journaled yet (in %s/sessions)", state);
            free(state);
            vec_fini(&ids);
            return false;
        }
        *dir = journal_session_dir(vec_last(&ids));
        vec_fini(&ids);
    } else if (stat(name, &st) == 0 && S_ISREG(st.st_mode)) {
        const char *slash = strrchr(name, '/');
        *dir = slash ? xstrndup(name, (size_t)(slash - name) + (slash == name)) : xstrdup(".");
        *events = xstrdup(name);
        return true;
    } else if (strchr(name, '/') || (stat(name, &st) == 0 && S_ISDIR(st.st_mode))) {
        *dir = xstrdup(name);
    } else {
        *dir = journal_session_dir(name);
    }
    *events = xasprintf("%s/events.jsonl", *dir);
    if (access(*events, R_OK) < 0) {
        *error = name && !strchr(name, '/')
                     ? xasprintf("no session \"%s\": %s: %s (/sessions lists them)", name, *events, strerror(errno))
                     : xasprintf("%s: no journal there: %s", *events, strerror(errno));
        free(*dir);
        free(*events);
        *dir = *events = NULL;
        return false;
    }
    return true;
}

bool journal_write_meta(const char *dir, const cJSON *meta, char **error)
{
    char *path = xasprintf("%s/session.json", dir);
    char *text = cJSON_Print(meta);
    char *line = xasprintf("%s\n", text ? text : "{}");
    bool ok = file_write_atomic(path, line, strlen(line), error);

    cJSON_free(text);
    free(line);
    free(path);
    return ok;
}

/* The whole of the file name in dir (a new string), or NULL when it cannot be read. */
static char *read_in_dir(const char *dir, const char *name)
{
    char *path = xasprintf("%s/%s", dir, name);
    struct buf data = BUF_INIT;
    char *error = NULL;
    char *text = NULL;

    if (read_file(path, &data, &error))
        text = buf_steal(&data);
    free(error);
    buf_fini(&data);
    free(path);
    return text;
}

cJSON *journal_read_meta(const char *dir)
{
    char *text = read_in_dir(dir, "session.json");
    cJSON *meta = text ? cJSON_Parse(text) : NULL;

    free(text);
    if (!cJSON_IsObject(meta)) {
        cJSON_Delete(meta);
        return NULL;
    }
    return meta;
}

bool journal_save_profile(const char *dir, const char *path, char **error)
{
    struct buf data = BUF_INIT;
    char *copy = xasprintf("%s/profile.json", dir);
    bool ok = read_file(path, &data, error) && file_write_atomic(copy, buf_str(&data), data.len, error);

    buf_fini(&data);
    free(copy);
    return ok;
}

char *journal_read_profile(const char *dir)
{
    return read_in_dir(dir, "profile.json");
}
