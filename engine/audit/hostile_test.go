package audit_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/settings"
	"github.com/scopeline/scopeline/engine/tenant"
)

// TestHostileRequestsMakeOneBoundedEventEach sends requests built to
// break the audit trail: oversized headers and parameters, credentials,
// codes, tokens and proofs that the error paths might echo. Each must be
// one event, under MaxEventBytes, with its request fields clipped, and
// holding none of what the request sent as a secret.
func TestHostileRequestsMakeOneBoundedEventEach(t *testing.T) {
	p := openPublisher(t, testAudit(t, settings.AuditAck))
	srv := startIssuer(t, p)
	const mark = "SeCrEtMaRk" // in every secret below; no event may hold it
	secret := func(n int) string { return strings.Repeat(mark, n/len(mark)+1)[:n] }
	jwtish := func(s string) string {
		enc := base64.RawURLEncoding.EncodeToString
		return enc([]byte(`{"alg":"RS256","kid":"`+s+`"}`)) + "." + enc([]byte(`{"sub":"`+s+`"}`)) + "." + s
	}
	type req struct {
		name    string
		path    string
		form    url.Values
		basic   [2]string
		headers map[string]string
	}
	long := strings.Repeat("c", 10000)
	scopes := strings.TrimSpace(strings.Repeat("s ", 5000))
	reqs := []req{
		{name: "60 KiB user agent", path: endpoint.PathToken, form: url.Values{"grant_type": {"client_credentials"}},
			basic: [2]string{"demo-m2m", "demo-m2m-secret"}, headers: map[string]string{"User-Agent": strings.Repeat("u", 60<<10)}},
		{name: "user agent of invalid UTF-8", path: endpoint.PathToken, form: url.Values{"grant_type": {"client_credentials"}},
			basic: [2]string{"demo-m2m", "demo-m2m-secret"}, headers: map[string]string{"User-Agent": strings.Repeat("\xffa", 200)}},
		{name: "10k client_id in Basic", path: endpoint.PathToken, form: url.Values{"grant_type": {"client_credentials"}},
			basic: [2]string{long, secret(40)}},
		{name: "4k client_id in the form", path: endpoint.PathToken, form: url.Values{"grant_type": {"client_credentials"},
			"client_id": {long[:4000]}, "client_secret": {secret(40)}}},
		{name: "5000 scopes", path: endpoint.PathToken, form: url.Values{"grant_type": {"client_credentials"}, "scope": {scopes}},
			basic: [2]string{"demo-m2m", "demo-m2m-secret"}},
		{name: "2000 scopes", path: endpoint.PathToken, form: url.Values{"grant_type": {"client_credentials"}, "scope": {scopes[:3999]}},
			basic: [2]string{"demo-m2m", "demo-m2m-secret"}},
		{name: "wrong secret", path: endpoint.PathToken, form: url.Values{"grant_type": {"client_credentials"}},
			basic: [2]string{"demo-m2m", secret(64)}},
		{name: "secret in the form", path: endpoint.PathToken, form: url.Values{"grant_type": {"client_credentials"},
			"client_id": {"demo-m2m"}, "client_secret": {secret(64)}}},
		{name: "garbage assertion", path: endpoint.PathToken, form: url.Values{"grant_type": {"client_credentials"}, "client_id": {"demo-m2m"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {jwtish(secret(300))}}},
		{name: "garbage DPoP proof", path: endpoint.PathToken, form: url.Values{"grant_type": {"client_credentials"}},
			basic: [2]string{"demo-m2m", "demo-m2m-secret"}, headers: map[string]string{"DPoP": jwtish(secret(200))}},
		{name: "authorization code", path: endpoint.PathToken, form: url.Values{"grant_type": {"authorization_code"},
			"client_id": {"demo-spa"}, "code": {secret(43)}, "code_verifier": {secret(50)}, "redirect_uri": {"http://localhost/" + secret(20)}}},
		{name: "refresh token", path: endpoint.PathToken, form: url.Values{"grant_type": {"refresh_token"},
			"client_id": {"demo-spa"}, "refresh_token": {secret(43)}}},
		{name: "token exchange", path: endpoint.PathToken, form: url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
			"subject_token": {jwtish(secret(100))}, "subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
			"actor_token": {secret(80)}, "actor_token_type": {"urn:ietf:params:oauth:token-type:access_token"}},
			basic: [2]string{"demo-m2m", "demo-m2m-secret"}},
		{name: "password grant", path: endpoint.PathToken, form: url.Values{"grant_type": {"password"},
			"username": {"alice"}, "password": {secret(30)}}, basic: [2]string{"demo-m2m", "demo-m2m-secret"}},
		{name: "long grant type", path: endpoint.PathToken, form: url.Values{"grant_type": {strings.Repeat("g", 4000)}},
			basic: [2]string{"demo-m2m", "demo-m2m-secret"}},
		{name: "revoke", path: endpoint.PathRevoke, form: url.Values{"token": {jwtish(secret(100))}},
			basic: [2]string{"demo-m2m", "demo-m2m-secret"}},
		{name: "revoke, wrong secret", path: endpoint.PathRevoke, form: url.Values{"token": {secret(43)}},
			basic: [2]string{"demo-m2m", secret(30)}},
		{name: "introspect", path: endpoint.PathIntrospect, form: url.Values{"token": {jwtish(secret(100))}},
			basic: [2]string{"demo-m2m", "demo-m2m-secret"}},
		{name: "PAR", path: endpoint.PathPAR, form: url.Values{"client_id": {"demo-spa"}, "response_type": {"code"},
			"code_challenge": {secret(43)}, "code_challenge_method": {"S256"}, "state": {secret(20)}, "scope": {scopes[:3999]}}},
	}
	sent := 0
	for _, r := range reqs {
		body := r.form.Encode()
		hr, _ := http.NewRequest(http.MethodPost, srv.URL+r.path, strings.NewReader(body))
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if r.basic[0] != "" {
			hr.SetBasicAuth(url.QueryEscape(r.basic[0]), url.QueryEscape(r.basic[1]))
		}
		for k, v := range r.headers {
			hr.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Logf("%s: %d %.200s", r.name, resp.StatusCode, answer)
		if resp.StatusCode == http.StatusServiceUnavailable {
			t.Errorf("%s: answered 503 (the event could not be recorded?): %s", r.name, answer)
		}
		sent++
	}
	var events []*audit.TailedEvent
	waitFor(t, "an event per request", patience, func() bool {
		events = streamEvents(t, p.ClientURL())
		return len(events) >= sent
	})
	if len(events) != sent {
		t.Errorf("%d events for %d requests", len(events), sent)
	}
	sch, _ := compileSchema(t)
	validateEvents(t, sch, events)
	for _, e := range events {
		if len(e.Raw) > audit.MaxEventBytes {
			t.Errorf("event %s is %d bytes", e.ID, len(e.Raw))
		}
		if bytes.Contains(e.Raw, []byte(mark)) {
			t.Errorf("event holds what the request sent as a secret: %s", e.Raw)
		}
		if len(e.Subject) > 256 {
			t.Errorf("event %s: subject of %d bytes", e.ID, len(e.Subject))
		}
		k, _ := e.Kind()
		switch k {
		case audit.KindDenied, audit.KindIssued:
			d, err := e.Decision()
			if err != nil {
				t.Fatal(err)
			}
			if len(d.ClientID) > 256 || len(d.UserAgent) > 256 || len(d.GrantType) > 256 ||
				(d.Error != nil && len(d.Error.Description) > 512) {
				t.Errorf("event %s: fields past their bounds: client_id %d, user_agent %d, grant_type %d bytes",
					e.ID, len(d.ClientID), len(d.UserAgent), len(d.GrantType))
			}
		}
	}
}

// TestHostileHooksMakeOneBoundedEvent runs hooks that log, trace and fail
// with far more than an event may hold, their secret in all of it: the
// token is still answered (the event recorded), the event is under
// MaxEventBytes and holds no secret.
func TestHostileHooksMakeOneBoundedEvent(t *testing.T) {
	const hookSecret = "hook-secret-value-0123456789"
	t.Setenv("SCOPELINE_TEST_HOOK_KEY", hookSecret)
	tn, err := tenant.Parse([]byte(hookTenant), "t.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	mb := strings.Repeat("x"+hookSecret, (1<<20)/(len(hookSecret)+1))
	loader := goLoader{
		"chatty": func(engine.View) (*engine.HookResult, error) {
			res := &engine.HookResult{}
			for range 200 {
				res.Logs = append(res.Logs, mb)
			}
			res.Ops = append(res.Ops, engine.HookOp{Kind: engine.HookSetClaim, Name: mb[:200], Value: []byte(`"v"`), Reason: mb})
			for range engine.MaxHookOps - 1 {
				res.Ops = append(res.Ops, engine.HookOp{Kind: engine.HookAddScope, Name: mb[:16<<10], Reason: mb})
			}
			return res, nil
		},
		"flaky-skip": func(engine.View) (*engine.HookResult, error) {
			return nil, &engine.HookFault{Kind: "trap", Err: errors.New(mb)}
		},
		"flaky-deny": func(engine.View) (*engine.HookResult, error) {
			return &engine.HookResult{Logs: []string{mb}, Deny: &engine.HookDenial{Code: mb[:100], Reason: mb}}, nil
		},
	}
	p := openPublisher(t, testAudit(t, settings.AuditAck), audit.WithTenant(tn))
	srv := enginetest.Start(t, enginetest.Config{Tenant: []byte(hookTenant), Server: server.Config{Auditor: p, Hooks: loader}})
	r := newResults()
	newTokenClient(srv).request(t, r, "demo-m2m", "demo-m2m-secret", "read:users")
	if r.count(http.StatusServiceUnavailable) > 0 || r.total() != 1 {
		t.Fatalf("answers %v %v", r.statuses, r.bodies)
	}
	for _, b := range r.bodies {
		if strings.Contains(b, hookSecret) {
			t.Errorf("the answer holds the hook's secret: %.300s", b)
		}
	}
	var events []*audit.TailedEvent
	waitFor(t, "the event", patience, func() bool {
		events = streamEvents(t, p.ClientURL())
		return len(events) >= 1
	})
	if len(events) != 1 {
		t.Fatalf("%d events", len(events))
	}
	sch, _ := compileSchema(t)
	validateEvents(t, sch, events)
	e := events[0]
	if i := bytes.Index(e.Raw, []byte(hookSecret)); i >= 0 {
		t.Errorf("the event holds the hook secret: ...%s...", e.Raw[max(0, i-300):i+len(hookSecret)])
	}
	if len(e.Raw) > audit.MaxEventBytes || bytes.Contains(e.Raw, []byte(hookSecret)) {
		t.Errorf("event of %d bytes, secret in it: %v", len(e.Raw), bytes.Contains(e.Raw, []byte(hookSecret)))
	}
	d, err := e.Decision()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range d.HookLogs {
		if len(l.Message) > 1<<10 {
			t.Errorf("a hook log line of %d bytes", len(l.Message))
		}
	}
	for _, f := range d.HookFailures {
		if len(f.Error) > 512 {
			t.Errorf("a hook failure of %d bytes", len(f.Error))
		}
	}
	for _, te := range d.Trace {
		if len(te.Reason) > engine.MaxReasonLen || len(te.Scope) > 1<<10 {
			t.Errorf("a trace entry with a %d-byte reason, %d-byte scope", len(te.Reason), len(te.Scope))
		}
	}
	t.Logf("event: %d bytes, %d trace entries, %d hook logs, %d failures, truncated %v, outcome %s %+v",
		len(e.Raw), len(d.Trace), len(d.HookLogs), len(d.HookFailures), d.Truncated, d.Outcome, d.Error)
}

// TestHostileRequestsDoNotGrowTheSeries sends requests whose grant types,
// client ids, paths and answers all differ: the series of the issuer and
// the publisher stay the same few, and no label holds what a request
// sent.
func TestHostileRequestsDoNotGrowTheSeries(t *testing.T) {
	set := metrics.NewSet()
	p := openPublisher(t, testAudit(t, settings.AuditAck), audit.WithMetrics(set))
	srv := enginetest.Start(t, enginetest.Config{Server: server.Config{Auditor: p, Metrics: set}})
	send := func(i int) {
		form := url.Values{"grant_type": {fmt.Sprintf("gt-%d", i)}}
		switch i % 4 {
		case 1:
			form.Set("grant_type", "client_credentials")
			form.Set("scope", fmt.Sprintf("sc-%d", i))
		case 2:
			form.Set("grant_type", "refresh_token")
			form.Set("refresh_token", fmt.Sprintf("rt-%d", i))
		case 3:
			form.Set("grant_type", "client_credentials")
		}
		path := endpoint.PathToken
		if i%5 == 0 {
			path = fmt.Sprintf("/path-%d", i)
		}
		hr, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(form.Encode()))
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		secret := "demo-m2m-secret"
		if i%3 == 0 {
			secret = fmt.Sprintf("wrong-%d", i)
		}
		hr.SetBasicAuth(fmt.Sprintf("client-%d", i%7)+map[bool]string{true: "", false: "x"}[i%2 == 0], secret)
		if i%2 == 0 {
			hr.SetBasicAuth("demo-m2m", secret)
		}
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// The first round meets every answer (each status code and OAuth
	// error is a series of its own from its first request, a bounded
	// set); the second, with other values, adds nothing.
	for i := range 300 {
		send(i)
	}
	before := set.ListMetricNames()
	for i := 300; i < 600; i++ {
		send(i)
	}
	names := set.ListMetricNames()
	if len(names) != len(before) {
		t.Errorf("%d series after a round of requests, %d after another: new %v", len(before), len(names),
			slices.DeleteFunc(slices.Clone(names), func(n string) bool { return slices.Contains(before, n) }))
	}
	for _, n := range names {
		for _, bad := range []string{"gt-", "sc-", "rt-", "path-", "client-", "wrong-"} {
			if strings.Contains(n, bad) {
				t.Errorf("a series label holds request input: %s", n)
			}
		}
	}
}
