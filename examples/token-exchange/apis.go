package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/scopeline/scopeline/sdk/resource"
)

// newOrdersAPI serves GET /orders/{id}: it exchanges the caller's token
// for a billing token and asks the billing API for the order's invoices.
func newOrdersAPI(v *resource.Validator, x *exchanger, billing string, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /orders/{id}", v.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := resource.ClaimsFrom(r.Context())
		// The token Protect validated, to exchange: Bearer only here.
		subjectToken, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		billingToken, err := x.Exchange(r.Context(), subjectToken)
		if err != nil {
			log.Error("token exchange failed", "err", err)
			http.Error(w, "the billing API cannot be reached on your behalf", http.StatusBadGateway)
			return
		}
		invoices, err := getInvoices(r.Context(), x.client, billing, r.PathValue("id"), billingToken)
		if err != nil {
			log.Error("billing API", "err", err)
			http.Error(w, "the billing API failed", http.StatusBadGateway)
			return
		}
		writeJSON(w, map[string]any{"order": r.PathValue("id"), "customer": c.Subject, "billing": invoices})
	}), resource.RequireScopes("read:orders")))
	return mux
}

// newBillingAPI serves GET /invoices?order=ID. It answers who the
// invoices are read for (sub) and by whom (the act claim's sub).
func newBillingAPI(v *resource.Validator) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /invoices", v.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := resource.ClaimsFrom(r.Context())
		var act struct {
			Sub string `json:"sub"`
		}
		if _, err := c.Custom("act", &act); err != nil {
			http.Error(w, "malformed act claim", http.StatusBadRequest)
			return
		}
		order := r.URL.Query().Get("order")
		writeJSON(w, map[string]any{
			"invoices": []map[string]any{{"id": "inv-" + order, "order": order, "amount": "42.00"}},
			"for":      c.Subject,
			"actor":    act.Sub,
			"client":   c.ClientID,
		})
	}), resource.RequireScopes("read:invoices")))
	return mux
}

func getInvoices(ctx context.Context, client *http.Client, billing, order, token string) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, billing+"/invoices?order="+url.QueryEscape(order), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("billing API: %s", resp.Status)
	}
	var out map[string]any
	return out, json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// exchanger exchanges subject tokens for tokens of one API (RFC 8693
// §2.1), authenticating as the orders API's client, and keeps each new
// token until shortly before it expires: one exchange per subject token,
// not one per request.
type exchanger struct {
	tokenURL, clientID, secret, audience, scope string
	client                                      *http.Client

	mu    sync.Mutex
	cache map[[32]byte]cached
}

type cached struct {
	token   string
	expires time.Time
}

// maxCached bounds the cache; when full it is emptied.
const maxCached = 10_000

// Exchange returns a token of x.audience for the subject of subjectToken.
func (x *exchanger) Exchange(ctx context.Context, subjectToken string) (string, error) {
	key := sha256.Sum256([]byte(subjectToken))
	now := time.Now()
	x.mu.Lock()
	c, ok := x.cache[key]
	x.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.token, nil
	}
	form := url.Values{
		"grant_type":           {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":        {subjectToken},
		"subject_token_type":   {"urn:ietf:params:oauth:token-type:access_token"},
		"requested_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
		"audience":             {x.audience},
		"scope":                {x.scope},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, x.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(x.clientID), url.QueryEscape(x.secret))
	resp, err := x.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken     string `json:"access_token"`
		IssuedTokenType string `json:"issued_token_type"`
		ExpiresIn       int64  `json:"expires_in"`
		Error           string `json:"error"`
		Description     string `json:"error_description"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body); err != nil {
		return "", fmt.Errorf("token exchange: %s: %w", resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		return "", fmt.Errorf("token exchange: %s: %s: %s", resp.Status, body.Error, body.Description)
	}
	x.mu.Lock()
	if len(x.cache) >= maxCached {
		clear(x.cache)
	}
	// Reused until 30 seconds before it expires.
	x.cache[key] = cached{token: body.AccessToken, expires: now.Add(time.Duration(body.ExpiresIn)*time.Second - 30*time.Second)}
	x.mu.Unlock()
	return body.AccessToken, nil
}

// tokenEndpoint reads the issuer's token endpoint from its metadata.
func tokenEndpoint(ctx context.Context, issuer string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("issuer metadata: %w", err)
	}
	defer resp.Body.Close()
	var m struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&m); err != nil || m.TokenEndpoint == "" {
		return "", errors.Join(errors.New("issuer metadata: no token_endpoint"), err)
	}
	return m.TokenEndpoint, nil
}
