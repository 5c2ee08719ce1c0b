package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/tenant"
)

const schemaPath = "../../docs/events.v1.schema.json"

func compileSchema(t *testing.T) (*jsonschema.Schema, map[string]any) {
	t.Helper()
	raw, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(audit.DataSchema, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(audit.DataSchema)
	if err != nil {
		t.Fatal(err)
	}
	var plain map[string]any
	json.Unmarshal(raw, &plain)
	return sch, plain
}

// TestEventsMatchSchema publishes every kind of event and validates each
// against docs/events.v1.schema.json; and checks that the schema documents
// every member the Go types can produce.
func TestEventsMatchSchema(t *testing.T) {
	sch, plain := compileSchema(t)

	t.Setenv("SCOPELINE_TEST_HOOK_KEY", "k")
	tn, err := tenant.Parse([]byte(hookTenant), "t.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	loader := goLoader{
		"chatty": func(*engine.Transaction) (*engine.HookResult, error) {
			return &engine.HookResult{Logs: []string{"hi"}}, nil
		},
		"flaky-skip": func(tx *engine.Transaction) (*engine.HookResult, error) {
			if len(tx.Requested) > 1 {
				return nil, &engine.HookFault{Kind: "timeout", Err: errors.New("slow")}
			}
			return nil, nil
		},
		"flaky-deny": func(*engine.Transaction) (*engine.HookResult, error) { return nil, nil },
	}
	p := openPublisher(t, testAudit(t, tenant.AuditAck), audit.WithTenant(tn))
	srv := enginetest.Start(t, enginetest.Config{Tenant: []byte(hookTenant),
		Options: []engine.Option{engine.WithAuditor(p), engine.WithHookLoader(loader)}})
	c := newTokenClient(srv)
	r := newResults()
	c.request(t, r, "demo-m2m", "demo-m2m-secret", "read:users")             // issued
	c.request(t, r, "demo-m2m", "demo-m2m-secret", "read:users write:users") // hook-failed, issued
	c.request(t, r, "demo-m2m", "bad", "")                                   // denied
	c.request(t, r, "", "", "")                                              // denied, no client
	ctx := context.Background()
	if err := p.Reloaded(ctx, "t.yaml", tn, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Reloaded(ctx, "t.yaml", nil, errors.New("t.yaml:3: bogus")); err != nil {
		t.Fatal(err)
	}
	var events []*audit.TailedEvent
	waitFor(t, "6 events", patience, func() bool {
		events = streamEvents(t, p.ClientURL())
		return len(events) >= 6
	})
	seen := map[audit.Kind]bool{}
	for _, e := range events {
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(e.Raw))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(inst); err != nil {
			t.Errorf("event does not match the schema: %v\n%s", err, e.Raw)
		}
		k, _ := e.Kind()
		seen[k] = true
	}
	if len(seen) != len(audit.Kinds) {
		t.Errorf("kinds seen %v", seen)
	}

	// Every member the types produce is documented.
	defs := plain["$defs"].(map[string]any)
	for def, typ := range map[string]reflect.Type{
		"decision":    reflect.TypeFor[audit.DecisionData](),
		"reload":      reflect.TypeFor[audit.ReloadData](),
		"traceEntry":  reflect.TypeFor[engine.TraceEntry](),
		"hookFailure": reflect.TypeFor[audit.HookFailure](),
		"hookLog":     reflect.TypeFor[engine.HookLog](),
	} {
		props := defs[def].(map[string]any)["properties"].(map[string]any)
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if _, ok := props[name]; !ok {
				t.Errorf("$defs.%s does not document %q", def, name)
			}
		}
		if len(props) != typ.NumField() {
			t.Errorf("$defs.%s documents %d members, %s has %d", def, len(props), typ, typ.NumField())
		}
	}
	for i, typ := 0, reflect.TypeFor[audit.Event](); i < typ.NumField(); i++ {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if _, ok := plain["properties"].(map[string]any)[name]; !ok {
			t.Errorf("the envelope does not document %q", name)
		}
	}
}

func TestSchemaRejectsWhatEventsMustNotBe(t *testing.T) {
	sch, _ := compileSchema(t)
	var good map[string]any
	if err := json.Unmarshal([]byte(exampleEvent), &good); err != nil {
		t.Fatal(err)
	}
	validate := func(v map[string]any) error {
		b, _ := json.Marshal(v)
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		return sch.Validate(inst)
	}
	if err := validate(good); err != nil {
		t.Fatalf("the documented example fails: %v", err)
	}
	for name, mutate := range map[string]func(e, d map[string]any){
		"a v4 id":               func(e, d map[string]any) { e["id"] = "0b1e4d4c-3f5a-4c5e-9d1e-2f3a4b5c6d7e" },
		"an unknown type":       func(e, d map[string]any) { e["type"] = "io.github.scopeline.token.minted.v1" },
		"issued without a jti":  func(e, d map[string]any) { delete(d, "jti") },
		"issued with an error":  func(e, d map[string]any) { d["error"] = map[string]any{"code": "x"} },
		"denied without error":  func(e, d map[string]any) { d["outcome"] = "denied"; delete(d, "jti") },
		"an unknown trace op":   func(e, d map[string]any) { d["trace"] = []any{map[string]any{"stage": "s", "op": "mint"}} },
		"a bad time":            func(e, d map[string]any) { e["time"] = "yesterday" },
		"another specversion":   func(e, d map[string]any) { e["specversion"] = "0.3" },
		"an unknown log code":   func(e, d map[string]any) { d["log_code"] = "s" },
		"no trace":              func(e, d map[string]any) { delete(d, "trace") },
		"a reload shaped token": func(e, d map[string]any) { e["type"] = audit.KindTenantReloaded.Type() },
	} {
		var e map[string]any
		b, _ := json.Marshal(good)
		json.Unmarshal(b, &e)
		mutate(e, e["data"].(map[string]any))
		if err := validate(e); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
