package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestWireClientNetHTTP sends the generator's requests to a net/http
// server on one connection: the server reads the form and the Basic
// credentials, and every answer (Content-Length or chunked) is read
// whole.
func TestWireClientNetHTTP(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok || id != "bench" || secret != benchSecret || r.PostFormValue("scope") != "read" || r.URL.Path != "/token" {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("big") != "" {
			w.Write([]byte(`{"access_token":"` + strings.Repeat("x", 20000) + `"}`)) // chunked: larger than the buffer
			return
		}
		w.Write([]byte(`{"access_token":"t","token_type":"Bearer"}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	for _, path := range []string{"/token", "/token?big=1"} {
		target := tokenTarget{url: srv.URL + path, header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"},
			"Authorization": {basicAuth("bench", benchSecret)}}, body: []byte("grant_type=client_credentials&scope=read")}
		w, err := newLoadWorker(context.Background(), target)
		if err != nil {
			t.Fatal(err)
		}
		if w.wire == nil {
			t.Fatal("an http:// target is not sent on the wire")
		}
		for range 50 {
			w.once(nil)
		}
		w.wire.close()
		if w.tokens != 50 || len(w.failures) > 0 {
			t.Fatalf("%s: %d tokens, failures %v: %s", path, w.tokens, w.failures, w.lastErr)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections for two workers' 100 requests, want 2 (kept alive)", n)
	}
}

// TestWireResponses reads answers of every framing, and refuses broken
// ones, from a server that writes them byte for byte.
func TestWireResponses(t *testing.T) {
	for _, tc := range []struct {
		name, answer string
		status       int
		body         string
		keep, fails  bool
	}{
		{"content length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, "hello", true, false},
		{"chunked with extension and trailer", "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n3;x=y\r\nhel\r\n2\r\nlo\r\n0\r\nX-Trailer: 1\r\n\r\n", 200, "hello", true, false},
		{"connection close", "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}", 400, "{}", false, false},
		{"HTTP/1.0 to the end", "HTTP/1.0 200 OK\r\n\r\nhello", 200, "hello", false, false},
		{"interim answer first", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, "ok", true, false},
		{"no content", "HTTP/1.1 204 No Content\r\n\r\n", 204, "", true, false},
		{"malformed status", "HTTP/2 200\r\n\r\n", 0, "", false, true},
		{"malformed length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 200, "", false, true},
		{"body cut short", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", 200, "hello", false, true},
		{"chunk without CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhelXX0\r\n\r\n", 200, "hel", false, true},
		{"too large", "HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n", 200, "", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, keep, body, err := readWireResponse(bufio.NewReader(strings.NewReader(tc.answer)), make([]byte, 0, 4))
			if (err != nil) != tc.fails || status != tc.status || string(body) != tc.body || (err == nil && keep != tc.keep) {
				t.Errorf("status %d, keep %v, body %q, err %v; want %d, %v, %q, failing %v", status, keep, body, err, tc.status, tc.keep, tc.body, tc.fails)
			}
		})
	}
}

// TestWireStaleConnection: a server that closes each connection after
// one answer, without saying so, costs a new connection and no failure.
func TestWireStaleConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				req, err := http.ReadRequest(r)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 18\r\n\r\n{\"access_token\":1}")
			}()
		}
	}()
	target := tokenTarget{url: "http://" + ln.Addr().String() + "/token", header: http.Header{}, body: []byte("a=b")}
	w, err := newLoadWorker(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	defer w.wire.close()
	for range 5 {
		w.once(nil)
	}
	if w.tokens != 5 || len(w.failures) > 0 {
		t.Fatalf("%d tokens, failures %v: %s", w.tokens, w.failures, w.lastErr)
	}
}

// FuzzReadWireResponse reads arbitrary answers: never more body than the
// bound, and, where net/http's reader also reads a final answer, the same
// status and body.
func FuzzReadWireResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nhel\r\n2\r\nlo\r\n0\r\nX-Trailer: 1\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nhello",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		status, _, body, err := readWireResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
		if len(body) > wireMaxBody {
			t.Fatalf("%d bytes of body", len(body))
		}
		if err != nil || status < 200 {
			return
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
		if err != nil || resp.StatusCode < 200 {
			return
		}
		want, err := io.ReadAll(resp.Body)
		if err != nil {
			return
		}
		if resp.StatusCode != status || !bytes.Equal(body, want) {
			t.Fatalf("read %d %q; net/http reads %d %q", status, body, resp.StatusCode, want)
		}
	})
}
