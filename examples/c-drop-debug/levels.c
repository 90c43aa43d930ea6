/* Building the level word table. */
#include <stdio.h>

#include "levels.h"

const char *const STANDARD_LEVELS[7] = {"TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL"};

static bool is_alnum(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Letters, digits, `_` or `-` inside, a letter or digit at both ends. */
static bool is_level_word(lc_str s) {
    if (s.len == 0 || !is_alnum(s.ptr[0]) || !is_alnum(s.ptr[s.len - 1])) return false;
    for (size_t i = 0; i < s.len; i++) {
        if (!is_alnum(s.ptr[i]) && s.ptr[i] != '_' && s.ptr[i] != '-') return false;
    }
    return true;
}

/* `s` uppercased into `out` (room for LEVEL_WORD_MAX + 1). */
static void upper(lc_str s, char *out) {
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        out[i] = c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
    }
    out[s.len] = '\0';
}

/* WARN and WARNING are one level. */
static const char *canonical(const char *upper_word) {
    return strcmp(upper_word, "WARNING") == 0 ? "WARN" : upper_word;
}

/* `s` quoted for a message, with the bytes that would garble it escaped. */
static void quote(lc_str s, char *out, size_t cap) {
    size_t n = 0;
    out[n++] = '"';
    for (size_t i = 0; i < s.len && n + 8 < cap; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '"' || c == '\\') {
            n += (size_t)snprintf(out + n, cap - n, "\\%c", c);
        } else if (c < 0x20 || c == 0x7f) {
            n += (size_t)snprintf(out + n, cap - n, "\\u{%x}", c);
        } else {
            out[n++] = (char)c;
        }
    }
    out[n++] = '"';
    out[n] = '\0';
}

bool levels_build(levels *t, const lc_str *drop, size_t n, lc_error *err) {
    memset(t, 0, sizeof *t);
    if (n > LEVELS_MAX - 7) {
        return lc_fail(err, "levels: at most %d levels, not %zu", LEVELS_MAX - 7, n);
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_level_word(drop[i])) {
            char q[160];
            quote(drop[i], q, sizeof q);
            return lc_fail(err,
                           "levels[%zu]: %s is not a level word (letters, digits, `_` or `-` "
                           "inside)",
                           i, q);
        }
        if (drop[i].len > LEVEL_WORD_MAX) {
            return lc_fail(err, "levels[%zu]: longer than %d bytes", i, LEVEL_WORD_MAX);
        }
    }
    /* Every word once: the standard ones, then the configured ones. */
    for (size_t i = 0; i < 7 + n; i++) {
        char word[LEVEL_WORD_MAX + 1];
        upper(i < 7 ? lc_cstr(STANDARD_LEVELS[i]) : drop[i - 7], word);
        bool seen = false;
        for (size_t j = 0; j < t->n && !seen; j++) seen = strcmp(t->words[j], word) == 0;
        if (seen) continue;
        bool dropped = false;
        for (size_t j = 0; j < n && !dropped; j++) {
            char d[LEVEL_WORD_MAX + 1];
            upper(drop[j], d);
            dropped = strcmp(canonical(d), canonical(word)) == 0;
        }
        size_t len = strlen(word);
        memcpy(t->words[t->n], word, len + 1);
        t->lens[t->n] = (uint8_t)len;
        t->keys[t->n] = level_key(word, len);
        t->dropped[t->n] = dropped;
        t->n++;
        if (t->min_len == 0 || len < t->min_len) t->min_len = len;
        if (len > t->max_len) t->max_len = len;
        t->first[(uint8_t)word[0]] = true;
        if (word[0] >= 'A' && word[0] <= 'Z') t->first[(uint8_t)word[0] + 32] = true;
    }
    return true;
}
