/* Reading a batch: key lookups and the shape check. */
#include <stdio.h>

#include "internal.h"

lc_key lc_batch_attr_key(const lc_batch *b, const char *key) {
    lc_str k = lc_cstr(key);
    for (size_t i = 0; i < b->attr_keys_len; i++) {
        if (lc_str_eq(b->attr_keys[i], k)) return (lc_key){(uint32_t)i};
    }
    return (lc_key){UINT32_MAX};
}

bool lc_event_attr(const lc_event *ev, const char *key, lc_value *out) {
    const lc_batch *b = ev->batch;
    lc_str k = lc_cstr(key);
    size_t end = b->attr_end[ev->index];
    for (size_t a = lc__attr_start(b, ev->index); a < end; a++) {
        if (lc_str_eq(b->attr_keys[b->attr_key_id[a]], k)) {
            *out = lc__attr_value(b, a);
            return true;
        }
    }
    return false;
}

/* A span of the arena: in bounds (its end too). */
static bool span_ok(const lc_batch *b, uint64_t off, uint64_t len) {
    return off <= b->arena_len && len <= b->arena_len - off;
}

bool lc_batch_check(const lc_batch *b, char *why, size_t cap) {
    if (b->len > UINT32_MAX || b->arena_len > UINT32_MAX) {
        snprintf(why, cap, "%zu events and %zu arena bytes exceed the wire's 32-bit offsets",
                 b->len, b->arena_len);
        return false;
    }
    uint32_t prev_end = 0;
    for (size_t i = 0; i < b->len; i++) {
        if (!span_ok(b, b->msg_off[i], b->msg_len[i])) {
            snprintf(why, cap, "event %zu: message span out of the arena", i);
            return false;
        }
        if (b->source_id[i] >= b->sources_len) {
            snprintf(why, cap, "event %zu: source id %u out of range", i,
                     (unsigned)b->source_id[i]);
            return false;
        }
        uint32_t end = b->attr_end[i];
        if (end < prev_end || end > b->attrs) {
            snprintf(why, cap, "event %zu: attr-end %u out of order or range", i,
                     (unsigned)end);
            return false;
        }
        prev_end = end;
    }
    if (prev_end != b->attrs) {
        snprintf(why, cap, "%zu attributes but attr-end covers %u", b->attrs,
                 (unsigned)prev_end);
        return false;
    }
    for (size_t a = 0; a < b->attrs; a++) {
        if (b->attr_key_id[a] >= b->attr_keys_len) {
            snprintf(why, cap, "attribute %zu: key id out of range", a);
            return false;
        }
        uint8_t kind = b->attr_kind[a];
        if (kind > LC_BOOL) {
            snprintf(why, cap, "attribute %zu: unknown kind %u", a, (unsigned)kind);
            return false;
        }
        uint64_t raw = b->attr_val[a];
        if (kind == LC_TEXT && !span_ok(b, raw >> 32, raw & 0xFFFFFFFFu)) {
            snprintf(why, cap, "attribute %zu: text span out of the arena", a);
            return false;
        }
    }
    return true;
}
