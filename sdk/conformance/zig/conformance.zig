//! The conformance hook in Zig, with sdk/zig/scopeline.zig (what it does:
//! sdk/conformance/README.md). sdk/build.sh builds it.
const std = @import("std");
const sl = @import("scopeline");

const Config = struct {
    label: []const u8 = "none",
    limit: i64 = 0,
    strict: bool = false,
    extra: []const []const u8 = &.{},
    refuse: bool = false,
    require_secret: []const u8 = "",
};

fn setup(c: *Config, allocator: std.mem.Allocator) !void {
    if (c.require_secret.len > 0 and sl.secret(allocator, c.require_secret) == null) {
        var buf: [256]u8 = undefined;
        return sl.setupFail(std.fmt.bufPrint(&buf, "secret {s} is missing", .{c.require_secret}) catch "secret is missing");
    }
    if (c.refuse) {
        var buf: [256]u8 = undefined;
        return sl.setupFail(std.fmt.bufPrint(&buf, "refused: label={s}", .{c.label}) catch "refused");
    }
}

fn orNone(v: ?[]const u8) []const u8 {
    const s = v orelse return "(none)";
    return if (s.len == 0) "(none)" else s;
}

fn handle(c: *const Config, e: *sl.Event, a: *sl.Api) !void {
    const tier = e.clientMetadata("tier") orelse "free";
    if (std.mem.eql(u8, e.clientMetadata("fail") orelse "", "true")) return a.fail("asked to fail");
    if (std.mem.eql(u8, e.clientMetadata("suspended") orelse "", "true")) {
        a.deny(sl.access_denied, a.print("suspended (label={s})", .{c.label}));
        a.deny(sl.invalid_scope, "ignored");
        return;
    }
    if (e.clientMetadata("deny_code")) |code| {
        a.deny(code, a.print("denied with {s}", .{code}));
        return;
    }

    a.debug(a.print("config={s}", .{e.config() orelse "(none)"}));
    a.info(a.print("trigger={s} grant={s} client={s} name={s} type={s} aud={s} sub={s} hook={s}", .{
        e.trigger(), e.grantType(), e.clientId(), e.clientName(), e.clientType(), e.audience(), e.subject(), e.hookName(),
    }));
    const requested = if (e.requestedScopes()) |w| try w.join(a.allocator, ",") else "(none)";
    a.info(a.print("requested={s} scopes={s} ceiling={s}", .{
        requested, try e.scopes().join(a.allocator, ","), try e.grantScopes().join(a.allocator, ","),
    }));
    a.info(a.print("user={s} ip={s} ua={s} rid={s} time={d} at={s}", .{
        orNone(e.userId()), orNone(e.ip()), orNone(e.userAgent()), orNone(e.requestId()), e.time(), e.timeText(),
    }));
    const secret_len = if (e.secret("token")) |s| a.print("{d}", .{s.len}) else "(none)";
    const note_len = if (e.clientMetadata("note")) |s| a.print("{d}", .{s.len}) else "(none)";
    a.info(a.print("secret={s} note={s}", .{ secret_len, note_len }));

    if (std.mem.eql(u8, tier, "gold")) {
        a.addScope("read:users", "gold reads");
        for (c.extra) |s| a.addScope(s, "extra from config");
    } else if (e.hasScope("delete:users")) {
        a.removeScope("delete:users", "only gold deletes");
    }
    try a.setClaim("tier", tier, "client tier");
    try a.setClaim("conf", .{ .extra = c.extra, .label = c.label, .limit = c.limit, .strict = c.strict }, "typed config");
    if (e.userId() != null) {
        const Doc = struct { user: ?struct { email: []const u8 = "" } = null };
        const doc = try e.document(Doc);
        if (doc.user) |u| {
            if (u.email.len > 0) try a.setClaim("email", u.email, "from the input document");
        }
    }
    a.removeClaim("legacy", "legacy dropped");
    a.warn(a.print("tier={s}", .{tier}));
}

comptime {
    sl.hook(Config, setup, handle);
}

pub const panic = sl.panic;
