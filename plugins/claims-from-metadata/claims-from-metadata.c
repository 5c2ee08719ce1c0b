/* claims-from-metadata: the claims-from-metadata plugin, in C with
 * scopeline.h. It copies client or user metadata into token claims.
 *
 * Config (docs/hooks.md):
 *
 *   claims:
 *     tier: client.tier             # client metadata key "tier"
 *     plan: user.plan               # user metadata key "plan" (post-login)
 *     name: profile.name            # user profile key "name"
 *   on_missing: skip                # skip (default) or deny
 *
 * Claims are set in the byte order of their names. Client metadata values
 * are strings, read without JSON; user metadata and profile values keep
 * their JSON type and come from the input document, read only when such
 * a claim is configured and there is a user.
 *
 * Claim names are refused at load when they could be mistaken for a claim
 * the issuer sets: a name equal, ignoring ASCII case, to iss sub aud exp
 * iat nbf jti scope client_id cnf permissions auth_time acr amr azp nonce
 * sid at_hash c_hash act may_act, any name that is not printable ASCII (so
 * no Unicode case folding or normalisation can make one look like
 * another), and two names equal ignoring ASCII case. Build:
 * plugins/build.sh.
 */
#include "scopeline.h"

enum { FROM_CLIENT, FROM_USER, FROM_PROFILE };

typedef struct mapping {
  sl_str claim, key, reason;
  int source;
} mapping;

/* The parsed config: kept from setup for the instance's life. */
static mapping *mappings;
static uint32_t mapping_count;
static int deny_on_missing, needs_user;

static const char *const reserved[] = {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "scope", "client_id",
                                       "cnf", "permissions", "auth_time", "acr", "amr", "azp", "nonce", "sid",
                                       "at_hash", "c_hash", "act", "may_act", NULL};
static const char *const sources[] = {"client", "user", "profile"};

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* same_folded tells whether a and b are equal ignoring ASCII case. */
static int same_folded(sl_str a, const char *b, uint32_t n) {
  uint32_t i = 0;
  if (n != a.len) return 0;
  while (i < n && lower((unsigned char)a.ptr[i]) == lower((unsigned char)b[i])) i++;
  return i == n;
}

/* is_reserved tells whether name equals a reserved claim, ignoring ASCII case. */
static int is_reserved(sl_str name) {
  for (const char *const *r = reserved; *r != NULL; r++)
    if (same_folded(name, *r, (uint32_t)strlen(*r))) return 1;
  return 0;
}

static int printable_ascii(sl_str s) {
  for (uint32_t i = 0; i < s.len; i++)
    if ((unsigned char)s.ptr[i] < 0x21 || (unsigned char)s.ptr[i] > 0x7e) return 0;
  return 1;
}

static int compare(sl_str a, sl_str b) {
  uint32_t n = a.len < b.len ? a.len : b.len;
  int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
  return c != 0 ? c : (a.len > b.len) - (a.len < b.len);
}

static int bad_claim(sl_str name, const char *why) {
  sl_buf b = sl_buf_new();
  sl_buf_add(&b, "config: claims."), sl_buf_adds(&b, name), sl_buf_add(&b, ": ");
  sl_buf_json_str(&b, name), sl_buf_add(&b, why);
  return sl_fail(b.ptr);
}

static int setup(sl_json config) {
  static const char *const keys[] = {"claims", "on_missing", NULL};
  sl_json claims, k, v;
  sl_str mode;
  sl_buf b = sl_buf_new();
  if (sl_config_check(config, "give claims", keys) != SL_OK) return SL_FAILED;
  claims = sl_json_get(config, "claims");
  if (sl_json_type(claims) != SL_JSON_OBJECT && sl_json_type(claims) != SL_JSON_NONE && sl_json_type(claims) != SL_JSON_NULL)
    return sl_fail("config: claims: want claim names and their sources");
  mode = sl_json_str(sl_json_get(config, "on_missing"));
  if (sl_present(mode) && mode.len > 0 && !sl_is(mode, "skip") && !sl_is(mode, "deny")) {
    sl_buf_add(&b, "config: on_missing must be skip or deny, not "), sl_buf_json_str(&b, mode);
    return sl_fail(b.ptr);
  }
  deny_on_missing = sl_is(mode, "deny");
  sl_json_iter it = sl_json_iterate(claims);
  if (sl_json_len(claims) == 0) return sl_fail("config: claims is empty");
  mappings = (mapping *)sl_alloc(sl_json_len(claims) * (uint32_t)sizeof(mapping));
  while (sl_json_next(&it, &k, &v)) {
    mapping m;
    sl_str name = sl_json_str(k), src = sl_json_str(v);
    uint32_t dot = 0;
    if (name.len == 0 || name.len > 128) return bad_claim(name, " must be 1 to 128 bytes");
    if (!printable_ascii(name)) return bad_claim(name, " is not printable ASCII (claim names here are)");
    if (is_reserved(name)) return bad_claim(name, " is a reserved claim");
    while (src.ptr && dot < src.len && src.ptr[dot] != '.') dot++;
    m.source = -1;
    for (int s = 0; src.ptr && dot < src.len && s < 3; s++)
      if (dot == strlen(sources[s]) && memcmp(src.ptr, sources[s], dot) == 0) m.source = s;
    if (m.source < 0 || dot + 1 >= src.len) {
      sl_buf_add(&b, "config: claims."), sl_buf_adds(&b, name), sl_buf_add(&b, ": source ");
      if (src.ptr) sl_buf_json_str(&b, src);
      else sl_buf_add(&b, "(not a string)");
      sl_buf_add(&b, " must be client.KEY, user.KEY or profile.KEY");
      return sl_fail(b.ptr);
    }
    for (uint32_t i = 0; i < mapping_count; i++)
      if (same_folded(mappings[i].claim, name.ptr, name.len)) {
        sl_buf_add(&b, "config: claims."), sl_buf_adds(&b, name), sl_buf_add(&b, ": the same claim as ");
        sl_buf_json_str(&b, mappings[i].claim), sl_buf_add(&b, " ignoring case");
        return sl_fail(b.ptr);
      }
    m.claim = name;
    m.key = sl_copy(src.ptr + dot + 1, src.len - dot - 1);
    if (m.source != FROM_CLIENT) needs_user = 1;
    b = sl_buf_new();
    sl_buf_add(&b, "from "), sl_buf_add(&b, sources[m.source]), sl_buf_add(&b, " metadata "), sl_buf_adds(&b, m.key);
    m.reason = sl_strn(b.ptr, b.len);
    /* insert in order of claim name: a stable order of ops */
    uint32_t at = mapping_count++;
    while (at > 0 && compare(mappings[at - 1].claim, name) > 0) {
      mappings[at] = mappings[at - 1];
      at--;
    }
    mappings[at] = m;
    b = sl_buf_new();
  }
  return SL_OK;
}

static int copy_claims(void) {
  sl_json user = sl_strn(NULL, 0);
  if (needs_user && sl_present(sl_user_id())) {
    user = sl_json_get(sl_document(), "user");
    if (sl_json_type(user) != SL_JSON_OBJECT) user = sl_strn(NULL, 0);
  }
  for (uint32_t i = 0; i < mapping_count; i++) {
    const mapping *m = &mappings[i];
    if (m->source == FROM_CLIENT) {
      sl_str v = sl_client_metadata(m->key.ptr);
      if (sl_present(v)) {
        sl_set_claim_string(m->claim.ptr, v, m->reason.ptr);
        continue;
      }
    } else if (user.ptr) {
      sl_json v = sl_json_get(sl_json_get(user, m->source == FROM_USER ? "metadata" : "profile"), m->key.ptr);
      if (v.ptr) {
        sl_set_claim_json(m->claim.ptr, v, m->reason.ptr);
        continue;
      }
    }
    if (deny_on_missing) {
      sl_buf b = sl_buf_new();
      sl_buf_add(&b, sources[m->source]), sl_buf_add(&b, " metadata "), sl_buf_json_str(&b, m->key), sl_buf_add(&b, " is missing");
      sl_deny(SL_ACCESS_DENIED, b.ptr);
      return SL_OK;
    }
  }
  return SL_OK;
}

SL_SETUP(setup)
SL_HOOK(copy_claims)
