/* conformance.c: the conformance hook in C, with scopeline.h (what it does:
 * sdk/conformance/README.md). sdk/build.sh builds it:
 *
 *   clang --target=wasm32-wasi -mexec-model=reactor -O2 -nostartfiles \
 *     -Wl,--no-entry -Wl,--strip-all -I sdk/c \
 *     -o sdk/conformance/c/conformance.wasm sdk/conformance/c/conformance.c
 */
#include "scopeline.h"

/* The typed config, filled once by setup. */
static struct {
  sl_str label;
  int64_t limit;
  int strict;
  sl_list extra;
} conf;

static int setup(sl_json config) {
  sl_json v;
  conf.label = sl_cstr("none");
  if ((v = sl_json_get(config, "label")).ptr) conf.label = sl_json_str(v);
  conf.limit = sl_json_int(sl_json_get(config, "limit"), 0);
  conf.strict = sl_json_bool(sl_json_get(config, "strict"), 0);
  v = sl_json_get(config, "extra");
  if (v.ptr) {
    sl_json_iter it = sl_json_iterate(v);
    sl_json s;
    uint32_t n = 0;
    while (sl_json_next(&it, NULL, &s)) n++;
    conf.extra.items = (sl_str *)sl_alloc(n * (uint32_t)sizeof(sl_str));
    it = sl_json_iterate(v);
    while (sl_json_next(&it, NULL, &s)) conf.extra.items[conf.extra.count++] = sl_json_str(s);
  }
  sl_str need = sl_json_str(sl_json_get(config, "require_secret"));
  if (need.ptr && need.len && !sl_present(sl_secret(need.ptr))) {
    sl_buf b = sl_buf_new();
    sl_buf_add(&b, "secret ");
    sl_buf_adds(&b, need);
    sl_buf_add(&b, " is missing");
    return sl_fail(b.ptr);
  }
  if (sl_json_bool(sl_json_get(config, "refuse"), 0)) {
    sl_buf b = sl_buf_new();
    sl_buf_add(&b, "refused: label=");
    sl_buf_adds(&b, conf.label);
    return sl_fail(b.ptr);
  }
  return SL_OK;
}

static void add_or_none(sl_buf *b, sl_str s) {
  if (s.ptr && s.len) sl_buf_adds(b, s);
  else sl_buf_add(b, "(none)");
}

static void add_list(sl_buf *b, sl_list l) {
  for (uint32_t i = 0; i < l.count; i++) {
    if (i) sl_buf_add(b, ",");
    sl_buf_adds(b, l.items[i]);
  }
}

static int handle(void) {
  sl_str tier = sl_client_metadata("tier");
  if (!tier.ptr) tier = sl_cstr("free");
  if (sl_is(sl_client_metadata("fail"), "true")) return sl_fail("asked to fail");
  if (sl_is(sl_client_metadata("suspended"), "true")) {
    sl_buf b = sl_buf_new();
    sl_buf_add(&b, "suspended (label=");
    sl_buf_adds(&b, conf.label);
    sl_buf_add(&b, ")");
    sl_deny(SL_ACCESS_DENIED, b.ptr);
    sl_deny(SL_INVALID_SCOPE, "ignored");
    return SL_OK;
  }
  sl_str code = sl_client_metadata("deny_code");
  if (code.ptr) {
    sl_buf b = sl_buf_new();
    sl_buf_add(&b, "denied with ");
    sl_buf_adds(&b, code);
    sl_deny(code.ptr, b.ptr);
    return SL_OK;
  }

  sl_buf b = sl_buf_new();
  sl_str raw = sl_config();
  sl_buf_add(&b, "config=");
  if (raw.ptr) sl_buf_adds(&b, raw);
  else sl_buf_add(&b, "(none)");
  sl_log_buf(SL_DEBUG, &b);

  b = sl_buf_new();
  sl_buf_add(&b, "trigger="), sl_buf_adds(&b, sl_trigger());
  sl_buf_add(&b, " grant="), sl_buf_adds(&b, sl_grant_type());
  sl_buf_add(&b, " client="), sl_buf_adds(&b, sl_client_id());
  sl_buf_add(&b, " name="), sl_buf_adds(&b, sl_client_name());
  sl_buf_add(&b, " type="), sl_buf_adds(&b, sl_client_type());
  sl_buf_add(&b, " aud="), sl_buf_adds(&b, sl_audience());
  sl_buf_add(&b, " sub="), sl_buf_adds(&b, sl_subject());
  sl_buf_add(&b, " hook="), sl_buf_adds(&b, sl_hook_name());
  sl_log_buf(SL_INFO, &b);

  b = sl_buf_new();
  sl_list requested = sl_requested_scopes();
  sl_buf_add(&b, "requested=");
  if (requested.present) add_list(&b, requested);
  else sl_buf_add(&b, "(none)");
  sl_buf_add(&b, " scopes="), add_list(&b, sl_scopes());
  sl_buf_add(&b, " ceiling="), add_list(&b, sl_grant_scopes());
  sl_log_buf(SL_INFO, &b);

  b = sl_buf_new();
  sl_buf_add(&b, "user="), add_or_none(&b, sl_user_id());
  sl_buf_add(&b, " ip="), add_or_none(&b, sl_ip());
  sl_buf_add(&b, " ua="), add_or_none(&b, sl_user_agent());
  sl_buf_add(&b, " rid="), add_or_none(&b, sl_request_id());
  sl_buf_add(&b, " time="), sl_buf_int(&b, sl_time());
  sl_buf_add(&b, " at="), sl_buf_adds(&b, sl_time_text());
  sl_log_buf(SL_INFO, &b);

  b = sl_buf_new();
  sl_str secret = sl_secret("token"), note = sl_client_metadata("note");
  sl_buf_add(&b, "secret=");
  if (secret.ptr) sl_buf_int(&b, secret.len);
  else sl_buf_add(&b, "(none)");
  sl_buf_add(&b, " note=");
  if (note.ptr) sl_buf_int(&b, note.len);
  else sl_buf_add(&b, "(none)");
  sl_log_buf(SL_INFO, &b);

  if (sl_is(tier, "gold")) {
    sl_add_scope("read:users", "gold reads");
    for (uint32_t i = 0; i < conf.extra.count; i++) sl_add_scope(conf.extra.items[i].ptr, "extra from config");
  } else if (sl_has_scope("delete:users")) {
    sl_remove_scope("delete:users", "only gold deletes");
  }
  sl_set_claim_string("tier", tier, "client tier");

  b = sl_buf_new();
  sl_buf_add(&b, "{\"extra\":[");
  for (uint32_t i = 0; i < conf.extra.count; i++) {
    if (i) sl_buf_add(&b, ",");
    sl_buf_json_str(&b, conf.extra.items[i]);
  }
  sl_buf_add(&b, "],\"label\":"), sl_buf_json_str(&b, conf.label);
  sl_buf_add(&b, ",\"limit\":"), sl_buf_int(&b, conf.limit);
  sl_buf_add(&b, ",\"strict\":"), sl_buf_add(&b, conf.strict ? "true" : "false");
  sl_buf_add(&b, "}");
  sl_set_claim_json("conf", sl_strn(b.ptr, b.len), "typed config");

  if (sl_present(sl_user_id())) {
    sl_str email = sl_json_str(sl_json_get(sl_json_get(sl_document(), "user"), "email"));
    if (email.len) sl_set_claim_string("email", email, "from the input document");
  }
  sl_remove_claim("legacy", "legacy dropped");

  b = sl_buf_new();
  sl_buf_add(&b, "tier="), sl_buf_adds(&b, tier);
  sl_log_buf(SL_WARN, &b);
  return SL_OK;
}

SL_SETUP(setup)
SL_HOOK(handle)
