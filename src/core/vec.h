/* A growable array of pointers that may own its elements. */
#ifndef AGENTDECK_CORE_VEC_H
#define AGENTDECK_CORE_VEC_H

#include <stddef.h>

struct vec {
    void **items;
    size_t len;
    size_t cap;
    void (*free_item)(void *); /* NULL: the vec does not own its items */
};

void vec_init(struct vec *v, void (*free_item)(void *));
/* Frees the items (when owned) and the array. */
void vec_fini(struct vec *v);
void vec_push(struct vec *v, void *item);
/* Removes item i without freeing it and returns it; later items move down. */
void *vec_remove(struct vec *v, size_t i);
/* Frees (when owned) every item from index n on. */
void vec_truncate(struct vec *v, size_t n);
static inline void *vec_get(const struct vec *v, size_t i)
{
    return i < v->len ? v->items[i] : NULL;
}
static inline void *vec_last(const struct vec *v)
{
    return v->len ? v->items[v->len - 1] : NULL;
}

#endif
