/* A minimal test harness for the SDK's native unit tests. */
#ifndef LC_CHECK_H
#define LC_CHECK_H

#include <stdio.h>
#include <string.h>

extern int lc_test_failures;

/* Fails the test (and goes on) when `cond` is false. */
#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);          \
            lc_test_failures++;                                                              \
        }                                                                                    \
    } while (0)

/* Fails the test when `got` (ptr, len) is not the NUL-terminated `want`. */
#define CHECK_BYTES(ptr, len, want)                                                          \
    do {                                                                                     \
        const char *g_ = (ptr);                                                              \
        size_t n_ = (len);                                                                   \
        const char *w_ = (want);                                                             \
        if (n_ != strlen(w_) || (n_ && memcmp(g_, w_, n_) != 0)) {                           \
            fprintf(stderr, "%s:%d: got \"%.*s\", want \"%s\"\n", __FILE__, __LINE__,        \
                    (int)n_, g_ ? g_ : "", w_);                                              \
            lc_test_failures++;                                                              \
        }                                                                                    \
    } while (0)

/* Fails the test when the NUL-terminated `got` does not contain `want`. */
#define CHECK_CONTAINS(got, want)                                                            \
    do {                                                                                     \
        const char *g_ = (got);                                                              \
        if (!g_ || !strstr(g_, (want))) {                                                    \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,   \
                    g_ ? g_ : "(null)", (want));                                             \
            lc_test_failures++;                                                              \
        }                                                                                    \
    } while (0)

/* Runs a test function, naming it. */
#define RUN(test)                                                                            \
    do {                                                                                     \
        int before_ = lc_test_failures;                                                      \
        test();                                                                              \
        printf("%s %s\n", lc_test_failures == before_ ? "ok  " : "FAIL", #test);             \
    } while (0)

#endif
