/* deny-scopes: the deny-scopes plugin, in C with scopeline.h. It forbids
 * scopes by pattern, for every client or per client, removing them from
 * the token (or denying the request, with on_match: deny).
 *
 * Config (docs/hooks.md):
 *
 *   scopes: ["delete:*"]              # forbidden for every client
 *   clients:                          # forbidden for these clients only
 *     reporting-job: ["write:*", "admin"]
 *   on_match: remove                  # remove (default) or deny
 *
 * A pattern matches a whole scope; `*` stands for any run of characters
 * and `?` for one byte. Build: plugins/build.sh.
 */
#include "scopeline.h"
#include "../clients.h"

/* The parsed config: kept from setup for the instance's life. */
static sl_list global_patterns;
static client_lists per_client; /* of sl_list */
static int deny_on_match;

/* patterns reads v (absent, null or a list of non-empty strings) into
 * out, an sl_list. */
static int patterns(sl_json v, sl_str at, void *into) {
  sl_list *out = (sl_list *)into;
  sl_json_iter it = sl_json_iterate(v);
  sl_json p;
  sl_buf b = sl_buf_new();
  out->count = 0;
  if (sl_json_type(v) == SL_JSON_NONE || sl_json_type(v) == SL_JSON_NULL) return SL_OK;
  if (sl_json_type(v) != SL_JSON_ARRAY) {
    sl_buf_add(&b, "config: "), sl_buf_adds(&b, at), sl_buf_add(&b, ": want a list of scope patterns");
    return sl_fail(b.ptr);
  }
  out->items = (sl_str *)sl_alloc(sl_json_len(v) * (uint32_t)sizeof(sl_str));
  while (sl_json_next(&it, NULL, &p)) {
    sl_str s = sl_json_str(p);
    if (s.ptr == NULL) {
      sl_buf_add(&b, "config: "), sl_buf_adds(&b, at), sl_buf_add(&b, ": want a list of scope patterns");
      return sl_fail(b.ptr);
    }
    if (s.len == 0) {
      sl_buf_add(&b, "config: ");
      if (!sl_is(at, "scopes")) sl_buf_adds(&b, at), sl_buf_add(&b, ": ");
      sl_buf_add(&b, "empty scope pattern");
      return sl_fail(b.ptr);
    }
    out->items[out->count++] = s;
  }
  return SL_OK;
}

static int setup(sl_json config) {
  static const char *const keys[] = {"scopes", "clients", "on_match", NULL};
  sl_str mode;
  if (sl_config_check(config, "give scopes and/or clients", keys) != SL_OK) return SL_FAILED;
  mode = sl_json_str(sl_json_get(config, "on_match"));
  if (sl_present(mode) && mode.len > 0 && !sl_is(mode, "remove") && !sl_is(mode, "deny")) {
    sl_buf b = sl_buf_new();
    sl_buf_add(&b, "config: on_match must be remove or deny, not "), sl_buf_json_str(&b, mode);
    return sl_fail(b.ptr);
  }
  deny_on_match = sl_is(mode, "deny");
  if (patterns(sl_json_get(config, "scopes"), sl_cstr("scopes"), &global_patterns) != SL_OK ||
      read_clients(sl_json_get(config, "clients"), "scope patterns", patterns, sizeof(sl_list), &per_client) != SL_OK)
    return SL_FAILED;
  if (global_patterns.count == 0 && per_client.count == 0) return sl_fail("config: give scopes and/or clients");
  return SL_OK;
}

/* match reports whether s matches the glob pattern p (`*` any run, `?` one
 * byte), iteratively with backtracking on the last star. */
static int match(sl_str p, sl_str s) {
  uint32_t pi = 0, si = 0, star = 0, mark = 0;
  int starred = 0;
  while (si < s.len) {
    if (pi < p.len && (p.ptr[pi] == '?' || p.ptr[pi] == s.ptr[si])) {
      pi++, si++;
    } else if (pi < p.len && p.ptr[pi] == '*') {
      starred = 1, star = pi, mark = si, pi++;
    } else if (starred) {
      pi = star + 1, si = ++mark;
    } else {
      return 0;
    }
  }
  while (pi < p.len && p.ptr[pi] == '*') pi++;
  return pi == p.len;
}

/* first_match returns the first pattern of list matching scope. */
static sl_str first_match(sl_str scope, const sl_list *list) {
  for (uint32_t i = 0; list != NULL && i < list->count; i++)
    if (match(list->items[i], scope)) return list->items[i];
  return sl_strn(NULL, 0);
}

static int deny_scopes(void) {
  const sl_list *mine = per_client.count > 0 ? (const sl_list *)client_list(&per_client, sl_client_id()) : NULL;
  sl_list scopes = sl_scopes();
  for (uint32_t i = 0; i < scopes.count; i++) {
    sl_str s = scopes.items[i], p = first_match(s, &global_patterns);
    sl_buf b = sl_buf_new();
    if (!p.ptr) p = first_match(s, mine);
    if (!p.ptr) continue;
    if (deny_on_match) {
      sl_buf_add(&b, "scope "), sl_buf_json_str(&b, s), sl_buf_add(&b, " is forbidden for this client");
      sl_deny(SL_INVALID_SCOPE, b.ptr);
      return SL_OK;
    }
    sl_buf_add(&b, "forbidden by pattern "), sl_buf_adds(&b, p);
    sl_remove_scope(s.ptr, b.ptr);
  }
  return SL_OK;
}

SL_SETUP(setup)
SL_HOOK(deny_scopes)
