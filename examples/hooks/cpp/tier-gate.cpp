// tier-gate.cpp: the example hook in C++17, with the C SDK
// (sdk/c/scopeline.h), which is usable from C++ as it is. Same rules as
// the other examples (see examples/hooks/go/main.go).
//
// Build (Debian 12: clang lld wasi-libc libclang-rt-14-dev-wasm32; no C++
// standard library is linked, so no exceptions and no iostreams):
//
//   clang --target=wasm32-wasi -x c++ -std=c++17 -fno-exceptions -mexec-model=reactor -Oz \
//     -nostartfiles -I sdk/c -Wl,--no-entry -Wl,--strip-all \
//     -o examples/hooks/cpp/tier-gate.wasm examples/hooks/cpp/tier-gate.cpp
#include "scopeline.h"

namespace {

constexpr uint32_t kMaxTier = 62;

// Tier is the client's tier: its metadata "tier", or "free".
sl_str Tier() {
  sl_str tier = sl_client_metadata("tier");
  return sl_present(tier) && tier.len <= kMaxTier ? tier : sl_cstr("free");
}

int TierGate() {
  if (sl_is(sl_client_metadata("suspended"), "true")) {
    sl_deny(SL_ACCESS_DENIED, "client is suspended");
    return SL_OK;
  }
  const sl_str tier = Tier();
  if (sl_is(tier, "gold")) {
    sl_add_scope("read:users", "gold clients always read users");
  } else if (sl_has_scope("delete:users")) {
    sl_remove_scope("delete:users", "only gold clients may delete users");
  }
  sl_set_claim_string("tier", tier, "client tier");
  auto line = sl_buf_new();
  sl_buf_add(&line, "tier=");
  sl_buf_adds(&line, tier);
  sl_log_buf(SL_INFO, &line);
  return SL_OK;
}

}  // namespace

SL_HOOK(TierGate)
