#include "config.h"

#include "core/vec.h"

#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

void vec_init(struct vec *v, void (*free_item)(void *))
{
    v->items = NULL;
    v->len = v->cap = 0;
    v->free_item = free_item;
}

void vec_fini(struct vec *v)
{
    vec_truncate(v, 0);
    free(v->items);
    v->items = NULL;
    v->cap = 0;
}

void vec_push(struct vec *v, void *item)
{
    if (v->len == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 8;
        v->items = xreallocarray(v->items, v->cap, sizeof *v->items);
    }
    v->items[v->len++] = item;
}

void *vec_remove(struct vec *v, size_t i)
{
    void *item;

    if (i >= v->len)
        return NULL;
    item = v->items[i];
    memmove(&v->items[i], &v->items[i + 1], (v->len - i - 1) * sizeof *v->items);
    v->len--;
    return item;
}

void vec_truncate(struct vec *v, size_t n)
{
    while (v->len > n) {
        void *item = v->items[--v->len];
        if (v->free_item)
            v->free_item(item);
    }
}
