package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/spf13/cobra"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/endpoint"
	"github.com/scopeline/scopeline/engine/keys"
)

type tokenConfig struct {
	issuer       string
	configPath   string
	demo         bool
	clientID     string
	clientSecret string
	audience     string
	resource     string
	scope        string
	auth         string
	trace        bool
	raw          bool
	// cacheDir keeps compiled hook modules (in process); slowLoad is how
	// long loading a hook may take before the command says so (default 1s).
	cacheDir string
	slowLoad time.Duration
}

func newTokenCmd() *cobra.Command {
	var cfg tokenConfig
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Get a client-credentials token and print its header and claims",
		Long: `Get a client-credentials token and print its decoded header and claims.

From a running issuer (--issuer URL), the token endpoint is found through
discovery and the signature checked against the issuer's JWKS.

In process (--config FILE, or --demo for the built-in demo tenant), the
tenant file is run directly, without a server; --trace then also prints
the decision trace: which stage or hook granted, refused or changed what.
Hook modules are compiled once and cached in --cache-dir (the one that
scopeline hook test uses), so only the first run on a machine compiles;
a hook that takes over a second to load is announced on stderr.

The client secret is read from --client-secret or $SCOPELINE_CLIENT_SECRET.`,
		Example: `  scopeline token --issuer http://127.0.0.1:8080/ --client-id demo-m2m --client-secret demo-m2m-secret --scope read:users
  scopeline token --demo --client-id demo-m2m --client-secret demo-m2m-secret --scope "read:users delete:users" --trace`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.clientSecret == "" {
				cfg.clientSecret = os.Getenv("SCOPELINE_CLIENT_SECRET")
			}
			local := cfg.configPath != "" || cfg.demo
			switch {
			case cfg.clientID == "":
				return usageError{errors.New("--client-id is required")}
			case local == (cfg.issuer != ""):
				return usageError{errors.New("give either --issuer URL (a running issuer) or --config FILE / --demo (in process)")}
			case cfg.trace && !local:
				return usageError{errors.New("--trace works in process (--config or --demo); a running issuer logs traces at --log-level debug and publishes them on the audit stream")}
			case cfg.auth != "basic" && cfg.auth != "post":
				return usageError{errors.New("--auth must be basic or post")}
			}
			if local {
				return localToken(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), cfg)
			}
			return remoteToken(cmd.Context(), cmd.OutOrStdout(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.issuer, "issuer", "", "issuer URL of a running Scopeline")
	f.StringVar(&cfg.configPath, "config", "", "tenant file to issue from in process")
	f.BoolVar(&cfg.demo, "demo", false, "issue in process from the built-in demo tenant")
	f.StringVar(&cfg.clientID, "client-id", "", "client id")
	f.StringVar(&cfg.clientSecret, "client-secret", "", "client secret (or $SCOPELINE_CLIENT_SECRET)")
	f.StringVar(&cfg.audience, "audience", "", "API identifier to get the token for")
	f.StringVar(&cfg.resource, "resource", "", "API identifier as an RFC 8707 resource")
	f.StringVar(&cfg.scope, "scope", "", `space-separated scopes, e.g. "read:users write:users" (default: all granted)`)
	f.StringVar(&cfg.auth, "auth", "basic", "client authentication: basic (client_secret_basic) or post (client_secret_post)")
	f.BoolVar(&cfg.trace, "trace", false, "print the decision trace (in process only)")
	f.BoolVar(&cfg.raw, "raw", false, "print only the access token")
	f.StringVar(&cfg.cacheDir, "cache-dir", defaultHookCache(), "where compiled hook modules are cached (in process)")
	return cmd
}

// remoteToken gets a token from a running issuer with golang.org/x/oauth2.
func remoteToken(ctx context.Context, out io.Writer, cfg tokenConfig) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	hc := &http.Client{Timeout: 15 * time.Second}
	var meta endpoint.Metadata
	if err := getJSON(ctx, hc, wellKnown(cfg.issuer), &meta); err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	params := url.Values{}
	if cfg.audience != "" {
		params.Set("audience", cfg.audience)
	}
	if cfg.resource != "" {
		params.Set("resource", cfg.resource)
	}
	cc := clientcredentials.Config{
		ClientID:       cfg.clientID,
		ClientSecret:   cfg.clientSecret,
		TokenURL:       meta.TokenEndpoint,
		EndpointParams: params,
		AuthStyle:      oauth2.AuthStyleInHeader,
	}
	if cfg.auth == "post" {
		cc.AuthStyle = oauth2.AuthStyleInParams
	}
	if cfg.scope != "" {
		cc.Scopes = strings.Fields(cfg.scope)
	}
	tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, hc))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode != "" {
			return fmt.Errorf("token request refused: %s: %s (HTTP %d)", re.ErrorCode, re.ErrorDescription, re.Response.StatusCode)
		}
		return err
	}
	if cfg.raw {
		fmt.Fprintln(out, tok.AccessToken)
		return nil
	}
	granted, _ := tok.Extra("scope").(string)
	verified := verifyRemote(ctx, hc, meta.JWKSURI, tok.AccessToken)
	return printToken(out, tok.AccessToken, granted, time.Until(tok.Expiry).Round(time.Second), verified, nil, nil)
}

// wellKnown is the RFC 8414 metadata URL of an issuer.
func wellKnown(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return issuer
	}
	path := strings.TrimSuffix(u.Path, "/")
	u.Path = endpoint.PathOAuthMeta + path
	return u.String()
}

func getJSON(ctx context.Context, hc *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

// verifyRemote checks the token's signature against the issuer's JWKS and
// says how that went.
func verifyRemote(ctx context.Context, hc *http.Client, jwksURI, token string) string {
	var set struct {
		Keys []keys.JWK `json:"keys"`
	}
	if err := getJSON(ctx, hc, jwksURI, &set); err != nil {
		return "not checked: " + err.Error()
	}
	_, err := jwt.Parse(token, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		for _, k := range set.Keys {
			if k.Kid == kid && k.Alg == t.Method.Alg() {
				return k.PublicKey()
			}
		}
		return nil, fmt.Errorf("no key %q in the JWKS", kid)
	}, jwt.WithValidMethods([]string{"RS256", "ES256", "EdDSA"}))
	if err != nil {
		return "FAILED: " + err.Error()
	}
	return "verified against " + jwksURI
}

// printToken prints a token's header, claims and, when given, its trace.
func printToken(out io.Writer, token, granted string, expiresIn time.Duration, verified string, trace engine.Trace, logs []engine.HookLog) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("the access token is not a JWT")
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "access_token:\t%s\n", token)
	fmt.Fprintf(w, "scope:\t%s\n", granted)
	fmt.Fprintf(w, "expires_in:\t%s\n", expiresIn)
	fmt.Fprintf(w, "signature:\t%s\n", verified)
	w.Flush()
	for i, name := range []string{"header", "claims"} {
		raw, err := jwtPart(parts[i])
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: %s\n", name, raw)
	}
	printTrace(out, trace, logs)
	return nil
}

func jwtPart(seg string) (string, error) {
	b, err := keysB64.DecodeString(seg)
	if err != nil {
		return "", fmt.Errorf("malformed token: %w", err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return "", fmt.Errorf("malformed token: %w", err)
	}
	pretty, _ := json.MarshalIndent(v, "", "  ")
	return string(pretty), nil
}

func printTrace(out io.Writer, trace engine.Trace, logs []engine.HookLog) {
	if trace == nil {
		return
	}
	fmt.Fprintln(out, "trace:")
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, e := range trace {
		target := e.Scope
		if e.Claim != "" {
			target = "claim " + e.Claim
		}
		reason := e.Reason
		if e.Refused {
			reason = "REFUSED: " + reason
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", e.Stage, e.Op, target, reason)
	}
	w.Flush()
	if len(logs) > 0 {
		fmt.Fprintln(out, "hook logs:")
		for _, l := range logs {
			fmt.Fprintf(out, "  [%s] %s\n", l.Hook, l.Message)
		}
	}
}
