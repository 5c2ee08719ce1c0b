package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"testing"

	"golang.org/x/oauth2"

	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/enginetest"
)

// TestOrdersCallBillingOnTheUsersBehalf runs the example against an
// in-process issuer serving its tenant.yaml: alice signs in at the shop,
// calls the orders API, and the orders API exchanges her token to read her
// invoices at the billing API, which sees alice as the subject and the
// orders API as the actor.
func TestOrdersCallBillingOnTheUsersBehalf(t *testing.T) {
	src, err := os.ReadFile("tenant.yaml")
	if err != nil {
		t.Fatal(err)
	}
	is := enginetest.Start(t, enginetest.Config{Tenant: src})
	ctx, cancel := context.WithCancel(context.Background())
	logs := &enginetest.LogBuffer{}
	listening := make(chan addrs, 1)
	done := make(chan error, 1)
	env := map[string]string{"ORDERS_API_SECRET": "orders-api-secret"}
	go func() {
		done <- run(ctx, []string{"--issuer", is.Issuer, "--orders-addr", "127.0.0.1:0", "--billing-addr", "127.0.0.1:0"},
			func(k string) string { return env[k] }, logs, listening)
	}()
	var a addrs
	select {
	case a = <-listening:
	case err := <-done:
		t.Fatalf("run: %v\n%s", err, logs)
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	// alice signs in at the shop (authorization code with PKCE).
	cfg := &oauth2.Config{ClientID: "shop-spa", RedirectURL: "http://localhost:3000/callback", Scopes: []string{"read:orders"},
		Endpoint: oauth2.Endpoint{AuthURL: is.URL + endpoint.PathAuthorize, TokenURL: is.TokenEndpoint(), AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()
	loc := enginetest.NewBrowser(t, is.URL).SignIn(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), "alice", "alice-password")
	tok, err := cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}

	get := func(url, token string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
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
	for range 2 { // the second call reuses the exchanged token
		status, body := get("http://"+a.orders+"/orders/o-17", tok.AccessToken)
		billing, _ := body["billing"].(map[string]any)
		if status != 200 || body["customer"] != "alice" || billing["for"] != "alice" || billing["actor"] != "orders-api" || billing["client"] != "orders-api" {
			t.Fatalf("orders API: %d %v\n%s", status, body, logs)
		}
	}
	// alice's token is not a billing token: the billing API refuses it.
	if status, _ := get("http://"+a.billing+"/invoices?order=o-17", tok.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("the billing API accepted an orders token: %d", status)
	}
}
