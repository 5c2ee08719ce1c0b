//! The Rust SDK for Scopeline hooks (hook ABI v1, docs/hook-abi.md).
//!
//! A hook is a type that implements [`Hook`]: `setup` turns the hook's
//! config into the value (run once per instance, before any request), and
//! `handle` runs once per request, reading the [`Event`] and staging
//! changes through the [`Api`]. [`hook!`] makes the module's exports.
//!
//! ```ignore
//! use scopeline::{hook, Api, Event, Hook, json::Value};
//!
//! struct TierGate;
//!
//! impl Hook for TierGate {
//!     fn setup(_config: Option<&Value>) -> Result<Self, String> { Ok(TierGate) }
//!     fn handle(&self, e: &Event, a: &Api) -> Result<(), String> {
//!         if e.client_metadata("tier").as_deref() != Some("gold") && e.has_scope("delete:users") {
//!             a.remove_scope("delete:users", "only gold clients may delete users");
//!         }
//!         Ok(())
//!     }
//! }
//!
//! hook!(TierGate);
//! ```
//!
//! No crates: the SDK is this one file, built with rustc alone (Debian's
//! rustc 1.63 and libstd-rust-dev-wasm32), for `wasm32-unknown-unknown`.
//! sdk/rust/README.md has the build lines.

use std::any::Any;
use std::cell::RefCell;

pub mod json;

use json::Value;

/// The ABI's host functions (docs/hook-abi.md §3.1).
#[allow(missing_docs)]
pub mod abi {
    #[link(wasm_import_module = "scopeline")]
    extern "C" {
        pub fn input(buf: *mut u8, cap: u32) -> i32;
        pub fn field(id: i32, buf: *mut u8, cap: u32) -> i32;
        pub fn client_metadata(key: *const u8, key_len: u32, buf: *mut u8, cap: u32) -> i32;
        pub fn secret(name: *const u8, name_len: u32, buf: *mut u8, cap: u32) -> i32;
        pub fn has_scope(scope: *const u8, scope_len: u32) -> i32;
        pub fn add_scope(scope: *const u8, scope_len: u32, reason: *const u8, reason_len: u32) -> i32;
        pub fn remove_scope(scope: *const u8, scope_len: u32, reason: *const u8, reason_len: u32) -> i32;
        pub fn set_claim(
            name: *const u8,
            name_len: u32,
            json: *const u8,
            json_len: u32,
            reason: *const u8,
            reason_len: u32,
        ) -> i32;
        pub fn remove_claim(name: *const u8, name_len: u32, reason: *const u8, reason_len: u32) -> i32;
        pub fn deny(code: *const u8, code_len: u32, reason: *const u8, reason_len: u32) -> i32;
        pub fn log(level: i32, msg: *const u8, msg_len: u32) -> i32;
    }

    /// Field ids of `field` (§3.2).
    pub const FIELD_TRIGGER: i32 = 1;
    pub const FIELD_GRANT_TYPE: i32 = 2;
    pub const FIELD_CLIENT_ID: i32 = 3;
    pub const FIELD_CLIENT_NAME: i32 = 4;
    pub const FIELD_AUDIENCE: i32 = 5;
    pub const FIELD_REQUESTED_SCOPES: i32 = 6;
    pub const FIELD_SCOPES: i32 = 7;
    pub const FIELD_SUBJECT: i32 = 8;
    pub const FIELD_USER_ID: i32 = 9;
    pub const FIELD_IP: i32 = 10;
    pub const FIELD_USER_AGENT: i32 = 11;
    pub const FIELD_REQUEST_ID: i32 = 12;
    pub const FIELD_CONFIG: i32 = 13;
    pub const FIELD_HOOK_NAME: i32 = 14;
    pub const FIELD_TIME: i32 = 15;
    pub const FIELD_TIME_UNIX: i32 = 16;
    pub const FIELD_CLIENT_TYPE: i32 = 17;
    pub const FIELD_GRANT_SCOPES: i32 = 18;

    /// Log levels.
    pub const DEBUG: i32 = 0;
    pub const INFO: i32 = 1;
    pub const WARN: i32 = 2;
    pub const ERROR: i32 = 3;
}

/// OAuth error codes a hook may deny with (others become `access_denied`).
pub mod code {
    pub const ACCESS_DENIED: &str = "access_denied";
    pub const INVALID_SCOPE: &str = "invalid_scope";
    pub const INVALID_REQUEST: &str = "invalid_request";
    pub const UNAUTHORIZED_CLIENT: &str = "unauthorized_client";
    pub const INVALID_GRANT: &str = "invalid_grant";
    pub const INTERACTION_REQUIRED: &str = "interaction_required";
    pub const LOGIN_REQUIRED: &str = "login_required";
    pub const CONSENT_REQUIRED: &str = "consent_required";
}

/// Triggers.
pub const CREDENTIALS_EXCHANGE: &str = "credentials-exchange";
/// The trigger of end-user flows.
pub const POST_LOGIN: &str = "post-login";
/// The trigger of token exchanges (RFC 8693); the input document's
/// `exchange` describes the subject token and the actor.
pub const TOKEN_EXCHANGE: &str = "token-exchange";

/// A hook: its value is made from its config once per instance, then
/// handles every request the instance runs.
pub trait Hook: Sized + 'static {
    /// Makes the hook from its config (`None` when the tenant file gives
    /// none). An error refuses the config: the tenant file is refused with
    /// the message. Secrets can be read here with [`secret`].
    fn setup(config: Option<&Value>) -> Result<Self, String>;

    /// Handles one request. Changes staged through `api` apply only if it
    /// returns `Ok`; an `Err` is logged and fails the hook (its failure
    /// policy decides the request).
    fn handle(&self, event: &Event, api: &Api) -> Result<(), String>;
}

/// Makes the module's exports for a type implementing [`Hook`]. Use it
/// once, in the hook's crate.
#[macro_export]
macro_rules! hook {
    ($t:ty) => {
        #[no_mangle]
        pub extern "C" fn scopeline_abi_v1() {}

        #[no_mangle]
        pub extern "C" fn scopeline_init() -> i32 {
            $crate::__init::<$t>()
        }

        #[no_mangle]
        pub extern "C" fn scopeline_run() -> i32 {
            $crate::__run::<$t>()
        }
    };
}

thread_local! {
    static STATE: RefCell<Option<Box<dyn Any>>> = RefCell::new(None);
}

fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        // A panic aborts (traps) on wasm32; say why first.
        log(abi::ERROR, &format!("panic: {}", info));
    }));
}

#[doc(hidden)]
pub fn __init<T: Hook>() -> i32 {
    install_panic_hook();
    let config = match field(abi::FIELD_CONFIG) {
        None => None,
        Some(text) => match json::parse(&text) {
            Ok(v) => Some(v),
            Err(e) => {
                log(abi::ERROR, &format!("setup: config: {}", e));
                return 1;
            }
        },
    };
    match T::setup(config.as_ref()) {
        Ok(h) => {
            STATE.with(|s| *s.borrow_mut() = Some(Box::new(h)));
            0
        }
        Err(e) => {
            log(abi::ERROR, &format!("setup: {}", e));
            1
        }
    }
}

#[doc(hidden)]
pub fn __run<T: Hook>() -> i32 {
    let missing = STATE.with(|s| s.borrow().is_none());
    if missing && __init::<T>() != 0 {
        return 1; // a host that does not call scopeline_init
    }
    STATE.with(|s| {
        let state = s.borrow();
        let h = match state.as_ref().and_then(|b| b.downcast_ref::<T>()) {
            Some(h) => h,
            None => return 1,
        };
        let event = Event { doc: RefCell::new(None) };
        match h.handle(&event, &Api { _private: () }) {
            Ok(()) => 0,
            Err(e) => {
                log(abi::ERROR, &e);
                1
            }
        }
    })
}

/// Calls a getter with a scratch buffer, and again with one of the
/// value's size when it did not fit (docs/hook-abi.md §3.1).
fn get(call: &dyn Fn(*mut u8, u32) -> i32) -> Option<String> {
    let mut buf: Vec<u8> = Vec::with_capacity(256);
    let mut n = call(buf.as_mut_ptr(), buf.capacity() as u32);
    if n < 0 {
        return None;
    }
    if n as usize > buf.capacity() {
        buf.reserve_exact(n as usize);
        n = call(buf.as_mut_ptr(), buf.capacity() as u32);
        if n < 0 || n as usize > buf.capacity() {
            return None;
        }
    }
    // SAFETY: the host wrote n bytes at buf.
    unsafe { buf.set_len(n as usize) };
    Some(match String::from_utf8(buf) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// Returns a field of the request by id (docs/hook-abi.md §3.2).
pub fn field(id: i32) -> Option<String> {
    get(&|buf, cap| unsafe { abi::field(id, buf, cap) })
}

/// Returns one of the hook's secrets (in `setup` too). Never log it.
pub fn secret(name: &str) -> Option<String> {
    get(&|buf, cap| unsafe { abi::secret(name.as_ptr(), name.len() as u32, buf, cap) })
}

fn log(level: i32, msg: &str) {
    unsafe { abi::log(level, msg.as_ptr(), msg.len() as u32) };
}

fn words(s: Option<String>) -> Vec<String> {
    s.map(|s| s.split(' ').filter(|w| !w.is_empty()).map(String::from).collect()).unwrap_or_default()
}

/// The request as the earlier pipeline stages left it. Each getter asks
/// the host: keep what you need in a variable rather than calling it in a
/// loop.
pub struct Event {
    doc: RefCell<Option<Value>>,
}

impl Event {
    /// `credentials-exchange`, `post-login` or `token-exchange`.
    pub fn trigger(&self) -> String {
        field(abi::FIELD_TRIGGER).unwrap_or_default()
    }
    /// The OAuth grant type, such as `client_credentials`.
    pub fn grant_type(&self) -> String {
        field(abi::FIELD_GRANT_TYPE).unwrap_or_default()
    }
    /// The authenticated client's id.
    pub fn client_id(&self) -> String {
        field(abi::FIELD_CLIENT_ID).unwrap_or_default()
    }
    /// The client's display name.
    pub fn client_name(&self) -> String {
        field(abi::FIELD_CLIENT_NAME).unwrap_or_default()
    }
    /// `m2m`, `web`, `spa` or `native`.
    pub fn client_type(&self) -> String {
        field(abi::FIELD_CLIENT_TYPE).unwrap_or_default()
    }
    /// One of the client's metadata values.
    pub fn client_metadata(&self, key: &str) -> Option<String> {
        get(&|buf, cap| unsafe { abi::client_metadata(key.as_ptr(), key.len() as u32, buf, cap) })
    }
    /// The identifier of the API the token is for.
    pub fn audience(&self) -> String {
        field(abi::FIELD_AUDIENCE).unwrap_or_default()
    }
    /// The request's scope parameter; `None` when it was absent.
    pub fn requested_scopes(&self) -> Option<Vec<String>> {
        field(abi::FIELD_REQUESTED_SCOPES).map(|s| words(Some(s)))
    }
    /// The scopes the token carries so far (not counting this hook's own
    /// staged changes).
    pub fn scopes(&self) -> Vec<String> {
        words(field(abi::FIELD_SCOPES))
    }
    /// Whether the token carries `scope` so far.
    pub fn has_scope(&self, scope: &str) -> bool {
        unsafe { abi::has_scope(scope.as_ptr(), scope.len() as u32) == 1 }
    }
    /// The client's scope ceiling on the API.
    pub fn grant_scopes(&self) -> Vec<String> {
        words(field(abi::FIELD_GRANT_SCOPES))
    }
    /// The token's `sub`: the client id, or the user id.
    pub fn subject(&self) -> String {
        field(abi::FIELD_SUBJECT).unwrap_or_default()
    }
    /// The signed-in user's id; `None` for client tokens.
    pub fn user_id(&self) -> Option<String> {
        field(abi::FIELD_USER_ID)
    }
    /// The caller's IP address, when known.
    pub fn ip(&self) -> Option<String> {
        field(abi::FIELD_IP)
    }
    /// The caller's User-Agent, when sent.
    pub fn user_agent(&self) -> Option<String> {
        field(abi::FIELD_USER_AGENT)
    }
    /// The request's `X-Request-Id`, when sent.
    pub fn request_id(&self) -> Option<String> {
        field(abi::FIELD_REQUEST_ID)
    }
    /// When the request arrived, in whole seconds since 1970 (UTC).
    pub fn time(&self) -> i64 {
        field(abi::FIELD_TIME_UNIX).and_then(|s| s.parse().ok()).unwrap_or(0)
    }
    /// When the request arrived, as the host writes it (RFC 3339, UTC).
    pub fn time_text(&self) -> String {
        field(abi::FIELD_TIME).unwrap_or_default()
    }
    /// The hook's name in the tenant file.
    pub fn hook_name(&self) -> String {
        field(abi::FIELD_HOOK_NAME).unwrap_or_default()
    }
    /// The hook's config as JSON text; `None` when none is given.
    pub fn config(&self) -> Option<String> {
        field(abi::FIELD_CONFIG)
    }
    /// One of the hook's secrets. Never log it.
    pub fn secret(&self, name: &str) -> Option<String> {
        secret(name)
    }
    /// The whole input document (docs/hook-abi.md §4), parsed once per run.
    /// It costs far more than a field: use it for what they do not give.
    pub fn document(&self) -> Result<std::cell::Ref<'_, Value>, String> {
        if self.doc.borrow().is_none() {
            let text = get(&|buf, cap| unsafe { abi::input(buf, cap) }).ok_or("the input document is absent")?;
            *self.doc.borrow_mut() = Some(json::parse(&text)?);
        }
        Ok(std::cell::Ref::map(self.doc.borrow(), |d| d.as_ref().unwrap()))
    }
}

/// Stages the hook's changes. Nothing applies unless the handler returns
/// `Ok` without denying; the issuer then applies each change in order,
/// refusing (and tracing) what its rules forbid.
pub struct Api {
    _private: (),
}

fn op4(f: unsafe extern "C" fn(*const u8, u32, *const u8, u32) -> i32, a: &str, b: &str) {
    unsafe { f(a.as_ptr(), a.len() as u32, b.as_ptr(), b.len() as u32) };
}

impl Api {
    /// Asks for `scope` to be added, with a reason for the trace.
    pub fn add_scope(&self, scope: &str, reason: &str) {
        op4(abi::add_scope, scope, reason)
    }
    /// Asks for `scope` to be removed.
    pub fn remove_scope(&self, scope: &str, reason: &str) {
        op4(abi::remove_scope, scope, reason)
    }
    /// Asks for a custom claim set to a JSON value.
    pub fn set_claim(&self, name: &str, value: &Value, reason: &str) {
        self.set_claim_json(name, &value.to_json(), reason)
    }
    /// Asks for a custom claim set to a string.
    pub fn set_claim_str(&self, name: &str, value: &str, reason: &str) {
        let mut s = String::with_capacity(value.len() + 2);
        json::write_string(&mut s, value);
        self.set_claim_json(name, &s, reason)
    }
    /// Asks for a custom claim set to raw JSON text.
    pub fn set_claim_json(&self, name: &str, raw: &str, reason: &str) {
        unsafe {
            abi::set_claim(
                name.as_ptr(),
                name.len() as u32,
                raw.as_ptr(),
                raw.len() as u32,
                reason.as_ptr(),
                reason.len() as u32,
            )
        };
    }
    /// Asks for a custom claim removed.
    pub fn remove_claim(&self, name: &str, reason: &str) {
        op4(abi::remove_claim, name, reason)
    }
    /// Refuses the request with an OAuth error code (see [`code`]) and a
    /// reason the client sees. The first denial of a run stands; staged
    /// changes are dropped.
    pub fn deny(&self, code: &str, reason: &str) {
        op4(abi::deny, code, reason)
    }
    /// Logs a line at debug level.
    pub fn debug(&self, msg: &str) {
        log(abi::DEBUG, msg)
    }
    /// Logs a line (kept with the decision: at most 32 lines of 1 KiB).
    pub fn log(&self, msg: &str) {
        log(abi::INFO, msg)
    }
    /// Logs a line at warning level.
    pub fn warn(&self, msg: &str) {
        log(abi::WARN, msg)
    }
    /// Logs a line at error level. To fail, return an `Err` instead.
    pub fn error(&self, msg: &str) {
        log(abi::ERROR, msg)
    }
}
