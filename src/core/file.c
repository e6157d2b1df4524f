#include "config.h"

#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/xalloc.h"

bool file_read(const char *path, size_t max, struct buf *out, char **error)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char chunk[8192];
    size_t total = 0;
    ssize_t n;

    if (fd < 0) {
        *error = xasprintf("%s: cannot read: %s", path, strerror(errno));
        return false;
    }
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        *error = xasprintf("%s: cannot read: %s", path, strerror(EISDIR));
        close(fd);
        return false;
    }
    while ((n = read(fd, chunk, sizeof chunk)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            *error = xasprintf("%s: cannot read: %s", path, strerror(errno));
            close(fd);
            return false;
        }
        total += (size_t)n;
        if (total > max) {
            *error = xasprintf("%s: larger than %zu bytes", path, max);
            close(fd);
            return false;
        }
        buf_append(out, chunk, (size_t)n);
    }
    close(fd);
    return true;
}

static bool write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

/* Where to write for path: the target of a link (a new string), or path. */
static char *write_target(const char *path, char **error)
{
    struct stat st;
    char *target;

    if (lstat(path, &st) < 0 || !S_ISLNK(st.st_mode))
        return xstrdup(path);
    if (!(target = realpath(path, NULL))) {
        /* A dangling link: write where it points. */
        char link[PATH_MAX];
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n < 0) {
            *error = xasprintf("%s: cannot follow the link: %s", path, strerror(errno));
            return NULL;
        }
        link[n] = '\0';
        if (link[0] == '/' || !strchr(path, '/'))
            return xstrdup(link);
        return xasprintf("%.*s/%s", (int)(strrchr(path, '/') - path), path, link);
    }
    return target;
}

bool file_write_atomic(const char *path, const char *data, size_t len, char **error)
{
    char *target, *tmp;
    const char *slash;
    struct stat st;
    mode_t mode = 0600;
    int fd, saved;

    if (!*path) {
        *error = xstrdup("no file name given");
        return false;
    }
    if (!(target = write_target(path, error)))
        return false;
    if (stat(target, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            *error = xasprintf("%s is a folder: give a file name", path);
            free(target);
            return false;
        }
        if (!S_ISREG(st.st_mode)) {
            *error = xasprintf("%s is not a regular file: give another name", path);
            free(target);
            return false;
        }
        mode = st.st_mode & 07777;
    }
    /* The temporary file sits beside the target, so the rename stays on one file system. */
    slash = strrchr(target, '/');
    tmp = slash ? xasprintf("%.*s/.%s.XXXXXX", (int)(slash - target), target, slash + 1)
                : xasprintf(".%s.XXXXXX", target);
    if ((fd = mkstemp(tmp)) < 0) {
        *error = xasprintf("%s: cannot write: %s", path, strerror(errno));
        goto fail;
    }
    if (fchmod(fd, mode) < 0 || !write_all(fd, data, len) || fsync(fd) < 0) {
        saved = errno;
        close(fd);
        unlink(tmp);
        *error = xasprintf("%s: cannot write: %s", path, strerror(saved));
        goto fail;
    }
    if (close(fd) < 0 || rename(tmp, target) < 0) {
        saved = errno;
        unlink(tmp);
        *error = xasprintf("%s: cannot write: %s", path, strerror(saved));
        goto fail;
    }
    free(tmp);
    free(target);
    return true;
fail:
    free(tmp);
    free(target);
    return false;
}
