// Compiles docs/events.v1.schema.json with Ajv in strict mode (unknown
// keywords and formats, required members without a definition, type
// mistakes are errors), and validates against it the sample events that
// the Go tests of engine/audit validate too (testdata/events.json). The
// CI runs it (.ci/run): npm ci && npm test, here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const repo = new URL("../../../../", import.meta.url);
const schema = JSON.parse(readFileSync(new URL("docs/events.v1.schema.json", repo)));
const samples = JSON.parse(readFileSync(new URL("engine/audit/testdata/events.json", repo)));

function compile() {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  return ajv.compile(schema);
}

test("the schema compiles in strict mode", () => {
  compile();
});

test("every sample event is valid", () => {
  const validate = compile();
  assert.ok(samples.length >= 5);
  for (const e of samples) {
    assert.ok(validate(e), `${e.type}: ${JSON.stringify(validate.errors)}`);
  }
});

test("what events must not be is refused", () => {
  const validate = compile();
  const sample = (type, outcome) => {
    const e = samples.find((e) => e.type === "io.github.scopeline." + type + ".v1" && (!outcome || e.data.outcome === outcome));
    assert.ok(e, `no sample ${type} ${outcome ?? ""}`);
    return structuredClone(e);
  };
  const cases = {
    "a succeeded sign-in without user_id": () => { const e = sample("user.login", "succeeded"); delete e.data.user_id; return e; },
    "a succeeded sign-in with an empty user_id": () => { const e = sample("user.login", "succeeded"); e.data.user_id = ""; return e; },
    "issued without a jti": () => { const e = sample("token.issued"); delete e.data.jti; return e; },
    "issued with an empty jti": () => { const e = sample("token.issued"); e.data.jti = ""; return e; },
    "issued with an error": () => { const e = sample("token.issued"); e.data.error = { code: "x" }; return e; },
    "denied without an error": () => { const e = sample("token.denied"); delete e.data.error; return e; },
    "denied with a jti": () => { const e = sample("token.denied"); e.data.jti = "j"; return e; },
    "a bad time": () => { const e = sample("token.issued"); e.time = "yesterday"; return e; },
    "a v4 id": () => { const e = sample("token.issued"); e.id = "0b1e4d4c-3f5a-4c5e-9d1e-2f3a4b5c6d7e"; return e; },
    "an unknown trace op": () => { const e = sample("token.issued"); e.data.trace = [{ stage: "s", op: "mint" }]; return e; },
    "a reload without result": () => { const e = sample("tenant.reloaded"); delete e.data.result; return e; },
    "issued marked as a dry run": () => { const e = sample("token.issued"); e.data.dry_run = true; return e; },
    "a dry run not marked": () => { const e = sample("token.dry-run"); delete e.data.dry_run; return e; },
    "a dry run with a jti": () => { const e = sample("token.dry-run"); e.data.jti = "j"; e.data.exp = 1; return e; },
    "a negative stage timing": () => { const e = sample("token.issued"); e.data.timings = [{ stage: "baseline", ns: -1 }]; return e; },
    "a revocation that revoked no jti": () => { const e = sample("token.revoked", "revoked"); delete e.data.jti; return e; },
    "a refused revocation without an error": () => { const e = sample("token.revoked", "refused"); delete e.data.error; return e; },
    "an active introspection without its audience": () => { const e = sample("token.introspected", "active"); delete e.data.audience; return e; },
    "an active introspection with an error": () => { const e = sample("token.introspected", "active"); e.data.error = { code: "x" }; return e; },
    "an inactive introspection without a reason": () => { const e = sample("token.introspected", "inactive"); delete e.data.reason; return e; },
    "a refused introspection without an error": () => { const e = sample("token.introspected", "refused"); delete e.data.error; return e; },
    "an introspection that names an unknown outcome": () => { const e = sample("token.introspected", "active"); e.data.outcome = "valid"; return e; },
    "an exchange without its actor chain": () => { const e = samples.find((e) => e.data.exchange); assert.ok(e); const c = structuredClone(e); delete c.data.exchange.actor_chain; return c; },
  };
  for (const [name, make] of Object.entries(cases)) {
    assert.equal(validate(make()), false, name);
  }
});
