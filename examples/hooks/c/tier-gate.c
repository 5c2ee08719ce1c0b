/* tier-gate.c: the example hook in C, with wasi-libc and no SDK but the
 * declarations of scopeline.h. Same rules as the other examples (see
 * examples/hooks/go/main.go):
 *
 *   - a client whose metadata says suspended: "true" is denied;
 *   - its tier is metadata "tier" (absent, or longer than 62 bytes: "free");
 *   - a gold client always gets read:users; any other loses delete:users;
 *   - the token gets a "tier" claim, and the hook logs "tier=<tier>".
 *
 * Build (Debian: clang lld wasi-libc libclang-rt-14-dev-wasm32):
 *
 *   clang --target=wasm32-wasi -mexec-model=reactor -O2 -nostartfiles \
 *     -Wl,--no-entry -Wl,--strip-all -o examples/hooks/c/tier-gate.wasm examples/hooks/c/tier-gate.c
 */
#include <string.h>

#include "scopeline.h"

SCOPELINE_ABI_V1

SL_EXPORT(scopeline_run) int32_t scopeline_run(void) {
  char buf[64];
  int32_t n = sl_client_metadata(SL_STR("suspended"), buf, sizeof buf);
  if (n == 4 && memcmp(buf, "true", 4) == 0) {
    sl_deny(SL_STR("access_denied"), SL_STR("client is suspended"));
    return SL_RETURN_OK;
  }

  /* The claim value: the tier between quotes. */
  char claim[64];
  int32_t tlen = sl_client_metadata(SL_STR("tier"), claim + 1, 62);
  if (tlen < 0 || tlen > 62) {
    memcpy(claim + 1, "free", 4);
    tlen = 4;
  }
  const char *tier = claim + 1;
  if (tlen == 4 && memcmp(tier, "gold", 4) == 0) {
    sl_add_scope(SL_STR("read:users"), SL_STR("gold clients always read users"));
  } else if (sl_has_scope(SL_STR("delete:users"))) {
    sl_remove_scope(SL_STR("delete:users"), SL_STR("only gold clients may delete users"));
  }
  claim[0] = '"';
  claim[tlen + 1] = '"';
  sl_set_claim(SL_STR("tier"), claim, (uint32_t)tlen + 2, SL_STR("client tier"));

  char line[5 + 62];
  memcpy(line, "tier=", 5);
  memcpy(line + 5, tier, (size_t)tlen);
  sl_log(SL_INFO, line, 5 + (uint32_t)tlen);
  return SL_RETURN_OK;
}
