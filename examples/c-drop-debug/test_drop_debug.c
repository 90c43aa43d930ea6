/* Native unit tests of the drop_debug filter (run by ./test): the same cases as the Rust
 * example's tests. */
#include <stdio.h>
#include <stdlib.h>

#include "drop_debug.h"
#include "scan.h"

static int failures;

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);          \
            failures++;                                                                      \
        }                                                                                    \
    } while (0)

/* Runs `lines` through a filter made with `config`; true when exactly the lines whose
 * indices are in `want` (ascending, -1 terminated) are kept. */
static bool kept(const char *config, const char *const *lines, size_t n, const int *want) {
    lc_error err = {0};
    if (!drop_debug_init(lc_cstr(config), &err)) {
        fprintf(stderr, "init(%s): %s\n", config, err.message);
        lc_error_clear(&err);
        return false;
    }
    lc_builder in = {0}, out = {0};
    lc_builder_from_messages(&in, lines, n);
    lc_batch batch = lc_builder_batch(&in);
    lc_verdict v;
    lc_verdict_init(&v, &batch);
    bool ok = drop_debug_process(&batch, &v, &err) && lc_verdict_finish(&v, &err) &&
              lc_verdict_apply(&v, &batch, &out, &err);
    lc_batch got = lc_builder_batch(&out);
    size_t k = 0;
    for (; ok && want[k] >= 0; k++) {
        if (k >= lc_batch_len(&got)) {
            ok = false;
            break;
        }
        lc_event ev = lc_batch_event(&got, k);
        size_t len;
        const char *m = lc_event_message(&ev, &len);
        ok = len == strlen(lines[want[k]]) && memcmp(m, lines[want[k]], len) == 0;
    }
    ok = ok && k == lc_batch_len(&got);
    if (!ok) {
        fprintf(stderr, "config %s kept:\n", config);
        LC_FOR_EACH(ev, &got) {
            size_t len;
            const char *m = lc_event_message(&ev, &len);
            fprintf(stderr, "  %.*s\n", (int)len, m);
        }
        if (err.message) fprintf(stderr, "  error: %s\n", err.message);
    }
    lc_error_clear(&err);
    lc_verdict_free(&v);
    lc_builder_free(&in);
    lc_builder_free(&out);
    return ok;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void drops_debug_by_default_and_keeps_the_rest(void) {
    const char *lines[] = {
        "2026-11-25T08:00:00.000Z DEBUG checkout-api cache miss",
        "2026-11-25T08:00:00.001Z INFO checkout-api request done",
        "no level at all",
        "",
        "DEBUG at the very start",
    };
    CHECK(kept("{}", lines, N(lines), (int[]){1, 2, 3, -1}));
    CHECK(kept("", lines, N(lines), (int[]){1, 2, 3, -1}));
}

static void keeps_everything_without_a_copy_when_nothing_matches(void) {
    lc_error err = {0};
    CHECK(drop_debug_init(LC_STR("{}"), &err));
    const char *lines[] = {"INFO a", "WARN b"};
    lc_builder in = {0};
    lc_builder_from_messages(&in, lines, 2);
    lc_batch batch = lc_builder_batch(&in);
    lc_verdict v;
    lc_verdict_init(&v, &batch);
    CHECK(drop_debug_process(&batch, &v, &err) && lc_verdict_finish(&v, &err));
    CHECK(v.kind == LC_KEEP_ALL);
    lc_verdict_free(&v);
    lc_builder_free(&in);
}

static void any_case_and_wrapped_forms_count(void) {
    const char *lines[] = {
        "[DEBUG] a",
        "ts debug b",
        "ts host Debug: c",
        "ts host pid level=debug d",
        "{\"level\":\"debug\",\"msg\":\"e\"}",
        "<debug> f",
        "ts (DeBuG) g",
        "ts level=\"debug\" h",
        "[INFO] kept",
    };
    CHECK(kept("{}", lines, N(lines), (int[]){8, -1}));
}

static void only_the_first_four_tokens_and_the_first_level_word_count(void) {
    const char *lines[] = {
        "a b c d DEBUG fifth token",
        "a b c DEBUG fourth token",
        "INFO then DEBUG later",
        "debugging is not a level",
        "DEBUGGER neither",
        ",,, ;; -- DEBUG third token, punctuation-only tokens count",
        "-- -- -- -- DEBUG fifth",
    };
    CHECK(kept("{}", lines, N(lines), (int[]){0, 2, 3, 4, 6, -1}));
}

static void configured_levels_any_case_with_warn_and_warning_as_one(void) {
    const char *lines[] = {"TRACE a", "debug b", "INFO c", "WARNING d", "warn e", "ERROR f"};
    CHECK(kept("{\"levels\": [\"trace\", \"Warn\"]}", lines, N(lines), (int[]){1, 2, 5, -1}));
    CHECK(kept("{\"levels\": [\"WARNING\"]}", lines, N(lines), (int[]){0, 1, 2, 5, -1}));
    CHECK(kept("{\"levels\": []}", lines, N(lines), (int[]){0, 1, 2, 3, 4, 5, -1}));
}

static void configured_words_become_level_words(void) {
    const char *lines[] = {"ts NOTICE disk ok", "ts INFO NOTICE later", "ts crit x"};
    CHECK(kept("{\"levels\": [\"notice\"]}", lines, N(lines), (int[]){1, 2, -1}));
}

static void the_level_attribute_wins_over_the_message(void) {
    lc_builder b = {0};
    lc_builder_push(&b, "DEBUG but attr says info", 24, "s", 0, 0);
    lc_builder_attr_text(&b, "level", "info", 4);
    lc_builder_push(&b, "INFO but attr says debug", 24, "s", 1, 0);
    lc_builder_attr_text(&b, "level", "Debug", 5);
    lc_builder_push(&b, "DEBUG with a numeric level attr", 31, "s", 2, 0);
    lc_builder_attr_int(&b, "level", 7);
    lc_builder_push(&b, "DEBUG without attr", 18, "s", 3, 0);
    lc_builder_push(&b, "INFO with an unknown level attr", 31, "s", 4, 0);
    lc_builder_attr_text(&b, "level", "notice", 6);
    lc_builder_push(&b, "INFO with a padded level attr", 29, "s", 5, 0);
    lc_builder_attr_text(&b, "level", "\xc2\xa0 debug\t\xe3\x80\x80", 12); /* U+00A0, U+3000 */
    lc_builder_push(&b, "DEBUG with an empty level attr", 30, "s", 6, 0);
    lc_builder_attr_text(&b, "level", " ", 1);
    lc_batch batch = lc_builder_batch(&b);
    lc_error err = {0};
    CHECK(drop_debug_init(LC_STR("{}"), &err));
    lc_verdict v;
    lc_verdict_init(&v, &batch);
    CHECK(drop_debug_process(&batch, &v, &err) && lc_verdict_finish(&v, &err));
    CHECK(v.kind == LC_KEEP && v.keep_len == 3 && v.keep[0] == 0 && v.keep[1] == 4 &&
          v.keep[2] == 6);
    lc_verdict_free(&v);
    lc_builder_free(&b);
}

/* The error of init with `config` (caller frees). */
static char *init_err(const char *config) {
    lc_error err = {0};
    if (drop_debug_init(lc_cstr(config), &err)) {
        fprintf(stderr, "init(%s) succeeded\n", config);
        failures++;
    }
    return err.message ? err.message : calloc(1, 1);
}

static void bad_configs_are_refused_with_the_reason(void) {
    struct {
        const char *config, *want;
    } cases[] = {
        {"{\"level\": [\"DEBUG\"]}", "unknown key `level`, expected `levels`"},
        {"{\"levels\": \"DEBUG\"}", "invalid config: `levels` must be an array of strings"},
        {"{\"levels\": [\"DEBUG\", \"[x]\"]}", "levels[1]: \"[x]\" is not a level word"},
        {"{\"levels\": [\"\"]}", "levels[0]: \"\" is not a level word"},
        {"{\"levels\": [\"a\\nb\"]}", "levels[0]: \"a\\u{a}b\" is not a level word"},
        {"{\"levels\": [\"-x\"]}", "levels[0]"},
        {"[\"DEBUG\"]", "invalid config: expected an object"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char *got = init_err(cases[i].config);
        if (!strstr(got, cases[i].want)) {
            fprintf(stderr, "init(%s): \"%s\" does not contain \"%s\"\n", cases[i].config, got,
                    cases[i].want);
            failures++;
        }
        free(got);
    }
}

/* The words scan_next finds in `m`, joined by `|`. */
static const char *words(const char *m) {
    static char out[256];
    size_t n = 0;
    word_scan s = scan_words(m, strlen(m));
    const char *w;
    size_t len;
    out[0] = '\0';
    while (scan_next(&s, &w, &len)) {
        n += (size_t)snprintf(out + n, sizeof out - n, "%s%.*s", n ? "|" : "", (int)len, w);
    }
    return out;
}

static void words_of_the_first_tokens(void) {
    struct {
        const char *message, *want;
    } cases[] = {
        {"[DEBUG]", "DEBUG"},
        {"level=debug,", "debug"},
        {"\"level\":\"warn\"", "warn"},
        {"12:00:00.123", "00.123"},
        {"---", ""},
        {"a=", "a"},
        {"a=b:", "b"},
        {"=DEBUG", "DEBUG"},
        {"x", "x"},
        {"2024-03-01T12:00:00.001Z  [DEBUG] level=info,x -- tail", "00.001Z|DEBUG|info|x"},
        {"  a\tb\r\nc ", "a|b|c"},
        {"", ""},
        {"{\"level\":\"debug\",\"msg\":\"e\"}", "debug|e"},
        {"a b c d e f", "a|b|c|d"},
        {"---- ,,,, DEBUG", "DEBUG"},
        {"a=b=c ::x:: [=] <w>", "c|x|w"},
        {"\xc3\xa9 \xc3\xbc DEBUG \xc3\xb1", "DEBUG"},
        {"\xc2\xa0" "DEBUG\xc2\xa0 x", "DEBUG|x"},
        {"a\x0b" "b\x0c" "c", "a|b|c"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        const char *got = words(cases[i].message);
        if (strcmp(got, cases[i].want) != 0) {
            fprintf(stderr, "words(\"%s\") = \"%s\", want \"%s\"\n", cases[i].message, got,
                    cases[i].want);
            failures++;
        }
    }
}

/* scan_first's callback for `words_fast`: appends the word, goes on. */
static int collect(const char *w, size_t len, void *ctx) {
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 4096 - n, "%s%.*s", n ? "|" : "", (int)len, w);
    return -1;
}

/* The words scan_first finds in the `len` bytes at `m`, joined by `|`. */
static const char *words_fast(const char *m, size_t len) {
    static char out[4096];
    out[0] = '\0';
    CHECK(scan_first(m, len, collect, out) == -1);
    return out;
}

/* The words scan_next finds, joined by `|` (the reference). */
static const char *words_scalar(const char *m, size_t len) {
    static char out[4096];
    size_t n = 0;
    word_scan s = scan_words(m, len);
    const char *w;
    size_t wl;
    out[0] = '\0';
    while (scan_next(&s, &w, &wl)) {
        n += (size_t)snprintf(out + n, sizeof out - n, "%s%.*s", n ? "|" : "", (int)wl, w);
    }
    return out;
}

/* Checks the window way against the byte-at-a-time way on `m`. */
static void agree(const char *m, size_t len) {
    char scalar[4096];
    snprintf(scalar, sizeof scalar, "%s", words_scalar(m, len));
    const char *fast = words_fast(m, len);
    if (strcmp(fast, scalar) != 0) {
        fprintf(stderr, "\"%.*s\": window way \"%s\", scalar way \"%s\"\n", (int)len, m, fast,
                scalar);
        failures++;
    }
}

static void the_window_way_agrees_with_the_scalar_way(void) {
    char m[512], t[80];
    const char *fixed[] = {
        "2024-03-01T12:00:00.001Z DEBUG [api] parsed headers GET path=/v1/orders",
        "a b c d e f",
        "---- ,,,, DEBUG",
        "a=b=c ::x:: [=] <w>",
        "\xc3\xa9 \xc3\xbc DEBUG \xc3\xb1",
        "\xc2\xa0" "DEBUG\xc2\xa0 x",
        "",
    };
    for (size_t i = 0; i < N(fixed); i++) agree(fixed[i], strlen(fixed[i]));
    char x70[71];
    memset(x70, 'x', 70);
    x70[70] = '\0';
    const char *fmts[] = {"%s DEBUG", "DEBUG %s", "a b %s", "a b c %s"};
    for (size_t i = 0; i < N(fmts); i++) {
        int n = snprintf(m, sizeof m, fmts[i], x70);
        agree(m, (size_t)n);
    }
    for (int k = 60; k < 66; k++) {
        int n = snprintf(m, sizeof m, "%*s DEBUG", k, "");
        agree(m, (size_t)n);
        memset(m, ',', (size_t)k);
        n = k + snprintf(m + k, sizeof m - (size_t)k, "DEBUG");
        agree(m, (size_t)n);
        memset(m, 'k', (size_t)k);
        n = k + snprintf(m + k, sizeof m - (size_t)k, "=DEBUG x");
        agree(m, (size_t)n);
    }
    /* Tokens of every length up to past two windows, and separator runs, so that tokens
     * start, end and run on across window edges. */
    for (int k = 1; k < 70; k++) {
        memset(t, 'k', (size_t)k);
        t[k] = '\0';
        int n = snprintf(m, sizeof m, "%s [%s] level=%s x", t, t, t);
        agree(m, (size_t)n);
        n = snprintf(m, sizeof m, "%s,%s DEBUG x", t, t);
        agree(m, (size_t)n);
        n = snprintf(m, sizeof m, "%*s %s=DEBUG", k, "", t);
        agree(m, (size_t)n);
        memset(m, 0, sizeof m);
        memcpy(m, t, (size_t)k);
        memset(m + k, ',', (size_t)k);
        memcpy(m + 2 * k, "INFO", 4);
        agree(m, (size_t)(2 * k + 4));
    }
    /* Every length over a few windows, with separators around their edges. */
    const size_t sep_at[] = {0, 1, 5, 30, 31, 32, 33, 62, 63, 64, 65, 95, 96, 97};
    for (size_t len = 0; len < 140; len++) {
        for (size_t j = 0; j < N(sep_at); j++) {
            for (size_t i = 0; i < len; i++) m[i] = "ab=:[ ,"[i % 7];
            if (sep_at[j] < len) m[sep_at[j]] = ' ';
            agree(m, len);
        }
    }
}

int main(void) {
    the_window_way_agrees_with_the_scalar_way();
    drops_debug_by_default_and_keeps_the_rest();
    keeps_everything_without_a_copy_when_nothing_matches();
    any_case_and_wrapped_forms_count();
    only_the_first_four_tokens_and_the_first_level_word_count();
    configured_levels_any_case_with_warn_and_warning_as_one();
    configured_words_become_level_words();
    the_level_attribute_wins_over_the_message();
    bad_configs_are_refused_with_the_reason();
    words_of_the_first_tokens();
    if (failures) {
        fprintf(stderr, "c-drop-debug: %d check(s) failed\n", failures);
        return 1;
    }
    printf("c-drop-debug: all tests passed\n");
    return 0;
}
