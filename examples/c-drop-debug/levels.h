/* The level words: which words are levels, and whether their events are dropped. */
#ifndef DROP_DEBUG_LEVELS_H
#define DROP_DEBUG_LEVELS_H

#include <string.h>

#include "logcatch.h"

/* Most level words a table holds: the standard ones plus up to 57 configured. */
#define LEVELS_MAX 64
/* Longest level word. */
#define LEVEL_WORD_MAX 64

/* A short table of level words (uppercase ASCII), each marked drop or keep. */
typedef struct levels {
    size_t n;
    char words[LEVELS_MAX][LEVEL_WORD_MAX + 1];
    uint8_t lens[LEVELS_MAX];
    uint64_t keys[LEVELS_MAX]; /* level_key of each word: one compare rejects a word */
    bool dropped[LEVELS_MAX];
    /* Length range of the words, and the bytes they start with (either case): most tokens
     * are rejected by these two checks alone. */
    size_t min_len, max_len;
    bool first[256];
} levels;

/* Level words besides those configured. */
extern const char *const STANDARD_LEVELS[7];

/* Builds the table: the standard words, and the `n` configured ones, which are dropped (WARN
 * and WARNING are one level). False, with the reason in `err`, for an entry that is not a
 * level word. */
bool levels_build(levels *t, const lc_str *drop, size_t n, lc_error *err);

/* The first eight bytes of a word, ASCII letters uppercased, and its length, packed in one
 * integer: equal keys mean equal words, ignoring ASCII case, up to eight bytes. */
static inline uint64_t level_key(const char *word, size_t n) {
    uint64_t x = 0;
    if (n >= 8) {
        memcpy(&x, word, 8);
    } else if (n >= 4) {
        /* Two overlapping four-byte loads: bytes in both land in the same place. */
        uint32_t head, tail;
        memcpy(&head, word, 4);
        memcpy(&tail, word + n - 4, 4);
        x = (uint64_t)head | (uint64_t)tail << (8 * (n - 4));
    } else {
        for (size_t i = 0; i < n; i++) x |= (uint64_t)(uint8_t)word[i] << (8 * i);
    }
    /* Per byte: set the high bit of a lowercase ASCII letter, then flip its 0x20 bit. */
    const uint64_t low7 = 0x7f7f7f7f7f7f7f7fu, high = 0x8080808080808080u;
    uint64_t low = x & low7;
    uint64_t from_a = low + 0x1f1f1f1f1f1f1f1fu; /* high bit set when >= 'a' (0x61) */
    uint64_t past_z = low + 0x0505050505050505u; /* high bit set when > 'z' (0x7a) */
    uint64_t lower = from_a & ~past_z & ~x & high;
    uint64_t len = n < 255 ? n : 255;
    return (x ^ (lower >> 2)) ^ (len << 56);
}

/* Whether the `n` bytes at `word` are a level word (any ASCII case): -1 no, 1 dropped,
 * 0 kept. */
static inline int levels_lookup(const levels *t, const char *word, size_t n) {
    if (n < t->min_len || n > t->max_len || !t->first[(uint8_t)word[0]]) return -1;
    uint64_t k = level_key(word, n);
    for (size_t i = 0; i < t->n; i++) {
        /* Equal keys and lengths: the same word up to eight bytes; past that, compare. */
        if (t->keys[i] != k || t->lens[i] != n) continue;
        size_t j = 8;
        for (; j < n; j++) {
            char c = word[j];
            if (c >= 'a' && c <= 'z') c = (char)(c - 32);
            if (c != t->words[i][j]) break;
        }
        if (j >= n) return t->dropped[i];
    }
    return -1;
}

#endif
