/* Memory, error and log helpers. */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

void *lc__xrealloc(void *p, size_t size) {
    void *q = realloc(p, size ? size : 1);
    if (!q) {
        fputs("logcatch SDK: out of memory\n", stderr);
        abort();
    }
    return q;
}

void lc__grow(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return;
    size_t n = *cap ? *cap : 8;
    while (n < need && n <= SIZE_MAX / 2) n *= 2;
    if (n < need || n > SIZE_MAX / size) {
        fputs("logcatch SDK: allocation too large\n", stderr);
        abort();
    }
    *p = lc__xrealloc(*p, n * size);
    *cap = n;
}

char *lc__strndup(const char *s, size_t len) {
    char *d = lc__xrealloc(NULL, len + 1);
    if (len) memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *lc__vformat(const char *fmt, va_list ap) {
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    if (n < 0) {
        va_end(again);
        return lc__strndup("(unformattable message)", 23);
    }
    char *s = lc__xrealloc(NULL, (size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, again);
    va_end(again);
    return s;
}

bool lc_fail(lc_error *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *message = lc__vformat(fmt, ap);
    va_end(ap);
    free(err->message);
    err->message = message;
    return false;
}

void lc__set_error(lc_error *err, const char *message) {
    free(err->message);
    err->message = lc__strndup(message, strlen(message));
}

void lc_error_clear(lc_error *err) {
    free(err->message);
    err->message = NULL;
}

#ifndef __wasm__
/* Natively (unit tests), log lines go to stderr; in WebAssembly, src/export.c sends them
 * to logcatch. */
void lc_log(lc_level level, const char *fmt, ...) {
    static const char *const names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"};
    va_list ap;
    va_start(ap, fmt);
    char *message = lc__vformat(fmt, ap);
    va_end(ap);
    fprintf(stderr, "[plugin %s] %s\n", names[level <= LC_LOG_ERROR ? level : LC_LOG_ERROR],
            message);
    free(message);
}
#endif
