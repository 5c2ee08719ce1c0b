package main

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func TestServeProfiles(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "192.0.2.1:6060", ":6060", "example.com:6060", "nohost"} {
		if _, err := serveProfiles(addr, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("%q: accepted, want refused (loopback only)", addr)
		}
	}
	var logs strings.Builder
	stop, err := serveProfiles("127.0.0.1:0", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	_, url, ok := strings.Cut(logs.String(), "url=")
	if !ok {
		t.Fatalf("no url logged: %s", logs.String())
	}
	resp, err := http.Get(strings.TrimSpace(url) + "goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "goroutine profile") {
		t.Fatalf("%s\n%.300s", resp.Status, b)
	}
}

func TestServeNoAudit(t *testing.T) {
	addr, _, logs, _ := startServe(t, serveConfig{noAudit: true})
	if _, err := getToken(t, addr, "read:users"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "audit stream off") || strings.Contains(logs.String(), "embedded NATS server started") {
		t.Errorf("--no-audit: want a warning and no NATS server:\n%s", logs)
	}
}
