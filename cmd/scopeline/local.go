package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/keys"
)

var keysB64 = base64.RawURLEncoding

// captureAuditor keeps the last decision, to show its trace.
type captureAuditor struct{ last *engine.Decision }

func (c *captureAuditor) Record(_ context.Context, d *engine.Decision) error {
	c.last = d
	return nil
}

// localToken runs one token request through the tenant file in process.
func localToken(ctx context.Context, out io.Writer, cfg tokenConfig) error {
	t, err := loadTenant(cfg.configPath)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "scopeline-token-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ks, err := keys.NewStore(dir).Ensure(t.Algorithms(), time.Now())
	if err != nil {
		return err
	}
	audit := &captureAuditor{}
	opts := []engine.Option{engine.WithAuditor(audit)}
	if t.Issuer == "" {
		opts = append(opts, engine.WithIssuer("http://localhost/"))
	}
	hooks, closeHooks, err := newHookLoader(ctx, dir)
	if err != nil {
		return err
	}
	defer closeHooks()
	if hooks != nil {
		opts = append(opts, engine.WithHookLoader(hooks))
	}
	iss, err := engine.New(ctx, t, ks, opts...)
	if err != nil {
		return err
	}
	defer iss.Close()
	req := &engine.TokenRequest{
		GrantType:    engine.GrantClientCredentials,
		ClientID:     cfg.clientID,
		ClientSecret: cfg.clientSecret,
		AuthMethod:   engine.AuthSecretBasic,
		Scope:        cfg.scope,
		ScopeSet:     cfg.scope != "",
		Audience:     cfg.audience,
		RequestID:    "local",
		IP:           "127.0.0.1",
		UserAgent:    "scopeline token",
	}
	if cfg.resource != "" {
		req.Resource = []string{cfg.resource}
	}
	resp, err := iss.Token(ctx, req)
	var trace engine.Trace
	var logs []engine.HookLog
	if cfg.trace && audit.last != nil {
		trace, logs = audit.last.Tx.Trace, audit.last.Tx.Logs
		if trace == nil {
			trace = engine.Trace{}
		}
	}
	if err != nil {
		printTrace(out, trace, logs)
		e := engine.AsError(err)
		return fmt.Errorf("token request refused: %s: %s (HTTP %d)", e.Code, e.Description, e.Status)
	}
	if cfg.raw {
		fmt.Fprintln(out, resp.AccessToken)
		return nil
	}
	return printToken(out, resp.AccessToken, resp.Scope, time.Duration(resp.ExpiresIn)*time.Second,
		"signed in process with a throwaway key", trace, logs)
}
