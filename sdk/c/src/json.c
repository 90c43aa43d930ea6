/* A small JSON parser (RFC 8259), for plugin configs: lc_json_parse. */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

/* Deepest nesting accepted (configs are shallow; this bounds the recursion). */
#define MAX_DEPTH 64

typedef struct parser {
    const char *s;
    size_t len, pos;
    lc_error *err;
} parser;

/* Fails with `what` at the current position (line and column count from 1). */
static bool fail_at(parser *p, const char *what) {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < p->pos && i < p->len; i++) {
        if (p->s[i] == '\n') {
            line++;
            col = 1;
        } else if (((unsigned char)p->s[i] & 0xC0) != 0x80) {
            col++;
        }
    }
    return lc_fail(p->err, "%s at line %zu column %zu", what, line, col);
}

static void skip_ws(parser *p) {
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static bool literal(parser *p, const char *word) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) {
        return fail_at(p, "expected a value");
    }
    p->pos += n;
    return true;
}

static int hex4(parser *p) {
    if (p->len - p->pos < 4) return -1;
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos + i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    p->pos += 4;
    return v;
}

/* Appends code point `cp` as UTF-8 to `out` (room for 4 bytes). */
static size_t put_utf8(char *out, uint32_t cp) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Parses a string (at its opening quote) into a malloc'd, NUL-terminated `*out`. */
static bool parse_string(parser *p, lc_str *out) {
    p->pos++; /* the opening quote */
    /* Escapes only shrink text: the raw length bounds the decoded one. */
    size_t end = p->pos;
    while (end < p->len && p->s[end] != '"') end += p->s[end] == '\\' ? 2 : 1;
    size_t cap = (end < p->len ? end : p->len) - p->pos + 1;
    char *buf = lc__xrealloc(NULL, cap);
    size_t n = 0;
    for (;;) {
        if (p->pos >= p->len) {
            free(buf);
            return fail_at(p, "unterminated string");
        }
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20) {
            free(buf);
            return fail_at(p, "control character in a string");
        }
        if (c != '\\') {
            buf[n++] = (char)c;
            p->pos++;
            continue;
        }
        p->pos++;
        char e = p->pos < p->len ? p->s[p->pos++] : '\0';
        switch (e) {
        case '"': buf[n++] = '"'; break;
        case '\\': buf[n++] = '\\'; break;
        case '/': buf[n++] = '/'; break;
        case 'b': buf[n++] = '\b'; break;
        case 'f': buf[n++] = '\f'; break;
        case 'n': buf[n++] = '\n'; break;
        case 'r': buf[n++] = '\r'; break;
        case 't': buf[n++] = '\t'; break;
        case 'u': {
            int hi = hex4(p);
            uint32_t cp = (uint32_t)hi;
            bool ok = hi >= 0;
            if (ok && hi >= 0xD800 && hi <= 0xDBFF) {
                /* A surrogate pair: `\uD83D\uDE00`. */
                int lo = -1;
                if (p->len - p->pos >= 2 && p->s[p->pos] == '\\' && p->s[p->pos + 1] == 'u') {
                    p->pos += 2;
                    lo = hex4(p);
                }
                ok = lo >= 0xDC00 && lo <= 0xDFFF;
                cp = 0x10000 + (((uint32_t)hi - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
            } else if (ok && hi >= 0xDC00 && hi <= 0xDFFF) {
                ok = false;
            }
            if (!ok) {
                free(buf);
                return fail_at(p, "invalid \\u escape");
            }
            n += put_utf8(buf + n, cp);
            break;
        }
        default:
            free(buf);
            return fail_at(p, "invalid escape in a string");
        }
    }
    buf[n] = '\0';
    out->ptr = buf;
    out->len = n;
    return true;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool parse_number(parser *p, double *out) {
    size_t start = p->pos;
    if (p->pos < p->len && p->s[p->pos] == '-') p->pos++;
    if (p->pos < p->len && p->s[p->pos] == '0') {
        p->pos++;
    } else if (p->pos < p->len && is_digit(p->s[p->pos])) {
        while (p->pos < p->len && is_digit(p->s[p->pos])) p->pos++;
    } else {
        return fail_at(p, "invalid number");
    }
    if (p->pos < p->len && p->s[p->pos] == '.') {
        p->pos++;
        if (p->pos >= p->len || !is_digit(p->s[p->pos])) return fail_at(p, "invalid number");
        while (p->pos < p->len && is_digit(p->s[p->pos])) p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        if (p->pos >= p->len || !is_digit(p->s[p->pos])) return fail_at(p, "invalid number");
        while (p->pos < p->len && is_digit(p->s[p->pos])) p->pos++;
    }
    char *text = lc__strndup(p->s + start, p->pos - start);
    *out = strtod(text, NULL);
    free(text);
    return true;
}

static bool parse_value(parser *p, lc_json *out, int depth);

static bool parse_array(parser *p, lc_json *out, int depth) {
    p->pos++; /* [ */
    out->type = LC_JSON_ARRAY;
    out->array.items = NULL;
    out->array.len = 0;
    size_t cap = 0;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
        return true;
    }
    for (;;) {
        lc__grow((void **)&out->array.items, &cap, out->array.len + 1, sizeof(lc_json));
        /* Owned from here, even half-parsed: freed with the array. */
        lc_json *item = &out->array.items[out->array.len++];
        item->type = LC_JSON_NULL;
        if (!parse_value(p, item, depth + 1)) return false;
        skip_ws(p);
        char c = p->pos < p->len ? p->s[p->pos] : '\0';
        p->pos++;
        if (c == ']') return true;
        if (c != ',') {
            p->pos--;
            return fail_at(p, "expected `,` or `]`");
        }
    }
}

static bool parse_object(parser *p, lc_json *out, int depth) {
    p->pos++; /* { */
    out->type = LC_JSON_OBJECT;
    out->object.members = NULL;
    out->object.len = 0;
    size_t cap = 0;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        return true;
    }
    for (;;) {
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != '"') return fail_at(p, "expected a key");
        size_t key_at = p->pos;
        lc__grow((void **)&out->object.members, &cap, out->object.len + 1,
                 sizeof(lc_json_member));
        lc_json_member *m = &out->object.members[out->object.len];
        m->used = false;
        m->value.type = LC_JSON_NULL;
        if (!parse_string(p, &m->key)) return false;
        out->object.len++; /* owned from here: freed with the object */
        for (size_t i = 0; i + 1 < out->object.len; i++) {
            if (lc_str_eq(out->object.members[i].key, m->key)) {
                p->pos = key_at;
                return fail_at(p, "duplicate key");
            }
        }
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':') return fail_at(p, "expected `:`");
        p->pos++;
        if (!parse_value(p, &m->value, depth + 1)) return false;
        skip_ws(p);
        char c = p->pos < p->len ? p->s[p->pos] : '\0';
        p->pos++;
        if (c == '}') return true;
        if (c != ',') {
            p->pos--;
            return fail_at(p, "expected `,` or `}`");
        }
    }
}

static bool parse_value(parser *p, lc_json *out, int depth) {
    out->type = LC_JSON_NULL;
    if (depth > MAX_DEPTH) return fail_at(p, "nested too deeply");
    skip_ws(p);
    if (p->pos >= p->len) return fail_at(p, "expected a value");
    switch (p->s[p->pos]) {
    case '{':
        return parse_object(p, out, depth);
    case '[':
        return parse_array(p, out, depth);
    case '"':
        if (!parse_string(p, &out->string)) return false;
        out->type = LC_JSON_STRING;
        return true;
    case 't':
        out->type = LC_JSON_BOOL;
        out->boolean = true;
        return literal(p, "true");
    case 'f':
        out->type = LC_JSON_BOOL;
        out->boolean = false;
        return literal(p, "false");
    case 'n':
        return literal(p, "null");
    default:
        if (p->s[p->pos] != '-' && !is_digit(p->s[p->pos])) return fail_at(p, "expected a value");
        out->type = LC_JSON_NUMBER;
        return parse_number(p, &out->number);
    }
}

bool lc_json_parse(const char *text, size_t len, lc_json *out, lc_error *err) {
    parser p = {text, len, 0, err};
    bool ok = parse_value(&p, out, 0);
    if (ok) {
        skip_ws(&p);
        if (p.pos < p.len) ok = fail_at(&p, "trailing characters");
    }
    if (!ok) {
        lc_json_free(out);
        return false;
    }
    return true;
}

void lc_json_free(lc_json *v) {
    switch (v->type) {
    case LC_JSON_STRING:
        free((char *)v->string.ptr);
        break;
    case LC_JSON_ARRAY:
        for (size_t i = 0; i < v->array.len; i++) lc_json_free(&v->array.items[i]);
        free(v->array.items);
        break;
    case LC_JSON_OBJECT:
        for (size_t i = 0; i < v->object.len; i++) {
            free((char *)v->object.members[i].key.ptr);
            lc_json_free(&v->object.members[i].value);
        }
        free(v->object.members);
        break;
    default:
        break;
    }
    v->type = LC_JSON_NULL;
}

const lc_json *lc_json_get(const lc_json *object, const char *key) {
    if (object->type != LC_JSON_OBJECT) return NULL;
    lc_str k = lc_cstr(key);
    for (size_t i = 0; i < object->object.len; i++) {
        if (lc_str_eq(object->object.members[i].key, k)) return &object->object.members[i].value;
    }
    return NULL;
}
