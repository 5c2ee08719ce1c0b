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
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/engine/tenant"
)

var keysB64 = base64.RawURLEncoding

// captureAuditor keeps the last decision, to show its trace.
type captureAuditor struct{ last *engine.Decision }

func (c *captureAuditor) Record(_ context.Context, d *engine.Decision) error {
	c.last = d
	return nil
}

// localIssuer builds an issuer for t in process, with throwaway signing
// keys and the hook runtime rt; done releases all of it.
func localIssuer(ctx context.Context, t *tenant.Tenant, rt hookRuntime, cfg server.Config) (*server.Server, func(), error) {
	dir, err := os.MkdirTemp("", "scopeline-")
	if err != nil {
		return nil, nil, err
	}
	var cleanup []func()
	done := func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
		os.RemoveAll(dir)
	}
	ks, err := keys.NewStore(dir).Ensure(t.Algorithms(), time.Now())
	if err != nil {
		done()
		return nil, nil, err
	}
	if t.Issuer == "" && cfg.Issuer == "" {
		cfg.Issuer = "http://localhost/"
	}
	hooks, host, err := newHookLoader(ctx, rt)
	if err != nil {
		done()
		return nil, nil, err
	}
	cleanup = append(cleanup, func() { host.Close(context.Background()) })
	cfg.Hooks = hooks
	iss, err := server.New(ctx, t, ks, cfg)
	if err != nil {
		done()
		return nil, nil, err
	}
	cleanup = append(cleanup, func() { iss.Close() })
	return iss, done, nil
}

// localToken runs one token request through the tenant file in process;
// what it does that takes long (compiling hooks) goes to errOut.
func localToken(ctx context.Context, out, errOut io.Writer, cfg tokenConfig) error {
	t, err := loadTenant(cfg.configPath)
	if err != nil {
		return err
	}
	audit := &captureAuditor{}
	rt := hookRuntime{
		cacheDir: cfg.cacheDir,
		say:      func(msg string) { fmt.Fprintln(errOut, "scopeline: "+msg) },
		slowLoad: cfg.slowLoad,
	}
	iss, done, err := localIssuer(ctx, t, rt, server.Config{Auditor: audit})
	if err != nil {
		return err
	}
	defer done()
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
		return fmt.Errorf("token request refused: %s: %s (HTTP %d)", e.Code(), e.Description(), e.Status())
	}
	if cfg.raw {
		fmt.Fprintln(out, resp.AccessToken)
		return nil
	}
	return printToken(out, resp.AccessToken, resp.Scope, time.Duration(resp.ExpiresIn)*time.Second,
		"signed in process with a throwaway key", trace, logs)
}
