/* libFuzzer target for the SSE parser. The input's first byte says how many
 * of the next bytes are chunk sizes (1 to 8, cycled; 0 is an empty chunk)
 * and after which event the callback stops the parser (0: never); the rest
 * is the stream. It is parsed once in those chunks and once in one feed,
 * and both runs must give the same events, the same error and the same
 * end. Every event is checked against what the parser promises.
 *
 * libFuzzer: clang -g -fsanitize=fuzzer,address,undefined -Isrc ...
 * Smoke test without libFuzzer: gcc -DSSE_FUZZ_STANDALONE ... then run the
 * binary on input files. -DSSE_MAX_LINE=64 -DSSE_MAX_EVENT=256 (on every
 * file) makes the limits reachable with small inputs. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/sse.h"

/* assert() may be compiled out; these checks never are. */
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

struct run {
    struct sse_parser parser;
    uint64_t hash; /* FNV-1a over every event's fields */
    size_t events;
    size_t stop_after;
    int status;
    bool pending;
};

static void hash_bytes(uint64_t *h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        *h ^= (unsigned char)s[i];
        *h *= 0x100000001b3ULL;
    }
    *h ^= 0xff; /* a separator no field can make ambiguous */
    *h *= 0x100000001b3ULL;
}

static void on_event(void *ud, const struct sse_event *ev)
{
    struct run *r = ud;

    CHECK(ev->type && ev->data && ev->id);
    CHECK(ev->data_len == strlen(ev->data));
    CHECK(ev->data_len <= SSE_MAX_EVENT);
    CHECK(ev->type[0] != '\0');
    CHECK(strlen(ev->type) <= 3 * SSE_MAX_LINE); /* a NUL grows to U+FFFD */
    CHECK(strlen(ev->id) <= SSE_MAX_LINE);
    /* Line ends never reach a value; data lines are joined with \n only. */
    CHECK(strpbrk(ev->type, "\r\n") == NULL);
    CHECK(strpbrk(ev->id, "\r\n") == NULL);
    CHECK(memchr(ev->data, '\r', ev->data_len) == NULL);
    hash_bytes(&r->hash, ev->type, strlen(ev->type));
    hash_bytes(&r->hash, ev->data, ev->data_len);
    hash_bytes(&r->hash, ev->id, strlen(ev->id));
    r->events++;
    if (r->events == r->stop_after)
        sse_parser_stop(&r->parser);
}

static void run_init(struct run *r, size_t stop_after)
{
    sse_parser_init(&r->parser, on_event, r);
    r->hash = 0xcbf29ce484222325ULL;
    r->events = 0;
    r->stop_after = stop_after;
    r->status = 0;
}

/* Feeds stream in chunks whose sizes cycle through sizes[0..nsizes). */
static void run_chunked(struct run *r, const char *stream, size_t len, const uint8_t *sizes, size_t nsizes)
{
    size_t pos = 0, k = 0, zeros = 0;

    while (pos < len) {
        size_t n = sizes[k++ % nsizes];

        zeros = n == 0 ? zeros + 1 : 0;
        if (zeros > nsizes)
            n = 1; /* every size is 0: move on anyway */
        if (n > len - pos)
            n = len - pos;
        r->status = sse_parser_feed(&r->parser, stream + pos, n);
        CHECK(r->status == 0 || r->status == -1);
        CHECK((r->status == -1) == (sse_parser_error(&r->parser) != NULL));
        pos += n;
    }
    r->pending = sse_parser_finish(&r->parser);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct run chunked, whole;
    size_t nsizes, stop_after;
    const char *stream;
    size_t len;

    if (size < 2)
        return 0;
    nsizes = 1 + (data[0] & 7);
    stop_after = data[0] >> 3;
    if (size < 1 + nsizes)
        return 0;
    stream = (const char *)data + 1 + nsizes;
    len = size - 1 - nsizes;

    run_init(&chunked, stop_after);
    run_chunked(&chunked, stream, len, data + 1, nsizes);

    run_init(&whole, stop_after);
    whole.status = sse_parser_feed(&whole.parser, len ? stream : NULL, len);
    whole.pending = sse_parser_finish(&whole.parser);

    CHECK(sse_parser_stopped(&whole.parser) == (stop_after && whole.events >= stop_after));
    CHECK(chunked.events == whole.events);
    CHECK(chunked.hash == whole.hash);
    CHECK(chunked.status == whole.status);
    CHECK(chunked.pending == whole.pending);
    CHECK(sse_parser_retry_ms(&chunked.parser) == sse_parser_retry_ms(&whole.parser));
    if (whole.status == -1)
        CHECK(strcmp(sse_parser_error(&chunked.parser), sse_parser_error(&whole.parser)) == 0);
    if (stop_after)
        CHECK(whole.events <= stop_after);

    sse_parser_fini(&chunked.parser);
    sse_parser_fini(&whole.parser);
    return 0;
}

#ifdef SSE_FUZZ_STANDALONE
/* Runs the target once on each file named on the command line. */
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        uint8_t *buf = NULL;
        size_t len = 0, cap = 0, n;

        if (!f) {
            perror(argv[i]);
            return 1;
        }
        do {
            if (len == cap) {
                cap = cap ? cap * 2 : 4096;
                buf = realloc(buf, cap);
                CHECK(buf != NULL);
            }
            n = fread(buf + len, 1, cap - len, f);
            len += n;
        } while (n > 0);
        CHECK(!ferror(f));
        fclose(f);
        LLVMFuzzerTestOneInput(buf, len);
        free(buf);
        printf("%s: ok (%zu bytes)\n", argv[i], len);
    }
    return 0;
}
#endif
