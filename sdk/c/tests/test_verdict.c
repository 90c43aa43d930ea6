/* Verdicts: drops in any order, keep lists, replace, and what logcatch would pass on. */
#include <stdio.h>
#include <stdlib.h>

#include "../logcatch.h"
#include "check.h"
#include "tests.h"

/* A batch of `n` messages "m0", "m1", ... in `b`. */
static lc_batch numbered(lc_builder *b, size_t n) {
    char text[16];
    lc_builder_free(b);
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(text, sizeof text, "m%zu", i);
        lc_builder_push(b, text, (size_t)len, "test", i, i);
    }
    return lc_builder_batch(b);
}

/* The finished keep list equals `want` (n entries). */
static bool keeps(lc_verdict *v, const uint32_t *want, size_t n) {
    lc_error err = {0};
    bool ok = lc_verdict_finish(v, &err);
    lc_error_clear(&err);
    return ok && v->kind == LC_KEEP && v->keep_len == n &&
           (n == 0 || memcmp(v->keep, want, n * sizeof *want) == 0);
}

static void starts_as_keep_all(void) {
    lc_builder b = {0};
    lc_batch in = numbered(&b, 4);
    lc_verdict v;
    lc_verdict_init(&v, &in);
    lc_error err = {0};
    CHECK(lc_verdict_finish(&v, &err) && v.kind == LC_KEEP_ALL && v.keep == NULL);
    lc_verdict_free(&v);
    lc_builder_free(&b);
}

static void drops_in_order_and_out_of_order(void) {
    lc_builder b = {0};
    lc_batch in = numbered(&b, 6);
    lc_verdict v;
    lc_verdict_init(&v, &in);
    lc_drop(&v, 1);
    lc_drop(&v, 4);
    CHECK(keeps(&v, (uint32_t[]){0, 2, 3, 5}, 4));
    lc_verdict_free(&v);

    lc_verdict_init(&v, &in);
    lc_drop(&v, 4);
    lc_drop(&v, 1); /* behind the cursor */
    lc_drop(&v, 4); /* twice */
    lc_drop(&v, 5);
    CHECK(keeps(&v, (uint32_t[]){0, 2, 3}, 3));
    lc_verdict_free(&v);

    lc_verdict_init(&v, &in);
    for (uint32_t i = 6; i-- > 0;) lc_drop(&v, i);
    CHECK(keeps(&v, NULL, 0));
    lc_verdict_free(&v);
    lc_builder_free(&b);
}

static void drop_all_keep_only_and_keep_all(void) {
    lc_builder b = {0};
    lc_batch in = numbered(&b, 5);
    lc_verdict v;
    lc_verdict_init(&v, &in);
    lc_drop_all(&v);
    lc_drop(&v, 2); /* already dropped */
    CHECK(keeps(&v, NULL, 0));
    lc_keep_only(&v, (uint32_t[]){1, 3}, 2);
    CHECK(keeps(&v, (uint32_t[]){1, 3}, 2));
    lc_drop(&v, 3);
    CHECK(keeps(&v, (uint32_t[]){1}, 1));
    lc_keep_all(&v);
    lc_error err = {0};
    CHECK(lc_verdict_finish(&v, &err) && v.kind == LC_KEEP_ALL);
    lc_verdict_free(&v);
    lc_builder_free(&b);
}

static bool odd(const lc_event *ev, void *ctx) {
    (*(int *)ctx)++;
    return ev->index % 2 == 1;
}

static bool all(const lc_event *ev, void *ctx) {
    (void)ev;
    (void)ctx;
    return true;
}

static void keep_where_calls_back_per_event(void) {
    lc_builder b = {0};
    lc_batch in = numbered(&b, 5);
    lc_verdict v;
    lc_verdict_init(&v, &in);
    int calls = 0;
    lc_keep_where(&v, &in, odd, &calls);
    CHECK(calls == 5);
    CHECK(keeps(&v, (uint32_t[]){1, 3}, 2));
    lc_keep_where(&v, &in, all, NULL);
    lc_error err = {0};
    CHECK(lc_verdict_finish(&v, &err) && v.kind == LC_KEEP_ALL && v.keep_len == 0);
    lc_verdict_free(&v);
    lc_builder_free(&b);
}

static void misuse_fails_the_batch_with_a_reason(void) {
    lc_builder b = {0};
    lc_batch in = numbered(&b, 3);
    lc_verdict v;
    lc_error err = {0};
    lc_verdict_init(&v, &in);
    lc_drop(&v, 3);
    CHECK(!lc_verdict_finish(&v, &err));
    CHECK_CONTAINS(err.message, "lc_drop: index out of range");
    lc_verdict_free(&v);
    lc_error_clear(&err);

    lc_verdict_init(&v, &in);
    lc_keep_only(&v, (uint32_t[]){2, 1}, 2);
    CHECK(!lc_verdict_finish(&v, &err));
    CHECK_CONTAINS(err.message, "strictly ascending");
    lc_verdict_free(&v);
    lc_error_clear(&err);

    lc_verdict_init(&v, &in);
    lc_builder out = {0};
    lc_builder_attr_bool(&out, "x", true);
    lc_replace(&v, &out);
    CHECK(!lc_verdict_finish(&v, &err));
    CHECK_CONTAINS(err.message, "before any event");
    lc_verdict_free(&v);
    lc_error_clear(&err);
    lc_builder_free(&b);
}

static void apply_gives_what_logcatch_passes_on(void) {
    lc_builder b = {0}, out = {0};
    lc_batch in = numbered(&b, 4);
    lc_verdict v;
    lc_error err = {0};
    lc_verdict_init(&v, &in);
    lc_drop(&v, 0);
    lc_drop(&v, 2);
    CHECK(lc_verdict_finish(&v, &err));
    CHECK(lc_verdict_apply(&v, &in, &out, &err));
    lc_batch r = lc_builder_batch(&out);
    CHECK(lc_batch_len(&r) == 2);
    lc_event ev = lc_batch_event(&r, 1);
    size_t len;
    const char *m = lc_event_message(&ev, &len);
    CHECK_BYTES(m, len, "m3");
    CHECK(lc_event_offset(&ev) == 3);
    lc_verdict_free(&v);

    /* Replace: the builder's events; the builder is left empty. */
    lc_verdict_init(&v, &in);
    lc_builder t = {0};
    lc_event first = lc_batch_event(&in, 0);
    lc_builder_push_event_with_message(&t, &first, "new", 3);
    lc_replace(&v, &t);
    CHECK(lc_builder_len(&t) == 0 && t.arena == NULL);
    CHECK(lc_verdict_finish(&v, &err) && v.kind == LC_REPLACE);
    CHECK(lc_verdict_apply(&v, &in, &out, &err));
    r = lc_builder_batch(&out);
    CHECK(lc_batch_len(&r) == 1);
    ev = lc_batch_event(&r, 0);
    m = lc_event_message(&ev, &len);
    CHECK_BYTES(m, len, "new");
    lc_verdict_free(&v);

    /* Keep-all: every event. */
    lc_verdict_init(&v, &in);
    CHECK(lc_verdict_finish(&v, &err));
    CHECK(lc_verdict_apply(&v, &in, &out, &err));
    r = lc_builder_batch(&out);
    CHECK(lc_batch_len(&r) == 4);
    lc_verdict_free(&v);

    /* A verdict for another batch is refused. */
    lc_batch other = numbered(&t, 2);
    lc_verdict_init(&v, &other);
    CHECK(!lc_verdict_apply(&v, &in, &out, &err));
    CHECK_CONTAINS(err.message, "batch of 2 events, not 4");
    lc_error_clear(&err);
    lc_verdict_free(&v);
    lc_builder_free(&t);
    lc_builder_free(&out);
    lc_builder_free(&b);
}

void test_verdict(void) {
    RUN(starts_as_keep_all);
    RUN(drops_in_order_and_out_of_order);
    RUN(drop_all_keep_only_and_keep_all);
    RUN(keep_where_calls_back_per_event);
    RUN(misuse_fails_the_batch_with_a_reason);
    RUN(apply_gives_what_logcatch_passes_on);
}
