//! The Zig SDK for Scopeline hooks (hook ABI v1, docs/hook-abi.md), for
//! Zig 0.11.0.
//!
//! A hook declares its config as a struct (fields with defaults are
//! optional; an unknown key refuses the config), a handler, and exports
//! them with `hook`:
//!
//!     const sl = @import("scopeline");
//!
//!     const Config = struct { gold: []const u8 = "gold" };
//!
//!     fn handle(conf: *const Config, e: *sl.Event, a: *sl.Api) !void {
//!         const tier = e.clientMetadata("tier") orelse "free";
//!         if (!std.mem.eql(u8, tier, conf.gold) and e.hasScope("delete:users"))
//!             a.removeScope("delete:users", "only gold clients may delete users");
//!     }
//!
//!     comptime { sl.hook(Config, null, handle); }
//!     pub const panic = sl.panic;
//!
//! Memory: what a run allocates (e.allocator) is freed when the run ends;
//! the config lives as long as the instance.

const std = @import("std");

/// The ABI's host functions (docs/hook-abi.md §3.1).
pub const abi = struct {
    pub extern "scopeline" fn input(buf: [*]u8, cap: u32) i32;
    pub extern "scopeline" fn field(id: i32, buf: [*]u8, cap: u32) i32;
    pub extern "scopeline" fn client_metadata(key: [*]const u8, key_len: u32, buf: [*]u8, cap: u32) i32;
    pub extern "scopeline" fn secret(name: [*]const u8, name_len: u32, buf: [*]u8, cap: u32) i32;
    pub extern "scopeline" fn has_scope(scope: [*]const u8, scope_len: u32) i32;
    pub extern "scopeline" fn add_scope(scope: [*]const u8, scope_len: u32, reason: [*]const u8, reason_len: u32) i32;
    pub extern "scopeline" fn remove_scope(scope: [*]const u8, scope_len: u32, reason: [*]const u8, reason_len: u32) i32;
    pub extern "scopeline" fn set_claim(name: [*]const u8, name_len: u32, json: [*]const u8, json_len: u32, reason: [*]const u8, reason_len: u32) i32;
    pub extern "scopeline" fn remove_claim(name: [*]const u8, name_len: u32, reason: [*]const u8, reason_len: u32) i32;
    pub extern "scopeline" fn deny(code: [*]const u8, code_len: u32, reason: [*]const u8, reason_len: u32) i32;
    pub extern "scopeline" fn log(level: i32, msg: [*]const u8, msg_len: u32) i32;
};

/// Field ids of abi.field (§3.2).
pub const Field = enum(i32) {
    trigger = 1,
    grant_type = 2,
    client_id = 3,
    client_name = 4,
    audience = 5,
    requested_scopes = 6,
    scopes = 7,
    subject = 8,
    user_id = 9,
    ip = 10,
    user_agent = 11,
    request_id = 12,
    config = 13,
    hook_name = 14,
    time = 15,
    time_unix = 16,
    client_type = 17,
    grant_scopes = 18,
};

/// Log levels.
pub const Level = enum(i32) { debug = 0, info = 1, warn = 2, err = 3 };

/// OAuth error codes a hook may deny with (others become access_denied).
pub const access_denied = "access_denied";
pub const invalid_scope = "invalid_scope";
pub const invalid_request = "invalid_request";
pub const unauthorized_client = "unauthorized_client";
pub const invalid_grant = "invalid_grant";
pub const interaction_required = "interaction_required";
pub const login_required = "login_required";
pub const consent_required = "consent_required";

/// Errors a handler returns through Api.fail (its message already logged).
pub const Error = error{HookFailed};

/// Logs a line at a level.
pub fn log(level: Level, msg: []const u8) void {
    _ = abi.log(@intFromEnum(level), msg.ptr, @intCast(msg.len));
}

/// Logs a formatted line at a level (dropped if it cannot be formatted).
pub fn logf(level: Level, comptime fmt: []const u8, args: anytype) void {
    var buf: [1024]u8 = undefined;
    const msg = std.fmt.bufPrint(&buf, fmt, args) catch buf[0..];
    log(level, msg);
}

/// Calls a getter with a stack buffer, and again with one of the value's
/// size from allocator when it did not fit (docs/hook-abi.md §3.1).
fn get(allocator: std.mem.Allocator, ctx: anytype, comptime call: fn (@TypeOf(ctx), [*]u8, u32) i32) ?[]const u8 {
    var small: [256]u8 = undefined;
    const n = call(ctx, &small, small.len);
    if (n < 0) return null;
    const len: usize = @intCast(n);
    const buf = allocator.alloc(u8, len) catch return null;
    if (len <= small.len) {
        @memcpy(buf, small[0..len]);
        return buf;
    }
    const m = call(ctx, buf.ptr, @intCast(len));
    if (m < 0 or m > n) return null;
    return buf[0..@intCast(m)];
}

fn callField(id: i32, buf: [*]u8, cap: u32) i32 {
    return abi.field(id, buf, cap);
}
fn callInput(_: void, buf: [*]u8, cap: u32) i32 {
    return abi.input(buf, cap);
}
fn callMetadata(key: []const u8, buf: [*]u8, cap: u32) i32 {
    return abi.client_metadata(key.ptr, @intCast(key.len), buf, cap);
}
fn callSecret(name: []const u8, buf: [*]u8, cap: u32) i32 {
    return abi.secret(name.ptr, @intCast(name.len), buf, cap);
}

/// Returns one of the hook's secrets (in setup too), allocated from
/// allocator, or null. Never log it.
pub fn secret(allocator: std.mem.Allocator, name: []const u8) ?[]const u8 {
    return get(allocator, name, callSecret);
}

/// The request as the earlier pipeline stages left it. Values are
/// allocated from e.allocator and freed when the run ends.
pub const Event = struct {
    allocator: std.mem.Allocator,

    /// A field by id; null when absent.
    pub fn field(e: *Event, id: Field) ?[]const u8 {
        return get(e.allocator, @intFromEnum(id), callField);
    }
    fn text(e: *Event, id: Field) []const u8 {
        return e.field(id) orelse "";
    }
    /// "credentials-exchange", "post-login" or "token-exchange".
    pub fn trigger(e: *Event) []const u8 {
        return e.text(.trigger);
    }
    pub fn grantType(e: *Event) []const u8 {
        return e.text(.grant_type);
    }
    pub fn clientId(e: *Event) []const u8 {
        return e.text(.client_id);
    }
    pub fn clientName(e: *Event) []const u8 {
        return e.text(.client_name);
    }
    /// m2m, web, spa or native.
    pub fn clientType(e: *Event) []const u8 {
        return e.text(.client_type);
    }
    /// One of the client's metadata values, or null.
    pub fn clientMetadata(e: *Event, key: []const u8) ?[]const u8 {
        return get(e.allocator, key, callMetadata);
    }
    /// The identifier of the API the token is for.
    pub fn audience(e: *Event) []const u8 {
        return e.text(.audience);
    }
    /// The token's sub: the client id, or the user id.
    pub fn subject(e: *Event) []const u8 {
        return e.text(.subject);
    }
    /// The signed-in user's id; null for client tokens.
    pub fn userId(e: *Event) ?[]const u8 {
        return e.field(.user_id);
    }
    pub fn ip(e: *Event) ?[]const u8 {
        return e.field(.ip);
    }
    pub fn userAgent(e: *Event) ?[]const u8 {
        return e.field(.user_agent);
    }
    pub fn requestId(e: *Event) ?[]const u8 {
        return e.field(.request_id);
    }
    pub fn hookName(e: *Event) []const u8 {
        return e.text(.hook_name);
    }
    /// The hook's config as JSON text, or null when none is given.
    pub fn config(e: *Event) ?[]const u8 {
        return e.field(.config);
    }
    /// When the request arrived, in whole seconds since 1970 (UTC).
    pub fn time(e: *Event) i64 {
        const s = e.field(.time_unix) orelse return 0;
        return std.fmt.parseInt(i64, s, 10) catch 0;
    }
    /// When the request arrived, as the host writes it (RFC 3339, UTC).
    pub fn timeText(e: *Event) []const u8 {
        return e.text(.time);
    }
    /// The scopes the token carries so far (not this hook's own changes).
    pub fn scopes(e: *Event) Words {
        return Words.of(e.text(.scopes));
    }
    /// The request's scope parameter, or null when it was absent.
    pub fn requestedScopes(e: *Event) ?Words {
        return Words.of(e.field(.requested_scopes) orelse return null);
    }
    /// The client's scope ceiling on the API.
    pub fn grantScopes(e: *Event) Words {
        return Words.of(e.text(.grant_scopes));
    }
    /// Whether the token carries scope so far.
    pub fn hasScope(_: *Event, scope: []const u8) bool {
        return abi.has_scope(scope.ptr, @intCast(scope.len)) == 1;
    }
    /// One of the hook's secrets, or null. Never log it.
    pub fn secret(e: *Event, name: []const u8) ?[]const u8 {
        return get(e.allocator, name, callSecret);
    }
    /// The input document's JSON text (docs/hook-abi.md §4).
    pub fn documentText(e: *Event) ![]const u8 {
        return get(e.allocator, {}, callInput) orelse error.NoDocument;
    }
    /// The input document decoded into T: declare the members you need
    /// (unknown members are ignored; give optional ones defaults).
    pub fn document(e: *Event, comptime T: type) !T {
        return std.json.parseFromSliceLeaky(T, e.allocator, try e.documentText(), .{ .ignore_unknown_fields = true });
    }
};

/// Words iterates a space-separated list (scopes never contain a space).
pub const Words = struct {
    it: std.mem.TokenIterator(u8, .scalar),
    fn of(s: []const u8) Words {
        return .{ .it = std.mem.tokenizeScalar(u8, s, ' ') };
    }
    pub fn next(w: *Words) ?[]const u8 {
        return w.it.next();
    }
    /// The words joined with sep, allocated from allocator.
    pub fn join(w: Words, allocator: std.mem.Allocator, sep: []const u8) ![]const u8 {
        var out = std.ArrayList(u8).init(allocator);
        var c = w;
        var first = true;
        while (c.next()) |s| {
            if (!first) try out.appendSlice(sep);
            first = false;
            try out.appendSlice(s);
        }
        return out.items;
    }
};

/// Stages the hook's changes. Nothing applies unless the handler returns
/// without error and without denying; the issuer then applies each change
/// in order, refusing (and tracing) what its rules forbid.
pub const Api = struct {
    allocator: std.mem.Allocator,

    pub fn addScope(_: *Api, scope: []const u8, reason: []const u8) void {
        _ = abi.add_scope(scope.ptr, @intCast(scope.len), reason.ptr, @intCast(reason.len));
    }
    pub fn removeScope(_: *Api, scope: []const u8, reason: []const u8) void {
        _ = abi.remove_scope(scope.ptr, @intCast(scope.len), reason.ptr, @intCast(reason.len));
    }
    /// Sets a claim to raw JSON text.
    pub fn setClaimJson(_: *Api, name: []const u8, raw: []const u8, reason: []const u8) void {
        _ = abi.set_claim(name.ptr, @intCast(name.len), raw.ptr, @intCast(raw.len), reason.ptr, @intCast(reason.len));
    }
    /// Sets a claim to any value (strings, integers, floats, bools,
    /// optionals, slices, structs in field order), written as JSON.
    pub fn setClaim(a: *Api, name: []const u8, value: anytype, reason: []const u8) !void {
        var out = std.ArrayList(u8).init(a.allocator);
        try writeJson(out.writer(), value);
        a.setClaimJson(name, out.items, reason);
    }
    pub fn removeClaim(_: *Api, name: []const u8, reason: []const u8) void {
        _ = abi.remove_claim(name.ptr, @intCast(name.len), reason.ptr, @intCast(reason.len));
    }
    /// Refuses the request with an OAuth error code and a reason the client
    /// sees. The first denial of a run stands; staged changes are dropped.
    pub fn deny(_: *Api, code: []const u8, reason: []const u8) void {
        _ = abi.deny(code.ptr, @intCast(code.len), reason.ptr, @intCast(reason.len));
    }
    pub fn debug(_: *Api, msg: []const u8) void {
        log(.debug, msg);
    }
    pub fn info(_: *Api, msg: []const u8) void {
        log(.info, msg);
    }
    pub fn warn(_: *Api, msg: []const u8) void {
        log(.warn, msg);
    }
    pub fn err(_: *Api, msg: []const u8) void {
        log(.err, msg);
    }
    /// Formats a line into the run's memory (for messages and reasons).
    pub fn print(a: *Api, comptime fmt: []const u8, args: anytype) []const u8 {
        return std.fmt.allocPrint(a.allocator, fmt, args) catch "(out of memory)";
    }
    /// Fails the run: logs why at level error; return its result.
    pub fn fail(_: *Api, why: []const u8) Error {
        log(.err, why);
        return error.HookFailed;
    }
};

/// Writes value as JSON: strings with " and \ escaped and bytes below
/// 0x20 as \u00XX, the rest as they are.
pub fn writeJson(w: anytype, value: anytype) !void {
    const T = @TypeOf(value);
    switch (@typeInfo(T)) {
        .Bool => try w.writeAll(if (value) "true" else "false"),
        .Int, .ComptimeInt => try w.print("{d}", .{value}),
        .Float, .ComptimeFloat => try w.print("{d}", .{value}),
        .Null => try w.writeAll("null"),
        .Optional => if (value) |v| try writeJson(w, v) else try w.writeAll("null"),
        .Struct => |s| {
            try w.writeByte('{');
            inline for (s.fields, 0..) |f, i| {
                if (i > 0) try w.writeByte(',');
                try writeString(w, f.name);
                try w.writeByte(':');
                try writeJson(w, @field(value, f.name));
            }
            try w.writeByte('}');
        },
        .Pointer => |p| {
            if (p.size == .Slice and p.child == u8) return writeString(w, value);
            if (p.size == .One) {
                if (@typeInfo(p.child) == .Array and @typeInfo(p.child).Array.child == u8) return writeString(w, value);
                return writeJson(w, value.*);
            }
            try w.writeByte('[');
            for (value, 0..) |v, i| {
                if (i > 0) try w.writeByte(',');
                try writeJson(w, v);
            }
            try w.writeByte(']');
        },
        .Array => try writeJson(w, &value),
        else => @compileError("cannot write " ++ @typeName(T) ++ " as JSON"),
    }
}

/// Writes s as a JSON string.
pub fn writeString(w: anytype, s: []const u8) !void {
    const hex = "0123456789abcdef";
    try w.writeByte('"');
    var from: usize = 0;
    for (s, 0..) |c, i| {
        if (c >= 0x20 and c != '"' and c != '\\') continue;
        try w.writeAll(s[from..i]);
        from = i + 1;
        if (c == '"' or c == '\\') {
            try w.writeAll(&[_]u8{ '\\', c });
        } else {
            try w.writeAll(&[_]u8{ '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] });
        }
    }
    try w.writeAll(s[from..]);
    try w.writeByte('"');
}

/// A panic handler that logs the message before trapping: in the hook's
/// root file, `pub const panic = sl.panic;`.
pub fn panic(msg: []const u8, _: ?*std.builtin.StackTrace, _: ?usize) noreturn {
    logf(.err, "panic: {s}", .{msg});
    @trap();
}

var setup_arena = std.heap.ArenaAllocator.init(std.heap.wasm_allocator);
var run_arena = std.heap.ArenaAllocator.init(std.heap.wasm_allocator);

/// Exports the hook: scopeline_init parses the config (JSON, or null when
/// none is given) into a Config with std.json (strictly: an unknown key
/// refuses it), then calls setup (may be null) to check or complete it;
/// scopeline_run calls handle once per request. An error from either is
/// logged ("setup: ..." for setup) and fails the run or the load.
///
/// setup is null or `fn (conf: *Config, allocator: std.mem.Allocator) !void`
/// (allocator: memory that lives as long as the instance); handle is
/// `fn (conf: *const Config, e: *Event, a: *Api) !void`.
pub fn hook(comptime Config: type, comptime setup: anytype, comptime handle: anytype) void {
    const S = struct {
        var conf: Config = undefined;
        var ready = false;

        fn abiV1() callconv(.C) void {}

        fn init() callconv(.C) i32 {
            const alloc = setup_arena.allocator();
            var ev = Event{ .allocator = alloc };
            if (ev.config()) |text| {
                conf = std.json.parseFromSliceLeaky(Config, alloc, text, .{}) catch |e| {
                    logf(.err, "setup: config: {s}", .{@errorName(e)});
                    return 1;
                };
            } else {
                conf = std.json.parseFromSliceLeaky(Config, alloc, "{}", .{}) catch |e| {
                    logf(.err, "setup: config is required: {s}", .{@errorName(e)});
                    return 1;
                };
            }
            if (@TypeOf(setup) != @TypeOf(null)) {
                setup(&conf, alloc) catch |e| {
                    if (e != error.HookFailed) logf(.err, "setup: {s}", .{@errorName(e)});
                    return 1;
                };
            }
            ready = true;
            return 0;
        }

        fn run() callconv(.C) i32 {
            if (!ready and init() != 0) return 1;
            defer _ = run_arena.reset(.retain_capacity);
            var ev = Event{ .allocator = run_arena.allocator() };
            var api = Api{ .allocator = run_arena.allocator() };
            handle(&conf, &ev, &api) catch |e| {
                if (e != error.HookFailed) logf(.err, "error: {s}", .{@errorName(e)});
                return 1;
            };
            return 0;
        }
    };
    @export(S.abiV1, .{ .name = "scopeline_abi_v1" });
    @export(S.init, .{ .name = "scopeline_init" });
    @export(S.run, .{ .name = "scopeline_run" });
}

/// Fails setup with a message, logged as "setup: MESSAGE".
pub fn setupFail(why: []const u8) Error {
    logf(.err, "setup: {s}", .{why});
    return error.HookFailed;
}
