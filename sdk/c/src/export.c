/* The component's `logcatch:plugin/filter` export, over wit-bindgen's C bindings (gen/):
 * turns the wire batch into an lc_batch, calls the filter's functions (LC_EXPORT_FILTER),
 * and hands its verdict back. WebAssembly only; everything else in the SDK is plain C. */
#include <stdio.h>
#include <stdlib.h>

#include "../gen/filter_plugin.h"
#include "internal.h"

/* The SDK's string views are the bindings' strings, so dictionaries cross without copies. */
_Static_assert(sizeof(lc_str) == sizeof(filter_plugin_string_t) &&
                   offsetof(lc_str, ptr) == offsetof(filter_plugin_string_t, ptr) &&
                   offsetof(lc_str, len) == offsetof(filter_plugin_string_t, len),
               "lc_str must match filter_plugin_string_t");

/* The bindings link in an object file with the component's type; the build passes the
 * contract to the linker instead (`--component-type wit/logcatch.wit`), so the object is
 * not needed and this stands in for its symbol. */
void __component_type_object_force_link_filter_plugin(void) {}

/* Whether init succeeded on this instance. */
static bool ready;

/* Moves the error message (or `fallback`) into the wire's error string. */
static void wire_error(filter_plugin_string_t *out, lc_error *e, const char *fallback) {
    char *m = e->message;
    if (!m || !*m) {
        free(m);
        m = lc__strndup(fallback, strlen(fallback));
    }
    e->message = NULL;
    out->ptr = (uint8_t *)m;
    out->len = strlen(m);
}

bool exports_logcatch_plugin_filter_init(filter_plugin_string_t *config,
                                         filter_plugin_string_t *err) {
    lc_error e = {0};
    ready = false;
    bool ok = lc__export_init((lc_str){(const char *)config->ptr, config->len}, &e);
    filter_plugin_string_free(config);
    if (!ok) {
        wire_error(err, &e, "init failed (no message given)");
        return false;
    }
    lc_error_clear(&e);
    ready = true;
    return true;
}

/* A wire list of `len` elements at `ptr` that the bindings free after the call when its
 * length is not zero: an empty one is freed here. */
#define MOVE_LIST(dst, src_ptr, n)                                                           \
    do {                                                                                     \
        (dst).len = (n);                                                                     \
        if ((dst).len == 0) {                                                                \
            free(src_ptr);                                                                   \
            (dst).ptr = NULL;                                                                \
        } else {                                                                             \
            (dst).ptr = (void *)(src_ptr);                                                   \
        }                                                                                    \
    } while (0)

/* Moves a dictionary into a wire list of strings (empty strings freed here, see above). */
static void move_dict(filter_plugin_list_string_t *dst, lc__dict *d) {
    for (size_t i = 0; i < d->len; i++) {
        if (d->names[i].len == 0) {
            free((char *)d->names[i].ptr);
            d->names[i].ptr = NULL;
        }
    }
    MOVE_LIST(*dst, d->names, d->len);
    free(d->slots);
    memset(d, 0, sizeof *d);
}

/* Moves a builder's columns into a wire batch. */
static void move_batch(logcatch_plugin_types_event_batch_t *w, lc_builder *b) {
    MOVE_LIST(w->arena, b->arena, b->arena_len);
    MOVE_LIST(w->msg_off, b->msg_off, b->len);
    MOVE_LIST(w->msg_len, b->msg_len, b->len);
    MOVE_LIST(w->timestamp_ns, b->timestamp_ns, b->len);
    MOVE_LIST(w->source_id, b->source_id, b->len);
    MOVE_LIST(w->offset, b->offset, b->len);
    MOVE_LIST(w->attr_end, b->attr_end, b->len);
    MOVE_LIST(w->attr_key_id, b->attr_key_id, b->attrs);
    MOVE_LIST(w->attr_kind, b->attr_kind, b->attrs);
    MOVE_LIST(w->attr_val, b->attr_val, b->attrs);
    move_dict(&w->sources, &b->sources);
    move_dict(&w->attr_keys, &b->keys);
    memset(b, 0, sizeof *b);
}

/* The wire batch as an lc_batch (no copies), or false with the reason in `why`. */
static bool from_wire(const logcatch_plugin_types_event_batch_t *w, lc_batch *b, char *why,
                      size_t cap) {
    size_t n = w->msg_off.len;
    const struct {
        const char *name;
        size_t len;
    } per_event[] = {
        {"msg-len", w->msg_len.len},   {"timestamp-ns", w->timestamp_ns.len},
        {"source-id", w->source_id.len}, {"offset", w->offset.len},
        {"attr-end", w->attr_end.len},
    };
    for (size_t i = 0; i < sizeof per_event / sizeof per_event[0]; i++) {
        if (per_event[i].len != n) {
            snprintf(why, cap, "%s has %zu entries for %zu events", per_event[i].name,
                     per_event[i].len, n);
            return false;
        }
    }
    if (w->attr_kind.len != w->attr_key_id.len || w->attr_val.len != w->attr_key_id.len) {
        snprintf(why, cap, "attribute columns differ in length");
        return false;
    }
    *b = (lc_batch){
        .arena = w->arena.ptr,
        .arena_len = w->arena.len,
        .len = n,
        .attrs = w->attr_key_id.len,
        .msg_off = w->msg_off.ptr,
        .msg_len = w->msg_len.ptr,
        .source_id = w->source_id.ptr,
        .attr_end = w->attr_end.ptr,
        .attr_key_id = w->attr_key_id.ptr,
        .timestamp_ns = w->timestamp_ns.ptr,
        .offset = w->offset.ptr,
        .attr_val = w->attr_val.ptr,
        .attr_kind = w->attr_kind.ptr,
        .sources = (const lc_str *)w->sources.ptr,
        .sources_len = w->sources.len,
        .attr_keys = (const lc_str *)w->attr_keys.ptr,
        .attr_keys_len = w->attr_keys.len,
    };
    return lc_batch_check(b, why, cap);
}

bool exports_logcatch_plugin_filter_process(exports_logcatch_plugin_filter_event_batch_t *wire,
                                            exports_logcatch_plugin_filter_verdict_t *ret,
                                            filter_plugin_string_t *err) {
    lc_error e = {0};
    lc_batch b;
    char why[200];
    if (!ready) {
        exports_logcatch_plugin_filter_event_batch_free(wire);
        lc__set_error(&e, "process called before a successful init");
        wire_error(err, &e, "");
        return false;
    }
    if (!from_wire(wire, &b, why, sizeof why)) {
        exports_logcatch_plugin_filter_event_batch_free(wire);
        lc_fail(&e, "logcatch sent a malformed batch: %s", why);
        wire_error(err, &e, "");
        return false;
    }
    lc_verdict v;
    lc_verdict_init(&v, &b);
    bool ok = lc__export_process(&b, &v, &e) && lc_verdict_finish(&v, &e);
    exports_logcatch_plugin_filter_event_batch_free(wire);
    if (!ok) {
        lc_verdict_free(&v);
        wire_error(err, &e, "process failed (no message given)");
        return false;
    }
    lc_error_clear(&e);
    switch (v.kind) {
    case LC_KEEP_ALL:
        ret->tag = LOGCATCH_PLUGIN_TYPES_VERDICT_KEEP_ALL;
        break;
    case LC_KEEP:
        ret->tag = LOGCATCH_PLUGIN_TYPES_VERDICT_KEEP;
        MOVE_LIST(ret->val.keep, v.keep, v.keep_len);
        v.keep = NULL;
        break;
    case LC_REPLACE:
        ret->tag = LOGCATCH_PLUGIN_TYPES_VERDICT_REPLACE;
        move_batch(&ret->val.replace, &v.replace);
        break;
    }
    lc_verdict_free(&v);
    return true;
}

void lc_log(lc_level level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *message = lc__vformat(fmt, ap);
    va_end(ap);
    filter_plugin_string_t s = {(uint8_t *)message, strlen(message)};
    logcatch_plugin_host_log((logcatch_plugin_host_level_t)(level <= LC_LOG_ERROR ? level
                                                                                : LC_LOG_ERROR),
                             &s);
    free(message);
}
