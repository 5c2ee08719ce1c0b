// The conformance hook in AssemblyScript, with @scopeline/hook (what it
// does: sdk/conformance/README.md). sdk/build.sh builds it.
import { Api, Code, Event, Hook, JSONValue, secret } from "../../assemblyscript/assembly/index";
export { scopeline_abi_v1, scopeline_init, scopeline_run } from "../../assemblyscript/assembly/index";

function orNone(v: string | null): string {
  return v === null || v.length == 0 ? "(none)" : v;
}

function byteLength(v: string | null): string {
  return v === null ? "(none)" : String.UTF8.byteLength(v).toString();
}

class Conformance extends Hook {
  label: string = "none";
  limit: i64 = 0;
  strict: bool = false;
  extra: string[] = [];

  setup(config: JSONValue | null): string | null {
    if (config === null) return null;
    const label = config.get("label").asString();
    if (label !== null) this.label = label;
    this.limit = config.get("limit").asInt(0);
    this.strict = config.get("strict").asBool(false);
    const extra = config.get("extra").items;
    for (let i = 0; i < extra.length; i++) {
      const s = extra[i].asString();
      if (s !== null) this.extra.push(s);
    }
    const need = config.get("require_secret").asString("");
    if (need !== null && need.length > 0 && secret(need) === null) return "secret " + need + " is missing";
    if (config.get("refuse").asBool(false)) return "refused: label=" + this.label;
    return null;
  }

  handle(e: Event, a: Api): string | null {
    const t = e.clientMetadata("tier");
    const tier = t === null ? "free" : t;
    if (e.clientMetadata("fail") == "true") return "asked to fail";
    if (e.clientMetadata("suspended") == "true") {
      a.deny(Code.ACCESS_DENIED, "suspended (label=" + this.label + ")");
      a.deny(Code.INVALID_SCOPE, "ignored");
      return null;
    }
    const code = e.clientMetadata("deny_code");
    if (code !== null) {
      a.deny(code, "denied with " + code);
      return null;
    }

    const config = e.config;
    a.debug("config=" + (config === null ? "(none)" : config));
    a.log("trigger=" + e.trigger + " grant=" + e.grantType + " client=" + e.clientId + " name=" + e.clientName +
      " type=" + e.clientType + " aud=" + e.audience + " sub=" + e.subject + " hook=" + e.hookName);
    const requested = e.requestedScopes;
    a.log("requested=" + (requested === null ? "(none)" : requested.join(",")) + " scopes=" + e.scopes.join(",") +
      " ceiling=" + e.grantScopes.join(","));
    a.log("user=" + orNone(e.userId) + " ip=" + orNone(e.ip) + " ua=" + orNone(e.userAgent) + " rid=" + orNone(e.requestId) +
      " time=" + e.time.toString() + " at=" + e.timeText);
    a.log("secret=" + byteLength(e.secret("token")) + " note=" + byteLength(e.clientMetadata("note")));

    if (tier == "gold") {
      a.addScope("read:users", "gold reads");
      for (let i = 0; i < this.extra.length; i++) a.addScope(this.extra[i], "extra from config");
    } else if (e.hasScope("delete:users")) {
      a.removeScope("delete:users", "only gold deletes");
    }
    a.setClaimString("tier", tier, "client tier");
    const extra = new Array<JSONValue>();
    for (let i = 0; i < this.extra.length; i++) extra.push(JSONValue.fromString(this.extra[i]));
    const conf = JSONValue.object()
      .set("extra", JSONValue.array(extra))
      .set("label", JSONValue.fromString(this.label))
      .set("limit", JSONValue.fromInt(this.limit))
      .set("strict", JSONValue.fromBool(this.strict));
    a.setClaim("conf", conf, "typed config");
    if (e.userId !== null) {
      const email = e.document().get("user").get("email").asString();
      if (email !== null && email.length > 0) a.setClaimString("email", email, "from the input document");
    }
    a.removeClaim("legacy", "legacy dropped");
    a.warn("tier=" + tier);
    return null;
  }
}

Hook.register(new Conformance());
