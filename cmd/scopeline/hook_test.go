package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestHookCommands(t *testing.T) {
	cache := t.TempDir()
	write := fileWriter(t)
	loop := write("loop.json", `"L"`)
	notJSON := write("notjson.json", `"J"`)
	badCIDR := write("bad.json", `{"cidrs":["nope"]}`)
	cidrs := write("cidrs.json", `{"cidrs":["192.0.2.0/24"]}`)
	cx := "../../examples/events/credentials-exchange.json"
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"test an example", []string{"hook", "test", "../../examples/hooks/wat/tier-gate.wasm", "--event", cx},
			0, []string{"decision:  allowed", "remove     delete:users  applied  only gold clients may delete users", `claims:    {"tier":"silver"}`, "tier=silver"}},
		{"test a plugin that denies", []string{"hook", "test", "plugin:ip-allowlist", "--event", cx, "--config", cidrs},
			0, []string{"decision:  denied: access_denied: requests from 10.1.2.3 are not allowed for this client"}},
		{"test a token-exchange event", []string{"hook", "test", "plugin:ip-allowlist", "--event", "../../examples/events/token-exchange.json", "--config", cidrs},
			0, []string{"decision:  denied: access_denied: requests from 10.1.2.3 are not allowed for this client"}},
		{"a plugin's bad config", []string{"hook", "test", "plugin:ip-allowlist", "--event", cx, "--config", badCIDR},
			1, []string{`"nope" is not a CIDR`}},
		{"a runaway hook", []string{"hook", "test", "../../hooks/testdata/faulty.wasm", "--event", cx, "--config", loop, "--timeout", "20ms"},
			1, []string{"FAULT (hook timeout: stopped at its deadline (20ms", "the hook faulted"}},
		{"a claim value that is not JSON", []string{"hook", "test", "../../hooks/testdata/faulty.wasm", "--event", cx, "--config", notJSON},
			1, []string{"REFUSED  value is not valid JSON", `ERROR: set_claim "k": the value "gold" is not JSON`, "issues the token without the claim", "the hook asked for ops the issuer refuses"}},
		{"check a good module", []string{"hook", "check", "../../examples/hooks/c/tier-gate.wasm"},
			0, []string{"ok, hook ABI v1", "scopeline.client_metadata"}},
		{"check a forbidden import", []string{"hook", "check", "../../hooks/testdata/forbidden.wasm"},
			1, []string{"wasi_snapshot_preview1.sock_accept (not on the WASI allow-list)"}},
		{"list plugins", []string{"hook", "plugins"}, 0, []string{"deny-scopes\nclaims-from-metadata\ntime-window\nip-allowlist\n"}},
		{"no event", []string{"hook", "test", "plugin:deny-scopes"}, 2, []string{"--event FILE.json is required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append(tc.args, "--cache-dir", cache)
			code := run(context.Background(), args, strings.NewReader(""), &out, &errOut)
			all := out.String() + errOut.String()
			if code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.code, all)
			}
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		var out, errOut bytes.Buffer
		code := run(context.Background(), []string{"hook", "test", "../../examples/hooks/go/tier-gate.wasm", "--event", "../../examples/events/post-login.json", "--json", "--cache-dir", cache}, nil, &out, &errOut)
		if code != 0 {
			t.Fatal(errOut.String())
		}
		var res struct {
			Decision string            `json:"decision"`
			Scopes   []string          `json:"scopes"`
			Claims   map[string]string `json:"claims"`
		}
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		if res.Decision != "allowed" || res.Claims["tier"] != "gold" || strings.Join(res.Scopes, " ") != "read:users write:users" {
			t.Errorf("%+v", res)
		}
	})
}
