//! The conformance hook in Rust, with the scopeline crate (what it does:
//! sdk/conformance/README.md). sdk/build.sh builds it.

use scopeline::json::{object, Value};
use scopeline::{code, hook, secret, Api, Event, Hook};

/// The typed config.
struct Conformance {
    label: String,
    limit: i64,
    strict: bool,
    extra: Vec<String>,
}

impl Hook for Conformance {
    fn setup(config: Option<&Value>) -> Result<Self, String> {
        let c = config.unwrap_or(&Value::Null);
        let label = c["label"].as_str().unwrap_or("none").to_string();
        if let Some(name) = c["require_secret"].as_str() {
            if !name.is_empty() && secret(name).is_none() {
                return Err(format!("secret {} is missing", name));
            }
        }
        if c["refuse"].as_bool() == Some(true) {
            return Err(format!("refused: label={}", label));
        }
        let extra = c["extra"].as_array().map(|a| a.iter().filter_map(|v| v.as_str()).map(String::from).collect());
        Ok(Conformance {
            label,
            limit: c["limit"].as_i64().unwrap_or(0),
            strict: c["strict"].as_bool().unwrap_or(false),
            extra: extra.unwrap_or_default(),
        })
    }

    fn handle(&self, e: &Event, a: &Api) -> Result<(), String> {
        let tier = e.client_metadata("tier").unwrap_or_else(|| "free".into());
        if e.client_metadata("fail").as_deref() == Some("true") {
            return Err("asked to fail".into());
        }
        if e.client_metadata("suspended").as_deref() == Some("true") {
            a.deny(code::ACCESS_DENIED, &format!("suspended (label={})", self.label));
            a.deny(code::INVALID_SCOPE, "ignored");
            return Ok(());
        }
        if let Some(c) = e.client_metadata("deny_code") {
            a.deny(&c, &format!("denied with {}", c));
            return Ok(());
        }

        let none = |v: Option<String>| v.filter(|s| !s.is_empty()).unwrap_or_else(|| "(none)".into());
        a.debug(&format!("config={}", e.config().unwrap_or_else(|| "(none)".into())));
        a.log(&format!(
            "trigger={} grant={} client={} name={} type={} aud={} sub={} hook={}",
            e.trigger(),
            e.grant_type(),
            e.client_id(),
            e.client_name(),
            e.client_type(),
            e.audience(),
            e.subject(),
            e.hook_name()
        ));
        let requested = e.requested_scopes().map(|s| s.join(",")).unwrap_or_else(|| "(none)".into());
        a.log(&format!("requested={} scopes={} ceiling={}", requested, e.scopes().join(","), e.grant_scopes().join(",")));
        a.log(&format!(
            "user={} ip={} ua={} rid={} time={} at={}",
            none(e.user_id()),
            none(e.ip()),
            none(e.user_agent()),
            none(e.request_id()),
            e.time(),
            e.time_text()
        ));
        let len = |v: Option<String>| v.map(|s| s.len().to_string()).unwrap_or_else(|| "(none)".into());
        a.log(&format!("secret={} note={}", len(e.secret("token")), len(e.client_metadata("note"))));

        if tier == "gold" {
            a.add_scope("read:users", "gold reads");
            for s in &self.extra {
                a.add_scope(s, "extra from config");
            }
        } else if e.has_scope("delete:users") {
            a.remove_scope("delete:users", "only gold deletes");
        }
        a.set_claim_str("tier", &tier, "client tier");
        let conf = object(vec![
            ("extra", Value::Array(self.extra.iter().map(|s| Value::from(s.as_str())).collect())),
            ("label", Value::from(self.label.as_str())),
            ("limit", Value::from(self.limit)),
            ("strict", Value::from(self.strict)),
        ]);
        a.set_claim("conf", &conf, "typed config");
        if e.user_id().is_some() {
            let doc = e.document()?;
            if let Some(email) = doc["user"]["email"].as_str().filter(|s| !s.is_empty()) {
                a.set_claim_str("email", email, "from the input document");
            }
        }
        a.remove_claim("legacy", "legacy dropped");
        a.warn(&format!("tier={}", tier));
        Ok(())
    }
}

hook!(Conformance);
