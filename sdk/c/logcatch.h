/* logcatch.h: write logcatch filter plugins in C.
 *
 * A logcatch filter is a WebAssembly component that logcatch calls once per *batch* of log
 * events. On the wire a batch is column-wise (one byte arena plus arrays of numbers, see
 * wit/logcatch.wit); this SDK reads it as events, so a filter never touches an offset:
 *
 *   - lc_batch, lc_event: lc_batch_len(), LC_FOR_EACH(ev, batch) (or lc_batch_iter() and
 *     lc_iter_next()), lc_event_message(&ev, &len), lc_event_source(), lc_event_offset(),
 *     lc_event_timestamp_ns(), lc_event_attr(&ev, "key", &value); attribute values are
 *     lc_value (text, int, float, bool).
 *   - lc_verdict: what process() decides. It starts as keep-all; lc_drop(v, index) drops
 *     events, lc_keep_only() keeps a list, lc_drop_all(), lc_replace(v, &builder).
 *   - lc_builder: the new batch of a transform (copy events, change messages, set
 *     attributes).
 *   - lc_config: the plugin's JSON config, with typed getters that refuse wrong shapes and
 *     unknown keys with clear messages.
 *   - LC_EXPORT_FILTER(init, process): makes two functions of yours the component's
 *     `logcatch:plugin/filter` export.
 *
 * Everything but the export glue (src/export.c) is plain C11 that compiles natively, so a
 * filter's logic is unit-tested with the host's compiler. See README.md.
 */
#ifndef LOGCATCH_H
#define LOGCATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define LC_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define LC_PRINTF(fmt, args)
#endif

/* ---------------------------------------------------------------------------------------
 * Strings and errors
 * ------------------------------------------------------------------------------------- */

/* A borrowed run of bytes (UTF-8 text), not NUL-terminated. */
typedef struct lc_str {
    const char *ptr;
    size_t len;
} lc_str;

/* An lc_str of a string literal. */
#define LC_STR(literal) ((lc_str){(literal), sizeof(literal) - 1})

/* An initializer of an lc_str with a string literal, for statics:
 * `static lc_str word = LC_STR_INIT("DEBUG");`. */
#define LC_STR_INIT(literal) {(literal), sizeof(literal) - 1}

/* An lc_str of a NUL-terminated string. */
static inline lc_str lc_cstr(const char *s) {
    lc_str r = {s, strlen(s)};
    return r;
}

/* True when `a` and `b` hold the same bytes. */
static inline bool lc_str_eq(lc_str a, lc_str b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* Where init() and process() put their error message (see lc_fail). */
typedef struct lc_error {
    char *message; /* malloc'd, NUL-terminated; NULL when no error was set */
} lc_error;

/* Sets the error message (printf-style) and returns false: `return lc_fail(err, ...);`. */
bool lc_fail(lc_error *err, const char *fmt, ...) LC_PRINTF(2, 3);

/* Frees the message and clears the error. */
void lc_error_clear(lc_error *err);

/* ---------------------------------------------------------------------------------------
 * Reading a batch
 * ------------------------------------------------------------------------------------- */

/* Wire tag of an attribute value (attr-kind). */
typedef enum lc_kind { LC_TEXT = 0, LC_INT = 1, LC_FLOAT = 2, LC_BOOL = 3 } lc_kind;

/* A typed attribute value; text borrows from the batch it was read from. */
typedef struct lc_value {
    lc_kind kind;
    union {
        lc_str text;  /* LC_TEXT */
        int64_t i64;  /* LC_INT */
        double f64;   /* LC_FLOAT */
        bool boolean; /* LC_BOOL */
    };
} lc_value;

/* A text value. */
static inline lc_value lc_text(const char *s, size_t len) {
    lc_value v = {.kind = LC_TEXT, .text = {s, len}};
    return v;
}
/* An integer value. */
static inline lc_value lc_int(int64_t i) {
    lc_value v = {.kind = LC_INT, .i64 = i};
    return v;
}
/* A float value. */
static inline lc_value lc_float(double f) {
    lc_value v = {.kind = LC_FLOAT, .f64 = f};
    return v;
}
/* A boolean value. */
static inline lc_value lc_bool(bool b) {
    lc_value v = {.kind = LC_BOOL, .boolean = b};
    return v;
}

/* The events of one process() call: read-only columns, checked by the SDK before your
 * process() sees them. Read it through the functions below, not its fields. */
typedef struct lc_batch {
    const uint8_t *arena;
    size_t arena_len;
    size_t len;   /* events */
    size_t attrs; /* attributes, over all events */
    const uint32_t *msg_off, *msg_len, *source_id, *attr_end, *attr_key_id;
    const uint64_t *timestamp_ns, *offset, *attr_val;
    const uint8_t *attr_kind;
    const lc_str *sources;
    size_t sources_len;
    const lc_str *attr_keys;
    size_t attr_keys_len;
} lc_batch;

/* One event (log line) of a batch: a batch and an index, cheap to copy. */
typedef struct lc_event {
    const lc_batch *batch;
    uint32_t index;
} lc_event;

/* Number of events in the batch. */
static inline size_t lc_batch_len(const lc_batch *b) { return b->len; }

/* The event at `index` (< lc_batch_len). */
static inline lc_event lc_batch_event(const lc_batch *b, size_t index) {
    lc_event ev = {b, (uint32_t)index};
    return ev;
}

/* Iterator over a batch's events, in order. */
typedef struct lc_iter {
    const lc_batch *batch;
    uint32_t next;
} lc_iter;

/* An iterator at the batch's first event. */
static inline lc_iter lc_batch_iter(const lc_batch *b) {
    lc_iter it = {b, 0};
    return it;
}

/* Sets `*ev` to the next event and returns true, or returns false at the end. */
static inline bool lc_iter_next(lc_iter *it, lc_event *ev) {
    if (it->next >= it->batch->len) return false;
    ev->batch = it->batch;
    ev->index = it->next++;
    return true;
}

/* Loops over every event: `LC_FOR_EACH(ev, batch) { ... lc_event_message(&ev, &len) ... }`. */
#define LC_FOR_EACH(ev, batch_ptr)                                                          \
    for (lc_event ev = {(batch_ptr), 0}; ev.index < lc_batch_len(ev.batch); ev.index++)

/* The log line, without its newline: `len` bytes (UTF-8, not NUL-terminated). */
static inline const char *lc_event_message(const lc_event *ev, size_t *len) {
    const lc_batch *b = ev->batch;
    *len = b->msg_len[ev->index];
    return (const char *)b->arena + b->msg_off[ev->index];
}

/* Where the event came from (a file path, `stdin`, ...): `len` bytes, not NUL-terminated. */
static inline const char *lc_event_source(const lc_event *ev, size_t *len) {
    const lc_str *s = &ev->batch->sources[ev->batch->source_id[ev->index]];
    *len = s->len;
    return s->ptr;
}

/* Byte offset of the line in its source; with the source, the event's stable id. */
static inline uint64_t lc_event_offset(const lc_event *ev) {
    return ev->batch->offset[ev->index];
}

/* Ingest time, in nanoseconds since the Unix epoch. */
static inline uint64_t lc_event_timestamp_ns(const lc_event *ev) {
    return ev->batch->timestamp_ns[ev->index];
}

/* The event's position in its batch (what lc_drop and lc_keep_only take). */
static inline uint32_t lc_event_index(const lc_event *ev) { return ev->index; }

/* An attribute key looked up once per batch (lc_batch_attr_key), for lc_event_attr_by. */
typedef struct lc_key {
    uint32_t id; /* UINT32_MAX: no event of the batch has the key */
} lc_key;

/* Looks `key` up once for the whole batch: faster per-event reads with lc_event_attr_by. */
lc_key lc_batch_attr_key(const lc_batch *b, const char *key);

/* The wire value of attribute `a` of the batch (internal to the accessors below). */
static inline lc_value lc__attr_value(const lc_batch *b, size_t a) {
    uint64_t raw = b->attr_val[a];
    lc_value v;
    switch (b->attr_kind[a]) {
    case LC_TEXT:
        v.kind = LC_TEXT;
        v.text.ptr = (const char *)b->arena + (raw >> 32);
        v.text.len = (size_t)(raw & 0xFFFFFFFFu);
        break;
    case LC_INT:
        v.kind = LC_INT;
        v.i64 = (int64_t)raw;
        break;
    case LC_FLOAT:
        v.kind = LC_FLOAT;
        memcpy(&v.f64, &raw, sizeof v.f64);
        break;
    default:
        v.kind = LC_BOOL;
        v.boolean = raw != 0;
        break;
    }
    return v;
}

/* First attribute of event `index`. */
static inline size_t lc__attr_start(const lc_batch *b, uint32_t index) {
    return index == 0 ? 0 : b->attr_end[index - 1];
}

/* Reads attribute `key` (from lc_batch_attr_key) into `*out`; false when the event has
 * none. The first one counts, should the wire repeat a key. */
static inline bool lc_event_attr_by(const lc_event *ev, lc_key key, lc_value *out) {
    const lc_batch *b = ev->batch;
    size_t end = b->attr_end[ev->index];
    for (size_t a = lc__attr_start(b, ev->index); a < end; a++) {
        if (b->attr_key_id[a] == key.id) {
            *out = lc__attr_value(b, a);
            return true;
        }
    }
    return false;
}

/* Reads attribute `key` into `*out`; false when the event has none. */
bool lc_event_attr(const lc_event *ev, const char *key, lc_value *out);

/* Number of attributes of the event. */
static inline size_t lc_event_attr_count(const lc_event *ev) {
    return ev->batch->attr_end[ev->index] - lc__attr_start(ev->batch, ev->index);
}

/* The event's attribute `i` (< lc_event_attr_count), in the order they were added: returns
 * its key and sets `*value`. */
static inline lc_str lc_event_attr_at(const lc_event *ev, size_t i, lc_value *value) {
    const lc_batch *b = ev->batch;
    size_t a = lc__attr_start(b, ev->index) + i;
    *value = lc__attr_value(b, a);
    return b->attr_keys[b->attr_key_id[a]];
}

/* Checks everything the accessors rely on (column lengths, dictionary ids, attribute
 * ranges and kinds, spans inside the arena). The export checks logcatch's batches with
 * it before process() sees them. On failure, writes why into `why` (`cap` bytes). */
bool lc_batch_check(const lc_batch *b, char *why, size_t cap);

/* ---------------------------------------------------------------------------------------
 * Building a batch (transforms)
 * ------------------------------------------------------------------------------------- */

/* A per-batch dictionary of names (sources, attribute keys). Internal. */
typedef struct lc__dict {
    lc_str *names; /* each malloc'd and NUL-terminated */
    size_t len, cap;
    uint32_t *slots; /* hash index (id + 1, 0 empty), once past a few names */
    size_t slots_cap;
    uint32_t last;
} lc__dict;

/* The new batch of a transform, built event by event; hand it to lc_replace().
 *
 * lc_builder_push() adds a new event; lc_builder_push_event() copies an input event (its
 * source and offset are its id: logcatch needs them to acknowledge and deduplicate it);
 * lc_builder_set_message() and lc_builder_attr*() change the event added last. Zero-init
 * it (`lc_builder b = {0};`) or call lc_builder_init(). Out of memory aborts (a trap:
 * logcatch fails the batch). */
typedef struct lc_builder {
    char *arena;
    size_t arena_len, arena_cap;
    size_t len, cap; /* events */
    uint32_t *msg_off, *msg_len, *source_id, *attr_end;
    uint64_t *timestamp_ns, *offset;
    size_t attrs, attrs_cap;
    uint32_t *attr_key_id;
    uint8_t *attr_kind;
    uint64_t *attr_val;
    lc__dict sources, keys;
    const char *misuse; /* first API misuse (e.g. an attribute before any event) */
} lc_builder;

/* An empty builder. */
void lc_builder_init(lc_builder *b);

/* Makes room for `events` more events and `bytes` more bytes of text. */
void lc_builder_reserve(lc_builder *b, size_t events, size_t bytes);

/* Frees everything the builder holds, leaving it empty. */
void lc_builder_free(lc_builder *b);

/* Number of events added so far. */
static inline size_t lc_builder_len(const lc_builder *b) { return b->len; }

/* Adds a new event: `message` (`len` bytes) from `source`, at byte `offset` in it,
 * ingested at `timestamp_ns`. */
void lc_builder_push(lc_builder *b, const char *message, size_t len, const char *source,
                     uint64_t offset, uint64_t timestamp_ns);

/* Adds a copy of `ev`: message, source, offset, timestamp and every attribute. */
void lc_builder_push_event(lc_builder *b, const lc_event *ev);

/* Adds a copy of `ev` (source, offset, timestamp, attributes) with a new message. */
void lc_builder_push_event_with_message(lc_builder *b, const lc_event *ev,
                                        const char *message, size_t len);

/* Replaces the message of the event added last. */
void lc_builder_set_message(lc_builder *b, const char *message, size_t len);

/* Replaces the message of the event added last with printf-style text. */
void lc_builder_set_messagef(lc_builder *b, const char *fmt, ...) LC_PRINTF(2, 3);

/* Sets attribute `key` of the event added last, replacing its value if it has one. */
void lc_builder_attr(lc_builder *b, const char *key, lc_value value);

/* lc_builder_attr with a text value of `len` bytes. */
static inline void lc_builder_attr_text(lc_builder *b, const char *key, const char *s,
                                        size_t len) {
    lc_builder_attr(b, key, lc_text(s, len));
}
/* lc_builder_attr with an integer. */
static inline void lc_builder_attr_int(lc_builder *b, const char *key, int64_t i) {
    lc_builder_attr(b, key, lc_int(i));
}
/* lc_builder_attr with a float. */
static inline void lc_builder_attr_float(lc_builder *b, const char *key, double f) {
    lc_builder_attr(b, key, lc_float(f));
}
/* lc_builder_attr with a boolean. */
static inline void lc_builder_attr_bool(lc_builder *b, const char *key, bool v) {
    lc_builder_attr(b, key, lc_bool(v));
}

/* The builder's events as a batch to read (tests, or a later step): valid until the
 * builder changes or is freed. */
lc_batch lc_builder_batch(const lc_builder *b);

/* A batch of `n` messages (NUL-terminated) from source `test`, with byte offsets as if
 * they were consecutive lines of one file and timestamps 0, 1, 2, ...: for unit tests.
 * Read it with lc_builder_batch(). */
void lc_builder_from_messages(lc_builder *b, const char *const *messages, size_t n);

/* ---------------------------------------------------------------------------------------
 * Verdicts
 * ------------------------------------------------------------------------------------- */

/* What a verdict says. */
typedef enum lc_verdict_kind {
    LC_KEEP_ALL, /* keep every event unchanged (nothing crosses back: the cheapest) */
    LC_KEEP,     /* keep only the events in `keep` (ascending indices) */
    LC_REPLACE,  /* replace the batch with `replace` */
} lc_verdict_kind;

/* What process() decides for its batch; the SDK hands it to process() as keep-all. */
typedef struct lc_verdict {
    lc_verdict_kind kind;
    uint32_t *keep; /* LC_KEEP: the kept indices (read after lc_verdict_finish) */
    size_t keep_len, keep_cap;
    uint32_t batch_len; /* events of the batch the verdict is for */
    uint32_t next;      /* lc_drop: first event not decided yet */
    lc_builder replace; /* LC_REPLACE */
    const char *misuse; /* first API misuse (e.g. lc_drop out of order) */
} lc_verdict;

/* A keep-all verdict for `b` (the export does this before your process()). */
void lc_verdict_init(lc_verdict *v, const lc_batch *b);

/* Frees what the verdict holds. */
void lc_verdict_free(lc_verdict *v);

/* Keeps every event (the verdict's start). */
void lc_keep_all(lc_verdict *v);

/* Drops every event. */
void lc_drop_all(lc_verdict *v);

/* Drops event `index`; every event not dropped is kept. Any order works; ascending order
 * (as in a loop over the batch) is the cheap one, and allocates once, at the first drop. */
void lc_drop(lc_verdict *v, uint32_t index);

/* Keeps only the `n` events at `indices` (strictly ascending, in range). */
void lc_keep_only(lc_verdict *v, const uint32_t *indices, size_t n);

/* Keeps the events for which `keep(ev, ctx)` returns true (keep-all when that is all). */
void lc_keep_where(lc_verdict *v, const lc_batch *b, bool (*keep)(const lc_event *, void *),
                   void *ctx);

/* Replaces the batch with the builder's events; the verdict takes them over and leaves
 * `*builder` empty. */
void lc_replace(lc_verdict *v, lc_builder *builder);

/* Completes the verdict (the kept indices of lc_drop). False, with the reason in `err`,
 * when the API was misused. The export calls it; tests call it before reading the fields. */
bool lc_verdict_finish(lc_verdict *v, lc_error *err);

/* The events logcatch would pass on after the (finished) verdict on `input`, into `out`
 * (emptied first): for tests. False, with the reason, for an invalid verdict. */
bool lc_verdict_apply(const lc_verdict *v, const lc_batch *input, lc_builder *out,
                      lc_error *err);

/* ---------------------------------------------------------------------------------------
 * The plugin's config (JSON)
 * ------------------------------------------------------------------------------------- */

/* Types of a JSON value. */
typedef enum lc_json_type {
    LC_JSON_NULL,
    LC_JSON_BOOL,
    LC_JSON_NUMBER,
    LC_JSON_STRING,
    LC_JSON_ARRAY,
    LC_JSON_OBJECT,
} lc_json_type;

typedef struct lc_json_member lc_json_member;

/* A parsed JSON value. Strings are UTF-8 and also NUL-terminated. */
typedef struct lc_json {
    lc_json_type type;
    union {
        bool boolean;  /* LC_JSON_BOOL */
        double number; /* LC_JSON_NUMBER */
        lc_str string; /* LC_JSON_STRING */
        struct {
            struct lc_json *items;
            size_t len;
        } array; /* LC_JSON_ARRAY */
        struct {
            lc_json_member *members;
            size_t len;
        } object; /* LC_JSON_OBJECT */
    };
} lc_json;

/* A member of a JSON object. */
struct lc_json_member {
    lc_str key;
    lc_json value;
    bool used; /* read through lc_config (for lc_config_done) */
};

/* Parses `len` bytes of JSON into `*out` (free it with lc_json_free). False, with the
 * error and its line and column in `err`, when it is not JSON. */
bool lc_json_parse(const char *text, size_t len, lc_json *out, lc_error *err);

/* Frees a parsed value. */
void lc_json_free(lc_json *v);

/* The member `key` of an object (NULL when absent or not an object). */
const lc_json *lc_json_get(const lc_json *object, const char *key);

/* The plugin's config: a JSON object whose keys are read with the getters below. */
typedef struct lc_config {
    lc_json root;
    void **owned; /* arrays handed out by lc_config_strings */
    size_t owned_len;
    char **asked; /* keys the getters were asked for (for lc_config_done's message) */
    size_t asked_len;
} lc_config;

/* Parses init()'s config (empty or `null` reads as `{}`); it must be an object. Errors
 * read `invalid config: ...`. Free it with lc_config_free. */
bool lc_config_parse(lc_config *c, lc_str json, lc_error *err);

/* Frees the config (and every string and array read from it). */
void lc_config_free(lc_config *c);

/* True when the config has `key`. */
bool lc_config_has(const lc_config *c, const char *key);

/* Reads string `key` into `*out` (untouched when absent: set your default first). False,
 * with the reason in `err`, when it is not a string. Strings are NUL-terminated and live
 * as long as the config. */
bool lc_config_string(lc_config *c, const char *key, lc_str *out, lc_error *err);

/* Reads an array of strings `key` into `*items` and `*n` (untouched when absent). */
bool lc_config_strings(lc_config *c, const char *key, const lc_str **items, size_t *n,
                       lc_error *err);

/* Reads number `key` into `*out` (untouched when absent). */
bool lc_config_number(lc_config *c, const char *key, double *out, lc_error *err);

/* Reads integer `key` (a number without a fraction, in range) into `*out`. */
bool lc_config_int(lc_config *c, const char *key, int64_t *out, lc_error *err);

/* Reads boolean `key` into `*out` (untouched when absent). */
bool lc_config_bool(lc_config *c, const char *key, bool *out, lc_error *err);

/* Any other value `key` (NULL when absent), for shapes the getters do not cover. */
const lc_json *lc_config_get(lc_config *c, const char *key);

/* Refuses keys no getter read (a typo in the YAML is an error at start). */
bool lc_config_done(const lc_config *c, lc_error *err);

/* ---------------------------------------------------------------------------------------
 * Logging, and the export
 * ------------------------------------------------------------------------------------- */

/* Severity of a message written with lc_log. */
typedef enum lc_level { LC_LOG_TRACE, LC_LOG_DEBUG, LC_LOG_INFO, LC_LOG_WARN, LC_LOG_ERROR } lc_level;

/* Writes a printf-style message to logcatch's log, tagged with the plugin's name. Use it
 * for rare events: each call crosses into the host. Natively it prints to stderr. */
void lc_log(lc_level level, const char *fmt, ...) LC_PRINTF(2, 3);

/* Your filter's two functions, as LC_EXPORT_FILTER takes them:
 *
 *   bool my_init(lc_str config, lc_error *err);
 *       once per instance, before any batch, with the pipeline's `config:` block as JSON
 *       (`{}` when absent); `return lc_fail(err, ...)` refuses the plugin with a message.
 *   bool my_process(const lc_batch *batch, lc_verdict *verdict, lc_error *err);
 *       once per batch; `verdict` starts as keep-all. Failing fails this batch only. */
typedef bool (*lc_init_fn)(lc_str config, lc_error *err);
typedef bool (*lc_process_fn)(const lc_batch *batch, lc_verdict *verdict, lc_error *err);

/* Makes `init` and `process` the component's `logcatch:plugin/filter` export. Use it once,
 * at file scope, in the file that defines them. */
#define LC_EXPORT_FILTER(init, process)                                                     \
    bool lc__export_init(lc_str config, lc_error *err) {                                    \
        lc_init_fn f = (init);                                                              \
        return f(config, err);                                                              \
    }                                                                                       \
    bool lc__export_process(const lc_batch *batch, lc_verdict *verdict, lc_error *err) {    \
        lc_process_fn f = (process);                                                        \
        return f(batch, verdict, err);                                                      \
    }                                                                                       \
    extern int lc__export_defined

/* Defined by LC_EXPORT_FILTER; called by the export glue. */
bool lc__export_init(lc_str config, lc_error *err);
/* Defined by LC_EXPORT_FILTER; called by the export glue. */
bool lc__export_process(const lc_batch *batch, lc_verdict *verdict, lc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* LOGCATCH_H */
