/* Finding the words of a message's first tokens.
 *
 * A token is a run of bytes between separators (ASCII whitespace and commas); its *word* is
 * the token without the punctuation around it and, for `key=value` or `key:value`, only the
 * value: `[DEBUG]` -> `DEBUG`, `level=debug,` -> `debug`, `"level":"warn"` -> `warn`. Only
 * ASCII letters and digits are word bytes. */
#ifndef DROP_DEBUG_SCAN_H
#define DROP_DEBUG_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* How many leading tokens of a message may hold its level. */
#define SCAN_TOKENS 4

/* Byte classes (bit flags) of scan_class. */
enum { SCAN_SEP = 1, SCAN_ALNUM = 2, SCAN_KV = 4 };

/* The class of every byte. */
extern const uint8_t scan_class[256];

/* Walks the words of the first SCAN_TOKENS tokens of a message. */
typedef struct word_scan {
    const uint8_t *m;
    size_t len, pos;
    int tokens_left;
} word_scan;

/* A scan of the `len` bytes at `m`. */
static inline word_scan scan_words(const char *m, size_t len) {
    word_scan s = {(const uint8_t *)m, len, 0, SCAN_TOKENS};
    return s;
}

/* The next word (`*word`, `*n` bytes), skipping tokens without one (punctuation only);
 * false when the first SCAN_TOKENS tokens are done or the message ends. */
static inline bool scan_next(word_scan *s, const char **word, size_t *n) {
    const uint8_t *m = s->m;
    size_t len = s->len, i = s->pos;
    while (s->tokens_left > 0) {
        while (i < len && (scan_class[m[i]] & SCAN_SEP)) i++;
        if (i == len) break;
        s->tokens_left--;
        /* One pass over the token: the word starts at its first letter or digit, or at the
         * first one after a `=`/`:` that a later letter or digit confirms is inside it. */
        size_t ws = SIZE_MAX, we = 0;
        bool after_kv = false;
        for (; i < len; i++) {
            uint8_t c = scan_class[m[i]];
            if (c & SCAN_SEP) break;
            if (c & SCAN_ALNUM) {
                if (ws == SIZE_MAX || after_kv) ws = i;
                after_kv = false;
                we = i + 1;
            } else if ((c & SCAN_KV) && ws != SIZE_MAX) {
                after_kv = true;
            }
        }
        if (ws != SIZE_MAX) {
            s->pos = i;
            *word = (const char *)m + ws;
            *n = we - ws;
            return true;
        }
    }
    s->pos = i;
    s->tokens_left = 0;
    return false;
}

/* Bytes classified at once (a window); one bit per byte in a uint32_t mask. */
#define SCAN_WINDOW 32

/* One bit per byte of a window for each class. */
typedef struct scan_masks {
    uint32_t sep, alnum, kv;
} scan_masks;

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>

/* Classifies a window 16 bytes at a time with WebAssembly SIMD. */
static inline scan_masks scan_classify(const uint8_t *w) {
    scan_masks c = {0, 0, 0};
    for (int k = 0; k < 2; k++) {
        v128_t v = wasm_v128_load(w + 16 * k);
        /* Separators: space, comma, and \t \n \v \f \r (9..=13). */
        v128_t sep = wasm_v128_or(wasm_v128_or(wasm_i8x16_eq(v, wasm_i8x16_splat(' ')),
                                               wasm_i8x16_eq(v, wasm_i8x16_splat(','))),
                                  wasm_u8x16_lt(wasm_i8x16_sub(v, wasm_i8x16_splat('\t')),
                                                wasm_i8x16_splat(5)));
        /* Letters (either case: | 0x20 lowers them) and digits. */
        v128_t alpha = wasm_u8x16_lt(
            wasm_i8x16_sub(wasm_v128_or(v, wasm_i8x16_splat(0x20)), wasm_i8x16_splat('a')),
            wasm_i8x16_splat(26));
        v128_t digit =
            wasm_u8x16_lt(wasm_i8x16_sub(v, wasm_i8x16_splat('0')), wasm_i8x16_splat(10));
        v128_t kv = wasm_v128_or(wasm_i8x16_eq(v, wasm_i8x16_splat('=')),
                                 wasm_i8x16_eq(v, wasm_i8x16_splat(':')));
        unsigned shift = 16u * (unsigned)k;
        c.sep |= (uint32_t)wasm_i8x16_bitmask(sep) << shift;
        c.alnum |= (uint32_t)wasm_i8x16_bitmask(wasm_v128_or(alpha, digit)) << shift;
        c.kv |= (uint32_t)wasm_i8x16_bitmask(kv) << shift;
    }
    return c;
}
#else
/* Classifies a window one byte at a time (hosts without WebAssembly SIMD, and tests). */
static inline scan_masks scan_classify(const uint8_t *w) {
    scan_masks c = {0, 0, 0};
    for (unsigned i = 0; i < SCAN_WINDOW; i++) {
        uint8_t k = scan_class[w[i]];
        c.sep |= (uint32_t)((k & SCAN_SEP) != 0) << i;
        c.alnum |= (uint32_t)((k & SCAN_ALNUM) != 0) << i;
        c.kv |= (uint32_t)((k & SCAN_KV) != 0) << i;
    }
    return c;
}
#endif

/* What scan_first calls with each word: a result >= 0 stops the scan with it. */
typedef int (*scan_fn)(const char *word, size_t n, void *ctx);

/* Calls `f` with the word of each of the first SCAN_TOKENS tokens of `m` that has one, in
 * order, until it returns a result >= 0, which this returns (else -1). The words of
 * scan_next, found with bit masks over 32-byte windows: most levels sit in the first 32
 * bytes (after a timestamp), so most lines cost one window. */
static inline int scan_first(const char *msg, size_t len, scan_fn f, void *ctx) {
    const uint8_t *m = (const uint8_t *)msg;
    size_t base = 0;         /* where the window starts in `m` */
    int left = SCAN_TOKENS; /* tokens still to look at */
    for (;;) {
        const uint8_t *rest = m + base;
        size_t rest_len = len - base;
        size_t n = rest_len < SCAN_WINDOW ? rest_len : SCAN_WINDOW;
        uint8_t short_window[SCAN_WINDOW];
        const uint8_t *window = rest;
        if (n < SCAN_WINDOW) {
            memset(short_window, 0, sizeof short_window);
            if (n) memcpy(short_window, rest, n);
            window = short_window;
        }
        scan_masks c = scan_classify(window);
        /* Token ends: separators, and every position past the message. */
        uint32_t ends = c.sep | (n == SCAN_WINDOW ? 0 : ~0u << n);
        /* Token starts: a byte that is no end, after an end or at the window's start. */
        uint32_t starts = ~ends & ((ends << 1) | 1);
        bool next_window = false;
        while (!next_window) {
            if (starts == 0) {
                /* Only separators left in the window: on to the next, if there is one. */
                if (rest_len <= SCAN_WINDOW) return -1;
                base += SCAN_WINDOW;
                break;
            }
            unsigned s = (unsigned)__builtin_ctz(starts);
            starts &= starts - 1;
            uint32_t after = ends & (~0u << s);
            if (after == 0) {
                /* The token runs on past the window: look again from its start or, when it
                 * is longer than a window, one byte at a time. */
                if (s == 0) {
                    word_scan w = {rest, rest_len, 0, left};
                    const char *word;
                    size_t wn;
                    while (scan_next(&w, &word, &wn)) {
                        int r = f(word, wn, ctx);
                        if (r >= 0) return r;
                    }
                    return -1;
                }
                base += s;
                next_window = true;
                continue;
            }
            unsigned e = (unsigned)__builtin_ctz(after);
            uint32_t alnum = c.alnum & ((1u << e) - 1) & (~0u << s);
            if (alnum != 0) {
                unsigned ws = (unsigned)__builtin_ctz(alnum);
                unsigned we = 32u - (unsigned)__builtin_clz(alnum);
                uint32_t kv = c.kv & (~0u << ws) & (~0u >> (32u - we));
                if (kv != 0) {
                    unsigned last_kv = 31u - (unsigned)__builtin_clz(kv);
                    /* The token's last word byte is alphanumeric: the value is not empty. */
                    ws = (unsigned)__builtin_ctz(alnum & (~0u << (last_kv + 1)));
                }
                int r = f((const char *)rest + ws, we - ws, ctx);
                if (r >= 0) return r;
            }
            if (--left == 0) return -1;
        }
    }
}

#endif
