package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine/demo"
	"github.com/scopeline/scopeline/engine/enginetest"
)

var readersURL = regexp.MustCompile(`readers connect to (nats://127\.0\.0\.1:\d+)`)

// auditURL is the embedded NATS server's reader URL, from serve's log.
func auditURL(t *testing.T, logs *enginetest.LogBuffer) string {
	t.Helper()
	waitFor(t, logs, "readers connect to")
	return readersURL.FindStringSubmatch(logs.String())[1]
}

// tailEvents runs `audit tail --json --follow=false` until it has n events.
func tailEvents(t *testing.T, n int, args ...string) []map[string]any {
	t.Helper()
	var events []map[string]any
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, out, errOut := runCLI(t, "", append([]string{"audit", "tail", "--json", "--follow=false"}, args...)...)
		if code != 0 {
			t.Fatalf("audit tail: exit %d: %s", code, errOut)
		}
		events = events[:0]
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line == "" {
				continue
			}
			var e map[string]any
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("not JSON: %q", line)
			}
			events = append(events, e)
		}
		if len(events) >= n || time.Now().After(deadline) {
			return events
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func kindsOf(events []map[string]any) []string {
	var out []string
	for _, e := range events {
		typ := e["type"].(string)
		out = append(out, strings.Split(typ, ".")[len(strings.Split(typ, "."))-2])
	}
	return out
}

func TestServePublishesAndTailReads(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tenant.yaml")
	if err := os.WriteFile(path, demo.Tenant, 0o644); err != nil {
		t.Fatal(err)
	}
	settingsPath := filepath.Join(dir, "settings.yaml")
	if err := os.WriteFile(settingsPath, []byte("audit:\n  mode: ack\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr, reload, logs, stop := startServe(t, serveConfig{configPath: path, settingsPath: settingsPath})
	url := auditURL(t, logs)
	tok, err := getToken(t, addr, "read:users")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := getToken(t, addr, "delete:users"); err == nil {
		t.Fatal("delete:users granted")
	}

	// (the oauth2 client tries Basic, then the body, so one or two denials)
	events := tailEvents(t, 2, "--url", url)
	if got := strings.Join(kindsOf(events), " "); got != "issued denied" && got != "issued denied denied" {
		t.Fatalf("kinds %q", got)
	}
	for _, e := range events {
		b, _ := json.Marshal(e)
		if strings.Contains(string(b), tok) || strings.Contains(string(b), "demo-m2m-secret") {
			t.Fatalf("event holds a token or a secret: %s", b)
		}
	}
	issued := events[0]["data"].(map[string]any)
	if issued["client_id"] != "demo-m2m" || issued["jti"] == "" || issued["log_code"] != "seccft" {
		t.Errorf("issued event data %v", issued)
	}

	// Filters.
	if got := tailEvents(t, len(events)-1, "--url", url, "--type", "denied"); len(got) != len(events)-1 || kindsOf(got)[0] != "denied" {
		t.Errorf("--type denied: %v", kindsOf(got))
	}
	if got := tailEvents(t, 0, "--url", url, "--client", "nobody"); len(got) != 0 {
		t.Errorf("--client nobody: %d events", len(got))
	}
	if got := tailEvents(t, 0, "--url", url, "--since", "0s"); len(got) != 0 {
		t.Errorf("--since now: %d events", len(got))
	}

	// The readable table, with the trace.
	code, out, _ := runCLI(t, "", "audit", "tail", "--url", url, "--follow=false", "--trace", "--client", "demo-m2m")
	if code != 0 || !strings.Contains(out, "TIME") || !strings.Contains(out, "issued") ||
		!strings.Contains(out, "invalid_scope") || !strings.Contains(out, "baseline") {
		t.Errorf("table (exit %d):\n%s", code, out)
	}

	// A durable consumer goes on where it stopped.
	first := tailEvents(t, len(events), "--url", url, "--durable", "siem")
	if len(first) != len(events) {
		t.Fatalf("durable read %d events", len(first))
	}
	if again := tailEvents(t, 0, "--url", url, "--durable", "siem"); len(again) != 0 {
		t.Errorf("durable consumer read %d events again", len(again))
	}

	// Reloads are events too; changed settings need a restart.
	narrowed := strings.Replace(string(demo.Tenant), "scopes: [read:users, write:users]", "scopes: [read:users]", 1)
	os.WriteFile(path, []byte(narrowed), 0o644)
	reload <- struct{}{}
	waitFor(t, logs, "tenant reloaded")
	os.WriteFile(settingsPath, []byte("audit:\n  mode: buffered\n"), 0o644)
	reload <- struct{}{}
	waitFor(t, logs, "its settings apply at the next restart")
	os.WriteFile(path, []byte("apis: [{identifier: x}]\nbogus: 1\n"), 0o644)
	reload <- struct{}{}
	waitFor(t, logs, "reload failed")
	reloads := tailEvents(t, 3, "--url", url, "--type", "tenant-reloaded")
	if len(reloads) != 3 {
		t.Fatalf("%d reload events", len(reloads))
	}
	plain, changed, refused := reloads[0]["data"].(map[string]any), reloads[1]["data"].(map[string]any), reloads[2]["data"].(map[string]any)
	if plain["result"] != "ok" || plain["restart_required"] != nil || plain["clients"] == nil {
		t.Errorf("reload event %v", plain)
	}
	if changed["result"] != "ok" || changed["restart_required"] != true {
		t.Errorf("reload event after an audit change %v", changed)
	}
	if refused["result"] != "error" || !strings.Contains(refused["error"].(string), "bogus") {
		t.Errorf("refused reload event %v", refused)
	}
	if again := tailEvents(t, 3, "--url", url, "--durable", "siem"); len(again) != 3 {
		t.Errorf("durable consumer read %d new events, want the 3 reloads", len(again))
	}

	// Revocations are events too. The demo API keeps no denylist, so its
	// access tokens cannot be revoked: refused, and recorded so.
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/oauth/revoke", strings.NewReader("token="+tok))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("demo-m2m", "demo-m2m-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("revoking a token of an API without a denylist: %s", resp.Status)
	}
	revoked := tailEvents(t, 1, "--url", url, "--type", "revoked")
	if d, _ := revoked[0]["data"].(map[string]any); d["outcome"] != "refused" || d["client_id"] != "demo-m2m" || d["jti"] == nil || d["token_type"] != "access_token" {
		t.Errorf("revocation event %v", revoked[0])
	}
	if b, _ := json.Marshal(revoked[0]); strings.Contains(string(b), tok) {
		t.Errorf("the revocation event holds the token: %s", b)
	}
	if code, out, _ := runCLI(t, "", "audit", "tail", "--url", url, "--follow=false", "--type", "revoked"); code != 0 || !strings.Contains(out, "refused access_token jti=") || !strings.Contains(out, "unsupported_token_type") {
		t.Errorf("revocation in the table (exit %d):\n%s", code, out)
	}

	// So are introspections. No demo client may introspect: refused, and
	// recorded so, without the token.
	req, _ = http.NewRequest(http.MethodPost, "http://"+addr+"/oauth/introspect", strings.NewReader("token="+tok))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("demo-m2m", "demo-m2m-secret")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("introspection by a client that may introspect nothing: %s", resp.Status)
	}
	introspected := tailEvents(t, 1, "--url", url, "--type", "introspected")
	if d, _ := introspected[0]["data"].(map[string]any); d["outcome"] != "refused" || d["client_id"] != "demo-m2m" || d["error"] == nil || d["reason"] == nil {
		t.Errorf("introspection event %v", introspected[0])
	}
	if b, _ := json.Marshal(introspected[0]); strings.Contains(string(b), tok) {
		t.Errorf("the introspection event holds the token: %s", b)
	}
	if code, out, _ := runCLI(t, "", "audit", "tail", "--url", url, "--follow=false", "--type", "introspected"); code != 0 || !strings.Contains(out, "introspected") || !strings.Contains(out, "refused: unauthorized_client") {
		t.Errorf("introspection in the table (exit %d):\n%s", code, out)
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "audit stream closed") {
		t.Errorf("no drain on shutdown:\n%s", logs)
	}
}

func TestAuditTailUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--since", "yesterday"},
		{"--since", "-5m"},
		{"--since", "2999-01-01"},
		{"--type", "granted"},
		{"--durable", "has space"},
	} {
		code, _, errOut := runCLI(t, "", append([]string{"audit", "tail", "--url", "nats://127.0.0.1:1"}, args...)...)
		if code != 2 || errOut == "" {
			t.Errorf("audit tail %v: exit %d, %q; want a usage error", args, code, errOut)
		}
	}
	code, _, errOut := runCLI(t, "", "audit", "tail", "--url", "nats://127.0.0.1:1", "--follow=false")
	if code != 1 || !strings.Contains(errOut, "is scopeline serve running?") {
		t.Errorf("no server: exit %d, %q", code, errOut)
	}
}
