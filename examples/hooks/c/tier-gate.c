/* tier-gate.c: the example hook in C, with the C SDK (sdk/c/scopeline.h).
 * Same rules as the other examples (see examples/hooks/go/main.go):
 *
 *   - a client whose metadata says suspended: "true" is denied;
 *   - its tier is metadata "tier" (absent, or longer than 62 bytes: "free");
 *   - a gold client always gets read:users; any other loses delete:users;
 *   - the token gets a "tier" claim, and the hook logs "tier=<tier>".
 *
 * Build (Debian 12: clang lld wasi-libc libclang-rt-14-dev-wasm32):
 *
 *   clang --target=wasm32-wasi -mexec-model=reactor -Oz -nostartfiles -I sdk/c \
 *     -Wl,--no-entry -Wl,--strip-all -o examples/hooks/c/tier-gate.wasm examples/hooks/c/tier-gate.c
 */
#include "scopeline.h"

static int tier_gate(void) {
  if (sl_is(sl_client_metadata("suspended"), "true")) {
    sl_deny(SL_ACCESS_DENIED, "client is suspended");
    return SL_OK;
  }
  sl_str tier = sl_client_metadata("tier");
  if (!sl_present(tier) || tier.len > 62) tier = sl_cstr("free");
  if (sl_is(tier, "gold")) {
    sl_add_scope("read:users", "gold clients always read users");
  } else if (sl_has_scope("delete:users")) {
    sl_remove_scope("delete:users", "only gold clients may delete users");
  }
  sl_set_claim_string("tier", tier, "client tier");

  sl_buf line = sl_buf_new();
  sl_buf_add(&line, "tier=");
  sl_buf_adds(&line, tier);
  sl_log_buf(SL_INFO, &line);
  return SL_OK;
}

SL_HOOK(tier_gate)
