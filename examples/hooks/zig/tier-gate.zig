//! The example hook in Zig 0.11, with the Zig SDK (sdk/zig). Same rules as
//! the other examples (see examples/hooks/go/main.go):
//!
//!   - a client whose metadata says suspended: "true" is denied;
//!   - its tier is metadata "tier" (absent, or longer than 62 bytes: "free");
//!   - a gold client always gets read:users; any other loses delete:users;
//!   - the token gets a "tier" claim, and the hook logs "tier=<tier>".
//!
//! Build (sdk/zig/README.md):
//!
//!   zig build-lib -target wasm32-wasi -dynamic -rdynamic -O ReleaseSmall -fstrip \
//!     --mod scopeline::sdk/zig/scopeline.zig --deps scopeline \
//!     examples/hooks/zig/tier-gate.zig -femit-bin=examples/hooks/zig/tier-gate.wasm
const std = @import("std");
const sl = @import("scopeline");

const Config = struct {};

fn handle(_: *const Config, e: *sl.Event, a: *sl.Api) !void {
    if (std.mem.eql(u8, e.clientMetadata("suspended") orelse "", "true")) {
        a.deny(sl.access_denied, "client is suspended");
        return;
    }
    var tier = e.clientMetadata("tier") orelse "free";
    if (tier.len > 62) tier = "free";
    if (std.mem.eql(u8, tier, "gold")) {
        a.addScope("read:users", "gold clients always read users");
    } else if (e.hasScope("delete:users")) {
        a.removeScope("delete:users", "only gold clients may delete users");
    }
    try a.setClaim("tier", tier, "client tier");
    a.info(a.print("tier={s}", .{tier}));
}

comptime {
    sl.hook(Config, null, handle);
}

pub const panic = sl.panic;
