#include "config.h"

#include "cmd/listen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/xalloc.h"
#include "orch/handlers.h"

#define LISTEN_MAX_LINE 65536
#define LISTEN_MAX_CLIENTS 16

struct client {
    struct listener *l;
    int fd;
    uint64_t watch;
    struct buf pending;
};

struct listener {
    struct session *s;
    char *path;
    int fd;
    uint64_t watch;
    struct vec clients; /* struct client * */
};

static void client_close(struct client *c)
{
    struct vec *clients = &c->l->clients;
    for (size_t i = 0; i < clients->len; i++) {
        if (clients->items[i] == c) {
            vec_remove(clients, i);
            break;
        }
    }
    loop_unwatch(c->l->s->loop, c->watch);
    close(c->fd);
    buf_fini(&c->pending);
    free(c);
}

/* One line: EVENT, blanks, then DATA as it came. */
static void client_line(struct client *c, char *line)
{
    struct session *s = c->l->s;
    char *error = NULL;

    if (!*line || *line == ' ' || *line == '\t')
        return; /* a blank line, or one without its event */
    if (!handlers_emit_line(s, line, "socket", &error)) {
        session_error(s, NULL, "%s: %s", c->l->path, error);
        free(error);
    }
}

static void on_client(struct loop *loop, int fd, int revents, void *ud)
{
    struct client *c = ud;
    char chunk[4096];
    ssize_t got = read(fd, chunk, sizeof chunk);
    char *line;

    if (got < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (got <= 0) {
        if (c->pending.len)
            client_line(c, (char *)buf_str(&c->pending));
        client_close(c);
        return;
    }
    buf_append(&c->pending, chunk, (size_t)got);
    while ((line = buf_take_line(&c->pending, false))) {
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r')
            line[len - 1] = '\0';
        client_line(c, line);
        free(line);
    }
    if (c->pending.len > LISTEN_MAX_LINE) {
        session_error(c->l->s, NULL, "%s: a line longer than %d bytes: the connection is closed", c->l->path,
                      LISTEN_MAX_LINE);
        client_close(c);
    }
}

static void on_accept(struct loop *loop, int fd, int revents, void *ud)
{
    struct listener *l = ud;
    int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    struct client *c;

    if (cfd < 0)
        return;
    if (l->clients.len >= LISTEN_MAX_CLIENTS) {
        close(cfd);
        return;
    }
    c = xcalloc(1, sizeof *c);
    c->l = l;
    c->fd = cfd;
    buf_init(&c->pending);
    c->watch = loop_watch_fd(loop, cfd, LOOP_READ, on_client, c);
    vec_push(&l->clients, c);
}

struct listener *listener_open(struct session *s, const char *path, char **error)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    struct listener *l;
    struct stat st;
    int fd;

    if (strlen(path) >= sizeof addr.sun_path) {
        *error = xasprintf("--listen %s: the path is too long for a socket (at most %zu bytes)", path,
                           sizeof addr.sun_path - 1);
        return NULL;
    }
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            *error = xasprintf("--listen %s: a file that is not a socket is there already", path);
            return NULL;
        }
        unlink(path); /* left by an earlier run */
    }
    strcpy(addr.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 8) < 0) {
        *error = xasprintf("--listen %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    chmod(path, 0600); /* only this user may drive the session */
    l = xcalloc(1, sizeof *l);
    l->s = s;
    l->path = xstrdup(path);
    l->fd = fd;
    vec_init(&l->clients, NULL);
    l->watch = loop_watch_fd(s->loop, fd, LOOP_READ, on_accept, l);
    return l;
}

void listener_close(struct listener *l)
{
    if (!l)
        return;
    while (l->clients.len)
        client_close(l->clients.items[0]);
    vec_fini(&l->clients);
    loop_unwatch(l->s->loop, l->watch);
    close(l->fd);
    unlink(l->path);
    free(l->path);
    free(l);
}
