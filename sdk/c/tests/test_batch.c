/* Reading a batch: accessors over hand-made columns, as logcatch sends them. */
#include "../logcatch.h"
#include "check.h"
#include "tests.h"

/* arena: "helloGET /xthréeinfo" (offsets 0, 5, 11, 17) */
static const char ARENA[] = "helloGET /xthr\xc3\xa9" "einfo";
static const uint32_t MSG_OFF[] = {0, 5, 11};
static const uint32_t MSG_LEN[] = {5, 6, 6};
static const uint64_t TS[] = {10, 20, 30};
static const uint32_t SOURCE_ID[] = {1, 0, 1};
static const lc_str SOURCES[] = {{"/var/log/a.log", 14}, {"stdin", 5}};
static const uint64_t OFFSET[] = {0, 6, 13};
static const uint32_t ATTR_END[] = {2, 2, 5};
static const uint32_t ATTR_KEY_ID[] = {0, 1, 2, 3, 0};
static const lc_str ATTR_KEYS[] = {{"level", 5}, {"status", 6}, {"ratio", 5}, {"ok", 2}};
static const uint8_t ATTR_KIND[] = {0, 1, 2, 3, 0};
static uint64_t attr_val[5];

lc_batch test_wire_batch(void) {
    double ratio = 0.25;
    uint64_t ratio_bits;
    memcpy(&ratio_bits, &ratio, sizeof ratio_bits);
    attr_val[0] = (uint64_t)17 << 32 | 4; /* "info" */
    attr_val[1] = (uint64_t)(int64_t)-404;
    attr_val[2] = ratio_bits;
    attr_val[3] = 1;
    attr_val[4] = (uint64_t)5 << 32 | 3; /* "GET" */
    lc_batch b = {
        .arena = (const uint8_t *)ARENA,
        .arena_len = sizeof ARENA - 1,
        .len = 3,
        .attrs = 5,
        .msg_off = MSG_OFF,
        .msg_len = MSG_LEN,
        .source_id = SOURCE_ID,
        .attr_end = ATTR_END,
        .attr_key_id = ATTR_KEY_ID,
        .timestamp_ns = TS,
        .offset = OFFSET,
        .attr_val = attr_val,
        .attr_kind = ATTR_KIND,
        .sources = SOURCES,
        .sources_len = 2,
        .attr_keys = ATTR_KEYS,
        .attr_keys_len = 4,
    };
    return b;
}

static void columns_read_as_events(void) {
    lc_batch b = test_wire_batch();
    char why[100];
    CHECK(lc_batch_check(&b, why, sizeof why));
    CHECK(lc_batch_len(&b) == 3);
    const char *want_msg[] = {"hello", "GET /x", "thr\xc3\xa9" "e"};
    const char *want_src[] = {"stdin", "/var/log/a.log", "stdin"};
    size_t seen = 0;
    LC_FOR_EACH(ev, &b) {
        size_t len;
        const char *m = lc_event_message(&ev, &len);
        CHECK_BYTES(m, len, want_msg[seen]);
        m = lc_event_source(&ev, &len);
        CHECK_BYTES(m, len, want_src[seen]);
        CHECK(lc_event_offset(&ev) == OFFSET[seen]);
        CHECK(lc_event_timestamp_ns(&ev) == TS[seen]);
        CHECK(lc_event_index(&ev) == seen);
        seen++;
    }
    CHECK(seen == 3);
    /* The iterator sees the same events. */
    lc_iter it = lc_batch_iter(&b);
    lc_event ev;
    seen = 0;
    while (lc_iter_next(&it, &ev)) CHECK(ev.index == seen++);
    CHECK(seen == 3);
    CHECK(!lc_iter_next(&it, &ev));
}

static void attributes_read_by_name_key_and_position(void) {
    lc_batch b = test_wire_batch();
    lc_event e0 = lc_batch_event(&b, 0), e1 = lc_batch_event(&b, 1), e2 = lc_batch_event(&b, 2);
    lc_value v;
    CHECK(lc_event_attr(&e0, "level", &v) && v.kind == LC_TEXT);
    CHECK_BYTES(v.text.ptr, v.text.len, "info");
    CHECK(lc_event_attr(&e0, "status", &v) && v.kind == LC_INT && v.i64 == -404);
    CHECK(!lc_event_attr(&e0, "missing", &v));
    CHECK(!lc_event_attr(&e1, "level", &v));
    CHECK(lc_event_attr_count(&e1) == 0);
    CHECK(lc_event_attr_count(&e2) == 3);
    lc_str k = lc_event_attr_at(&e2, 0, &v);
    CHECK_BYTES(k.ptr, k.len, "ratio");
    CHECK(v.kind == LC_FLOAT && v.f64 == 0.25);
    k = lc_event_attr_at(&e2, 1, &v);
    CHECK_BYTES(k.ptr, k.len, "ok");
    CHECK(v.kind == LC_BOOL && v.boolean);
    k = lc_event_attr_at(&e2, 2, &v);
    CHECK_BYTES(k.ptr, k.len, "level");
    CHECK_BYTES(v.text.ptr, v.text.len, "GET");

    lc_key level = lc_batch_attr_key(&b, "level");
    CHECK(level.id == 0);
    CHECK(lc_event_attr_by(&e2, level, &v) && v.kind == LC_TEXT);
    CHECK_BYTES(v.text.ptr, v.text.len, "GET");
    CHECK(!lc_event_attr_by(&e1, level, &v));
    lc_key none = lc_batch_attr_key(&b, "nope");
    CHECK(none.id == UINT32_MAX);
    CHECK(!lc_event_attr_by(&e0, none, &v));
}

static void malformed_batches_are_caught(void) {
    char why[100];
    lc_batch b = test_wire_batch();
    uint32_t bad_len[] = {5, 6, 11}; /* the last message runs past the arena */
    b.msg_len = bad_len;
    CHECK(!lc_batch_check(&b, why, sizeof why));
    CHECK_CONTAINS(why, "event 2: message span");

    b = test_wire_batch();
    uint32_t bad_src[] = {1, 2, 0};
    b.source_id = bad_src;
    CHECK(!lc_batch_check(&b, why, sizeof why));
    CHECK_CONTAINS(why, "event 1: source id 2");

    b = test_wire_batch();
    uint32_t bad_end[] = {3, 2, 5};
    b.attr_end = bad_end;
    CHECK(!lc_batch_check(&b, why, sizeof why));
    CHECK_CONTAINS(why, "attr-end 2 out of order");

    b = test_wire_batch();
    uint32_t short_end[] = {2, 2, 4};
    b.attr_end = short_end;
    CHECK(!lc_batch_check(&b, why, sizeof why));
    CHECK_CONTAINS(why, "5 attributes but attr-end covers 4");

    b = test_wire_batch();
    uint8_t bad_kind[] = {0, 1, 2, 9, 0};
    b.attr_kind = bad_kind;
    CHECK(!lc_batch_check(&b, why, sizeof why));
    CHECK_CONTAINS(why, "attribute 3: unknown kind 9");

    b = test_wire_batch();
    uint32_t bad_key[] = {0, 1, 2, 4, 0};
    b.attr_key_id = bad_key;
    CHECK(!lc_batch_check(&b, why, sizeof why));
    CHECK_CONTAINS(why, "attribute 3: key id");

    b = test_wire_batch();
    attr_val[4] = (uint64_t)20 << 32 | 3;
    CHECK(!lc_batch_check(&b, why, sizeof why));
    CHECK_CONTAINS(why, "attribute 4: text span");

    lc_batch empty = {0};
    CHECK(lc_batch_check(&empty, why, sizeof why));
    CHECK(lc_batch_len(&empty) == 0);
}

void test_batch(void) {
    RUN(columns_read_as_events);
    RUN(attributes_read_by_name_key_and_position);
    RUN(malformed_batches_are_caught);
}
