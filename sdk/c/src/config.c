/* The plugin's config: typed getters over the parsed JSON object. */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

/* What a JSON value is, for messages. */
static const char *describe(const lc_json *v) {
    switch (v->type) {
    case LC_JSON_NULL: return "null";
    case LC_JSON_BOOL: return "a boolean";
    case LC_JSON_NUMBER: return "a number";
    case LC_JSON_STRING: return "a string";
    case LC_JSON_ARRAY: return "an array";
    case LC_JSON_OBJECT: return "an object";
    }
    return "a value";
}

/* The member `key`, marked as read (NULL when absent); `key` joins the keys asked for. */
static lc_json_member *member(lc_config *c, const char *key) {
    lc_str k = lc_cstr(key);
    bool asked = false;
    for (size_t i = 0; i < c->asked_len && !asked; i++) asked = strcmp(c->asked[i], key) == 0;
    if (!asked) {
        c->asked = lc__xrealloc(c->asked, (c->asked_len + 1) * sizeof *c->asked);
        c->asked[c->asked_len++] = lc__strndup(key, k.len);
    }
    if (c->root.type != LC_JSON_OBJECT) return NULL; /* a config that failed to parse */
    for (size_t i = 0; i < c->root.object.len; i++) {
        lc_json_member *m = &c->root.object.members[i];
        if (lc_str_eq(m->key, k)) {
            m->used = true;
            return m;
        }
    }
    return NULL;
}

static bool is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; }

/* Remembers an allocation freed with the config. */
static void own(lc_config *c, void *p) {
    size_t cap = c->owned_len;
    c->owned = lc__xrealloc(c->owned, (cap + 1) * sizeof *c->owned);
    c->owned[c->owned_len++] = p;
}

bool lc_config_parse(lc_config *c, lc_str json, lc_error *err) {
    memset(c, 0, sizeof *c);
    size_t start = 0, end = json.len;
    while (start < end && is_space(json.ptr[start])) start++;
    while (end > start && is_space(json.ptr[end - 1])) end--;
    if (end == start || (end - start == 4 && memcmp(json.ptr + start, "null", 4) == 0)) {
        c->root.type = LC_JSON_OBJECT;
        return true;
    }
    lc_error parse = {0};
    if (!lc_json_parse(json.ptr, json.len, &c->root, &parse)) {
        lc_fail(err, "invalid config: %s", parse.message);
        lc_error_clear(&parse);
        c->root.type = LC_JSON_NULL;
        return false;
    }
    if (c->root.type != LC_JSON_OBJECT) {
        bool r = lc_fail(err, "invalid config: expected an object, found %s", describe(&c->root));
        lc_json_free(&c->root);
        return r;
    }
    return true;
}

void lc_config_free(lc_config *c) {
    lc_json_free(&c->root);
    for (size_t i = 0; i < c->owned_len; i++) free(c->owned[i]);
    free(c->owned);
    for (size_t i = 0; i < c->asked_len; i++) free(c->asked[i]);
    free(c->asked);
    memset(c, 0, sizeof *c);
}

bool lc_config_has(const lc_config *c, const char *key) {
    return lc_json_get(&c->root, key) != NULL;
}

const lc_json *lc_config_get(lc_config *c, const char *key) {
    lc_json_member *m = member(c, key);
    return m ? &m->value : NULL;
}

bool lc_config_string(lc_config *c, const char *key, lc_str *out, lc_error *err) {
    const lc_json *v = lc_config_get(c, key);
    if (!v) return true;
    if (v->type != LC_JSON_STRING) {
        return lc_fail(err, "invalid config: `%s` must be a string, found %s", key, describe(v));
    }
    *out = v->string;
    return true;
}

bool lc_config_strings(lc_config *c, const char *key, const lc_str **items, size_t *n,
                       lc_error *err) {
    const lc_json *v = lc_config_get(c, key);
    if (!v) return true;
    if (v->type != LC_JSON_ARRAY) {
        return lc_fail(err, "invalid config: `%s` must be an array of strings, found %s", key,
                       describe(v));
    }
    lc_str *list = lc__xrealloc(NULL, (v->array.len ? v->array.len : 1) * sizeof *list);
    for (size_t i = 0; i < v->array.len; i++) {
        const lc_json *item = &v->array.items[i];
        if (item->type != LC_JSON_STRING) {
            free(list);
            return lc_fail(err, "invalid config: `%s[%zu]` must be a string, found %s", key, i,
                           describe(item));
        }
        list[i] = item->string;
    }
    own(c, list);
    *items = list;
    *n = v->array.len;
    return true;
}

bool lc_config_number(lc_config *c, const char *key, double *out, lc_error *err) {
    const lc_json *v = lc_config_get(c, key);
    if (!v) return true;
    if (v->type != LC_JSON_NUMBER) {
        return lc_fail(err, "invalid config: `%s` must be a number, found %s", key, describe(v));
    }
    *out = v->number;
    return true;
}

bool lc_config_int(lc_config *c, const char *key, int64_t *out, lc_error *err) {
    const lc_json *v = lc_config_get(c, key);
    if (!v) return true;
    if (v->type != LC_JSON_NUMBER) {
        return lc_fail(err, "invalid config: `%s` must be an integer, found %s", key,
                       describe(v));
    }
    /* -2^63 is INT64_MIN; 2^63 is the first double past INT64_MAX. */
    double d = v->number;
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || (double)(int64_t)d != d) {
        return lc_fail(err, "invalid config: `%s` must be an integer, found %g", key, d);
    }
    *out = (int64_t)d;
    return true;
}

bool lc_config_bool(lc_config *c, const char *key, bool *out, lc_error *err) {
    const lc_json *v = lc_config_get(c, key);
    if (!v) return true;
    if (v->type != LC_JSON_BOOL) {
        return lc_fail(err, "invalid config: `%s` must be true or false, found %s", key,
                       describe(v));
    }
    *out = v->boolean;
    return true;
}

bool lc_config_done(const lc_config *c, lc_error *err) {
    if (c->root.type != LC_JSON_OBJECT) return lc_fail(err, "invalid config: not parsed");
    for (size_t i = 0; i < c->root.object.len; i++) {
        const lc_json_member *m = &c->root.object.members[i];
        if (m->used) continue;
        /* The keys the plugin asked for: what it knows. */
        size_t cap = 1;
        for (size_t j = 0; j < c->asked_len; j++) cap += strlen(c->asked[j]) + 4;
        char *known = lc__xrealloc(NULL, cap);
        size_t n = 0;
        for (size_t j = 0; j < c->asked_len; j++) {
            n += (size_t)snprintf(known + n, cap - n, "%s`%s`", j ? ", " : "", c->asked[j]);
        }
        known[n] = '\0';
        bool r;
        if (c->asked_len == 0) {
            r = lc_fail(err, "invalid config: unknown key `%s` (this plugin takes none)",
                        m->key.ptr);
        } else {
            r = lc_fail(err, "invalid config: unknown key `%s`, expected %s%s", m->key.ptr,
                        c->asked_len > 1 ? "one of " : "", known);
        }
        free(known);
        return r;
    }
    return true;
}
