package audit_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/settings"
	"github.com/scopeline/scopeline/engine/tenant"
)

const introspectTenant = `
default_audience: https://api.example.com
apis:
  - identifier: https://api.example.com
    access_token_denylist: true
    scopes: [{name: read:users}]
clients:
  - {id: demo-m2m, name: Demo, type: m2m, secrets: ["sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2"]}
  - {id: gateway, name: Gateway, type: m2m, secrets: ["sha256:b3b456605c23ee09eff5074338b6904aa89f80221aa78486ff3daf4b737cefc2"], introspect: [https://api.example.com]}
grants:
  - {client: demo-m2m, api: https://api.example.com, scopes: [read:users]}
`

// TestIntrospectionEvents introspects through HTTP with the publisher as
// the auditor: each request is one introspected event on the stream, with
// whose token it was and why it is inactive, and never the token.
func TestIntrospectionEvents(t *testing.T) {
	tn, err := tenant.Parse([]byte(introspectTenant), "t.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	p := openPublisher(t, testAudit(t, settings.AuditAck), audit.WithTenant(tn)) // names the clients
	srv := enginetest.Start(t, enginetest.Config{Tenant: []byte(introspectTenant), Server: server.Config{Auditor: p}})
	post := func(path, client string, form url.Values) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(client, "demo-m2m-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var body map[string]any
		json.Unmarshal(raw, &body)
		return resp.StatusCode, body
	}
	status, body := post(endpoint.PathToken, "demo-m2m", url.Values{"grant_type": {"client_credentials"}})
	if status != 200 {
		t.Fatalf("token: %d %v", status, body)
	}
	tok := body["access_token"].(string)
	claims, _ := enginetest.Verify(t, srv.Issuer, tok)

	if status, body := post(endpoint.PathIntrospect, "gateway", url.Values{"token": {tok}}); status != 200 || body["active"] != true {
		t.Fatalf("introspect: %d %v", status, body)
	}
	if status, _ := post(endpoint.PathRevoke, "demo-m2m", url.Values{"token": {tok}}); status != 200 {
		t.Fatalf("revoke: %d", status)
	}
	if status, body := post(endpoint.PathIntrospect, "gateway", url.Values{"token": {tok}}); status != 200 || len(body) != 1 || body["active"] != false {
		t.Fatalf("introspect a revoked token: %d %v", status, body)
	}
	if status, _ := post(endpoint.PathIntrospect, "demo-m2m", url.Values{"token": {tok}}); status != http.StatusForbidden {
		t.Fatalf("introspect by a client that may not: %d", status)
	}

	var events []*audit.TailedEvent
	waitFor(t, "3 introspected events", patience, func() bool {
		events = events[:0]
		for _, e := range streamEvents(t, p.ClientURL()) {
			if k, _ := e.Kind(); k == audit.KindIntrospected {
				events = append(events, e)
			}
		}
		return len(events) >= 3
	})
	sch, _ := compileSchema(t)
	validateEvents(t, sch, events)
	var got []*audit.IntrospectionData
	for _, e := range events {
		if strings.Contains(string(e.Raw), tok) {
			t.Errorf("the event holds the token: %s", e.Raw)
		}
		d, err := e.Introspection()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d)
	}
	active, revoked, refused := got[0], got[1], got[2]
	exp, _ := claims.GetExpirationTime()
	for _, d := range []*audit.IntrospectionData{active, revoked} {
		if d.ClientID != "gateway" || d.ClientName != "Gateway" || d.TokenType != "access_token" || d.Owner != "demo-m2m" || d.Subject != "demo-m2m" ||
			d.Audience != "https://api.example.com" || d.JTI != claims["jti"] || d.Expires != exp.Unix() || d.IP == "" || d.UserAgent == "" || d.RequestID == "" || d.Error != nil {
			t.Errorf("%s event %+v", d.Outcome, d)
		}
	}
	if active.Outcome != "active" || active.Reason != "" {
		t.Errorf("active event %+v", active)
	}
	if revoked.Outcome != "inactive" || revoked.Reason != "revoked: on the access-token denylist" {
		t.Errorf("revoked event %+v", revoked)
	}
	if refused.Outcome != "refused" || refused.ClientID != "demo-m2m" || refused.Error == nil || refused.Error.Code != "unauthorized_client" || refused.JTI != "" {
		t.Errorf("refused event %+v", refused)
	}
}
