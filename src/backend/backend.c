#include "config.h"

#include "backend/backend.h"

#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

static void report_prepared(struct loop *loop, void *ud);

struct prepared {
    backend_prepared_fn *done;
    void *ud;
};

void backend_prepare(struct backend *b, struct team *team, backend_prepared_fn *done, void *ud)
{
    struct prepared *p;

    if (b->ops->prepare) {
        b->ops->prepare(b, team, done, ud);
        return;
    }
    p = xmalloc(sizeof *p);
    *p = (struct prepared){done, ud};
    loop_timer_add(b->loop, 0, report_prepared, p);
}

static void report_prepared(struct loop *loop, void *ud)
{
    struct prepared *p = ud;
    p->done(p->ud, NULL);
    free(p);
}

int64_t backend_estimate_tokens(const char *text)
{
    size_t len = text ? strlen(text) : 0;
    return len ? (int64_t)((len + 3) / 4) : 0;
}
