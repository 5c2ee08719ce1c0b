package hooks_test

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/hooks"
	"github.com/scopeline/scopeline/plugins"
)

// eventWith makes a credentials-exchange event for client m2m holding
// scopes, then lets edit change it.
func eventWith(scopes []string, edit func(ev map[string]any)) string {
	ev := map[string]any{
		"trigger": "credentials-exchange",
		"hook":    map[string]any{"name": "plugin"},
		"request": map[string]any{"grant_type": "client_credentials", "ip": "10.1.2.3", "time": "2026-03-04T10:00:00Z"},
		"client":  map[string]any{"id": "m2m", "type": "m2m", "metadata": map[string]string{"tier": "gold"}},
		"api":     map[string]any{"identifier": "https://api.test", "scopes": all},
		"grant":   map[string]any{"scopes": all},
		"subject": "m2m",
		"scopes":  scopes,
	}
	if edit != nil {
		edit(ev)
	}
	b, _ := json.Marshal(ev)
	return string(b)
}

func set(path string, v any) func(map[string]any) {
	return func(ev map[string]any) {
		keys := strings.Split(path, ".")
		m := ev
		for _, k := range keys[:len(keys)-1] {
			m = m[k].(map[string]any)
		}
		m[keys[len(keys)-1]] = v
	}
}

func withUser(ev map[string]any) {
	ev["trigger"] = "post-login"
	ev["user"] = map[string]any{"id": "u-1", "metadata": map[string]any{"plan": "pro", "seats": 5}, "profile": map[string]any{"name": "Ada"}}
	ev["subject"] = "u-1"
}

// pluginCases is the conformance table of the plugins: each case loads
// the plugin with a config and runs it on one event.
var pluginCases = []struct {
	plugin, name, config, event string
	want                        outcome // Trace and Logs are not compared
}{
	// deny-scopes
	{"deny-scopes", "global and per-client patterns", `{"scopes":["delete:*"],"clients":{"m2m":["write:*"]}}`, eventWith(all, nil),
		outcome{Scopes: []string{"read:users"}, Claims: map[string]string{}}},
	{"deny-scopes", "other clients keep write", `{"scopes":["delete:*"],"clients":{"m2m":["write:*"]}}`, eventWith(all, set("client.id", "other")),
		outcome{Scopes: []string{"read:users", "write:users"}, Claims: map[string]string{}}},
	{"deny-scopes", "on_match deny", `{"scopes":["*:users"],"on_match":"deny"}`, eventWith([]string{"read:users"}, nil),
		outcome{Err: "invalid_scope", Desc: `scope "read:users" is forbidden for this client`, Scopes: []string{"read:users"}, Claims: map[string]string{}}},
	{"deny-scopes", "? matches one character", `{"scopes":["rea?:users"]}`, eventWith(all, nil),
		outcome{Scopes: []string{"write:users", "delete:users"}, Claims: map[string]string{}}},
	// claims-from-metadata
	{"claims-from-metadata", "client metadata", `{"claims":{"tier":"client.tier","plan":"user.plan"}}`, eventWith(all, nil),
		outcome{Scopes: all, Claims: map[string]string{"tier": `"gold"`}}},
	{"claims-from-metadata", "user metadata and profile", `{"claims":{"tier":"client.tier","plan":"user.plan","seats":"user.seats","name":"profile.name"}}`, eventWith(all, withUser),
		outcome{Scopes: all, Claims: map[string]string{"tier": `"gold"`, "plan": `"pro"`, "seats": `5`, "name": `"Ada"`}}},
	{"claims-from-metadata", "on_missing deny", `{"claims":{"region":"client.region"},"on_missing":"deny"}`, eventWith(all, nil),
		outcome{Err: "access_denied", Desc: `client metadata "region" is missing`, Scopes: all, Claims: map[string]string{}}},
	// time-window: 2026-03-04 is a Wednesday.
	{"time-window", "inside business hours in Paris", `{"zone":"Europe/Paris","windows":[{"days":["mon","tue","wed","thu","fri"],"from":"08:00","to":"18:00"}]}`,
		eventWith(all, set("request.time", "2026-03-04T10:00:00Z")), outcome{Scopes: all, Claims: map[string]string{}}},
	{"time-window", "after hours in Paris", `{"zone":"Europe/Paris","windows":[{"days":["mon","tue","wed","thu","fri"],"from":"08:00","to":"18:00"}],"reason":"closed"}`,
		eventWith(all, set("request.time", "2026-03-04T17:30:00Z")), outcome{Err: "access_denied", Desc: "closed", Scopes: all, Claims: map[string]string{}}},
	{"time-window", "weekend", `{"windows":[{"days":["mon","tue","wed","thu","fri"]}]}`,
		eventWith(all, set("request.time", "2026-03-07T10:00:00Z")), outcome{Err: "access_denied", Desc: "requests are not allowed at this time", Scopes: all, Claims: map[string]string{}}},
	{"time-window", "overnight window, next morning", `{"windows":[{"days":["fri"],"from":"22:00","to":"06:00"}]}`,
		eventWith(all, set("request.time", "2026-03-07T03:00:00Z")), outcome{Scopes: all, Claims: map[string]string{}}},
	{"time-window", "overnight window, before it opens", `{"windows":[{"days":["fri"],"from":"22:00","to":"06:00"}]}`,
		eventWith(all, set("request.time", "2026-03-06T21:00:00Z")), outcome{Err: "access_denied", Desc: "requests are not allowed at this time", Scopes: all, Claims: map[string]string{}}},
	// ip-allowlist
	{"ip-allowlist", "inside", `{"cidrs":["10.0.0.0/8","2001:db8::/32"]}`, eventWith(all, nil), outcome{Scopes: all, Claims: map[string]string{}}},
	{"ip-allowlist", "outside", `{"cidrs":["10.0.0.0/8","2001:db8::/32"]}`, eventWith(all, set("request.ip", "203.0.113.9")),
		outcome{Err: "access_denied", Desc: "requests from 203.0.113.9 are not allowed for this client", Scopes: all, Claims: map[string]string{}}},
	{"ip-allowlist", "IPv4-mapped IPv6", `{"cidrs":["10.0.0.0/8"]}`, eventWith(all, set("request.ip", "::ffff:10.0.0.1")), outcome{Scopes: all, Claims: map[string]string{}}},
	{"ip-allowlist", "IPv6", `{"cidrs":["10.0.0.0/8","2001:db8::/32"]}`, eventWith(all, set("request.ip", "2001:db8::1")), outcome{Scopes: all, Claims: map[string]string{}}},
	{"ip-allowlist", "unknown IP fails closed", `{"cidrs":["10.0.0.0/8"]}`, eventWith(all, set("request.ip", "")),
		outcome{Err: "access_denied", Desc: "the request's IP address is unknown", Scopes: all, Claims: map[string]string{}}},
	{"ip-allowlist", "per-client list replaces cidrs", `{"cidrs":["10.0.0.0/8"],"clients":{"m2m":["198.51.100.0/24"]}}`, eventWith(all, nil),
		outcome{Err: "access_denied", Desc: "requests from 10.1.2.3 are not allowed for this client", Scopes: all, Claims: map[string]string{}}},
	{"ip-allowlist", "per-client list allows", `{"cidrs":["10.0.0.0/8"],"clients":{"m2m":["198.51.100.0/24"]}}`, eventWith(all, set("request.ip", "198.51.100.7")),
		outcome{Scopes: all, Claims: map[string]string{}}},
}

func TestConformancePlugins(t *testing.T) {
	h := newHost(t, hooks.WithPlugins(plugins.Lookup))
	for _, tc := range pluginCases {
		t.Run(tc.plugin+"/"+tc.name, func(t *testing.T) {
			sp := &tenant.HookSpec{Name: tc.plugin, Plugin: tc.plugin, Config: json.RawMessage(tc.config), Timeout: 100 * time.Millisecond, Memory: 16 << 20, Failure: tenant.FailDeny}
			hk, err := h.Load(context.Background(), sp)
			if err != nil {
				t.Fatal(err)
			}
			defer hk.Close()
			got := runEvent(t, hk, sp, tc.event)
			if got.Err != tc.want.Err || got.Desc != tc.want.Desc || !slices.Equal(got.Scopes, tc.want.Scopes) || !maps.Equal(got.Claims, tc.want.Claims) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestPluginConfigErrors: a bad config fails the load, naming the problem.
func TestPluginConfigErrors(t *testing.T) {
	h := newHost(t, hooks.WithPlugins(plugins.Lookup))
	for _, tc := range []struct{ plugin, config, want string }{
		{"deny-scopes", `{"scopes":["x"],"on_match":"explode"}`, "on_match must be remove or deny"},
		{"deny-scopes", `{"scope":["x"]}`, `unknown field "scope"`},
		{"deny-scopes", ``, "config is required"},
		{"claims-from-metadata", `{"claims":{"sub":"client.x"}}`, `"sub" is a reserved claim`},
		// Names the issuer would refuse are refused at load, whatever
		// language the plugin is written in (TestPluginConfigErrors pins
		// the .wasm): reserved names in another letter case or folded, and
		// malformed names.
		{"claims-from-metadata", `{"claims":{"Scope":"client.x"}}`, `"Scope" is a reserved claim`},
		{"claims-from-metadata", `{"claims":{"CLIENT_ID":"client.x"}}`, `"CLIENT_ID" is a reserved claim`},
		{"claims-from-metadata", `{"claims":{"Auth_Time":"client.x"}}`, `"Auth_Time" is a reserved claim`},
		{"claims-from-metadata", `{"claims":{"May_Act":"client.x"}}`, `"May_Act" is a reserved claim`},
		{"claims-from-metadata", `{"claims":{"permissions":"client.x"}}`, `"permissions" is a reserved claim`},
		// Names outside printable ASCII are refused outright, so that no
		// Unicode fold or normalisation can make them pass for another.
		{"claims-from-metadata", `{"claims":{"\u017fcope":"client.x"}}`, `is not printable ASCII`},
		{"claims-from-metadata", `{"claims":{"\uff41\uff55\uff44":"client.x"}}`, `is not printable ASCII`},
		{"claims-from-metadata", `{"claims":{"\u212aey":"client.x"}}`, `is not printable ASCII`},
		{"claims-from-metadata", `{"claims":{"scope\u200b":"client.x"}}`, `is not printable ASCII`},
		{"claims-from-metadata", `{"claims":{"a b":"client.x"}}`, `is not printable ASCII`},
		{"claims-from-metadata", `{"claims":{"":"client.x"}}`, `must be 1 to 128 bytes`},
		{"claims-from-metadata", `{"claims":{"tier":"client.tier","Tier":"user.tier"}}`, `claims.Tier: the same claim as "tier" ignoring case`},
		{"claims-from-metadata", `{"claims":{"x":"tenant.x"}}`, "must be client.KEY"},
		{"time-window", `{"zone":"Mars/Olympus","windows":[{}]}`, `zone "Mars/Olympus"`},
		{"time-window", `{"windows":[{"days":["funday"]}]}`, `day "funday"`},
		{"time-window", `{"windows":[{"from":"25:00"}]}`, `"25:00" is not HH:MM`},
		{"ip-allowlist", `{"cidrs":["10.0.0.0/33"]}`, "is not a CIDR"},
		{"no-such-plugin", `{}`, `no plugin is called "no-such-plugin"`},
	} {
		sp := &tenant.HookSpec{Name: "p", Plugin: tc.plugin, Timeout: 100 * time.Millisecond, Memory: 16 << 20}
		if tc.config != "" {
			sp.Config = json.RawMessage(tc.config)
		}
		_, err := h.Load(context.Background(), sp)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: got %v, want an error containing %q", tc.plugin, tc.config, err, tc.want)
		}
	}
}
