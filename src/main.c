/* agentdeck: options, start-up order, teardown. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/mistral.h"
#include "backend/offline.h"
#include "cmd/batch.h"
#include "core/xalloc.h"
#include "model/journal.h"
#include "model/profile.h"
#include "cmd/listen.h"
#include "orch/session.h"
#include "tools/mcp.h"
#include "ui/console.h"

enum { EXIT_COMMAND_FAILED = 1, EXIT_USAGE = 2, EXIT_INTERRUPTED = 130 };

struct options {
    const char *profile;
    const char *backend;
    const char *batch;
    struct vec commands; /* -c */
    double offline_rate; /* < 0: the mode's default */
    bool deltas;
    bool keep_going;
    bool no_journal;
    const char *base_url;
    const char *theme;
    const char *api_key_file;
    int retries;          /* < 0: the default */
    long stall_timeout_s; /* 0: the default */
    bool client_handoffs; /* --handoff-execution client */
    bool no_stream;
    const char *listen; /* --listen PATH */
};

static void usage(FILE *out)
{
    fputs("Usage: agentdeck [OPTION]... [PROFILE]\n"
          "A terminal console for teams of LLM agents.\n"
          "\n"
          "  -p, --profile FILE        load the team of FILE (also the first argument);\n"
          "                            a bare NAME is looked up among the installed profiles\n"
          "  -b, --backend NAME        mistral (the default when MISTRAL_API_KEY is set) or\n"
          "                            offline (the scripted model; the default otherwise)\n"
          "      --batch FILE|-        run the commands of FILE (- for stdin) without a screen\n"
          "  -c, --command COMMAND     run COMMAND without a screen; repeatable\n"
          "      --keep-going          in batch mode, go on after a command fails\n"
          "      --deltas              in batch mode, also emit message.output.delta events\n"
          "      --offline-rate N      offline replies stream at N words a second\n"
          "                            (0: at once; default 0 in batch mode, 30 in the console)\n"
          "      --no-journal          do not write the session journal\n"
          "      --listen PATH         open a Unix socket at PATH: each line EVENT DATA\n"
          "                            written to it fires EVENT (see /on and /emit)\n"
          "      --theme NAME|FILE     the console's colours: dark (the default), light, mono,\n"
          "                            high-contrast, or a theme file (doc/keys.md#themes)\n"
          "  -h, --help                show this help and exit\n"
          "  -V, --version             show the version and exit\n"
          "\n"
          "The mistral backend (key from MISTRAL_API_KEY or --api-key-file):\n"
          "      --base-url URL        the API's address (default https://api.mistral.ai)\n"
          "      --api-key-file FILE   read the key from FILE, which others may not read\n"
          "      --retries N           retry 429, 5xx and 409 answers N times (default 4)\n"
          "      --stall-timeout S     fail a stream silent for S seconds (default 60)\n"
          "      --no-stream           take each answer whole instead of streamed\n"
          "      --handoff-execution server|client\n"
          "                            who carries out handoffs: the server (default) or\n"
          "                            agentdeck, which then starts the next agent itself\n"
          "\n"
          "In batch mode stdout carries only events, one JSON object a line; diagnostics\n"
          "go to stderr. Exit status: 0 when every command succeeded, 1 when one failed,\n"
          "2 for a usage error or an unreadable profile, 130 when interrupted.\n"
          "\n"
          "The journal of each session is written to\n"
          "$XDG_STATE_HOME/agentdeck/sessions/<session-id>/events.jsonl.\n",
          out);
}

/* A whole number from min to max for option name; says what is wrong when not. */
static bool parse_whole(const char *name, const char *text, long min, long max, const char *what, long *out)
{
    char *end;

    errno = 0;
    *out = strtol(text, &end, 10);
    if (errno || end == text || *end || *out < min || *out > max) {
        fprintf(stderr, "agentdeck: %s: \"%s\" is not %s from %ld to %ld\n", name, text, what, min, max);
        return false;
    }
    return true;
}

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"profile", required_argument, NULL, 'p'},
        {"backend", required_argument, NULL, 'b'},
        {"batch", required_argument, NULL, 'B'},
        {"command", required_argument, NULL, 'c'},
        {"keep-going", no_argument, NULL, 'k'},
        {"deltas", no_argument, NULL, 'd'},
        {"offline-rate", required_argument, NULL, 'r'},
        {"base-url", required_argument, NULL, 'u'},
        {"api-key-file", required_argument, NULL, 'K'},
        {"retries", required_argument, NULL, 'R'},
        {"stall-timeout", required_argument, NULL, 'S'},
        {"handoff-execution", required_argument, NULL, 'H'},
        {"no-stream", no_argument, NULL, 'N'},
        {"no-journal", no_argument, NULL, 'J'},
        {"listen", required_argument, NULL, 'L'},
        {"theme", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    long number;
    char *end;

    while ((opt = getopt_long(argc, argv, "p:b:c:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'p':
            o->profile = optarg;
            break;
        case 'b':
            o->backend = optarg;
            break;
        case 'B':
            o->batch = optarg;
            break;
        case 'c':
            vec_push(&o->commands, xstrdup(optarg));
            break;
        case 'k':
            o->keep_going = true;
            break;
        case 'd':
            o->deltas = true;
            break;
        case 'r':
            errno = 0;
            o->offline_rate = strtod(optarg, &end);
            if (errno || end == optarg || *end || o->offline_rate < 0) {
                fprintf(stderr, "agentdeck: --offline-rate: \"%s\" is not a number of words a second >= 0\n", optarg);
                return -1;
            }
            break;
        case 'u':
            o->base_url = optarg;
            break;
        case 'K':
            o->api_key_file = optarg;
            break;
        case 'R':
            if (!parse_whole("--retries", optarg, 0, 100, "a number", &number))
                return -1;
            o->retries = (int)number;
            break;
        case 'N':
            o->no_stream = true;
            break;
        case 'H':
            if (strcmp(optarg, "client") != 0 && strcmp(optarg, "server") != 0) {
                fprintf(stderr, "agentdeck: --handoff-execution: \"%s\" is neither server nor client\n", optarg);
                return -1;
            }
            o->client_handoffs = strcmp(optarg, "client") == 0;
            break;
        case 'S':
            if (!parse_whole("--stall-timeout", optarg, 1, 3600, "a number of seconds", &number))
                return -1;
            o->stall_timeout_s = number;
            break;
        case 'J':
            o->no_journal = true;
            break;
        case 'L':
            o->listen = optarg;
            break;
        case 'T':
            o->theme = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("agentdeck %s\n", PACKAGE_VERSION);
            exit(0);
        default:
            fputs("Try 'agentdeck --help' for more information.\n", stderr);
            return -1;
        }
    }
    if (optind < argc) {
        if (o->profile) {
            fprintf(stderr, "agentdeck: two profiles given: %s and %s\n", o->profile, argv[optind]);
            return -1;
        }
        o->profile = argv[optind++];
    }
    if (optind < argc) {
        fprintf(stderr, "agentdeck: unexpected argument \"%s\" (Try 'agentdeck --help')\n", argv[optind]);
        return -1;
    }
    if (o->batch && o->commands.len) {
        fputs("agentdeck: --batch and -c cannot be combined\n", stderr);
        return -1;
    }
    return 0;
}

/* Reads the API key: from --api-key-file, which must be private to its
 * owner, else from MISTRAL_API_KEY. Returns a new string, or NULL with a message. */
static char *read_api_key(const struct options *o)
{
    const char *env = getenv("MISTRAL_API_KEY");
    char line[512];
    struct stat st;
    FILE *fp;
    size_t n;

    if (!o->api_key_file) {
        if (env && *env)
            return xstrdup(env);
        fputs("agentdeck: --backend mistral needs a key: set MISTRAL_API_KEY or give --api-key-file FILE\n", stderr);
        return NULL;
    }
    if (!(fp = fopen(o->api_key_file, "re"))) {
        fprintf(stderr, "agentdeck: %s: cannot read the key: %s\n", o->api_key_file, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(fp), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO))) {
        fprintf(stderr, "agentdeck: %s: the key file may be read by others (mode %03o): run chmod 600 on it\n",
                o->api_key_file, (unsigned)(st.st_mode & 0777));
        fclose(fp);
        return NULL;
    }
    if (!fgets(line, sizeof line, fp))
        line[0] = '\0';
    fclose(fp);
    n = strcspn(line, "\r\n");
    line[n] = '\0';
    if (!n) {
        fprintf(stderr, "agentdeck: %s: the key file is empty\n", o->api_key_file);
        return NULL;
    }
    return xstrdup(line);
}

static struct backend *make_backend(const struct options *o, struct loop *loop, bool batch, const struct team *team)
{
    const char *env_key = getenv("MISTRAL_API_KEY");
    /* The default: Mistral when a key is there, else the offline model. */
    const char *name = o->backend ? o->backend : env_key && *env_key ? "mistral" : "offline";
    double rate = o->offline_rate >= 0 ? o->offline_rate : (batch ? 0 : 30);

    if (strcmp(name, "offline") == 0)
        return offline_backend_new(loop, rate);
    if (strcmp(name, "mistral") == 0) {
        char *key = read_api_key(o);
        /* Agents are tagged with their profile's name, else its file name. */
        const char *base = team->path ? strrchr(team->path, '/') : NULL;
        char *profile_tag = team->name ? xstrdup(team->name)
                            : team->path
                                ? xstrndup(base ? base + 1 : team->path, strcspn(base ? base + 1 : team->path, "."))
                                : xstrdup("default");
        struct mistral_options mo = {o->base_url,        key,         profile_tag, o->retries, o->stall_timeout_s,
                                     o->client_handoffs, o->no_stream};
        struct backend *b;
        if (!key) {
            free(profile_tag);
            return NULL;
        }
        b = mistral_backend_new(loop, &mo);
        memset(key, 0, strlen(key));
        free(key);
        free(profile_tag);
        return b;
    }
    if (strcmp(name, "chat") == 0)
        fprintf(stderr, "agentdeck: --backend chat is not available in this version yet; use --backend offline\n");
    else
        fprintf(stderr, "agentdeck: --backend: unknown backend \"%s\" (expected offline, mistral or chat)\n", name);
    return NULL;
}

static void on_interrupt(struct loop *loop, int signo, void *ud)
{
    struct session *s = ud;
    s->interrupted = true;
    session_cancel_runs(s, signo == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)");
}

/* A profile named without a folder or .json ("support") is looked up among
 * the installed ones when no such file is here. Returns a new path. */
static char *resolve_profile(const char *name)
{
    if (strchr(name, '/') || strstr(name, ".json") || access(name, F_OK) == 0)
        return xstrdup(name);
    char *installed = xasprintf("%s/profiles/%s.json", PKGDATADIR, name);
    if (access(installed, R_OK) == 0)
        return installed;
    free(installed);
    return xstrdup(name);
}

/* Opens the --batch file ("-": stdin); -1 with a message on failure. */
static int open_batch(const char *path)
{
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;

    if (fd < 0) {
        fprintf(stderr, "agentdeck: %s: cannot read: %s\n", path, strerror(errno));
    } else if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "agentdeck: %s: cannot read: %s\n", path, strerror(EISDIR));
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Opens the journal of the session; without one, it goes on and says so. */
static void add_journal(struct session *session)
{
    char *error = NULL;
    struct journal *j = journal_open(session->id, &error);

    if (j) {
        struct event_sink sink = journal_sink(j);
        event_stream_add_sink(&session->events, &sink);
    } else {
        fprintf(stderr, "agentdeck: warning: %s; going on without a journal\n", error);
        free(error);
    }
}

struct preparing {
    bool done;
    char *error;
};

static void on_prepared(void *ud, const char *error)
{
    struct preparing *p = ud;
    p->done = true;
    p->error = xstrdup(error);
}

static bool prepared(void *ud)
{
    return ((struct preparing *)ud)->done;
}

/* Makes the team ready on the backend (Mistral: its agents on the server).
 * Returns false after an error event saying why (and, when no sink shows
 * it, a line on stderr). */
static bool prepare_backend(struct session *session, bool to_stderr)
{
    struct preparing p = {false, NULL};

    backend_prepare(session->backend, session->team, on_prepared, &p);
    loop_run_until(session->loop, prepared, &p);
    if (!p.done || p.error) {
        session_error(session, NULL, "the %s backend is not ready: %s", session->backend->ops->name,
                      p.error ? p.error : "interrupted");
        if (to_stderr)
            fprintf(stderr, "agentdeck: the %s backend is not ready: %s\n", session->backend->ops->name,
                    p.error ? p.error : "interrupted");
        free(p.error);
        return false;
    }
    return true;
}

/* A server's tools changed after start-up: the backend learns the agents' new tools. */
static void on_mcp_changed(void *ud)
{
    session_team_changed(ud);
}

static bool mcp_settled(void *ud)
{
    struct session *s = ud;
    return mcp_hub_settled(s->mcp) || s->interrupted;
}

static bool mcp_stopped(void *ud)
{
    return mcp_hub_stopped(ud);
}

/* Stops the MCP servers gracefully, waiting for them (a few seconds at most). */
static void stop_mcp_servers(struct session *session)
{
    mcp_hub_on_change(session->mcp, NULL, NULL); /* the agents on the backend keep their tools */
    mcp_hub_shutdown(session->mcp);
    loop_run_until(session->loop, mcp_stopped, session->mcp);
}

static int run_batch(struct session *session, const struct options *o, int batch_fd)
{
    bool ok;

    batch_add_sinks(session, stdout, stderr);
    loop_on_signal(session->loop, SIGINT, on_interrupt, session);
    loop_on_signal(session->loop, SIGTERM, on_interrupt, session);
    /* The servers' tools are part of the agents the backend gets: first them. */
    mcp_hub_start(session->mcp);
    loop_run_until(session->loop, mcp_settled, session);
    if (!prepare_backend(session, false)) {
        ok = false;
    } else {
        mcp_hub_on_change(session->mcp, on_mcp_changed, session);
        if (batch_fd >= 0)
            ok = batch_run_stream(session, batch_fd, o->batch, o->keep_going);
        else
            ok = batch_run_lines(session, &o->commands, o->keep_going);
    }
    if (session_runs_waiting(session)) {
        /* Nobody is left to answer: the waiting runs end, and the batch failed. */
        session_cancel_runs(session, "the batch ended while the run waited (for /allow or /deny, or at a breakpoint)");
        ok = false;
    }
    stop_mcp_servers(session);
    if (fflush(stdout) == EOF && !batch_events_lost()) {
        fprintf(stderr, "agentdeck: cannot write the events to stdout: %s\n", strerror(errno));
        ok = false;
    }
    if (session->interrupted)
        return EXIT_INTERRUPTED;
    return ok ? 0 : EXIT_COMMAND_FAILED;
}

int main(int argc, char **argv)
{
    struct options o = {.offline_rate = -1, .retries = -1};
    struct team *team = NULL;
    struct backend *backend;
    struct session *session;
    struct loop *loop = NULL;
    struct listener *listener = NULL;
    int batch_fd = -1;
    char *error = NULL;
    char *session_id;
    char *profile_path = NULL;
    bool batch;
    int status = EXIT_USAGE;

    vec_init(&o.commands, free);
    if (parse_options(argc, argv, &o) < 0)
        goto out;
    batch = o.batch || o.commands.len;
    if (!batch && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
        fputs("agentdeck: the console needs a terminal; to run commands from a file or a pipe, use --batch FILE "
              "(--batch - for stdin) or -c COMMAND\n",
              stderr);
        goto out;
    }
    if (o.batch && (batch_fd = open_batch(o.batch)) < 0)
        goto out;
    if (o.profile) {
        profile_path = resolve_profile(o.profile);
        if (!(team = profile_load(profile_path, &error))) {
            fprintf(stderr, "agentdeck: %s\n", error);
            free(error);
            goto out;
        }
    } else {
        team = team_new();
    }

    loop = loop_new();
    if (!(backend = make_backend(&o, loop, batch, team)))
        goto out;
    session_id = journal_new_session_id();
    session = session_new(session_id, loop, backend, team);
    team = NULL; /* the session has it */
    free(session_id);
    session->deltas = o.deltas;
    session->mcp = mcp_hub_new(loop, &session->events, session->team);
    if (!o.no_journal)
        add_journal(session);

    if (o.listen && !(listener = listener_open(session, o.listen, &error))) {
        fprintf(stderr, "agentdeck: %s\n", error);
        free(error);
        status = EXIT_USAGE;
    } else if (batch) {
        status = run_batch(session, &o, batch_fd);
    } else if (!prepare_backend(session, true)) {
        status = EXIT_COMMAND_FAILED;
    } else {
        const char *env_key = getenv("MISTRAL_API_KEY");
        bool mistral = o.backend ? strcmp(o.backend, "mistral") == 0 : env_key && *env_key;
        struct console_options co = {profile_path, o.theme,
                                     mistral ? (o.base_url ? o.base_url : "https://api.mistral.ai") : NULL};
        /* The servers start once the console shows their events; runs that
         * need one wait for it, and the backend learns the tools then. */
        mcp_hub_on_change(session->mcp, on_mcp_changed, session);
        mcp_hub_start(session->mcp);
        status = console_run(session, &co);
        stop_mcp_servers(session);
    }
    listener_close(listener);
    session_free(session);

out:
    if (batch_fd > STDIN_FILENO)
        close(batch_fd);
    team_free(team);
    loop_free(loop);
    free(profile_path);
    vec_fini(&o.commands);
    return status;
}
