package plugins_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/hooks"
	"github.com/scopeline/scopeline/plugins"
)

// The plugins are C modules (plugins/NAME/NAME.c); these tests run the
// committed .wasm through the real host. hooks/plugins_test.go holds the
// conformance table of their config and decisions; these are the finer
// cases of each plugin's own logic.

func newHost(t testing.TB) *hooks.Host {
	t.Helper()
	h, err := hooks.New(context.Background(), hooks.WithPlugins(plugins.Lookup), hooks.WithPoolSize(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

// plugin is a loaded plugin with one config.
type plugin struct {
	spec *tenant.HookSpec
	hook *hooks.WasmHook
}

func load(t testing.TB, h *hooks.Host, name, config string) (*plugin, error) {
	sp := &tenant.HookSpec{Name: name, Plugin: name, Config: json.RawMessage(config), Timeout: time.Second, Memory: 1 << 20, Failure: tenant.FailDeny}
	hk, err := h.Load(context.Background(), sp)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { hk.Close() })
	return &plugin{sp, hk}, nil
}

func mustLoad(t testing.TB, h *hooks.Host, name, config string) *plugin {
	t.Helper()
	p, err := load(t, h, name, config)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// request describes the parts of an event the tests vary.
type request struct {
	client string
	scopes []string
	ip     string
	time   time.Time
}

// run runs the plugin on the request and returns the resulting scopes and
// the error description of a denial ("" when allowed).
func (p *plugin) run(t testing.TB, r request) (scopes []string, denied string) {
	t.Helper()
	if r.client == "" {
		r.client = "m2m"
	}
	if r.time.IsZero() {
		r.time = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	}
	defined := append(slices.Clone(r.scopes), "read:users")
	ev := map[string]any{
		"trigger": "credentials-exchange",
		"request": map[string]any{"grant_type": "client_credentials", "ip": r.ip, "time": r.time.Format(time.RFC3339Nano)},
		"client":  map[string]any{"id": r.client},
		"api":     map[string]any{"identifier": "https://api.test", "scopes": defined},
		"grant":   map[string]any{"scopes": defined},
		"scopes":  r.scopes,
	}
	b, _ := json.Marshal(ev)
	e, err := hooks.ReadEvent(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	tx := e.Transaction()
	if err := engine.RunHook(context.Background(), p.spec, p.hook, tx); err != nil {
		var oe *engine.Error
		if !errors.As(err, &oe) || len(tx.Failures) > 0 {
			t.Fatalf("fault: %v", err)
		}
		return tx.Scopes, oe.Description()
	}
	return tx.Scopes, ""
}

// TestDenyScopesMatch: a pattern matches a whole scope, `*` any run of
// characters, `?` one.
func TestDenyScopesMatch(t *testing.T) {
	h := newHost(t)
	for _, tc := range []struct {
		pattern, scope string
		want           bool
	}{
		{"delete:*", "delete:users", true},
		{"delete:*", "delete:", true},
		{"delete:*", "undelete:users", false},
		{"*:users", "read:users", true},
		{"*:users", "read:users:all", false},
		{"rea?:users", "read:users", true},
		{"rea?:users", "reads:users", false},
		{"*", "anything", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"admin", "admin", true},
		{"admin", "admins", false},
		{"https://api/*", "https://api/x/y", true},
		{"**a", "bba", true},
		{"?", "", false},
	} {
		if tc.scope == "" {
			continue // not a scope
		}
		p := mustLoad(t, h, "deny-scopes", fmt.Sprintf(`{"scopes":[%q]}`, tc.pattern))
		scopes, _ := p.run(t, request{scopes: []string{tc.scope}})
		if got := !slices.Contains(scopes, tc.scope); got != tc.want {
			t.Errorf("pattern %q, scope %q: removed = %v, want %v", tc.pattern, tc.scope, got, tc.want)
		}
	}
}

func TestDenyScopesPerClient(t *testing.T) {
	h := newHost(t)
	p := mustLoad(t, h, "deny-scopes", `{"clients":{"job":["write:*"],"other":["read:*"]}}`)
	if scopes, _ := p.run(t, request{client: "job", scopes: []string{"read:users", "write:users"}}); !slices.Equal(scopes, []string{"read:users"}) {
		t.Errorf("job: %v", scopes)
	}
	if scopes, _ := p.run(t, request{client: "nobody", scopes: []string{"read:users", "write:users"}}); len(scopes) != 2 {
		t.Errorf("a client without patterns: %v", scopes)
	}
	for _, config := range []string{`{"scopes":"x"}`, `{"scopes":[1]}`, `{"clients":["x"]}`, `{"clients":{"a":[""]}}`, `{"scopes":[]}`, `[]`} {
		if _, err := load(t, h, "deny-scopes", config); err == nil {
			t.Errorf("config %s: loaded", config)
		}
	}
}

// TestTimeWindowInside: windows, their ends and windows over midnight
// (2026-03-04 is a Wednesday).
func TestTimeWindowInside(t *testing.T) {
	h := newHost(t)
	weekdays := mustLoad(t, h, "time-window", `{"windows":[{"days":["mon","tue","wed","thu","fri"],"from":"08:00","to":"18:00"}]}`)
	night := mustLoad(t, h, "time-window", `{"windows":[{"days":["FRI"],"from":"22:00","to":"06:00"}]}`)
	for _, tc := range []struct {
		p    *plugin
		at   string
		want bool
	}{
		{weekdays, "2026-03-04T08:00:00Z", true}, // Wednesday, opening minute
		{weekdays, "2026-03-04T17:59:59Z", true},
		{weekdays, "2026-03-04T18:00:00Z", false}, // `to` is exclusive
		{weekdays, "2026-03-04T07:59:00Z", false},
		{weekdays, "2026-03-07T10:00:00Z", false}, // Saturday
		{night, "2026-03-06T22:00:00Z", true},     // Friday night
		{night, "2026-03-07T05:59:00Z", true},     // Saturday morning, from Friday
		{night, "2026-03-07T06:00:00Z", false},
		{night, "2026-03-07T23:00:00Z", false}, // Saturday night: not listed
		{night, "2026-03-06T03:00:00Z", false}, // Friday morning: Thursday not listed
		{night, "1999-12-31T23:30:00Z", true},  // a Friday before the database starts: UTC
	} {
		at, _ := time.Parse(time.RFC3339, tc.at)
		if _, denied := tc.p.run(t, request{time: at}); (denied == "") != tc.want {
			t.Errorf("%s: allowed = %v, want %v (%s)", tc.at, denied == "", tc.want, denied)
		}
	}
}

func TestTimeWindowClock(t *testing.T) {
	h := newHost(t)
	for _, tc := range []struct {
		from string
		ok   bool
	}{{"", true}, {"00:00", true}, {"08:30", true}, {"8:30", true}, {"23:59", true}, {"24:00", true},
		{"25:00", false}, {"8h", false}, {"08:60", false}, {"08:3", false}, {"008:30", false}, {"-1:00", false}, {"08:30 ", false}} {
		_, err := load(t, h, "time-window", fmt.Sprintf(`{"windows":[{"from":%q,"to":"00:01"}]}`, tc.from))
		if tc.from == "00:00" || tc.from == "" { // from == to is refused otherwise
			_, err = load(t, h, "time-window", fmt.Sprintf(`{"windows":[{"from":%q}]}`, tc.from))
		}
		if (err == nil) != tc.ok {
			t.Errorf("from %q: %v", tc.from, err)
		}
		if err != nil && !strings.Contains(err.Error(), "is not HH:MM") {
			t.Errorf("from %q: %v", tc.from, err)
		}
	}
}

// TestTimeWindowZones checks the plugin's time zone database against Go's
// (the IANA database Go ships) for every zone: at noon, local time, on
// dates from 2000 to 2099 and on the days of the zone's transitions, the
// second before noon is inside a morning window and noon is not.
func TestTimeWindowZones(t *testing.T) {
	names := zoneNames(t)
	h := newHost(t)
	rng := rand.New(rand.NewPCG(1, 2))
	step := 1
	if testing.Short() {
		step = 25
	}
	for i := 0; i < len(names); i += step {
		name := names[i]
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		p := mustLoad(t, h, "time-window", fmt.Sprintf(`{"zone":%q,"windows":[{"from":"00:00","to":"12:00"}]}`, name))
		days := []time.Time{}
		for range 6 {
			days = append(days, time.Date(2000+rng.IntN(100), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, time.UTC))
		}
		for at := time.Date(2000, 1, 1, 0, 0, 0, 0, loc); at.Year() < 2100; {
			_, end := at.ZoneBounds()
			if end.IsZero() || len(days) > 30 {
				break
			}
			days = append(days, end)
			at = end
		}
		for _, d := range days {
			y, m, dd := d.In(loc).Date()
			noon := time.Date(y, m, dd, 12, 0, 0, 0, loc)
			if noon.Hour() != 12 || noon.Add(-time.Second).Hour() != 11 {
				continue // noon fell in a gap or an overlap
			}
			if _, denied := p.run(t, request{time: noon.Add(-time.Second)}); denied != "" {
				t.Errorf("%s: %s (11:59:59 local) was denied", name, noon.Add(-time.Second).UTC())
			}
			if _, denied := p.run(t, request{time: noon}); denied == "" {
				t.Errorf("%s: %s (12:00 local) was allowed", name, noon.UTC())
			}
		}
	}
}

func TestTimeWindowConfig(t *testing.T) {
	h := newHost(t)
	for _, tc := range []struct{ config, want string }{
		{`{"windows":[{"days":["mon"]}],"zone":"Europe/Nowhere"}`, `config: zone "Europe/Nowhere": unknown time zone Europe/Nowhere`},
		{`{"windows":[]}`, "config: windows is empty"},
		{`{"windows":[{"day":["mon"]}]}`, `config: windows[0]: unknown field "day"`},
		{`{"windows":[{"from":"10:00","to":"10:00"}]}`, "config: windows[0]: from and to are equal"},
		{`{"windows":[{}],"zones":"UTC"}`, `config: unknown field "zones"`},
	} {
		_, err := load(t, h, "time-window", tc.config)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.config, err, tc.want)
		}
	}
	for _, zone := range []string{"", "UTC", "Local", "Etc/GMT+5", "America/Argentina/Buenos_Aires", "US/Eastern"} {
		if _, err := load(t, h, "time-window", fmt.Sprintf(`{"zone":%q,"windows":[{}]}`, zone)); err != nil {
			t.Errorf("zone %q: %v", zone, err)
		}
	}
}

// TestIPAllowlistParse checks the plugin reads networks and addresses as
// Go's net/netip does, and writes a denied address as netip does.
func TestIPAllowlistParse(t *testing.T) {
	h := newHost(t)
	for _, s := range []string{
		"10.0.0.0/8", "10.1.2.3/8", "10.1.2.3", "0.0.0.0/0", "255.255.255.255/32", "10.0.0.0/33", "256.0.0.0/8",
		"010.0.0.0/8", "10.0.0/8", "10.0.0.0/08", "10.0.0.0/", "10.0.0.0/+8", "1.2.3.4.5",
		"2001:db8::/32", "2001:db8::1", "::/0", "::", "::1", "1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:8::",
		"::1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7", ":1::", "1:::2", "12345::", "::ffff:10.0.0.0/104", "::ffff:10.1.2.3",
		"::ffff:1.2.3.4/96", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:1.2.3.4", "::1.2.3.4", "2001:db8::/129", "fe80::1%eth0",
		"2001:DB8::/32", "x", "",
	} {
		_, err := load(t, h, "ip-allowlist", fmt.Sprintf(`{"cidrs":[%q]}`, s))
		_, perr := netip.ParsePrefix(s)
		_, aerr := netip.ParseAddr(s)
		goOK := (perr == nil || aerr == nil) && !strings.Contains(s, "%")
		if (err == nil) != goOK {
			t.Errorf("%q: plugin %v, netip prefix %v, address %v", s, err, perr, aerr)
		}
	}

	p := mustLoad(t, h, "ip-allowlist", `{"cidrs":["192.0.2.0/24"]}`)
	addrs := []string{"1:0:0:0:0:0:0:1", "1:0:0:1:0:0:0:1", "0:0:1:0:0:1:0:0", "2001:db8:0:0:1:0:0:1", "::ffff:10.1.2.3",
		"FE80::ABCD", "0:0:0:0:0:0:0:0", "1:2:3:4:5:6:7:8", "1:0:2:0:3:0:4:0", "::1.2.3.4", "fe80::1%eth0", "10.1.2.3"}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 { // random addresses with runs of zeros
		var b [16]byte
		for i := range b {
			if rng.IntN(3) > 0 {
				b[i] = byte(rng.IntN(256))
			}
		}
		for i := 0; i < 16; i += 2 {
			if rng.IntN(2) == 0 {
				b[i], b[i+1] = 0, 0
			}
		}
		addrs = append(addrs, netip.AddrFrom16(b).StringExpanded())
	}
	for _, s := range addrs {
		want := netip.MustParseAddr(s).Unmap().String()
		_, denied := p.run(t, request{ip: s})
		if denied != "requests from "+want+" are not allowed for this client" {
			t.Errorf("%s: %q, want the address written %s", s, denied, want)
		}
	}
}

func TestIPAllowlistContains(t *testing.T) {
	h := newHost(t)
	p := mustLoad(t, h, "ip-allowlist", `{"cidrs":["10.1.2.3/8","2001:db8::/33","::ffff:192.168.0.0/112","198.51.100.7"],"allow_unknown":true}`)
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"10.200.0.1", true}, {"11.0.0.1", false}, {"2001:db8:7fff::1", true}, {"2001:db8:8000::1", false},
		{"192.168.4.4", true}, {"::ffff:192.168.4.4", true}, {"192.169.0.1", false}, {"198.51.100.7", true},
		{"198.51.100.8", false}, {"::ffff:10.0.0.1", true}, {"", true}, {"not-an-ip", false}, {"2001:db8::1%eth0", false},
	} {
		if _, denied := p.run(t, request{ip: tc.ip}); (denied == "") != tc.want {
			t.Errorf("%q: allowed = %v, want %v (%s)", tc.ip, denied == "", tc.want, denied)
		}
	}
}

// TestClaimsFromMetadataNames: claim names that the issuer sets, in any
// ASCII case, and names that are not printable ASCII are refused at load.
func TestClaimsFromMetadataNames(t *testing.T) {
	h := newHost(t)
	for _, name := range []string{"sub", "SUB", "Iss", "permissions", "Auth_Time", "acr", "AMR", "client_ID", "cnf", "scope",
		"ſub", "ｓｕｂ", "caf\u00e9", "tab\tname", "sp ace", ""} {
		_, err := load(t, h, "claims-from-metadata", fmt.Sprintf(`{"claims":{%q:"client.tier"}}`, name))
		if err == nil {
			t.Errorf("claim %q: loaded", name)
		}
	}
	for _, name := range []string{"tier", "subject", "x-acr", "Tier.Level"} {
		if _, err := load(t, h, "claims-from-metadata", fmt.Sprintf(`{"claims":{%q:"client.tier"}}`, name)); err != nil {
			t.Errorf("claim %q: %v", name, err)
		}
	}
}

// zoneNames lists the zones of Go's database (the one tzdata.h is made
// from) by reading the zone names tzdata.h holds.
func zoneNames(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("time-window/tzdata.h")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if name, ok := strings.CutSuffix(line, ` "\0"`); ok {
			names = append(names, strings.Trim(name, `"`))
		}
	}
	if len(names) < 400 {
		t.Fatalf("only %d zone names in tzdata.h", len(names))
	}
	return names
}

// FuzzIPAllowlist: the plugin reads a request's IP (outside input, from
// the connection or X-Forwarded-For) as net/netip does, allows it exactly
// when netip says it is in the networks, and names it as netip writes it.
func FuzzIPAllowlist(f *testing.F) {
	for _, s := range []string{"10.1.2.3", "2001:db8::1", "::ffff:10.0.0.1", "fe80::1%eth0", "", "1.2.3", "::", "1:2:3:4:5:6:7:8",
		"1::2::3", "0x1.2.3.4", "10.0.0.256", "2001:db8:0:0:0:0:0:1", "::1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "%", "::%a"} {
		f.Add(s)
	}
	h := newHost(f)
	p := mustLoad(f, h, "ip-allowlist", `{"cidrs":["10.0.0.0/8","2001:db8::/32"]}`)
	networks := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	f.Fuzz(func(t *testing.T, ip string) {
		if !utf8.ValidString(ip) || len(ip) > 200 {
			t.Skip()
		}
		want := "the request's IP address is unknown"
		if a, err := netip.ParseAddr(ip); err == nil {
			a = a.Unmap()
			want = "requests from " + a.String() + " are not allowed for this client"
			for _, n := range networks {
				if n.Contains(a) {
					want = ""
				}
			}
		}
		if _, denied := p.run(t, request{ip: ip}); denied != want {
			t.Errorf("%q: %q, want %q", ip, denied, want)
		}
	})
}
