//! The example hook in Rust, with the Rust SDK (sdk/rust). Same rules as
//! the other examples (see examples/hooks/go/main.go):
//!
//!   - a client whose metadata says suspended: "true" is denied;
//!   - its tier is metadata "tier" (absent, or longer than 62 bytes: "free");
//!   - a gold client always gets read:users; any other loses delete:users;
//!   - the token gets a "tier" claim, and the hook logs "tier=<tier>".
//!
//! Build (Debian 12: rustc libstd-rust-dev-wasm32; sdk/rust/README.md):
//!
//!   rustc --edition 2021 --target wasm32-unknown-unknown -C opt-level=s -C panic=abort \
//!     --crate-type rlib --crate-name scopeline -o libscopeline.rlib sdk/rust/src/lib.rs
//!   rustc --edition 2021 --target wasm32-unknown-unknown -C opt-level=s -C panic=abort \
//!     --crate-type cdylib -C lto -C strip=symbols --extern scopeline=libscopeline.rlib \
//!     -o examples/hooks/rust/tier-gate.wasm examples/hooks/rust/tier-gate.rs

use scopeline::json::Value;
use scopeline::{code, hook, Api, Event, Hook};

struct TierGate;

impl Hook for TierGate {
    fn setup(_config: Option<&Value>) -> Result<Self, String> {
        Ok(TierGate)
    }

    fn handle(&self, e: &Event, a: &Api) -> Result<(), String> {
        if e.client_metadata("suspended").as_deref() == Some("true") {
            a.deny(code::ACCESS_DENIED, "client is suspended");
            return Ok(());
        }
        let tier = e.client_metadata("tier").filter(|t| t.len() <= 62).unwrap_or_else(|| "free".into());
        if tier == "gold" {
            a.add_scope("read:users", "gold clients always read users");
        } else if e.has_scope("delete:users") {
            a.remove_scope("delete:users", "only gold clients may delete users");
        }
        a.set_claim_str("tier", &tier, "client tier");
        a.log(&format!("tier={}", tier));
        Ok(())
    }
}

hook!(TierGate);
