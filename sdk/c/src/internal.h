/* Helpers shared by the SDK's sources; not part of the API. */
#ifndef LOGCATCH_INTERNAL_H
#define LOGCATCH_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include "../logcatch.h"

/* realloc that aborts when memory runs out (a trap in WebAssembly: logcatch fails the
 * batch and retries it on a fresh instance). */
void *lc__xrealloc(void *p, size_t size);

/* Grows `*p` (elements of `size` bytes, capacity `*cap`) to hold at least `need`. */
void lc__grow(void **p, size_t *cap, size_t need, size_t size);

/* A malloc'd, NUL-terminated copy of `len` bytes at `s`. */
char *lc__strndup(const char *s, size_t len);

/* vsnprintf into a malloc'd string. */
char *lc__vformat(const char *fmt, va_list ap);

/* Sets `err` to a copy of `message` (for the glue and internal errors). */
void lc__set_error(lc_error *err, const char *message);

#endif
