#include "config.h"

#include "ui/cmdline.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <readline/history.h>
#include <readline/readline.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/command.h"
#include "core/xalloc.h"
#include "text/width.h"

enum { HISTORY_MAX = 1000 };

static const char prompt[] = "agentdeck> ";

/* Readline's hooks take no user data: the one console, while it runs. */
static struct console *the_console;
static struct buf queue; /* bytes for readline */
static size_t queue_pos;
static FILE *devnull;
static char *history_file;
static struct vec candidates; /* completions being offered (char *) */
static size_t candidate_next;

static int cmdline_getc(FILE *f)
{
    unsigned char ch;

    if (queue_pos < queue.len)
        return (unsigned char)queue.data[queue_pos++];
    /* Readline wants more within one command (a rare multi-key one):
     * wait for the terminal rather than hand it a stale byte. */
    for (;;) {
        ssize_t n = read(STDIN_FILENO, &ch, 1);
        if (n == 1)
            return ch;
        if (n == 0 || (errno != EINTR && errno != EAGAIN))
            return EOF;
        struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
        poll(&pfd, 1, -1);
    }
}

static int cmdline_input_available(void)
{
    return queue_pos < queue.len;
}

static void cmdline_redisplay(void)
{
    if (!the_console)
        return;
    the_console->dirty_cmd = true;
    console_mark(the_console);
}

static void on_line(char *line)
{
    struct console *c = the_console;

    if (!line) {
        /* Ctrl-D on an empty line. */
        c->quit = true;
        return;
    }
    if (*line && *line != ' ') {
        HIST_ENTRY *last = history_length ? history_get(history_base + history_length - 1) : NULL;
        if (!last || strcmp(last->line, line) != 0) {
            add_history(line);
            /* A line with a newline would come back as two: it stays in memory only. */
            if (history_file && !strchr(line, '\n'))
                append_history(1, history_file);
        }
    }
    console_submit(c, line);
    free(line);
}

/* ---- completion from the command table ---------------------------------- */

static void offer(const char *word)
{
    for (size_t i = 0; i < candidates.len; i++) {
        if (strcmp(candidates.items[i], word) == 0)
            return;
    }
    if (candidates.len < 5000)
        vec_push(&candidates, xstrdup(word));
}

static void offer_agents(struct console *c, const char *prefix)
{
    const struct vec *agents = &c->s->team->agents;
    for (size_t i = 0; i < agents->len; i++) {
        char *w = xasprintf("%s%s", prefix, ((struct agent *)agents->items[i])->name);
        offer(w);
        free(w);
    }
}

static void offer_entries(struct console *c)
{
    const struct session *s = c->s;
    /* The focused conversation's first: /restart looks there first too. */
    if (s->focused) {
        for (size_t k = 0; k < s->focused->entries.len; k++)
            offer(((struct entry *)s->focused->entries.items[k])->id);
    }
    for (size_t i = 0; i < s->conversations.len; i++) {
        const struct conversation *conv = s->conversations.items[i];
        for (size_t k = 0; k < conv->entries.len; k++)
            offer(((struct entry *)conv->entries.items[k])->id);
    }
}

/* Offers what may stand for placeholder (a word of a command's synopsis). */
static void offer_placeholder(struct console *c, const struct command_spec *spec, const char *placeholder)
{
    char word[64];
    size_t n = 0;

    for (const char *p = placeholder; *p && n + 1 < sizeof word; p++) {
        if (*p != '[' && *p != ']' && *p != '.')
            word[n++] = *p;
    }
    word[n] = '\0';
    if (strcmp(word, "AGENT") == 0 || (strcmp(word, "NAME") == 0 && strcmp(spec->name, "create") != 0)) {
        offer_agents(c, "");
    } else if (strcmp(word, "ENTRY_ID") == 0) {
        offer_entries(c);
    } else if (strcmp(word, "CONVERSATION") == 0) {
        for (size_t i = 0; i < c->s->conversations.len; i++)
            offer(((struct conversation *)c->s->conversations.items[i])->id);
    } else if (strcmp(word, "COMMAND") == 0) {
        for (const struct command_spec *cs = command_table(); cs->name; cs++)
            offer(cs->name);
    } else if (strcmp(word, "THEME") == 0) {
        struct vec names;
        vec_init(&names, free);
        theme_list((const char *const *)c->theme_dirs, &names);
        for (size_t i = 0; i < names.len; i++)
            offer(names.items[i]);
        vec_fini(&names);
    }
}

static const struct flag_spec *find_flag(const struct command_spec *spec, const char *word)
{
    for (const struct flag_spec *f = spec->flags; f && f->name; f++) {
        if (strncmp(word, "--", 2) == 0 && strcmp(word + 2, f->name) == 0)
            return f;
    }
    return NULL;
}

/* Fills candidates for the word `text` that starts at `start` of the line. */
static void collect(struct console *c, const char *line, int start, const char *text)
{
    struct vec words;
    char *head = xstrndup(line, (size_t)start), *save = NULL;
    const struct command_spec *spec;
    size_t first = 1, positional = 0;

    vec_init(&words, free);
    for (char *w = strtok_r(head, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
        vec_push(&words, xstrdup(w));
    free(head);
    if (!words.len) {
        if (*text == '/') {
            for (const struct command_spec *cs = command_table(); cs->name; cs++) {
                char *w = xasprintf("/%s", cs->name);
                offer(w);
                free(w);
            }
        } else if (*text == '@') {
            offer_agents(c, "@");
        }
        goto out;
    }
    const char *cmd = words.items[0];
    if (*cmd != '/' || !(spec = command_find(command_table(), cmd + 1)))
        goto out;
    if (spec->subcommands) {
        if (words.len == 1) {
            for (const struct command_spec *sub = spec->subcommands; sub->name; sub++)
                offer(sub->name);
            goto out;
        }
        if (!(spec = command_find(spec->subcommands, words.items[1])))
            goto out;
        first = 2;
    }
    if (strncmp(text, "--", 2) == 0 && spec->flags) {
        for (const struct flag_spec *f = spec->flags; f->name; f++) {
            char *w = xasprintf("--%s", f->name);
            offer(w);
            free(w);
        }
        goto out;
    }
    /* The value of a flag: --handoff NAME is an agent. */
    const struct flag_spec *prev = find_flag(spec, vec_last(&words));
    if (prev && prev->value) {
        if (strcmp(prev->value, "NAME") == 0)
            offer_agents(c, "");
        goto out;
    }
    for (size_t i = first; i < words.len; i++) {
        const struct flag_spec *f = find_flag(spec, words.items[i]);
        if (f)
            i += f->value ? 1 : 0;
        else
            positional++;
    }
    /* The synopsis word at that position. */
    char *args = xstrdup(spec->args), *ph = NULL;
    save = NULL;
    size_t k = 0;
    for (char *w = strtok_r(args, " ", &save); w; w = strtok_r(NULL, " ", &save), k++) {
        if (k == positional) {
            ph = w;
            break;
        }
    }
    if (ph)
        offer_placeholder(c, spec, ph);
    free(args);
out:
    vec_fini(&words);
}

static char *generate(const char *text, int state)
{
    size_t len = strlen(text);
    if (!state)
        candidate_next = 0;
    while (candidate_next < candidates.len) {
        const char *w = candidates.items[candidate_next++];
        if (strncmp(w, text, len) == 0)
            return xstrdup(w); /* readline frees it */
    }
    return NULL;
}

static char **complete(const char *text, int start, int end)
{
    rl_attempted_completion_over = 1; /* never file names */
    vec_truncate(&candidates, 0);
    collect(the_console, rl_line_buffer, start, text);
    return candidates.len ? rl_completion_matches(text, generate) : NULL;
}

/* Readline lists matches through us: in the status bar, until the next key. */
static void show_matches(char **matches, int n, int max_length)
{
    struct console *c = the_console;
    struct buf b = BUF_INIT;

    for (int i = 1; i <= n; i++)
        buf_printf(&b, "%s%s", i > 1 ? "  " : "", matches[i]);
    free(c->hint);
    c->hint = buf_steal(&b);
    c->dirty_status = true;
    console_mark(c);
}

/* ---- life cycle ----------------------------------------------------------- */

void cmdline_init(struct console *c, const char *history_path)
{
    the_console = c;
    buf_init(&queue);
    queue_pos = 0;
    vec_init(&candidates, free);
    devnull = fopen("/dev/null", "we");
    rl_readline_name = "agentdeck"; /* for $if agentdeck in ~/.inputrc */
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    rl_change_environment = 0; /* else readline exports LINES and COLUMNS */
    rl_prep_term_function = NULL;
    rl_deprep_term_function = NULL;
    rl_getc_function = cmdline_getc;
    rl_input_available_hook = cmdline_input_available;
    rl_redisplay_function = cmdline_redisplay;
    rl_outstream = devnull;
    rl_attempted_completion_function = complete;
    rl_completion_display_matches_hook = show_matches;
    rl_completer_word_break_characters = " \t";
    rl_completion_append_character = ' ';
    using_history();
    stifle_history(HISTORY_MAX);
    if (history_path) {
        int fd = open(history_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0) {
            close(fd);
            history_file = xstrdup(history_path);
            read_history(history_file);
        }
    }
    rl_callback_handler_install(prompt, on_line);
    rl_variable_bind("bell-style", "none");
    /* Pasted text comes through the key reader, which never sends a newline. */
    rl_variable_bind("enable-bracketed-paste", "off");
}

void cmdline_fini(void)
{
    rl_callback_handler_remove();
    if (history_file)
        history_truncate_file(history_file, HISTORY_MAX);
    clear_history();
    free(history_file);
    history_file = NULL;
    vec_fini(&candidates);
    buf_fini(&queue);
    rl_outstream = stdout;
    if (devnull)
        fclose(devnull);
    devnull = NULL;
    the_console = NULL;
}

void cmdline_feed(const char *bytes, size_t n)
{
    buf_append(&queue, bytes, n);
    while (queue_pos < queue.len && the_console && !the_console->quit)
        rl_callback_read_char();
    buf_reset(&queue);
    queue_pos = 0;
}

bool cmdline_is_empty(void)
{
    return rl_end == 0;
}

void cmdline_insert(const char *text)
{
    rl_insert_text(text);
    cmdline_redisplay();
}

void cmdline_clear(void)
{
    rl_callback_sigcleanup();
    rl_replace_line("", 0);
    rl_point = rl_end = 0;
    rl_mark = 0;
    cmdline_redisplay();
}

/* ---- drawing ------------------------------------------------------------- */

/* The line as shown: a newline as ↵, everything made safe. */
static void shown(struct buf *out, const char *s, size_t n)
{
    struct buf raw = BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            buf_puts(&raw, "\xE2\x86\xB5");
        else
            buf_putc(&raw, s[i]);
    }
    draw_clean(out, buf_str(&raw), true);
    buf_fini(&raw);
}

void cmdline_paint(struct console *c)
{
    WINDOW *w = c->cmd_win;
    const char *p = rl_display_prompt ? rl_display_prompt : prompt;
    struct buf pr = BUF_INIT, line = BUF_INIT, before = BUF_INIT;
    int cols = COLS, pw, avail;
    size_t cursor, skip = 0, off = 0;

    if (!w)
        return;
    werase(w);
    wmove(w, 0, 0);
    shown(&pr, p, strlen(p));
    pw = draw_text(w, pr.data, pr.len, cols / 2, c->attrs[ROLE_PROMPT]);
    shown(&line, rl_line_buffer ? rl_line_buffer : "", (size_t)(rl_end > 0 ? rl_end : 0));
    shown(&before, rl_line_buffer ? rl_line_buffer : "", (size_t)(rl_point > 0 ? rl_point : 0));
    cursor = width_str(before.data, before.len);
    avail = cols - pw - 1;
    if (avail < 1)
        avail = 1;
    /* Scrolled sideways so that the cursor stays in sight. */
    if (cursor >= (size_t)avail) {
        size_t want = cursor - (size_t)avail + 1, used;
        off = width_clip(line.data, line.len, want, &used);
        while (used < want && off < line.len) {
            size_t u, n = width_clip(line.data + off, line.len - off, 2, &u);
            if (!n)
                break;
            off += n;
            used += u;
        }
        skip = used;
    }
    draw_text(w, line.data + off, line.len - off, avail, c->attrs[ROLE_INPUT]);
    wmove(w, 0, pw + (int)(cursor - skip));
    wnoutrefresh(w);
    buf_fini(&pr);
    buf_fini(&line);
    buf_fini(&before);
    c->dirty_cmd = false;
}
