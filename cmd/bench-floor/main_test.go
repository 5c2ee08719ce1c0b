package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2/clientcredentials"
)

// TestFloorIssuesTokens gets a token with golang.org/x/oauth2 and verifies
// it as an ES256 at+jwt; a wrong secret is refused.
func TestFloorIssuesTokens(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newHandler(key))
	defer srv.Close()
	cc := clientcredentials.Config{ClientID: clientID, ClientSecret: clientSecret, TokenURL: srv.URL + "/token"}
	tok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.Parse(tok.AccessToken, func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience("https://api.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Header["typ"] != "at+jwt" {
		t.Errorf("header %v", parsed.Header)
	}

	cc.ClientSecret = "wrong"
	if _, err := cc.Token(context.Background()); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("a wrong secret: %v", err)
	}
}
