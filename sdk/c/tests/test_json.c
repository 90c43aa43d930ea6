/* The JSON parser and the config getters. */
#include <stdlib.h>

#include "../logcatch.h"
#include "check.h"
#include "tests.h"

/* Parses `text`, which must be JSON. */
static lc_json parse_ok(const char *text) {
    lc_json v;
    lc_error err = {0};
    if (!lc_json_parse(text, strlen(text), &v, &err)) {
        fprintf(stderr, "parse of %s failed: %s\n", text, err.message);
        lc_test_failures++;
        lc_error_clear(&err);
        v.type = LC_JSON_NULL;
    }
    return v;
}

/* The error of parsing `text`, which must not be JSON (caller frees). */
static char *parse_err(const char *text) {
    lc_json v;
    lc_error err = {0};
    if (lc_json_parse(text, strlen(text), &v, &err)) {
        fprintf(stderr, "parse of %s succeeded\n", text);
        lc_test_failures++;
        lc_json_free(&v);
        return NULL;
    }
    return err.message;
}

static void values_of_every_type(void) {
    lc_json v = parse_ok(" {\"a\": [1, -2.5e2, 0.125, true, false, null], \"b\": {\"c\": \"d\"},"
                         " \"e\": [], \"f\": {}} ");
    CHECK(v.type == LC_JSON_OBJECT && v.object.len == 4);
    const lc_json *a = lc_json_get(&v, "a");
    CHECK(a && a->type == LC_JSON_ARRAY && a->array.len == 6);
    if (a && a->array.len == 6) {
        CHECK(a->array.items[0].type == LC_JSON_NUMBER && a->array.items[0].number == 1);
        CHECK(a->array.items[1].number == -250);
        CHECK(a->array.items[2].number == 0.125);
        CHECK(a->array.items[3].type == LC_JSON_BOOL && a->array.items[3].boolean);
        CHECK(a->array.items[4].type == LC_JSON_BOOL && !a->array.items[4].boolean);
        CHECK(a->array.items[5].type == LC_JSON_NULL);
    }
    const lc_json *c = lc_json_get(lc_json_get(&v, "b"), "c");
    CHECK(c && c->type == LC_JSON_STRING);
    if (c) CHECK_BYTES(c->string.ptr, c->string.len, "d");
    CHECK(lc_json_get(&v, "e")->array.len == 0);
    CHECK(lc_json_get(&v, "f")->object.len == 0);
    CHECK(lc_json_get(&v, "zz") == NULL);
    CHECK(lc_json_get(a, "x") == NULL); /* not an object */
    lc_json_free(&v);
}

static void strings_decode_escapes_to_utf8(void) {
    lc_json v = parse_ok("\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t \\u00e9 \\u20AC \\ud83d\\ude00 \\u0000x\"");
    CHECK(v.type == LC_JSON_STRING);
    const char want[] = "q\" b\\ s/ \b\f\n\r\t \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \0x";
    CHECK(v.string.len == sizeof want - 1 && memcmp(v.string.ptr, want, sizeof want - 1) == 0);
    CHECK(v.string.ptr[v.string.len] == '\0');
    lc_json_free(&v);
    v = parse_ok("\"h\xc3\xa9llo\"");
    CHECK_BYTES(v.string.ptr, v.string.len, "h\xc3\xa9llo");
    lc_json_free(&v);
}

static void errors_say_what_and_where(void) {
    struct {
        const char *text, *want;
    } cases[] = {
        {"", "expected a value at line 1 column 1"},
        {"{\"a\" 1}", "expected `:` at line 1 column 6"},
        {"{\"a\": 1,}", "expected a key at line 1 column 9"},
        {"[1 2]", "expected `,` or `]` at line 1 column 4"},
        {"{\"a\": 1 \"b\": 2}", "expected `,` or `}` at line 1 column 9"},
        {"{\n  \"a\": tru\n}", "expected a value at line 2 column 8"},
        {"\"abc", "unterminated string"},
        {"\"a\nb\"", "control character in a string"},
        {"\"\\x\"", "invalid escape"},
        {"\"\\ud83d\"", "invalid \\u escape"},
        {"\"\\ude00\"", "invalid \\u escape"},
        {"\"\\u12g4\"", "invalid \\u escape"},
        {"01", "trailing characters at line 1 column 2"},
        {"-", "invalid number"},
        {"1.", "invalid number"},
        {"1e+", "invalid number"},
        {".5", "expected a value at line 1 column 1"},
        {"-x", "invalid number"},
        {"{\"a\": 1, \"a\": 2}", "duplicate key at line 1 column 10"},
        {"[1] x", "trailing characters at line 1 column 5"},
        {"nul", "expected a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = parse_err(cases[i].text);
        CHECK_CONTAINS(got, cases[i].want);
        free(got);
    }
    /* Deep nesting is refused, not a stack overflow. */
    char deep[400];
    memset(deep, '[', sizeof deep - 1);
    deep[sizeof deep - 1] = '\0';
    char *got = parse_err(deep);
    CHECK_CONTAINS(got, "nested too deeply");
    free(got);
}

static void config_getters_read_typed_values(void) {
    lc_config c;
    lc_error err = {0};
    const char *json = "{\"levels\": [\"DEBUG\", \"trace\"], \"mask\": \"***\", \"max\": 12,"
                       " \"ratio\": 0.5, \"on\": true, \"raw\": {\"x\": 1}}";
    CHECK(lc_config_parse(&c, lc_cstr(json), &err));
    const lc_str *levels = NULL;
    size_t n = 0;
    CHECK(lc_config_strings(&c, "levels", &levels, &n, &err) && n == 2);
    if (n == 2) {
        CHECK_BYTES(levels[0].ptr, levels[0].len, "DEBUG");
        CHECK_BYTES(levels[1].ptr, levels[1].len, "trace");
    }
    lc_str mask = LC_STR("#");
    CHECK(lc_config_string(&c, "mask", &mask, &err));
    CHECK_BYTES(mask.ptr, mask.len, "***");
    int64_t max = 0;
    CHECK(lc_config_int(&c, "max", &max, &err) && max == 12);
    double ratio = 0;
    CHECK(lc_config_number(&c, "ratio", &ratio, &err) && ratio == 0.5);
    bool on = false;
    CHECK(lc_config_bool(&c, "on", &on, &err) && on);
    CHECK(lc_config_has(&c, "raw") && !lc_config_has(&c, "nope"));
    const lc_json *raw = lc_config_get(&c, "raw");
    CHECK(raw && raw->type == LC_JSON_OBJECT);
    /* Absent keys leave the default. */
    lc_str absent = LC_STR("default");
    CHECK(lc_config_string(&c, "absent", &absent, &err));
    CHECK_BYTES(absent.ptr, absent.len, "default");
    CHECK(lc_config_done(&c, &err));
    CHECK(err.message == NULL);
    lc_config_free(&c);
}

static void empty_and_null_configs_read_as_an_empty_object(void) {
    const char *texts[] = {"", "  ", "null", " null\n", "{}"};
    for (size_t i = 0; i < 5; i++) {
        lc_config c;
        lc_error err = {0};
        CHECK(lc_config_parse(&c, lc_cstr(texts[i]), &err));
        bool on = true;
        CHECK(lc_config_bool(&c, "on", &on, &err) && on);
        CHECK(lc_config_done(&c, &err));
        lc_config_free(&c);
    }
}

/* The error of reading `json` with the drop-debug-like getters (caller frees). */
static char *config_err(const char *json) {
    lc_config c;
    lc_error err = {0};
    const lc_str *levels;
    size_t n;
    lc_str mask;
    int64_t max;
    bool on;
    bool ok = lc_config_parse(&c, lc_cstr(json), &err) &&
              lc_config_strings(&c, "levels", &levels, &n, &err) &&
              lc_config_string(&c, "mask", &mask, &err) &&
              lc_config_int(&c, "max", &max, &err) && lc_config_bool(&c, "on", &on, &err) &&
              lc_config_done(&c, &err);
    lc_config_free(&c);
    if (ok) {
        fprintf(stderr, "config %s was accepted\n", json);
        lc_test_failures++;
    }
    return err.message;
}

static void config_errors_name_the_key(void) {
    struct {
        const char *json, *want;
    } cases[] = {
        {"[]", "invalid config: expected an object, found an array"},
        {"{\"levels\": \"DEBUG\"}",
         "invalid config: `levels` must be an array of strings, found a string"},
        {"{\"levels\": [\"a\", 1]}", "invalid config: `levels[1]` must be a string, found a number"},
        {"{\"mask\": null}", "invalid config: `mask` must be a string, found null"},
        {"{\"max\": 1.5}", "invalid config: `max` must be an integer, found 1.5"},
        {"{\"max\": 1e30}", "must be an integer"},
        {"{\"max\": \"1\"}", "`max` must be an integer, found a string"},
        {"{\"on\": 1}", "invalid config: `on` must be true or false, found a number"},
        {"{\"level\": [\"x\"]}",
         "invalid config: unknown key `level`, expected one of `levels`, `mask`, `max`, `on`"},
        {"{\"levels\": [}", "invalid config: expected a value at line 1 column 13"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = config_err(cases[i].json);
        CHECK_CONTAINS(got, cases[i].want);
        free(got);
    }
    /* Getters after a failed parse read nothing (and do not touch freed memory). */
    lc_config bad;
    lc_error e2 = {0};
    CHECK(!lc_config_parse(&bad, LC_STR("{\"a\": [1, 2, {\"b\": }]}"), &e2));
    lc_str s = LC_STR("default");
    CHECK(lc_config_string(&bad, "a", &s, &e2) && s.len == 7);
    CHECK(!lc_config_done(&bad, &e2));
    lc_error_clear(&e2);
    lc_config_free(&bad);

    /* A plugin that reads no key refuses any. */
    lc_config c;
    lc_error err = {0};
    CHECK(lc_config_parse(&c, LC_STR("{\"x\": 1}"), &err));
    CHECK(!lc_config_done(&c, &err));
    CHECK_CONTAINS(err.message, "unknown key `x` (this plugin takes none)");
    lc_error_clear(&err);
    lc_config_free(&c);
}

void test_json(void) {
    RUN(values_of_every_type);
    RUN(strings_decode_escapes_to_utf8);
    RUN(errors_say_what_and_where);
}

void test_config(void) {
    RUN(config_getters_read_typed_values);
    RUN(empty_and_null_configs_read_as_an_empty_object);
    RUN(config_errors_name_the_key);
}
