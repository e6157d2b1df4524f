/* Whole files: reading one into memory, and replacing one atomically so
 * that a reader (or a crash) never sees half of it. */
#ifndef AGENTDECK_CORE_FILE_H
#define AGENTDECK_CORE_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* Appends the contents of path to out. Returns false with *error set (a new
 * string naming path and what went wrong, the caller frees it) when path
 * cannot be read, is a folder, or holds more than max bytes. */
bool file_read(const char *path, size_t max, struct buf *out, char **error);

/* Writes len bytes of data to path through a temporary file in the same
 * folder, synced and renamed over path. A path that is a symbolic link is
 * followed, so the link stays. A new file gets mode 0600, a replaced one
 * keeps its mode. Returns false with *error set (a new string) when path
 * is a folder or cannot be written; path is then left as it was. */
bool file_write_atomic(const char *path, const char *data, size_t len, char **error);

#endif
