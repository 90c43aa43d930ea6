/* logcatch filter `drop_debug` in C: drops events by log level (DEBUG by default).
 *
 * An event's level is its `level` attribute when a parser earlier in the chain set one
 * (text); otherwise the first level word among the first four tokens of its message
 * (separated by whitespace or commas), in any case, bare or wrapped (`DEBUG`, `debug`,
 * `[DEBUG]`, `<debug>`, `level=debug`, `"level":"debug"`, `DEBUG:`). Level words are TRACE,
 * DEBUG, INFO, WARN, WARNING (the same level as WARN), ERROR, FATAL, and any word listed in
 * `levels`. Events without a level are kept. The same filter as examples/rust-drop-debug,
 * config and output alike; see README.md. */
#include "drop_debug.h"

#include "levels.h"
#include "scan.h"

/* The filter's state, built by init. */
static levels table;

bool drop_debug_init(lc_str config, lc_error *err) {
    lc_config cfg;
    if (!lc_config_parse(&cfg, config, err)) return false;
    static const lc_str default_levels[] = {LC_STR_INIT("DEBUG")};
    const lc_str *drop = default_levels;
    size_t n = 1;
    bool ok = lc_config_strings(&cfg, "levels", &drop, &n, err) && lc_config_done(&cfg, err) &&
              levels_build(&table, drop, n, err);
    if (ok && n == 0) lc_log(LC_LOG_WARN, "levels is empty: this filter drops nothing");
    lc_config_free(&cfg);
    return ok;
}

/* Length of the UTF-8 sequence whose lead byte is `b` (1 for a stray byte). */
static size_t seq_len(uint8_t b) {
    return b < 0xC0 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

/* The code point of the `n`-byte UTF-8 sequence at `s`. */
static uint32_t decode(const uint8_t *s, size_t n) {
    if (n == 1) return s[0];
    uint32_t cp = s[0] & (0x7F >> n);
    for (size_t i = 1; i < n; i++) cp = cp << 6 | (s[i] & 0x3F);
    return cp;
}

/* Unicode White_Space, what Rust's str::trim strips (so attributes read as in Rust). */
static bool is_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* `text` without Unicode whitespace at either end. */
static lc_str trim(lc_str text) {
    const uint8_t *s = (const uint8_t *)text.ptr;
    size_t start = 0, end = text.len;
    while (start < end) {
        size_t n = seq_len(s[start]);
        if (start + n > end || !is_space(decode(s + start, n))) break;
        start += n;
    }
    while (end > start) {
        size_t lead = end - 1;
        while (lead > start && (s[lead] & 0xC0) == 0x80) lead--;
        if (lead + seq_len(s[lead]) != end || !is_space(decode(s + lead, end - lead))) break;
        end = lead;
    }
    lc_str r = {text.ptr + start, end - start};
    return r;
}

/* scan_first's callback: whether a word is a level word, and dropped (see levels_lookup). */
static int lookup_word(const char *word, size_t n, void *ctx) {
    (void)ctx;
    return levels_lookup(&table, word, n);
}

bool drop_debug_message_drops(const char *message, size_t len) {
    return scan_first(message, len, lookup_word, NULL) == 1;
}

bool drop_debug_process(const lc_batch *batch, lc_verdict *verdict, lc_error *err) {
    (void)err;
    lc_key level = lc_batch_attr_key(batch, "level");
    LC_FOR_EACH(ev, batch) {
        lc_value v;
        bool drops;
        if (level.id != UINT32_MAX && lc_event_attr_by(&ev, level, &v) && v.kind == LC_TEXT) {
            lc_str t = trim(v.text);
            drops = t.len > 0 && levels_lookup(&table, t.ptr, t.len) == 1;
        } else {
            size_t len;
            const char *m = lc_event_message(&ev, &len);
            drops = drop_debug_message_drops(m, len);
        }
        if (drops) lc_drop(verdict, ev.index);
    }
    return true;
}

LC_EXPORT_FILTER(drop_debug_init, drop_debug_process);
