/* Writing a batch: lc_builder, and its name dictionaries. */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

/* Names scanned linearly before the dictionary builds a hash index. */
#define DICT_SCAN 16

static uint32_t hash(lc_str s) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < s.len; i++) h = (h ^ (uint8_t)s.ptr[i]) * 16777619u;
    return h;
}

static void dict_index(lc__dict *d, uint32_t id) {
    size_t mask = d->slots_cap - 1;
    for (size_t i = hash(d->names[id]) & mask;; i = (i + 1) & mask) {
        if (d->slots[i] == 0) {
            d->slots[i] = id + 1;
            return;
        }
    }
}

static void dict_rehash(lc__dict *d) {
    size_t cap = 64;
    while (cap < d->len * 2) cap *= 2;
    free(d->slots);
    d->slots = lc__xrealloc(NULL, cap * sizeof *d->slots);
    memset(d->slots, 0, cap * sizeof *d->slots);
    d->slots_cap = cap;
    for (uint32_t id = 0; id < d->len; id++) dict_index(d, id);
}

/* The id of `name` in the dictionary, added if new. */
static uint32_t dict_intern(lc__dict *d, lc_str name) {
    if (d->last < d->len && lc_str_eq(d->names[d->last], name)) return d->last;
    if (d->slots) {
        size_t mask = d->slots_cap - 1;
        for (size_t i = hash(name) & mask; d->slots[i]; i = (i + 1) & mask) {
            uint32_t id = d->slots[i] - 1;
            if (lc_str_eq(d->names[id], name)) return d->last = id;
        }
    } else {
        for (uint32_t id = 0; id < d->len; id++) {
            if (lc_str_eq(d->names[id], name)) return d->last = id;
        }
    }
    if (d->len >= UINT32_MAX - 1) abort();
    lc__grow((void **)&d->names, &d->cap, d->len + 1, sizeof *d->names);
    uint32_t id = (uint32_t)d->len++;
    d->names[id].ptr = lc__strndup(name.ptr, name.len);
    d->names[id].len = name.len;
    if (d->len > DICT_SCAN) {
        if (!d->slots || d->len * 2 > d->slots_cap) {
            dict_rehash(d);
        } else {
            dict_index(d, id);
        }
    }
    return d->last = id;
}

static void dict_free(lc__dict *d) {
    for (size_t i = 0; i < d->len; i++) free((char *)d->names[i].ptr);
    free(d->names);
    free(d->slots);
    memset(d, 0, sizeof *d);
}

void lc_builder_init(lc_builder *b) { memset(b, 0, sizeof *b); }

void lc_builder_free(lc_builder *b) {
    free(b->arena);
    free(b->msg_off);
    free(b->msg_len);
    free(b->source_id);
    free(b->attr_end);
    free(b->timestamp_ns);
    free(b->offset);
    free(b->attr_key_id);
    free(b->attr_kind);
    free(b->attr_val);
    dict_free(&b->sources);
    dict_free(&b->keys);
    memset(b, 0, sizeof *b);
}

/* Makes room for `need` events in every per-event column. */
static void grow_events(lc_builder *b, size_t need) {
    if (need <= b->cap) return;
    size_t cap = b->cap;
    lc__grow((void **)&b->msg_off, &cap, need, sizeof *b->msg_off);
    b->msg_len = lc__xrealloc(b->msg_len, cap * sizeof *b->msg_len);
    b->source_id = lc__xrealloc(b->source_id, cap * sizeof *b->source_id);
    b->attr_end = lc__xrealloc(b->attr_end, cap * sizeof *b->attr_end);
    b->timestamp_ns = lc__xrealloc(b->timestamp_ns, cap * sizeof *b->timestamp_ns);
    b->offset = lc__xrealloc(b->offset, cap * sizeof *b->offset);
    b->cap = cap;
}

/* Makes room for `need` attributes in every per-attribute column. */
static void grow_attrs(lc_builder *b, size_t need) {
    if (need <= b->attrs_cap) return;
    size_t cap = b->attrs_cap;
    lc__grow((void **)&b->attr_key_id, &cap, need, sizeof *b->attr_key_id);
    b->attr_kind = lc__xrealloc(b->attr_kind, cap * sizeof *b->attr_kind);
    b->attr_val = lc__xrealloc(b->attr_val, cap * sizeof *b->attr_val);
    b->attrs_cap = cap;
}

void lc_builder_reserve(lc_builder *b, size_t events, size_t bytes) {
    grow_events(b, b->len + events);
    lc__grow((void **)&b->arena, &b->arena_cap, b->arena_len + bytes, 1);
}

/* Appends `len` bytes to the arena and returns where they start. The wire addresses the
 * arena with 32-bit offsets (4 GiB, far above any plugin's memory limit). */
static uint32_t append_text(lc_builder *b, const char *s, size_t len) {
    if (len > UINT32_MAX - b->arena_len) {
        fputs("logcatch SDK: a batch's text exceeds 4 GiB\n", stderr);
        abort();
    }
    /* `s` may be text of this very arena (the message of the event added last). */
    uintptr_t at = (uintptr_t)s, base = (uintptr_t)b->arena;
    size_t inside = b->arena && at >= base && at < base + b->arena_len ? at - base : SIZE_MAX;
    lc__grow((void **)&b->arena, &b->arena_cap, b->arena_len + len, 1);
    if (inside != SIZE_MAX) s = b->arena + inside;
    uint32_t off = (uint32_t)b->arena_len;
    if (len) memcpy(b->arena + off, s, len);
    b->arena_len += len;
    return off;
}

static void push_fields(lc_builder *b, uint32_t off, size_t len, uint32_t source,
                        uint64_t offset, uint64_t ts) {
    grow_events(b, b->len + 1);
    size_t i = b->len++;
    b->msg_off[i] = off;
    b->msg_len[i] = (uint32_t)len;
    b->source_id[i] = source;
    b->offset[i] = offset;
    b->timestamp_ns[i] = ts;
    b->attr_end[i] = (uint32_t)b->attrs;
}

void lc_builder_push(lc_builder *b, const char *message, size_t len, const char *source,
                     uint64_t offset, uint64_t timestamp_ns) {
    uint32_t off = append_text(b, message, len);
    uint32_t src = dict_intern(&b->sources, lc_cstr(source));
    push_fields(b, off, len, src, offset, timestamp_ns);
}

/* The wire encoding of `v` (kind in `*kind`), with its text at `text_off` in the arena. */
static uint64_t encode(lc_value v, uint32_t text_off, uint8_t *kind) {
    *kind = (uint8_t)v.kind;
    switch (v.kind) {
    case LC_TEXT:
        return (uint64_t)text_off << 32 | (uint64_t)v.text.len;
    case LC_INT:
        return (uint64_t)v.i64;
    case LC_FLOAT: {
        uint64_t raw;
        memcpy(&raw, &v.f64, sizeof raw);
        return raw;
    }
    case LC_BOOL:
        return v.boolean ? 1 : 0;
    }
    *kind = LC_BOOL;
    return 0;
}

/* Copies `ev`'s source, offset, timestamp and attributes as a new event whose message is
 * at `off`. */
static void push_copy(lc_builder *b, const lc_event *ev, uint32_t off, size_t len) {
    size_t src_len;
    const char *src = lc_event_source(ev, &src_len);
    uint32_t source = dict_intern(&b->sources, (lc_str){src, src_len});
    push_fields(b, off, len, source, lc_event_offset(ev), lc_event_timestamp_ns(ev));
    size_t n = lc_event_attr_count(ev);
    grow_attrs(b, b->attrs + n);
    for (size_t i = 0; i < n; i++) {
        lc_value v;
        lc_str key = lc_event_attr_at(ev, i, &v);
        uint32_t text_off = v.kind == LC_TEXT ? append_text(b, v.text.ptr, v.text.len) : 0;
        b->attr_key_id[b->attrs] = dict_intern(&b->keys, key);
        b->attr_val[b->attrs] = encode(v, text_off, &b->attr_kind[b->attrs]);
        b->attrs++;
    }
    b->attr_end[b->len - 1] = (uint32_t)b->attrs;
}

void lc_builder_push_event(lc_builder *b, const lc_event *ev) {
    size_t len;
    const char *m = lc_event_message(ev, &len);
    lc_builder_push_event_with_message(b, ev, m, len);
}

void lc_builder_push_event_with_message(lc_builder *b, const lc_event *ev,
                                        const char *message, size_t len) {
    /* `message` may point into the arena being appended to (a builder's own batch). */
    uint32_t off = append_text(b, message, len);
    push_copy(b, ev, off, len);
}

void lc_builder_set_message(lc_builder *b, const char *message, size_t len) {
    if (b->len == 0) {
        if (!b->misuse) b->misuse = "lc_builder_set_message before any event";
        return;
    }
    uint32_t off = append_text(b, message, len);
    b->msg_off[b->len - 1] = off;
    b->msg_len[b->len - 1] = (uint32_t)len;
}

void lc_builder_set_messagef(lc_builder *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *message = lc__vformat(fmt, ap);
    va_end(ap);
    lc_builder_set_message(b, message, strlen(message));
    free(message);
}

void lc_builder_attr(lc_builder *b, const char *key, lc_value value) {
    if (b->len == 0) {
        if (!b->misuse) b->misuse = "lc_builder_attr before any event";
        return;
    }
    uint32_t key_id = dict_intern(&b->keys, lc_cstr(key));
    uint32_t text_off =
        value.kind == LC_TEXT ? append_text(b, value.text.ptr, value.text.len) : 0;
    uint8_t kind;
    uint64_t raw = encode(value, text_off, &kind);
    size_t first = b->len == 1 ? 0 : b->attr_end[b->len - 2];
    for (size_t a = first; a < b->attrs; a++) {
        if (b->attr_key_id[a] == key_id) {
            b->attr_kind[a] = kind;
            b->attr_val[a] = raw;
            return;
        }
    }
    grow_attrs(b, b->attrs + 1);
    b->attr_key_id[b->attrs] = key_id;
    b->attr_kind[b->attrs] = kind;
    b->attr_val[b->attrs] = raw;
    b->attrs++;
    b->attr_end[b->len - 1] = (uint32_t)b->attrs;
}

lc_batch lc_builder_batch(const lc_builder *b) {
    lc_batch r = {
        .arena = (const uint8_t *)b->arena,
        .arena_len = b->arena_len,
        .len = b->len,
        .attrs = b->attrs,
        .msg_off = b->msg_off,
        .msg_len = b->msg_len,
        .source_id = b->source_id,
        .attr_end = b->attr_end,
        .attr_key_id = b->attr_key_id,
        .timestamp_ns = b->timestamp_ns,
        .offset = b->offset,
        .attr_val = b->attr_val,
        .attr_kind = b->attr_kind,
        .sources = b->sources.names,
        .sources_len = b->sources.len,
        .attr_keys = b->keys.names,
        .attr_keys_len = b->keys.len,
    };
    return r;
}

void lc_builder_from_messages(lc_builder *b, const char *const *messages, size_t n) {
    lc_builder_free(b);
    uint64_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(messages[i]);
        lc_builder_push(b, messages[i], len, "test", offset, i);
        offset += len + 1;
    }
}
