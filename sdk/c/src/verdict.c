/* What a filter decides for a batch: lc_verdict. */
#include <stdlib.h>

#include "internal.h"

void lc_verdict_init(lc_verdict *v, const lc_batch *b) {
    memset(v, 0, sizeof *v);
    v->kind = LC_KEEP_ALL;
    v->batch_len = (uint32_t)b->len;
}

void lc_verdict_free(lc_verdict *v) {
    free(v->keep);
    lc_builder_free(&v->replace);
    uint32_t n = v->batch_len;
    memset(v, 0, sizeof *v);
    v->batch_len = n;
}

/* Drops what an earlier answer held, keeping the batch length and any misuse. */
static void reset(lc_verdict *v, lc_verdict_kind kind) {
    if (v->kind == LC_REPLACE) lc_builder_free(&v->replace);
    v->kind = kind;
    v->keep_len = 0;
    v->next = 0;
}

static void misuse(lc_verdict *v, const char *what) {
    if (!v->misuse) v->misuse = what;
}

void lc_keep_all(lc_verdict *v) { reset(v, LC_KEEP_ALL); }

void lc_drop_all(lc_verdict *v) {
    reset(v, LC_KEEP);
    v->next = v->batch_len;
}

/* Appends the kept indices `from .. to` (exclusive). */
static void keep_range(lc_verdict *v, uint32_t from, uint32_t to) {
    if (to <= from) return;
    lc__grow((void **)&v->keep, &v->keep_cap, v->keep_len + (to - from), sizeof *v->keep);
    for (uint32_t i = from; i < to; i++) v->keep[v->keep_len++] = i;
}

/* Removes `index` from the kept list, if it is there (a drop behind the cursor). */
static void unkeep(lc_verdict *v, uint32_t index) {
    size_t lo = 0, hi = v->keep_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->keep[mid] < index) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo < v->keep_len && v->keep[lo] == index) {
        memmove(v->keep + lo, v->keep + lo + 1, (v->keep_len - lo - 1) * sizeof *v->keep);
        v->keep_len--;
    }
}

void lc_drop(lc_verdict *v, uint32_t index) {
    if (index >= v->batch_len) {
        misuse(v, "lc_drop: index out of range");
        return;
    }
    switch (v->kind) {
    case LC_KEEP_ALL:
        reset(v, LC_KEEP);
        lc__grow((void **)&v->keep, &v->keep_cap, v->batch_len, sizeof *v->keep);
        break;
    case LC_KEEP:
        if (index < v->next) {
            unkeep(v, index);
            return;
        }
        break;
    case LC_REPLACE:
        misuse(v, "lc_drop after lc_replace");
        return;
    }
    keep_range(v, v->next, index);
    v->next = index + 1;
}

void lc_keep_only(lc_verdict *v, const uint32_t *indices, size_t n) {
    reset(v, LC_KEEP);
    for (size_t i = 0; i < n; i++) {
        if (indices[i] >= v->batch_len || (i > 0 && indices[i] <= indices[i - 1])) {
            misuse(v, "lc_keep_only: indices must be strictly ascending and in range");
            break;
        }
    }
    lc__grow((void **)&v->keep, &v->keep_cap, n, sizeof *v->keep);
    if (n) memcpy(v->keep, indices, n * sizeof *indices);
    v->keep_len = n;
    v->next = v->batch_len;
}

void lc_keep_where(lc_verdict *v, const lc_batch *b, bool (*keep)(const lc_event *, void *),
                   void *ctx) {
    reset(v, LC_KEEP_ALL);
    LC_FOR_EACH(ev, b) {
        if (!keep(&ev, ctx)) lc_drop(v, ev.index);
    }
}

void lc_replace(lc_verdict *v, lc_builder *builder) {
    reset(v, LC_REPLACE);
    if (builder->misuse) misuse(v, builder->misuse);
    v->replace = *builder;
    lc_builder_init(builder);
}

bool lc_verdict_finish(lc_verdict *v, lc_error *err) {
    if (v->misuse) {
        lc__set_error(err, v->misuse);
        return false;
    }
    if (v->kind == LC_KEEP) {
        keep_range(v, v->next, v->batch_len);
        v->next = v->batch_len;
    }
    return true;
}

bool lc_verdict_apply(const lc_verdict *v, const lc_batch *input, lc_builder *out,
                      lc_error *err) {
    lc_builder_free(out);
    if (v->misuse) return lc_fail(err, "%s", v->misuse);
    if (v->batch_len != input->len) {
        return lc_fail(err, "the verdict is for a batch of %u events, not %zu",
                       (unsigned)v->batch_len, input->len);
    }
    switch (v->kind) {
    case LC_KEEP_ALL:
        LC_FOR_EACH(ev, input) lc_builder_push_event(out, &ev);
        return true;
    case LC_KEEP:
        if (v->next != v->batch_len) {
            return lc_fail(err, "call lc_verdict_finish before lc_verdict_apply");
        }
        for (size_t i = 0; i < v->keep_len; i++) {
            if (v->keep[i] >= input->len || (i > 0 && v->keep[i] <= v->keep[i - 1])) {
                return lc_fail(err, "keep index %u out of order or range",
                               (unsigned)v->keep[i]);
            }
            lc_event ev = lc_batch_event(input, v->keep[i]);
            lc_builder_push_event(out, &ev);
        }
        return true;
    case LC_REPLACE: {
        lc_batch r = lc_builder_batch(&v->replace);
        LC_FOR_EACH(ev, &r) lc_builder_push_event(out, &ev);
        return true;
    }
    }
    return lc_fail(err, "unknown verdict kind %d", (int)v->kind);
}
