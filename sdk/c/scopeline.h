/* scopeline.h: the C and C++ SDK for Scopeline hooks (hook ABI v1,
 * docs/hook-abi.md). Header-only: include it, write a handler, and name it
 * with SL_HOOK in one file of the hook.
 *
 *   #include "scopeline.h"
 *
 *   static int handle(void) {
 *     sl_str tier = sl_client_metadata("tier");
 *     if (!sl_is(tier, "gold") && sl_has_scope("delete:users"))
 *       sl_remove_scope("delete:users", "only gold clients may delete users");
 *     return SL_OK;
 *   }
 *   SL_HOOK(handle)
 *
 * Build (Debian 12: clang 14, lld, wasi-libc, libclang-rt-14-dev-wasm32):
 *
 *   clang --target=wasm32-wasi -mexec-model=reactor -O2 -nostartfiles \
 *     -Wl,--no-entry -Wl,--strip-all -o hook.wasm hook.c
 *
 * (clang++ with the same flags and -fno-exceptions for C++.)
 *
 * Memory: strings the SDK returns live in an arena that is emptied when a
 * run ends; what setup (SL_SETUP) allocates lives as long as the instance.
 * Copy with sl_keep() what a run must keep (rarely needed: instances are
 * reused, and a hook should keep no request state). Every string the SDK
 * returns is also NUL-terminated, so .ptr is a C string (unless the value
 * itself holds a NUL byte).
 */
#ifndef SCOPELINE_H
#define SCOPELINE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
#define SL__EXTERN_C extern "C"
#define SL__BEGIN extern "C" {
#define SL__END }
#else
#define SL__EXTERN_C
#define SL__BEGIN
#define SL__END
#endif

SL__BEGIN

/* ---- The ABI: host functions (docs/hook-abi.md §3) ---------------------- */

#define SL__IMPORT(name) __attribute__((import_module("scopeline"), import_name(#name)))
#define SL__EXPORT(name) __attribute__((export_name(#name)))

SL__IMPORT(input) int32_t sl_abi_input(char *buf, uint32_t cap);
SL__IMPORT(field) int32_t sl_abi_field(int32_t id, char *buf, uint32_t cap);
SL__IMPORT(client_metadata) int32_t sl_abi_client_metadata(const char *key, uint32_t key_len, char *buf, uint32_t cap);
SL__IMPORT(secret) int32_t sl_abi_secret(const char *name, uint32_t name_len, char *buf, uint32_t cap);
SL__IMPORT(has_scope) int32_t sl_abi_has_scope(const char *scope, uint32_t scope_len);
SL__IMPORT(add_scope) int32_t sl_abi_add_scope(const char *scope, uint32_t scope_len, const char *reason, uint32_t reason_len);
SL__IMPORT(remove_scope) int32_t sl_abi_remove_scope(const char *scope, uint32_t scope_len, const char *reason, uint32_t reason_len);
SL__IMPORT(set_claim) int32_t sl_abi_set_claim(const char *name, uint32_t name_len, const char *json, uint32_t json_len, const char *reason, uint32_t reason_len);
SL__IMPORT(remove_claim) int32_t sl_abi_remove_claim(const char *name, uint32_t name_len, const char *reason, uint32_t reason_len);
SL__IMPORT(deny) int32_t sl_abi_deny(const char *code, uint32_t code_len, const char *reason, uint32_t reason_len);
SL__IMPORT(log) int32_t sl_abi_log(int32_t level, const char *msg, uint32_t msg_len);

/* Field ids of sl_abi_field (§3.2). */
enum {
  SL_FIELD_TRIGGER = 1, SL_FIELD_GRANT_TYPE = 2, SL_FIELD_CLIENT_ID = 3,
  SL_FIELD_CLIENT_NAME = 4, SL_FIELD_AUDIENCE = 5, SL_FIELD_REQUESTED_SCOPES = 6,
  SL_FIELD_SCOPES = 7, SL_FIELD_SUBJECT = 8, SL_FIELD_USER_ID = 9, SL_FIELD_IP = 10,
  SL_FIELD_USER_AGENT = 11, SL_FIELD_REQUEST_ID = 12, SL_FIELD_CONFIG = 13,
  SL_FIELD_HOOK_NAME = 14, SL_FIELD_TIME = 15, SL_FIELD_TIME_UNIX = 16,
  SL_FIELD_CLIENT_TYPE = 17, SL_FIELD_GRANT_SCOPES = 18
};

/* Status codes of the host functions (§3.3). */
enum { SL_STATUS_ABSENT = -1, SL_STATUS_NO_FIELD = -2, SL_STATUS_NOT_IN_RUN = -3 };

/* What a handler or a setup function returns: SL_OK, or SL_FAILED (better:
 * return sl_fail("why"), which logs why first). */
enum { SL_OK = 0, SL_FAILED = 1 };

/* Log levels. */
enum { SL_DEBUG = 0, SL_INFO = 1, SL_WARN = 2, SL_ERROR = 3 };

/* OAuth error codes a hook may deny with (others become access_denied). */
#define SL_ACCESS_DENIED "access_denied"
#define SL_INVALID_SCOPE "invalid_scope"
#define SL_INVALID_REQUEST "invalid_request"
#define SL_UNAUTHORIZED_CLIENT "unauthorized_client"
#define SL_INVALID_GRANT "invalid_grant"
#define SL_INTERACTION_REQUIRED "interaction_required"
#define SL_LOGIN_REQUIRED "login_required"
#define SL_CONSENT_REQUIRED "consent_required"

/* Triggers. */
#define SL_CREDENTIALS_EXCHANGE "credentials-exchange"
#define SL_POST_LOGIN "post-login"
#define SL_TOKEN_EXCHANGE "token-exchange"

/* ---- Strings and memory -------------------------------------------------- */

/* sl_str is a string: ptr is NULL when the value is absent (an absent
 * field differs from an empty one). */
typedef struct sl_str {
  const char *ptr;
  uint32_t len;
} sl_str;

/* sl_list is a list of strings (scopes); present is 0 when the list itself
 * is absent (the request had no scope parameter). */
typedef struct sl_list {
  sl_str *items;
  uint32_t count;
  int present;
} sl_list;

typedef struct sl__chunk {
  struct sl__chunk *next;
  uint32_t used, cap;
} sl__chunk;

/* The SDK's state, defined once by SL_HOOK. */
typedef struct sl__state {
  sl__chunk *arena[2]; /* 0: setup (kept), 1: the current run (emptied) */
  int phase;           /* 0 in setup, 1 in a run */
  const char *doc;     /* the input document, once read in a run */
  uint32_t doc_len;
} sl__state;
extern sl__state sl__st;

static inline void sl__trap(void) { __builtin_trap(); }

/* sl_alloc returns n bytes that live until the run ends (in setup: as long
 * as the instance). It traps when memory runs out (a fault of kind memory). */
static inline void *sl_alloc(uint32_t n) {
  sl__chunk **head = &sl__st.arena[sl__st.phase];
  n = (n + 7u) & ~7u;
  sl__chunk *c = *head;
  if (c == NULL || c->cap - c->used < n) {
    uint32_t cap = n > 16384u - sizeof(sl__chunk) ? n : 16384u - (uint32_t)sizeof(sl__chunk);
    c = (sl__chunk *)malloc(sizeof(sl__chunk) + cap);
    if (c == NULL) sl__trap();
    c->next = *head;
    c->used = 0;
    c->cap = cap;
    *head = c;
  }
  void *p = (char *)(c + 1) + c->used;
  c->used += n;
  return p;
}

static inline void sl__arena_reset(int which) {
  sl__chunk *c = sl__st.arena[which];
  /* keep the newest chunk (the one most likely big enough), free the rest */
  if (c == NULL) return;
  sl__chunk *rest = c->next;
  c->next = NULL;
  c->used = 0;
  while (rest != NULL) {
    sl__chunk *next = rest->next;
    free(rest);
    rest = next;
  }
}

/* sl_strn makes an sl_str of ptr and len. */
static inline sl_str sl_strn(const char *ptr, uint32_t len) {
  sl_str s;
  s.ptr = ptr;
  s.len = len;
  return s;
}

/* sl_cstr makes an sl_str of a C string. */
static inline sl_str sl_cstr(const char *s) { return sl_strn(s, (uint32_t)strlen(s)); }

/* sl_copy copies n bytes into the arena, NUL-terminated. */
static inline sl_str sl_copy(const char *p, uint32_t n) {
  char *d = (char *)sl_alloc(n + 1);
  if (n) memcpy(d, p, n);
  d[n] = 0;
  return sl_strn(d, n);
}

/* sl_keep copies s into memory that outlives the run (malloc). */
static inline sl_str sl_keep(sl_str s) {
  if (s.ptr == NULL) return s;
  char *d = (char *)malloc(s.len + 1);
  if (d == NULL) sl__trap();
  memcpy(d, s.ptr, s.len);
  d[s.len] = 0;
  return sl_strn(d, s.len);
}

/* sl_present tells whether s has a value. */
static inline int sl_present(sl_str s) { return s.ptr != NULL; }

/* sl_is tells whether s is present and equal to the C string lit. */
static inline int sl_is(sl_str s, const char *lit) {
  size_t n = strlen(lit);
  return s.ptr != NULL && s.len == n && memcmp(s.ptr, lit, n) == 0;
}

/* sl_eq tells whether a and b hold the same bytes. */
static inline int sl_eq(sl_str a, sl_str b) { return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0); }

/* ---- Getters ------------------------------------------------------------- */

/* sl__get calls a getter with what is left of the arena's chunk, and again
 * with a buffer of the value's size if it did not fit (§3.1). */
static inline sl_str sl__get(int32_t (*call)(int32_t, const char *, uint32_t, char *, uint32_t), int32_t id, const char *arg, uint32_t arg_len) {
  sl__chunk *c;
  uint32_t avail = 0;
  char *buf;
  sl_alloc(0); /* the arena has a chunk from here on */
  c = sl__st.arena[sl__st.phase];
  buf = (char *)(c + 1) + c->used;
  if (c->cap - c->used > 1) avail = c->cap - c->used - 1;
  int32_t n = call(id, arg, arg_len, buf, avail);
  if (n < 0) return sl_strn(NULL, 0);
  if ((uint32_t)n <= avail && c->cap > c->used) {
    buf[n] = 0;
    c->used += ((uint32_t)n + 8u) & ~7u;
    return sl_strn(buf, (uint32_t)n);
  }
  uint32_t want = (uint32_t)n;
  buf = (char *)sl_alloc(want + 1);
  n = call(id, arg, arg_len, buf, want);
  if (n < 0 || (uint32_t)n > want) return sl_strn(NULL, 0);
  buf[n] = 0;
  return sl_strn(buf, (uint32_t)n);
}

static inline int32_t sl__call_field(int32_t id, const char *a, uint32_t an, char *b, uint32_t cap) {
  (void)a, (void)an;
  return sl_abi_field(id, b, cap);
}
static inline int32_t sl__call_input(int32_t id, const char *a, uint32_t an, char *b, uint32_t cap) {
  (void)id, (void)a, (void)an;
  return sl_abi_input(b, cap);
}
static inline int32_t sl__call_metadata(int32_t id, const char *a, uint32_t an, char *b, uint32_t cap) {
  (void)id;
  return sl_abi_client_metadata(a, an, b, cap);
}
static inline int32_t sl__call_secret(int32_t id, const char *a, uint32_t an, char *b, uint32_t cap) {
  (void)id;
  return sl_abi_secret(a, an, b, cap);
}

/* sl_field returns a field of the request by id (§3.2); absent: ptr NULL. */
static inline sl_str sl_field(int32_t id) { return sl__get(sl__call_field, id, NULL, 0); }

/* The request's fields. Those that may be absent say so with ptr NULL. */
static inline sl_str sl_trigger(void) { return sl_field(SL_FIELD_TRIGGER); }
static inline sl_str sl_grant_type(void) { return sl_field(SL_FIELD_GRANT_TYPE); }
static inline sl_str sl_client_id(void) { return sl_field(SL_FIELD_CLIENT_ID); }
static inline sl_str sl_client_name(void) { return sl_field(SL_FIELD_CLIENT_NAME); }
/* sl_client_type is m2m, web, spa or native. */
static inline sl_str sl_client_type(void) { return sl_field(SL_FIELD_CLIENT_TYPE); }
/* sl_audience is the identifier of the API the token is for. */
static inline sl_str sl_audience(void) { return sl_field(SL_FIELD_AUDIENCE); }
/* sl_subject is the token's sub: the client id, or the user id. */
static inline sl_str sl_subject(void) { return sl_field(SL_FIELD_SUBJECT); }
/* sl_user_id is the signed-in user's id; absent for client tokens. */
static inline sl_str sl_user_id(void) { return sl_field(SL_FIELD_USER_ID); }
static inline sl_str sl_ip(void) { return sl_field(SL_FIELD_IP); }
static inline sl_str sl_user_agent(void) { return sl_field(SL_FIELD_USER_AGENT); }
static inline sl_str sl_request_id(void) { return sl_field(SL_FIELD_REQUEST_ID); }
static inline sl_str sl_hook_name(void) { return sl_field(SL_FIELD_HOOK_NAME); }
/* sl_config is the hook's config as JSON text; absent when none is given. */
static inline sl_str sl_config(void) { return sl_field(SL_FIELD_CONFIG); }
/* sl_time_text is the request's arrival time as the host writes it. */
static inline sl_str sl_time_text(void) { return sl_field(SL_FIELD_TIME); }

/* sl_time is the request's arrival time in whole seconds since 1970 (0 when
 * absent, as in setup). */
static inline int64_t sl_time(void) {
  sl_str s = sl_field(SL_FIELD_TIME_UNIX);
  int64_t v = 0;
  int neg = 0;
  uint32_t i = 0;
  if (s.ptr == NULL) return 0;
  if (i < s.len && s.ptr[i] == '-') neg = 1, i++;
  for (; i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9'; i++) v = v * 10 + (s.ptr[i] - '0');
  return neg ? -v : v;
}

/* sl_words splits s on spaces (scopes never contain one). */
static inline sl_list sl_words(sl_str s) {
  sl_list l;
  uint32_t n = 0, i, start;
  l.items = NULL;
  l.count = 0;
  l.present = s.ptr != NULL;
  if (s.ptr == NULL) return l;
  for (i = 0; i < s.len; i++)
    if (s.ptr[i] != ' ' && (i == 0 || s.ptr[i - 1] == ' ')) n++;
  if (n == 0) return l;
  l.items = (sl_str *)sl_alloc(n * (uint32_t)sizeof(sl_str));
  for (i = 0; i < s.len;) {
    while (i < s.len && s.ptr[i] == ' ') i++;
    start = i;
    while (i < s.len && s.ptr[i] != ' ') i++;
    if (i > start) l.items[l.count++] = sl_copy(s.ptr + start, i - start);
  }
  return l;
}

/* sl_requested_scopes are the request's scope parameter (present 0 when
 * absent), sl_scopes the scopes the token carries so far (not counting this
 * hook's own staged changes), sl_grant_scopes the client's ceiling. */
static inline sl_list sl_requested_scopes(void) { return sl_words(sl_field(SL_FIELD_REQUESTED_SCOPES)); }
static inline sl_list sl_scopes(void) { return sl_words(sl_field(SL_FIELD_SCOPES)); }
static inline sl_list sl_grant_scopes(void) { return sl_words(sl_field(SL_FIELD_GRANT_SCOPES)); }

/* sl_has_scope tells whether the token carries scope so far. */
static inline int sl_has_scope(const char *scope) { return sl_abi_has_scope(scope, (uint32_t)strlen(scope)) == 1; }

/* sl_client_metadata returns one of the client's metadata values. */
static inline sl_str sl_client_metadata(const char *key) { return sl__get(sl__call_metadata, 0, key, (uint32_t)strlen(key)); }
static inline sl_str sl_client_metadata_s(sl_str key) { return sl__get(sl__call_metadata, 0, key.ptr, key.len); }

/* sl_secret returns one of the hook's secrets (in setup too). Never log it. */
static inline sl_str sl_secret(const char *name) { return sl__get(sl__call_secret, 0, name, (uint32_t)strlen(name)); }

/* ---- JSON ---------------------------------------------------------------- */

/* sl_json is one JSON value, as its text; ptr NULL when there is none. */
typedef sl_str sl_json;

enum { SL_JSON_NONE = 0, SL_JSON_NULL, SL_JSON_BOOL, SL_JSON_NUMBER, SL_JSON_STRING, SL_JSON_ARRAY, SL_JSON_OBJECT };

static inline uint32_t sl__ws(const char *p, uint32_t i, uint32_t n) {
  while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')) i++;
  return i;
}

static inline int sl__hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* sl__skip checks the value at p[i:n] and returns the index after it, or
 * 0xffffffff when it is not valid JSON (RFC 8259; at most 64 levels). */
static inline uint32_t sl__skip(const char *p, uint32_t i, uint32_t n, int depth) {
  const uint32_t bad = 0xffffffffu;
  i = sl__ws(p, i, n);
  if (i >= n || depth > 64) return bad;
  switch (p[i]) {
  case '"':
    for (i++; i < n; i++) {
      unsigned char c = (unsigned char)p[i];
      if (c == '"') return i + 1;
      if (c < 0x20) return bad;
      if (c == '\\') {
        if (++i >= n) return bad;
        switch (p[i]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't': break;
        case 'u':
          if (i + 4 >= n || sl__hex(p[i + 1]) < 0 || sl__hex(p[i + 2]) < 0 || sl__hex(p[i + 3]) < 0 || sl__hex(p[i + 4]) < 0) return bad;
          i += 4;
          break;
        default: return bad;
        }
      }
    }
    return bad;
  case '{': case '[': {
    char close = p[i] == '{' ? '}' : ']';
    int object = p[i] == '{';
    i = sl__ws(p, i + 1, n);
    if (i < n && p[i] == close) return i + 1;
    for (;;) {
      if (object) {
        i = sl__ws(p, i, n);
        if (i >= n || p[i] != '"') return bad;
        i = sl__skip(p, i, n, depth + 1);
        if (i == bad) return bad;
        i = sl__ws(p, i, n);
        if (i >= n || p[i] != ':') return bad;
        i++;
      }
      i = sl__skip(p, i, n, depth + 1);
      if (i == bad) return bad;
      i = sl__ws(p, i, n);
      if (i >= n) return bad;
      if (p[i] == close) return i + 1;
      if (p[i] != ',') return bad;
      i++;
    }
  }
  case 't': return n - i >= 4 && memcmp(p + i, "true", 4) == 0 ? i + 4 : bad;
  case 'f': return n - i >= 5 && memcmp(p + i, "false", 5) == 0 ? i + 5 : bad;
  case 'n': return n - i >= 4 && memcmp(p + i, "null", 4) == 0 ? i + 4 : bad;
  default: {
    uint32_t s = i;
    if (p[i] == '-') i++;
    if (i >= n) return bad;
    if (p[i] == '0') i++;
    else if (p[i] >= '1' && p[i] <= '9') while (i < n && p[i] >= '0' && p[i] <= '9') i++;
    else return bad;
    if (i < n && p[i] == '.') {
      s = ++i;
      while (i < n && p[i] >= '0' && p[i] <= '9') i++;
      if (i == s) return bad;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
      i++;
      if (i < n && (p[i] == '+' || p[i] == '-')) i++;
      s = i;
      while (i < n && p[i] >= '0' && p[i] <= '9') i++;
      if (i == s) return bad;
    }
    return i;
  }
  }
}

/* sl_json_parse checks that text is one valid JSON value and returns it
 * (ptr NULL if it is not, or if text is absent). */
static inline sl_json sl_json_parse(sl_str text) {
  uint32_t end, i;
  if (text.ptr == NULL) return text;
  end = sl__skip(text.ptr, 0, text.len, 0);
  if (end == 0xffffffffu || sl__ws(text.ptr, end, text.len) != text.len) return sl_strn(NULL, 0);
  i = sl__ws(text.ptr, 0, text.len);
  return sl_strn(text.ptr + i, end - i);
}

/* sl_json_type is the type of v (SL_JSON_NONE when v is absent). */
static inline int sl_json_type(sl_json v) {
  if (v.ptr == NULL || v.len == 0) return SL_JSON_NONE;
  switch (v.ptr[0]) {
  case 'n': return SL_JSON_NULL;
  case 't': case 'f': return SL_JSON_BOOL;
  case '"': return SL_JSON_STRING;
  case '[': return SL_JSON_ARRAY;
  case '{': return SL_JSON_OBJECT;
  default: return SL_JSON_NUMBER;
  }
}

/* sl_json_iter walks an array's elements or an object's members. */
typedef struct sl_json_iter {
  sl_json v;
  uint32_t i;
} sl_json_iter;

static inline sl_json_iter sl_json_iterate(sl_json v) {
  sl_json_iter it;
  it.v = (sl_json_type(v) == SL_JSON_ARRAY || sl_json_type(v) == SL_JSON_OBJECT) ? v : sl_strn(NULL, 0);
  it.i = 1;
  return it;
}

/* sl_json_next moves to the next element (key stays absent) or member; it
 * returns 0 at the end. v must come from sl_json_parse (or be part of such
 * a value). */
static inline int sl_json_next(sl_json_iter *it, sl_json *key, sl_json *val) {
  const char *p = it->v.ptr;
  uint32_t n = it->v.len, i, e;
  if (p == NULL) return 0;
  i = sl__ws(p, it->i, n);
  if (i < n && p[i] == ',') i = sl__ws(p, i + 1, n);
  if (i >= n - 1) return 0; /* the closing bracket */
  if (p[0] == '{') {
    e = sl__skip(p, i, n, 0);
    if (key) *key = sl_strn(p + i, e - i);
    i = sl__ws(p, e, n) + 1; /* past ':' */
    i = sl__ws(p, i, n);
  } else if (key) {
    *key = sl_strn(NULL, 0);
  }
  e = sl__skip(p, i, n, 0);
  if (e == 0xffffffffu) return 0;
  if (val) *val = sl_strn(p + i, e - i);
  it->i = e;
  return 1;
}

/* sl_json_str returns a string value, unescaped, in the arena (ptr NULL
 * when v is not a string). */
static inline sl_str sl_json_str(sl_json v) {
  uint32_t i, o = 0;
  char *d;
  if (sl_json_type(v) != SL_JSON_STRING) return sl_strn(NULL, 0);
  d = (char *)sl_alloc(v.len);
  for (i = 1; i + 1 < v.len; i++) {
    char c = v.ptr[i];
    if (c != '\\') {
      d[o++] = c;
      continue;
    }
    c = v.ptr[++i];
    switch (c) {
    case 'b': d[o++] = '\b'; break;
    case 'f': d[o++] = '\f'; break;
    case 'n': d[o++] = '\n'; break;
    case 'r': d[o++] = '\r'; break;
    case 't': d[o++] = '\t'; break;
    case 'u': {
      uint32_t cp = (uint32_t)(sl__hex(v.ptr[i + 1]) << 12 | sl__hex(v.ptr[i + 2]) << 8 | sl__hex(v.ptr[i + 3]) << 4 | sl__hex(v.ptr[i + 4]));
      i += 4;
      if (cp >= 0xd800 && cp < 0xdc00 && i + 6 < v.len && v.ptr[i + 1] == '\\' && v.ptr[i + 2] == 'u') {
        uint32_t lo = (uint32_t)(sl__hex(v.ptr[i + 3]) << 12 | sl__hex(v.ptr[i + 4]) << 8 | sl__hex(v.ptr[i + 5]) << 4 | sl__hex(v.ptr[i + 6]));
        if (lo >= 0xdc00 && lo < 0xe000) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          i += 6;
        }
      }
      if (cp >= 0xd800 && cp < 0xe000) cp = 0xfffd; /* a lone surrogate */
      if (cp < 0x80) {
        d[o++] = (char)cp;
      } else if (cp < 0x800) {
        d[o++] = (char)(0xc0 | cp >> 6);
        d[o++] = (char)(0x80 | (cp & 0x3f));
      } else if (cp < 0x10000) {
        d[o++] = (char)(0xe0 | cp >> 12);
        d[o++] = (char)(0x80 | (cp >> 6 & 0x3f));
        d[o++] = (char)(0x80 | (cp & 0x3f));
      } else {
        d[o++] = (char)(0xf0 | cp >> 18);
        d[o++] = (char)(0x80 | (cp >> 12 & 0x3f));
        d[o++] = (char)(0x80 | (cp >> 6 & 0x3f));
        d[o++] = (char)(0x80 | (cp & 0x3f));
      }
      break;
    }
    default: d[o++] = c; /* " \ / */
    }
  }
  d[o] = 0;
  return sl_strn(d, o);
}

/* sl_json_key_is tells whether the JSON string k (a member key as
 * sl_json_next gives it) equals the C string name. */
static inline int sl_json_key_is(sl_json k, const char *name) {
  size_t n = strlen(name);
  if (k.len == n + 2 && memcmp(k.ptr + 1, name, n) == 0 && memchr(k.ptr, '\\', k.len) == NULL) return 1;
  return memchr(k.ptr, '\\', k.len) != NULL && sl_is(sl_json_str(k), name);
}

/* sl_json_get returns the member name of object v (ptr NULL if absent). */
static inline sl_json sl_json_get(sl_json v, const char *name) {
  sl_json_iter it = sl_json_iterate(v);
  sl_json k, val;
  if (sl_json_type(v) != SL_JSON_OBJECT) return sl_strn(NULL, 0);
  while (sl_json_next(&it, &k, &val))
    if (sl_json_key_is(k, name)) return val;
  return sl_strn(NULL, 0);
}

/* sl_json_bool returns a boolean value, or def when v is not one. */
static inline int sl_json_bool(sl_json v, int def) {
  if (sl_json_type(v) != SL_JSON_BOOL) return def;
  return v.ptr[0] == 't';
}

/* sl_json_is_int tells whether v is an integer that fits an int64_t. */
static inline int sl_json_is_int(sl_json v) {
  uint32_t i = 0;
  uint64_t m = 0, lim;
  if (sl_json_type(v) != SL_JSON_NUMBER) return 0;
  if (v.ptr[0] == '-') i++;
  lim = i ? (uint64_t)1 << 63 : ((uint64_t)1 << 63) - 1;
  for (; i < v.len; i++) {
    if (v.ptr[i] < '0' || v.ptr[i] > '9') return 0;
    if (m > (lim - (uint64_t)(v.ptr[i] - '0')) / 10) return 0;
    m = m * 10 + (uint64_t)(v.ptr[i] - '0');
  }
  return 1;
}

/* sl_json_int returns an integer value, or def when v is not an integer
 * that fits an int64_t. */
static inline int64_t sl_json_int(sl_json v, int64_t def) {
  uint32_t i = 0;
  uint64_t m = 0;
  int neg;
  if (!sl_json_is_int(v)) return def;
  neg = v.ptr[0] == '-';
  for (i = (uint32_t)neg; i < v.len; i++) m = m * 10 + (uint64_t)(v.ptr[i] - '0');
  return neg ? (int64_t)(0 - m) : (int64_t)m;
}

/* sl_json_unknown_key returns the first member of object v whose key is
 * not among the NULL-terminated allowed names (ptr NULL when none): for
 * refusing a config with a mistyped key, as Go's DecodeConfig does. */
static inline sl_str sl_json_unknown_key(sl_json v, const char *const *allowed) {
  sl_json_iter it = sl_json_iterate(v);
  sl_json k;
  while (sl_json_next(&it, &k, NULL)) {
    const char *const *a = allowed;
    while (*a != NULL && !sl_json_key_is(k, *a)) a++;
    if (*a == NULL) return sl_json_str(k);
  }
  return sl_strn(NULL, 0);
}

/* sl_json_len is the number of elements of an array or members of an
 * object (0 for anything else). */
static inline uint32_t sl_json_len(sl_json v) {
  sl_json_iter it = sl_json_iterate(v);
  uint32_t n = 0;
  while (sl_json_next(&it, NULL, NULL)) n++;
  return n;
}

/* sl_document is the input document (docs/hook-abi.md §4), parsed: read it
 * for what the fields do not give (it costs more than a field). */
static inline sl_json sl_document(void) {
  if (sl__st.doc == NULL) {
    sl_str d = sl__get(sl__call_input, 0, NULL, 0);
    if (d.ptr == NULL) return d;
    sl__st.doc = d.ptr;
    sl__st.doc_len = d.len;
  }
  return sl_json_parse(sl_strn(sl__st.doc, sl__st.doc_len));
}

/* ---- Building text: log lines and JSON values ----------------------------- */

/* sl_buf is a growing byte buffer in the arena. Start with sl_buf b = {0}
 * (C) or sl_buf b = {} (C++), or sl_buf_new(). */
typedef struct sl_buf {
  char *ptr;
  uint32_t len, cap;
} sl_buf;

static inline sl_buf sl_buf_new(void) {
  sl_buf b;
  b.ptr = NULL;
  b.len = b.cap = 0;
  return b;
}

static inline void sl_buf_addn(sl_buf *b, const char *p, uint32_t n) {
  if (b->len + n + 1 > b->cap) {
    uint32_t cap = b->cap * 2 > b->len + n + 1 ? b->cap * 2 : b->len + n + 1 + 64;
    char *d = (char *)sl_alloc(cap);
    if (b->len) memcpy(d, b->ptr, b->len);
    b->ptr = d;
    b->cap = cap;
  }
  if (n) memcpy(b->ptr + b->len, p, n);
  b->len += n;
  b->ptr[b->len] = 0;
}

/* sl_buf_add appends a C string; sl_buf_adds an sl_str; sl_buf_int an
 * integer in decimal. */
static inline void sl_buf_add(sl_buf *b, const char *s) { sl_buf_addn(b, s, (uint32_t)strlen(s)); }
static inline void sl_buf_adds(sl_buf *b, sl_str s) { sl_buf_addn(b, s.ptr, s.len); }
static inline void sl_buf_int(sl_buf *b, int64_t v) {
  char t[24];
  int i = 24;
  uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  do t[--i] = (char)('0' + m % 10); while ((m /= 10) != 0);
  if (v < 0) t[--i] = '-';
  sl_buf_addn(b, t + i, (uint32_t)(24 - i));
}

/* sl_buf_json_str appends s as a JSON string: " and \ escaped, bytes below
 * 0x20 as \u00XX, the rest as it is. */
static inline void sl_buf_json_str(sl_buf *b, sl_str s) {
  static const char hex[] = "0123456789abcdef";
  uint32_t i, from = 0;
  sl_buf_addn(b, "\"", 1);
  for (i = 0; i < s.len; i++) {
    unsigned char c = (unsigned char)s.ptr[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    sl_buf_addn(b, s.ptr + from, i - from);
    from = i + 1;
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      sl_buf_addn(b, e, 2);
    } else {
      char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      sl_buf_addn(b, e, 6);
    }
  }
  sl_buf_addn(b, s.ptr + from, s.len - from);
  sl_buf_addn(b, "\"", 1);
}

/* ---- Staging changes and logging ----------------------------------------- */
/* Nothing applies until the handler returns SL_OK; the issuer then applies
 * each change in order, refusing (and tracing) what its rules forbid. */

static inline void sl_add_scope(const char *scope, const char *reason) {
  sl_abi_add_scope(scope, (uint32_t)strlen(scope), reason, (uint32_t)strlen(reason));
}
static inline void sl_remove_scope(const char *scope, const char *reason) {
  sl_abi_remove_scope(scope, (uint32_t)strlen(scope), reason, (uint32_t)strlen(reason));
}
/* sl_set_claim_json sets a claim to a JSON value given as text. */
static inline void sl_set_claim_json(const char *name, sl_str json, const char *reason) {
  sl_abi_set_claim(name, (uint32_t)strlen(name), json.ptr, json.len, reason, (uint32_t)strlen(reason));
}
/* sl_set_claim_string sets a claim to a string (encoded as JSON here). */
static inline void sl_set_claim_string(const char *name, sl_str value, const char *reason) {
  sl_buf b = sl_buf_new();
  sl_buf_json_str(&b, value);
  sl_set_claim_json(name, sl_strn(b.ptr, b.len), reason);
}
static inline void sl_set_claim_int(const char *name, int64_t value, const char *reason) {
  sl_buf b = sl_buf_new();
  sl_buf_int(&b, value);
  sl_set_claim_json(name, sl_strn(b.ptr, b.len), reason);
}
static inline void sl_set_claim_bool(const char *name, int value, const char *reason) {
  sl_set_claim_json(name, value ? sl_strn("true", 4) : sl_strn("false", 5), reason);
}
static inline void sl_remove_claim(const char *name, const char *reason) {
  sl_abi_remove_claim(name, (uint32_t)strlen(name), reason, (uint32_t)strlen(reason));
}
/* sl_deny refuses the request with an OAuth error code (SL_ACCESS_DENIED,
 * ...) and a reason the client sees. The first denial of a run stands;
 * staged scope and claim changes are dropped. */
static inline void sl_deny(const char *code, const char *reason) {
  sl_abi_deny(code, (uint32_t)strlen(code), reason, (uint32_t)strlen(reason));
}

/* sl_deny_buf is sl_deny with a reason built in an sl_buf (which may hold
 * any byte, a NUL too). */
static inline void sl_deny_buf(const char *code, const sl_buf *reason) {
  sl_abi_deny(code, (uint32_t)strlen(code), reason->ptr, reason->len);
}

/* Logging: kept with the decision (at most 32 lines of 1 KiB per run). */
static inline void sl_log(int level, sl_str msg) { sl_abi_log(level, msg.ptr, msg.len); }
static inline void sl_debug(const char *msg) { sl_abi_log(SL_DEBUG, msg, (uint32_t)strlen(msg)); }
static inline void sl_info(const char *msg) { sl_abi_log(SL_INFO, msg, (uint32_t)strlen(msg)); }
static inline void sl_warn(const char *msg) { sl_abi_log(SL_WARN, msg, (uint32_t)strlen(msg)); }
static inline void sl_error(const char *msg) { sl_abi_log(SL_ERROR, msg, (uint32_t)strlen(msg)); }
static inline void sl_log_buf(int level, const sl_buf *b) { sl_abi_log(level, b->ptr, b->len); }

/* sl_fail logs why at level error (prefixed "setup: " in setup) and returns
 * SL_FAILED: return sl_fail("...") fails the run (or the hook's load). */
static inline int sl_fail(const char *why) {
  if (sl__st.phase == 0) {
    sl_buf b = sl_buf_new();
    sl_buf_add(&b, "setup: ");
    sl_buf_add(&b, why);
    sl_log_buf(SL_ERROR, &b);
  } else {
    sl_error(why);
  }
  return SL_FAILED;
}

/* sl_config_check fails setup (returns what sl_fail returns) unless config
 * is an object whose members are all among allowed (NULL-terminated), with
 * the messages a hook's user expects: "config is required: HINT" when the
 * tenant file gives none, "config: want an object", and
 * "config: unknown field "KEY"" for a mistyped key. */
static inline int sl_config_check(sl_json config, const char *hint, const char *const *allowed) {
  sl_str unknown;
  sl_buf b = sl_buf_new();
  if (!sl_present(config)) {
    sl_buf_add(&b, "config is required: "), sl_buf_add(&b, hint);
    return sl_fail(b.ptr);
  }
  if (sl_json_type(config) != SL_JSON_OBJECT) return sl_fail("config: want an object");
  if ((unknown = sl_json_unknown_key(config, allowed)).ptr) {
    sl_buf_add(&b, "config: unknown field "), sl_buf_json_str(&b, unknown);
    return sl_fail(b.ptr);
  }
  return SL_OK;
}

/* ---- Declaring the hook ---------------------------------------------------- */

/* SL_HOOK(handler) makes the hook: int handler(void) runs once per request
 * and returns SL_OK or sl_fail(...). Use it in exactly one file. */
#define SL_HOOK(handler)                                                       \
  SL__BEGIN                                                                     \
  sl__state sl__st;                                                             \
  SL__EXPORT(scopeline_abi_v1) void scopeline_abi_v1(void) {}                   \
  SL__EXPORT(scopeline_run) int32_t scopeline_run(void) {                       \
    int32_t rc;                                                                 \
    sl__st.phase = 1;                                                           \
    sl__st.doc = NULL;                                                          \
    rc = (handler)() == SL_OK ? 0 : 1;                                          \
    sl__arena_reset(1);                                                         \
    sl__st.doc = NULL;                                                          \
    return rc;                                                                  \
  }                                                                             \
  SL__END

/* SL_SETUP(setup) runs int setup(sl_json config) once per instance, before
 * any request, with the hook's config (ptr NULL when none): parse it into
 * your own variables (strings with sl_keep, or kept as they are: setup's
 * arena lives as long as the instance). Return SL_OK, or sl_fail(...) to
 * refuse the config: the tenant file is refused with your message. */
#define SL_SETUP(setup)                                                        \
  SL__BEGIN                                                                     \
  SL__EXPORT(scopeline_init) int32_t scopeline_init(void) {                     \
    sl_str raw;                                                                 \
    sl_json conf;                                                               \
    sl__st.phase = 0;                                                           \
    raw = sl_config();                                                          \
    conf = sl_json_parse(raw);                                                  \
    if (raw.ptr != NULL && conf.ptr == NULL) return sl_fail("config: not valid JSON"); \
    return (setup)(conf) == SL_OK ? 0 : 1;                                      \
  }                                                                             \
  SL__END

SL__END

#endif /* SCOPELINE_H */
