/* Writing a batch: lc_builder's events, attributes and dictionaries. */
#include <stdio.h>
#include <stdlib.h>

#include "../logcatch.h"
#include "check.h"
#include "tests.h"

static void new_events_and_attributes(void) {
    lc_builder b = {0};
    lc_builder_push(&b, "one", 3, "a.log", 0, 100);
    lc_builder_attr_text(&b, "level", "info", 4);
    lc_builder_attr_int(&b, "status", -7);
    lc_builder_attr_float(&b, "ratio", 1.5);
    lc_builder_attr_bool(&b, "ok", false);
    lc_builder_attr_int(&b, "status", 200); /* replaces */
    lc_builder_push(&b, "two", 3, "b.log", 4, 200);
    lc_builder_push(&b, "three", 5, "a.log", 8, 300);
    lc_builder_attr_text(&b, "level", "warn", 4);
    CHECK(lc_builder_len(&b) == 3);
    CHECK(b.misuse == NULL);

    lc_batch r = lc_builder_batch(&b);
    char why[100];
    CHECK(lc_batch_check(&r, why, sizeof why));
    CHECK(r.sources_len == 2); /* a.log once */
    CHECK(r.attr_keys_len == 4);
    lc_event e0 = lc_batch_event(&r, 0), e1 = lc_batch_event(&r, 1), e2 = lc_batch_event(&r, 2);
    size_t len;
    const char *s = lc_event_message(&e0, &len);
    CHECK_BYTES(s, len, "one");
    s = lc_event_source(&e1, &len);
    CHECK_BYTES(s, len, "b.log");
    s = lc_event_source(&e2, &len);
    CHECK_BYTES(s, len, "a.log");
    CHECK(lc_event_offset(&e2) == 8 && lc_event_timestamp_ns(&e2) == 300);
    CHECK(lc_event_attr_count(&e0) == 4);
    lc_value v;
    CHECK(lc_event_attr(&e0, "status", &v) && v.kind == LC_INT && v.i64 == 200);
    CHECK(lc_event_attr(&e0, "ratio", &v) && v.kind == LC_FLOAT && v.f64 == 1.5);
    CHECK(lc_event_attr(&e0, "ok", &v) && v.kind == LC_BOOL && !v.boolean);
    CHECK(lc_event_attr(&e0, "level", &v) && v.kind == LC_TEXT);
    CHECK_BYTES(v.text.ptr, v.text.len, "info");
    CHECK(lc_event_attr_count(&e1) == 0);
    CHECK(lc_event_attr(&e2, "level", &v));
    CHECK_BYTES(v.text.ptr, v.text.len, "warn");
    lc_builder_free(&b);
    CHECK(lc_builder_len(&b) == 0);
}

static void copies_keep_source_offset_and_attributes(void) {
    lc_batch in = test_wire_batch();
    lc_builder b;
    lc_builder_init(&b);
    lc_builder_reserve(&b, 3, 64);
    LC_FOR_EACH(ev, &in) {
        if (ev.index == 1) {
            lc_builder_push_event_with_message(&b, &ev, "changed", 7);
        } else {
            lc_builder_push_event(&b, &ev);
        }
    }
    lc_builder_attr_text(&b, "level", "error", 5); /* replaces the copied one */
    lc_builder_set_messagef(&b, "#%d %s", 3, "last");
    lc_batch r = lc_builder_batch(&b);
    char why[100];
    CHECK(lc_batch_check(&r, why, sizeof why));
    CHECK(lc_batch_len(&r) == 3);
    LC_FOR_EACH(ev, &r) {
        lc_event orig = lc_batch_event(&in, ev.index);
        size_t a, c;
        const char *x = lc_event_source(&ev, &a), *y = lc_event_source(&orig, &c);
        CHECK(a == c && memcmp(x, y, a) == 0);
        CHECK(lc_event_offset(&ev) == lc_event_offset(&orig));
        CHECK(lc_event_timestamp_ns(&ev) == lc_event_timestamp_ns(&orig));
        CHECK(lc_event_attr_count(&ev) == lc_event_attr_count(&orig));
    }
    lc_event e0 = lc_batch_event(&r, 0), e1 = lc_batch_event(&r, 1), e2 = lc_batch_event(&r, 2);
    size_t len;
    const char *m = lc_event_message(&e0, &len);
    CHECK_BYTES(m, len, "hello");
    m = lc_event_message(&e1, &len);
    CHECK_BYTES(m, len, "changed");
    m = lc_event_message(&e2, &len);
    CHECK_BYTES(m, len, "#3 last");
    lc_value v;
    CHECK(lc_event_attr(&e0, "status", &v) && v.i64 == -404);
    CHECK(lc_event_attr(&e2, "level", &v));
    CHECK_BYTES(v.text.ptr, v.text.len, "error");
    CHECK(lc_event_attr(&e2, "ratio", &v) && v.f64 == 0.25);
    lc_builder_free(&b);
}

static void set_message_may_reuse_the_arena(void) {
    lc_builder b = {0};
    lc_builder_push(&b, "abcdef", 6, "s", 0, 0);
    /* Text of the builder's own arena, while the arena grows (ASan sees a stale read). */
    lc_batch r = lc_builder_batch(&b);
    lc_event ev = lc_batch_event(&r, 0);
    size_t len;
    const char *m = lc_event_message(&ev, &len);
    size_t cap = b.arena_cap;
    lc_builder_set_message(&b, m + 1, len - 1);
    CHECK(b.arena_cap > cap);
    r = lc_builder_batch(&b);
    ev = lc_batch_event(&r, 0);
    m = lc_event_message(&ev, &len);
    CHECK_BYTES(m, len, "bcdef");
    lc_builder_free(&b);
}

static void many_names_deduplicate_through_the_hash_index(void) {
    lc_builder b = {0};
    char name[32];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100; i++) {
            snprintf(name, sizeof name, "src-%d", i);
            lc_builder_push(&b, "m", 1, name, (uint64_t)i, 0);
            snprintf(name, sizeof name, "key-%d", i % 40);
            lc_builder_attr_int(&b, name, i);
        }
    }
    lc_batch r = lc_builder_batch(&b);
    CHECK(r.sources_len == 100);
    CHECK(r.attr_keys_len == 40);
    CHECK(lc_batch_len(&r) == 300);
    lc_event ev = lc_batch_event(&r, 257);
    size_t len;
    const char *s = lc_event_source(&ev, &len);
    CHECK_BYTES(s, len, "src-57");
    lc_value v;
    CHECK(lc_event_attr(&ev, "key-17", &v) && v.i64 == 57);
    lc_builder_free(&b);
}

static void misuse_is_recorded_not_fatal(void) {
    lc_builder b = {0};
    lc_builder_attr_int(&b, "x", 1);
    CHECK(b.misuse && strstr(b.misuse, "lc_builder_attr before any event"));
    lc_builder_set_message(&b, "x", 1);
    CHECK(strstr(b.misuse, "lc_builder_attr")); /* the first misuse stays */
    CHECK(lc_builder_len(&b) == 0);
    lc_builder_free(&b);
}

static void from_messages_makes_consecutive_lines(void) {
    const char *lines[] = {"first", "", "third"};
    lc_builder b = {0};
    lc_builder_from_messages(&b, lines, 3);
    lc_batch r = lc_builder_batch(&b);
    CHECK(lc_batch_len(&r) == 3);
    uint64_t want_off[] = {0, 6, 7};
    LC_FOR_EACH(ev, &r) {
        size_t len;
        const char *m = lc_event_message(&ev, &len);
        CHECK_BYTES(m, len, lines[ev.index]);
        CHECK(lc_event_offset(&ev) == want_off[ev.index]);
        CHECK(lc_event_timestamp_ns(&ev) == ev.index);
        m = lc_event_source(&ev, &len);
        CHECK_BYTES(m, len, "test");
    }
    lc_builder_free(&b);
}

void test_builder(void) {
    RUN(new_events_and_attributes);
    RUN(copies_keep_source_offset_and_attributes);
    RUN(set_message_may_reuse_the_arena);
    RUN(many_names_deduplicate_through_the_hash_index);
    RUN(misuse_is_recorded_not_fatal);
    RUN(from_messages_makes_consecutive_lines);
}
