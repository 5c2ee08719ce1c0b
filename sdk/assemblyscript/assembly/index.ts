// The AssemblyScript SDK for Scopeline hooks (hook ABI v1,
// docs/hook-abi.md). A hook is a class extending Hook: setup() reads the
// config once per instance, handle() runs once per request. The entry
// file registers one and re-exports the ABI's exports:
//
//   import { Api, Event, Hook, JSONValue } from "@scopeline/hook/assembly";
//   export { scopeline_abi_v1, scopeline_init, scopeline_run } from "@scopeline/hook/assembly";
//
//   class TierGate extends Hook {
//     handle(e: Event, a: Api): string | null {
//       const tier = e.clientMetadata("tier");
//       if (tier != "gold" && e.hasScope("delete:users"))
//         a.removeScope("delete:users", "only gold clients may delete users");
//       return null;
//     }
//   }
//   Hook.register(new TierGate());
//
// Build with the minimal runtime (README.md says why):
//
//   asc hook.ts -o hook.wasm -O3 --runtime minimal --exportStart _initialize \
//     --use abort=PATH/TO/THIS/SDK/assembly/index/abort

export { JSONValue, JSONKind, parseJSON, writeJSONString } from "./json";
import { JSONValue, parseJSON, writeJSONString } from "./json";

// The ABI's host functions (docs/hook-abi.md §3.1).
@external("scopeline", "input") declare function hostInput(buf: usize, cap: u32): i32;
@external("scopeline", "field") declare function hostField(id: i32, buf: usize, cap: u32): i32;
@external("scopeline", "client_metadata") declare function hostClientMetadata(key: usize, keyLen: u32, buf: usize, cap: u32): i32;
@external("scopeline", "secret") declare function hostSecret(name: usize, nameLen: u32, buf: usize, cap: u32): i32;
@external("scopeline", "has_scope") declare function hostHasScope(scope: usize, scopeLen: u32): i32;
@external("scopeline", "add_scope") declare function hostAddScope(scope: usize, scopeLen: u32, reason: usize, reasonLen: u32): i32;
@external("scopeline", "remove_scope") declare function hostRemoveScope(scope: usize, scopeLen: u32, reason: usize, reasonLen: u32): i32;
@external("scopeline", "set_claim") declare function hostSetClaim(name: usize, nameLen: u32, json: usize, jsonLen: u32, reason: usize, reasonLen: u32): i32;
@external("scopeline", "remove_claim") declare function hostRemoveClaim(name: usize, nameLen: u32, reason: usize, reasonLen: u32): i32;
@external("scopeline", "deny") declare function hostDeny(code: usize, codeLen: u32, reason: usize, reasonLen: u32): i32;
@external("scopeline", "log") declare function hostLog(level: i32, msg: usize, msgLen: u32): i32;

/** Field ids of the `field` host function (§3.2). */
export namespace FieldId {
  export const TRIGGER: i32 = 1;
  export const GRANT_TYPE: i32 = 2;
  export const CLIENT_ID: i32 = 3;
  export const CLIENT_NAME: i32 = 4;
  export const AUDIENCE: i32 = 5;
  export const REQUESTED_SCOPES: i32 = 6;
  export const SCOPES: i32 = 7;
  export const SUBJECT: i32 = 8;
  export const USER_ID: i32 = 9;
  export const IP: i32 = 10;
  export const USER_AGENT: i32 = 11;
  export const REQUEST_ID: i32 = 12;
  export const CONFIG: i32 = 13;
  export const HOOK_NAME: i32 = 14;
  export const TIME: i32 = 15;
  export const TIME_UNIX: i32 = 16;
  export const CLIENT_TYPE: i32 = 17;
  export const GRANT_SCOPES: i32 = 18;
}

/** Log levels. */
export namespace Level {
  export const DEBUG: i32 = 0;
  export const INFO: i32 = 1;
  export const WARN: i32 = 2;
  export const ERROR: i32 = 3;
}

/** OAuth error codes a hook may deny with (others become access_denied). */
export namespace Code {
  export const ACCESS_DENIED = "access_denied";
  export const INVALID_SCOPE = "invalid_scope";
  export const INVALID_REQUEST = "invalid_request";
  export const UNAUTHORIZED_CLIENT = "unauthorized_client";
  export const INVALID_GRANT = "invalid_grant";
  export const INTERACTION_REQUIRED = "interaction_required";
  export const LOGIN_REQUIRED = "login_required";
  export const CONSENT_REQUIRED = "consent_required";
}

// A string as UTF-8 for the host: the buffer must stay alive during the
// call, so callers keep it in a local.
@inline function utf8(s: string): ArrayBuffer {
  return String.UTF8.encode(s);
}

// The scratch buffer getters try first; a larger value is read again
// into a buffer of its size (§3.1).
const scratch = new ArrayBuffer(512);

type Getter = (arg: usize, argLen: u32, id: i32, buf: usize, cap: u32) => i32;

function get(call: Getter, arg: usize, argLen: u32, id: i32): string | null {
  let n = call(arg, argLen, id, changetype<usize>(scratch), <u32>scratch.byteLength);
  if (n < 0) return null;
  if (n <= scratch.byteLength) return String.UTF8.decodeUnsafe(changetype<usize>(scratch), <usize>n);
  const big = new ArrayBuffer(n);
  const m = call(arg, argLen, id, changetype<usize>(big), <u32>n);
  if (m < 0 || m > n) return null;
  return String.UTF8.decodeUnsafe(changetype<usize>(big), <usize>m);
}

function callField(_arg: usize, _argLen: u32, id: i32, buf: usize, cap: u32): i32 {
  return hostField(id, buf, cap);
}
function callInput(_arg: usize, _argLen: u32, _id: i32, buf: usize, cap: u32): i32 {
  return hostInput(buf, cap);
}
function callMetadata(arg: usize, argLen: u32, _id: i32, buf: usize, cap: u32): i32 {
  return hostClientMetadata(arg, argLen, buf, cap);
}
function callSecret(arg: usize, argLen: u32, _id: i32, buf: usize, cap: u32): i32 {
  return hostSecret(arg, argLen, buf, cap);
}

/** Returns a field of the request by id, or null when absent. */
export function field(id: i32): string | null {
  return get(callField, 0, 0, id);
}

function text(id: i32): string {
  const v = field(id);
  return v === null ? "" : v;
}

/** Returns one of the hook's secrets (in setup too), or null. Never log it. */
export function secret(name: string): string | null {
  const n = utf8(name);
  return get(callSecret, changetype<usize>(n), <u32>n.byteLength, 0);
}

/** Logs a line at a level. */
export function log(level: i32, msg: string): void {
  const m = utf8(msg);
  hostLog(level, changetype<usize>(m), <u32>m.byteLength);
}

function words(s: string | null): string[] {
  const out = new Array<string>();
  if (s === null) return out;
  const parts = s.split(" ");
  for (let i = 0; i < parts.length; i++) if (parts[i].length > 0) out.push(parts[i]);
  return out;
}

/** The request as the earlier pipeline stages left it. Each getter asks
 * the host: keep what you need in a local. */
export class Event {
  private doc: JSONValue | null = null;

  /** "credentials-exchange", "post-login" or "token-exchange". */
  get trigger(): string { return text(FieldId.TRIGGER); }
  get grantType(): string { return text(FieldId.GRANT_TYPE); }
  get clientId(): string { return text(FieldId.CLIENT_ID); }
  get clientName(): string { return text(FieldId.CLIENT_NAME); }
  /** m2m, web, spa or native. */
  get clientType(): string { return text(FieldId.CLIENT_TYPE); }
  /** The identifier of the API the token is for. */
  get audience(): string { return text(FieldId.AUDIENCE); }
  /** The token's sub: the client id, or the user id. */
  get subject(): string { return text(FieldId.SUBJECT); }
  /** The signed-in user's id; null for client tokens. */
  get userId(): string | null { return field(FieldId.USER_ID); }
  get ip(): string | null { return field(FieldId.IP); }
  get userAgent(): string | null { return field(FieldId.USER_AGENT); }
  get requestId(): string | null { return field(FieldId.REQUEST_ID); }
  get hookName(): string { return text(FieldId.HOOK_NAME); }
  /** The hook's config as JSON text, or null when none is given. */
  get config(): string | null { return field(FieldId.CONFIG); }
  /** When the request arrived, in whole seconds since 1970 (UTC). */
  get time(): i64 {
    const s = field(FieldId.TIME_UNIX);
    return s === null ? 0 : I64.parseInt(s, 10);
  }
  /** When the request arrived, as the host writes it (RFC 3339, UTC). */
  get timeText(): string { return text(FieldId.TIME); }
  /** The request's scope parameter, or null when it was absent. */
  get requestedScopes(): string[] | null {
    const s = field(FieldId.REQUESTED_SCOPES);
    return s === null ? null : words(s);
  }
  /** The scopes the token carries so far (not this hook's own changes). */
  get scopes(): string[] { return words(field(FieldId.SCOPES)); }
  /** The client's scope ceiling on the API. */
  get grantScopes(): string[] { return words(field(FieldId.GRANT_SCOPES)); }

  /** Whether the token carries scope so far. */
  hasScope(scope: string): bool {
    const s = utf8(scope);
    return hostHasScope(changetype<usize>(s), <u32>s.byteLength) == 1;
  }
  /** One of the client's metadata values, or null. */
  clientMetadata(key: string): string | null {
    const k = utf8(key);
    return get(callMetadata, changetype<usize>(k), <u32>k.byteLength, 0);
  }
  /** One of the hook's secrets, or null. Never log it. */
  secret(name: string): string | null { return secret(name); }
  /** The input document (docs/hook-abi.md §4), parsed once per run. It
   * costs far more than a field: use it for what they do not give. */
  document(): JSONValue {
    let d = this.doc;
    if (d === null) {
      const s = get(callInput, 0, 0, 0);
      d = s === null ? new JSONValue() : parseJSON(s);
      this.doc = d;
    }
    return d!;
  }
}

/** Stages the hook's changes. Nothing applies unless handle() returns
 * null without denying; the issuer then applies each change in order,
 * refusing (and tracing) what its rules forbid. */
export class Api {
  addScope(scope: string, reason: string): void {
    const s = utf8(scope), r = utf8(reason);
    hostAddScope(changetype<usize>(s), <u32>s.byteLength, changetype<usize>(r), <u32>r.byteLength);
  }
  removeScope(scope: string, reason: string): void {
    const s = utf8(scope), r = utf8(reason);
    hostRemoveScope(changetype<usize>(s), <u32>s.byteLength, changetype<usize>(r), <u32>r.byteLength);
  }
  /** Sets a claim to raw JSON text. */
  setClaimJSON(name: string, json: string, reason: string): void {
    const n = utf8(name), j = utf8(json), r = utf8(reason);
    hostSetClaim(changetype<usize>(n), <u32>n.byteLength, changetype<usize>(j), <u32>j.byteLength, changetype<usize>(r), <u32>r.byteLength);
  }
  /** Sets a claim to a JSON value. */
  setClaim(name: string, value: JSONValue, reason: string): void {
    this.setClaimJSON(name, value.toJSON(), reason);
  }
  /** Sets a claim to a string. */
  setClaimString(name: string, value: string, reason: string): void {
    this.setClaimJSON(name, writeJSONString(value), reason);
  }
  removeClaim(name: string, reason: string): void {
    const n = utf8(name), r = utf8(reason);
    hostRemoveClaim(changetype<usize>(n), <u32>n.byteLength, changetype<usize>(r), <u32>r.byteLength);
  }
  /** Refuses the request with an OAuth error code (see Code) and a reason
   * the client sees. The first denial stands; staged changes are dropped. */
  deny(code: string, reason: string): void {
    const c = utf8(code), r = utf8(reason);
    hostDeny(changetype<usize>(c), <u32>c.byteLength, changetype<usize>(r), <u32>r.byteLength);
  }
  debug(msg: string): void { log(Level.DEBUG, msg); }
  /** Logs a line (kept with the decision: at most 32 lines of 1 KiB). */
  log(msg: string): void { log(Level.INFO, msg); }
  warn(msg: string): void { log(Level.WARN, msg); }
  /** Logs a line at error level. To fail, return a message from handle(). */
  error(msg: string): void { log(Level.ERROR, msg); }
}

/** A hook: extend it, override handle (and setup to read the config),
 * and register one instance from the entry file. */
export class Hook {
  /** Reads the config (null when none is given) once per instance,
   * before any request. Return null to accept it, or why not: the tenant
   * file is then refused with the message. Secrets: secret(name). */
  setup(config: JSONValue | null): string | null { return null; }
  /** Handles one request. Return null when done, or why the hook failed:
   * the message is logged and the hook's failure policy decides. */
  handle(event: Event, api: Api): string | null { return null; }

  /** Makes h the hook of this module. */
  static register(h: Hook): void { registered = h; }
}

let registered: Hook | null = null;

export function scopeline_abi_v1(): void {}

export function scopeline_init(): i32 {
  const code = init();
  // The minimal runtime collects only when asked; here no managed value is
  // left on the stack but the hook (a global): collect setup's garbage.
  __collect();
  return code;
}

function init(): i32 {
  const h = registered;
  if (h === null) {
    log(Level.ERROR, "setup: no hook registered: call Hook.register");
    return 1;
  }
  const text = field(FieldId.CONFIG);
  let config: JSONValue | null = null;
  if (text !== null) {
    config = parseJSON(text);
    if (config.isError) {
      log(Level.ERROR, "setup: config: " + config.str);
      return 1;
    }
  }
  const err = h.setup(config);
  if (err !== null) {
    log(Level.ERROR, "setup: " + err);
    return 1;
  }
  return 0;
}

export function scopeline_run(): i32 {
  const code = run();
  // Everything the run allocated is garbage now, and no managed value is
  // left on the stack (the minimal runtime does not see the stack): collect
  // it, so that every request starts from the same small heap.
  __collect();
  return code;
}

function run(): i32 {
  const h = registered;
  if (h === null) return 1;
  const err = h.handle(new Event(), new Api());
  if (err !== null) {
    log(Level.ERROR, err);
    return 1;
  }
  return 0;
}

/** The abort handler (--use abort=SDK/assembly/index/abort): logs the message and
 * where, then traps. */
export function abort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  let m = "abort";
  if (message !== null) m += ": " + message;
  if (fileName !== null) m += " at " + fileName + ":" + line.toString() + ":" + column.toString();
  log(Level.ERROR, m);
  unreachable();
}
