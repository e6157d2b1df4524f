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

#include "backend/chat.h"
#include "backend/mistral.h"
#include "backend/offline.h"
#include "cmd/batch.h"
#include "core/xalloc.h"
#include "model/journal.h"
#include "model/profile.h"
#include "model/settings.h"
#include "cmd/listen.h"
#include "orch/replay.h"
#include "orch/resume.h"
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
    bool yes; /* --yes: function calls run without asking */
    bool no_journal;
    const char *base_url;
    const char *model; /* --model: the chat backend's model for every agent */
    const char *theme;
    const char *api_key_file;
    int retries;          /* < 0: the default */
    long stall_timeout_s; /* 0: the default */
    bool client_handoffs; /* --handoff-execution client */
    bool no_stream;
    const char *listen; /* --listen PATH */
    const char *config; /* --config FILE */
    bool resuming;      /* --resume [SESSION] */
    const char *resume; /* the session, or NULL for the newest */
    const char *replay; /* --replay SESSION|FILE */
    double speed;       /* --speed X */
};

static void usage(FILE *out)
{
    fputs("Usage: agentdeck [OPTION]... [PROFILE]\n"
          "A terminal console for teams of LLM agents.\n"
          "\n"
          "  -p, --profile FILE        load the team of FILE (also the first argument);\n"
          "                            a bare NAME is looked up among the installed profiles\n"
          "  -b, --backend NAME        mistral (the default when MISTRAL_API_KEY is set),\n"
          "                            offline (the scripted model; the default otherwise)\n"
          "                            or chat (any OpenAI-compatible server; --base-url)\n"
          "      --batch FILE|-        run the commands of FILE (- for stdin) without a screen\n"
          "  -c, --command COMMAND     run COMMAND without a screen; repeatable\n"
          "      --keep-going          in batch mode, go on after a command fails\n"
          "      --deltas              in batch mode, also emit message.output.delta events\n"
          "  -y, --yes                 run function calls without asking first (otherwise a\n"
          "                            function not marked \"auto\" waits for /allow or /deny)\n"
          "      --offline-rate N      offline replies stream at N words a second\n"
          "                            (0: at once; default 0 in batch mode, 30 in the console)\n"
          "      --no-journal          do not write the session journal\n"
          "      --listen PATH         open a Unix socket at PATH: each line EVENT DATA\n"
          "                            written to it fires EVENT (see /on and /emit)\n"
          "      --resume [SESSION]    go on with a journaled session (the newest when none\n"
          "                            is named): its agents, conversations and patterns\n"
          "                            come back, and /retry goes on with the runs a crash\n"
          "                            cut off; /sessions lists the sessions\n"
          "      --replay SESSION|FILE play a recorded session back in the console, with no\n"
          "                            network and no key (Space pauses, n steps, + and -\n"
          "                            change the speed); without a terminal, write its\n"
          "                            events to stdout at their pace\n"
          "      --speed X             replay X times as fast (default 1; 0.125 to 1000)\n"
          "      --theme NAME|FILE     the console's colours: dark (the default), light, mono,\n"
          "                            high-contrast, or a theme file (doc/keys.md#themes)\n"
          "      --config FILE         read the settings of FILE instead of\n"
          "                            $XDG_CONFIG_HOME/agentdeck/config.json; options win\n"
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
          "The chat backend (/v1/chat/completions: Mistral, Ollama, llama.cpp, vLLM):\n"
          "      --base-url URL        the server (required), e.g. http://127.0.0.1:11434\n"
          "      --model M             the model of every agent (default: each agent's own)\n"
          "      --api-key-file FILE   a key to send; MISTRAL_API_KEY is sent only to\n"
          "                            https://api.mistral.ai\n"
          "      --retries, --stall-timeout, --no-stream  as for mistral\n"
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
        {"yes", no_argument, NULL, 'y'},
        {"deltas", no_argument, NULL, 'd'},
        {"offline-rate", required_argument, NULL, 'r'},
        {"base-url", required_argument, NULL, 'u'},
        {"model", required_argument, NULL, 'm'},
        {"api-key-file", required_argument, NULL, 'K'},
        {"retries", required_argument, NULL, 'R'},
        {"stall-timeout", required_argument, NULL, 'S'},
        {"handoff-execution", required_argument, NULL, 'H'},
        {"no-stream", no_argument, NULL, 'N'},
        {"no-journal", no_argument, NULL, 'J'},
        {"listen", required_argument, NULL, 'L'},
        {"theme", required_argument, NULL, 'T'},
        {"config", required_argument, NULL, 'C'},
        {"resume", optional_argument, NULL, 'E'},
        {"replay", required_argument, NULL, 'Y'},
        {"speed", required_argument, NULL, 'X'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    long number;
    char *end;

    while ((opt = getopt_long(argc, argv, "p:b:c:yhV", longopts, NULL)) != -1) {
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
        case 'y':
            o->yes = true;
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
        case 'm':
            if (!*optarg) {
                fputs("agentdeck: --model: the model's name is empty\n", stderr);
                return -1;
            }
            o->model = optarg;
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
        case 'C':
            o->config = optarg;
            break;
        case 'E':
            o->resuming = true;
            o->resume = optarg;
            break;
        case 'Y':
            o->replay = optarg;
            break;
        case 'X':
            if (!replay_parse_speed(optarg, &o->speed)) {
                fprintf(stderr, "agentdeck: --speed: \"%s\" is not a number from %g to %g\n", optarg, REPLAY_MIN_SPEED,
                        REPLAY_MAX_SPEED);
                return -1;
            }
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
    if (optind < argc && o->resuming && !o->resume) {
        o->resume = argv[optind++]; /* --resume SESSION */
    } else if (optind < argc) {
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
    if ((o->resuming || o->replay) && o->profile) {
        fprintf(stderr, "agentdeck: %s takes the profile the session was recorded with: give no profile\n",
                o->replay ? "--replay" : "--resume");
        return -1;
    }
    if (o->speed > 0 && !o->replay) {
        fputs("agentdeck: --speed goes with --replay\n", stderr);
        return -1;
    }
    if (o->replay && (o->resuming || o->batch || o->commands.len || o->listen)) {
        fputs("agentdeck: --replay only plays a session back: it takes no --resume, --batch, -c or --listen\n", stderr);
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

/* The chat backend. Its key: --api-key-file, or MISTRAL_API_KEY for
 * Mistral's own address only, so that no other server ever sees it. */
static struct backend *make_chat_backend(const struct options *o, struct loop *loop)
{
    const char *env = getenv("MISTRAL_API_KEY");
    char *key = NULL;
    struct backend *b;

    if (!o->base_url || !*o->base_url) {
        fputs("agentdeck: --backend chat needs --base-url URL, the server's address (for example "
              "http://127.0.0.1:11434 for Ollama, http://127.0.0.1:8080 for llama.cpp, https://api.mistral.ai)\n",
              stderr);
        return NULL;
    }
    if (o->api_key_file && !(key = read_api_key(o)))
        return NULL;
    if (!key && env && *env && strncmp(o->base_url, "https://api.mistral.ai", 22) == 0 &&
        (o->base_url[22] == '\0' || o->base_url[22] == '/'))
        key = xstrdup(env);
    struct chat_options co = {o->base_url, key, o->model, o->retries, o->stall_timeout_s, o->no_stream};
    b = chat_backend_new(loop, &co);
    if (key) {
        memset(key, 0, strlen(key));
        free(key);
    }
    return b;
}

static struct backend *make_backend(const struct options *o, struct loop *loop, bool batch, const struct team *team)
{
    const char *env_key = getenv("MISTRAL_API_KEY");
    /* The default: Mistral when a key is there, else the offline model. */
    const char *name = o->backend ? o->backend : env_key && *env_key ? "mistral" : "offline";
    double rate = o->offline_rate >= 0 ? o->offline_rate : (batch ? 0 : 30);

    if (o->model && strcmp(name, "chat") != 0) {
        fprintf(stderr, "agentdeck: --model is for --backend chat (the %s backend takes each agent's model from "
                        "the profile)\n",
                name);
        return NULL;
    }
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
        return make_chat_backend(o, loop);
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

/* Opens the journal of the session (a resumed one's: to go on appending
 * to it) and records the session in its folder. Without a journal a new
 * session goes on and says so; returns false (a resumed session must not
 * go on) when a resumed one's cannot be opened. *dir becomes its folder. */
static bool add_journal(struct session *session, const struct resume_source *resumed, const char *profile_path,
                        const char *base_url, char **dir)
{
    char *error = NULL;
    struct journal *j =
        resumed ? journal_reopen(resumed->dir, resumed->journal.torn, &error) : journal_open(session->id, &error);

    if (!j) {
        fprintf(stderr, resumed ? "agentdeck: %s\n" : "agentdeck: warning: %s; going on without a journal\n", error);
        free(error);
        return !resumed;
    }
    struct event_sink sink = journal_sink(j);
    event_stream_add_sink(&session->events, &sink);
    *dir = resumed ? xstrdup(resumed->dir) : journal_session_dir(session->id);
    resume_record(*dir, session, resumed ? "resumed" : "started", profile_path, base_url);
    return true;
}

/* Keeps the events a resumed session emits as it is rebuilt, for the
 * console to show after the journal's. */
static void collect_event(void *ud, const cJSON *ev, const char *line)
{
    struct journal_line *l = xcalloc(1, sizeof *l);
    l->event = cJSON_Duplicate(ev, 1);
    l->text = xstrdup(line);
    vec_push(ud, l);
}

static void free_collected(void *item)
{
    struct journal_line *l = item;
    cJSON_Delete(l->event);
    free(l->text);
    free(l);
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


static void keep_event(void *ud, const cJSON *ev, const char *line)
{
    (void)line;
    cJSON_AddItemToArray(ud, cJSON_Duplicate(ev, 1));
}

/* The console, once the backend is ready. A chat server that is down is no
 * reason to leave: the console shows why and opens, and runs ask the
 * server again (they fail with the same reason while it stays down). */
static int run_console_resumed(struct session *session, struct console_options *co,
                               const struct resume_source *resumed);

static int run_console(struct session *session, const struct options *o, const char *profile_path,
                       const struct keymap *keys, const struct resume_source *resumed)
{
    const char *env_key = getenv("MISTRAL_API_KEY");
    const char *name = session->backend->ops->name;
    bool chat = strcmp(name, "chat") == 0;
    cJSON *early = cJSON_CreateArray();
    struct event_sink keep = {keep_event, NULL, early};
    struct event_sink *kept = event_stream_add_sink(&session->events, &keep);
    struct console_options co = {.profile_path = profile_path, .theme = o->theme, .keys = keys, .early = early, .model = o->model};
    int status;

    /* What prepare says (warnings, an error) is shown once the screen is up. */
    if (!prepare_backend(session, !chat) && !chat) {
        event_stream_remove_sink(&session->events, kept);
        cJSON_Delete(early);
        return EXIT_COMMAND_FAILED;
    }
    event_stream_remove_sink(&session->events, kept);
    if (chat || (o->backend ? strcmp(o->backend, "mistral") == 0 : env_key && *env_key))
        co.base_url = o->base_url ? o->base_url : "https://api.mistral.ai";
    /* The servers start once the console shows their events; runs that
     * need one wait for it, and the backend learns the tools then. */
    mcp_hub_on_change(session->mcp, on_mcp_changed, session);
    mcp_hub_start(session->mcp);
    status = resumed ? run_console_resumed(session, &co, resumed) : console_run(session, &co);
    stop_mcp_servers(session);
    cJSON_Delete(early);
    return status;
}

static int run_batch(struct session *session, const struct options *o, int batch_fd,
                     const struct resume_source *resumed)
{
    bool ok;

    batch_add_sinks(session, stdout, stderr);
    loop_on_signal(session->loop, SIGINT, on_interrupt, session);
    loop_on_signal(session->loop, SIGTERM, on_interrupt, session);
    if (resumed)
        resume_session(session, resumed);
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
        session_cancel_runs(session, "the batch ended while the run waited (for /allow or /deny, or at a breakpoint); "
                                     "--yes runs functions without asking");
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

/* Reads the configuration file and fills in what no option gave. The
 * options then point into settings, which must outlive them. */
static bool apply_settings(struct options *o, struct settings *settings)
{
    char *path = o->config ? xstrdup(o->config) : settings_default_path();
    char *error = NULL;
    const char *env_key = getenv("MISTRAL_API_KEY");

    if (path && !settings_load(settings, path, o->config != NULL, &error)) {
        fprintf(stderr, "agentdeck: %s\n", error);
        free(error);
        free(path);
        return false;
    }
    free(path);
    if (!o->backend)
        o->backend = settings->backend;
    if (!o->base_url) /* the URL of the backend that will run */
        o->base_url = settings_base_url(settings, o->backend ? o->backend : env_key && *env_key ? "mistral" : NULL);
    if (!o->theme)
        o->theme = settings->theme;
    if (o->offline_rate < 0)
        o->offline_rate = settings->offline_rate;
    if (o->retries < 0)
        o->retries = settings->retries;
    if (!o->stall_timeout_s)
        o->stall_timeout_s = settings->stall_timeout_s;
    return true;
}

/* --resume in the console: it shows the journal, then what resuming adds. */
static int run_console_resumed(struct session *session, struct console_options *co, const struct resume_source *resumed)
{
    struct vec history, collected;
    struct event_sink sink = {collect_event, NULL, &collected};
    struct event_sink *handle;
    int status;

    vec_init(&history, NULL);
    vec_init(&collected, free_collected);
    handle = event_stream_add_sink(&session->events, &sink);
    resume_session(session, resumed);
    event_stream_remove_sink(&session->events, handle);
    for (size_t i = 0; i < resumed->journal.lines.len; i++)
        vec_push(&history, resumed->journal.lines.items[i]);
    for (size_t i = 0; i < collected.len; i++)
        vec_push(&history, collected.items[i]);
    co->history = &history;
    status = console_run(session, co);
    vec_fini(&history);
    vec_fini(&collected);
    return status;
}

static void print_replayed(void *ud, const cJSON *ev, const char *line)
{
    struct session *s = ud;
    if (puts(line) == EOF || fflush(stdout) == EOF) {
        fprintf(stderr, "agentdeck: cannot write the events to stdout: %s\n", strerror(errno));
        s->async_failures++;
        s->interrupted = true; /* nothing more can go out */
    }
}

/* --replay: the recorded session in the console, or (without a terminal)
 * its events on stdout, at their pace. */
static int run_replay(const struct options *o)
{
    struct resume_source src;
    char *error = NULL;
    const char *profile_path;
    struct team *team;
    struct loop *loop;
    struct session *s;
    int status = 0;

    if (!resume_source_open(o->replay, &src, &error)) {
        fprintf(stderr, "agentdeck: --replay: %s\n", error);
        free(error);
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < src.journal.warnings.len; i++)
        fprintf(stderr, "agentdeck: warning: %s\n", (char *)src.journal.warnings.items[i]);
    if (!(team = resume_source_team(&src, &profile_path, &error))) {
        fprintf(stderr, "agentdeck: --replay: %s\n", error);
        free(error);
        resume_source_fini(&src);
        return EXIT_USAGE;
    }
    loop = loop_new();
    /* No network, no key, no journal: the offline backend stands by. */
    s = session_new(src.id, loop, offline_backend_new(loop, 0), team);
    if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) {
        struct console_options co = {.profile_path = profile_path, .theme = o->theme};
        co.replay = &src.journal.lines;
        co.speed = o->speed > 0 ? o->speed : 1;
        s->replay = true;
        status = console_run(s, &co);
    } else {
        struct replay *r = replay_new(loop, &src.journal.lines, o->speed > 0 ? o->speed : 1, print_replayed, s);
        loop_on_signal(loop, SIGINT, on_interrupt, s);
        loop_on_signal(loop, SIGTERM, on_interrupt, s);
        replay_start(r);
        while (!s->interrupted && !replay_finished(r))
            loop_run_once(loop, -1);
        replay_free(r);
        status = s->async_failures ? EXIT_COMMAND_FAILED : s->interrupted ? EXIT_INTERRUPTED : 0;
    }
    session_free(s);
    loop_free(loop);
    resume_source_fini(&src);
    return status;
}

int main(int argc, char **argv)
{
    struct options o = {.offline_rate = -1, .retries = -1};
    struct settings settings;
    struct team *team = NULL;
    struct backend *backend;
    struct session *session;
    struct loop *loop = NULL;
    struct listener *listener = NULL;
    struct resume_source resumed = {0};
    int batch_fd = -1;
    char *error = NULL;
    char *session_id;
    char *profile_path = NULL, *journal_dir = NULL;
    bool batch;
    int status = EXIT_USAGE;

    vec_init(&o.commands, free);
    settings_init(&settings);
    if (parse_options(argc, argv, &o) < 0 || !apply_settings(&o, &settings))
        goto out;
    if (o.replay) {
        status = run_replay(&o);
        goto out;
    }
    batch = o.batch || o.commands.len;
    if (!batch && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
        fputs("agentdeck: the console needs a terminal; to run commands from a file or a pipe, use --batch FILE "
              "(--batch - for stdin) or -c COMMAND\n",
              stderr);
        goto out;
    }
    if (o.batch && (batch_fd = open_batch(o.batch)) < 0)
        goto out;
    if (o.resuming) {
        const char *saved;
        if (!resume_source_open(o.resume, &resumed, &error) || !(team = resume_source_team(&resumed, &saved, &error))) {
            fprintf(stderr, "agentdeck: --resume: %s\n", error);
            free(error);
            goto out;
        }
        profile_path = saved ? xstrdup(saved) : NULL;
        /* It goes on with the backend it had, unless told otherwise. */
        if (!o.backend)
            o.backend = resume_source_meta(&resumed, "backend");
        if (!o.base_url)
            o.base_url = resume_source_meta(&resumed, "base_url");
    } else if (o.profile) {
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
    session_id = o.resuming ? xstrdup(resumed.id) : journal_new_session_id();
    session = session_new(session_id, loop, backend, team);
    team = NULL; /* the session has it */
    free(session_id);
    session->deltas = o.deltas;
    session->mcp = mcp_hub_new(loop, &session->events, session->team);
    session->allow_functions = o.yes;
    if (!o.no_journal && !add_journal(session, o.resuming ? &resumed : NULL, profile_path,
                                      strcmp(backend->ops->name, "mistral") == 0 ? o.base_url : NULL, &journal_dir)) {
        session_free(session);
        goto out;
    }

    if (o.listen && !(listener = listener_open(session, o.listen, &error))) {
        fprintf(stderr, "agentdeck: %s\n", error);
        free(error);
        status = EXIT_USAGE;
    } else if (batch) {
        status = run_batch(session, &o, batch_fd, o.resuming ? &resumed : NULL);
    } else {
        status = run_console(session, &o, profile_path, &settings.keys, o.resuming ? &resumed : NULL);
    }
    listener_close(listener);
    if (journal_dir)
        resume_record(journal_dir, session, "ended", profile_path, NULL);
    session_free(session);

out:
    if (batch_fd > STDIN_FILENO)
        close(batch_fd);
    team_free(team);
    loop_free(loop);
    free(profile_path);
    free(journal_dir);
    resume_source_fini(&resumed);
    vec_fini(&o.commands);
    settings_fini(&settings);
    return status;
}
