package main

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/tenant"
)

func TestUserHashPassword(t *testing.T) {
	code, out, errOut := runCLI(t, "correct horse battery\n", "user", "hash-password")
	if code != 0 {
		t.Fatalf("%d %s", code, errOut)
	}
	h, err := tenant.ParsePasswordHash(strings.TrimSpace(out))
	if err != nil || !strings.HasPrefix(out, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q: %v", out, err)
	}
	if !h.Verify("correct horse battery") || h.Verify("correct horse") {
		t.Error("the hash does not verify the password")
	}
	if strings.Contains(out+errOut, "correct horse") {
		t.Error("the password was echoed")
	}
	for _, in := range []string{"", "\n"} {
		if code, _, errOut := runCLI(t, in, "user", "hash-password"); code == 0 || !strings.Contains(errOut, "password") {
			t.Errorf("input %q: %d %s", in, code, errOut)
		}
	}
	if code, _, _ := runCLI(t, "pw\n", "user", "hash-password", "--password", "pw"); code != 2 {
		t.Error("a password flag must not exist")
	}
}

// TestReadLine: what hash-password and secret digest read on standard
// input, and the errors they give.
func TestReadLine(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "pw\n", want: "pw"},
		{in: "pw\r\n", want: "pw"},
		{in: "pw", want: "pw"},
		{in: "pw\nmore\n", want: "pw"},
		{in: "12345678\r\n", want: "12345678"},
		{in: "", err: "no secret on standard input"},
		{in: "\n", err: "empty secret"},
		{in: "\r\n", err: "empty secret"},
		{in: "123456789\n", err: "secret longer than 8 bytes"},
		{in: strings.Repeat("x", 1<<20), err: "secret longer than 8 bytes"},
	}
	for _, tt := range tests {
		got, err := readLine(strings.NewReader(tt.in), "secret", 8)
		if got != tt.want || (err == nil) != (tt.err == "") || err != nil && err.Error() != tt.err {
			t.Errorf("readLine(%.20q) = %q, %v; want %q, %q", tt.in, got, err, tt.want, tt.err)
		}
	}
	if code, _, errOut := runCLI(t, strings.Repeat("x", maxSecretLen+1)+"\n", "secret", "digest"); code == 0 || !strings.Contains(errOut, "secret longer than") {
		t.Errorf("an oversized secret: %d %s", code, errOut)
	}
	for in, msg := range map[string]string{"": "no secret on standard input", "\n": "empty secret"} {
		if code, _, errOut := runCLI(t, in, "secret", "digest"); code == 0 || !strings.Contains(errOut, msg) {
			t.Errorf("secret digest with %q: %d %s", in, code, errOut)
		}
	}
}

// A refresh token issued before a restart still works after it: the
// default user store is a file in the data directory.
func TestServeRefreshTokensSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	addr, _, _, stop := startServe(t, serveConfig{dataDir: dir})
	base := "http://" + addr
	cfg := &oauth2.Config{
		ClientID:    "demo-spa",
		Endpoint:    oauth2.Endpoint{AuthURL: base + "/authorize", TokenURL: base + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: "http://localhost:3000/callback",
		Scopes:      []string{"openid", "offline_access", "read:users"},
	}
	verifier := oauth2.GenerateVerifier()
	loc := enginetest.NewBrowser(t, base).SignIn(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "alice", "alice-password")
	tok, err := cfg.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	addr, _, _, _ = startServe(t, serveConfig{dataDir: dir, addr: addr})
	cfg.Endpoint.TokenURL = "http://" + addr + "/oauth/token"
	tok.AccessToken = "" // force a refresh
	fresh, err := cfg.TokenSource(context.Background(), tok).Token()
	if err != nil {
		t.Fatalf("refresh after restart: %v", err)
	}
	if fresh.RefreshToken == "" || fresh.RefreshToken == tok.RefreshToken || fresh.Extra("scope") != "openid offline_access read:users" {
		t.Errorf("refreshed: %+v", fresh)
	}

	if code, _, errOut := runCLI(t, "", "serve", "--user-store", "disk", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0"); code != 2 || !strings.Contains(errOut, "want file, memory or nats") {
		t.Errorf("bad --user-store: %d %s", code, errOut)
	}
}
