// Command bench-floor is the least a Go token endpoint can do over
// net/http with ES256, for "scopeline bench --http --url" to measure
// beside Scopeline: client_secret_basic checked in constant time, the form
// parsed, the claims of an RFC 9068 access token encoded, an ES256 JWS
// signed with golang-jwt and the JSON answer written. No client registry,
// no policy, no hooks, no audit events, no metrics. Its CPU per token is the
// floor under any issuer built on the same HTTP server and signature; see
// docs/performance.md.
//
//	go run ./cmd/bench-floor            # prints the address it listens on
//	scopeline bench --http --url http://ADDR/token --pid PID \
//	    --client-id bench --client-secret bench-secret
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

func main() { os.Exit(doMain(os.Args[1:], os.Stdout, os.Stderr)) }

func doMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench-floor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		fmt.Fprintln(stderr, "bench-floor:", err)
		return 1
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "bench-floor:", err)
		return 1
	}
	fmt.Fprintln(stdout, ln.Addr())
	srv := &http.Server{Handler: newHandler(key), ReadHeaderTimeout: 10 * time.Second}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(stderr, "bench-floor:", err)
		return 1
	}
	return 0
}

// The one client the floor knows.
const (
	clientID     = "bench"
	clientSecret = "bench-secret"
)

// newHandler answers POST /token with tokens signed by key.
func newHandler(key *ecdsa.PrivateKey) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok || id != clientID || subtle.ConstantTimeCompare([]byte(secret), []byte(clientSecret)) != 1 {
			writeError(w, http.StatusUnauthorized, "invalid_client")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
			writeError(w, http.StatusBadRequest, "invalid_request")
			return
		}
		now := time.Now()
		t := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
			"iss": "http://" + r.Host, "sub": id, "aud": "https://api.example.com", "client_id": id,
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": uuid.NewString(), "scope": "read",
		})
		t.Header["typ"] = "at+jwt"
		t.Header["kid"] = "floor"
		signed, err := t.SignedString(key)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "server_error")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": signed, "token_type": "Bearer", "expires_in": 3600, "scope": "read"})
	})
	return mux
}

func writeError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}
