package jwks

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

var discard = slog.New(slog.DiscardHandler)

var b64 = base64.RawURLEncoding

// testKeys are one key per kind, made once.
var testKeys = func() (k struct {
	rsa, weak *rsa.PrivateKey
	ec, p384  *ecdsa.PrivateKey
	ed        ed25519.PublicKey
}) {
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.weak, err = rsa.GenerateKey(rand.Reader, 1024); err != nil {
		panic(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if k.p384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		panic(err)
	}
	if k.ed, _, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	return k
}()

func rsaJWK(kid string, k *rsa.PublicKey) map[string]any {
	return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64.EncodeToString(k.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(k.E)).Bytes())}
}

func ecJWK(kid string, k *ecdsa.PublicKey, crv string) map[string]any {
	raw, err := k.Bytes() // 0x04 || X || Y
	if err != nil {
		panic(err)
	}
	xy := raw[1:]
	return map[string]any{"kty": "EC", "kid": kid, "crv": crv,
		"x": b64.EncodeToString(xy[:len(xy)/2]), "y": b64.EncodeToString(xy[len(xy)/2:])}
}

func edJWK(kid string, k ed25519.PublicKey) map[string]any {
	return map[string]any{"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64.EncodeToString(k)}
}

func with(m map[string]any, changes ...any) map[string]any {
	c := map[string]any{}
	for k, v := range m {
		c[k] = v
	}
	for i := 0; i < len(changes); i += 2 {
		if changes[i+1] == nil {
			delete(c, changes[i].(string))
		} else {
			c[changes[i].(string)] = changes[i+1]
		}
	}
	return c
}

func set(keys ...map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return b
}

func TestParseSet(t *testing.T) {
	good := []map[string]any{
		rsaJWK("rs", &testKeys.rsa.PublicKey),
		ecJWK("es", &testKeys.ec.PublicKey, "P-256"),
		edJWK("ed", testKeys.ed),
	}
	offCurve := ecJWK("off", &testKeys.ec.PublicKey, "P-256")
	offCurve["y"] = b64.EncodeToString(make([]byte, 32))
	tests := []struct {
		name string
		jwk  map[string]any
		alg  string // "" means skipped
	}{
		{"RSA", good[0], RS256},
		{"RSA without alg or use", with(good[0], "alg", nil, "use", nil), RS256},
		{"P-256", good[1], ES256},
		{"Ed25519", good[2], EdDSA},
		{"Ed25519 with key_ops verify", with(good[2], "key_ops", []string{"verify"}), EdDSA},
		{"RSA of 1024 bits", rsaJWK("weak", &testKeys.weak.PublicKey), ""},
		{"RSA exponent 1", with(good[0], "e", "AQ"), ""},
		{"RSA exponent even", with(good[0], "e", "AQAA"), ""},
		{"RSA with padding in n", with(good[0], "n", good[0]["n"].(string)+"=="), ""},
		{"RSA with alg PS256", with(good[0], "alg", "PS256"), ""},
		{"RSA with alg HS256", with(good[0], "alg", "HS256"), ""},
		{"P-384", ecJWK("p384", &testKeys.p384.PublicKey, "P-384"), ""},
		{"P-256 point off the curve", offCurve, ""},
		{"P-256 short x", with(good[1], "x", "AAAA"), ""},
		{"EC with alg ES384", with(good[1], "alg", "ES384"), ""},
		{"X25519", with(good[2], "crv", "X25519"), ""},
		{"Ed25519 short", with(good[2], "x", "AAAA"), ""},
		{"encryption key", with(good[0], "use", "enc"), ""},
		{"key_ops without verify", with(good[0], "key_ops", []string{"encrypt"}), ""},
		{"private key", with(good[2], "d", "AAAA"), ""},
		{"no kid", with(good[2], "kid", nil), ""},
		{"kid too long", with(good[2], "kid", strings.Repeat("k", 300)), ""},
		{"symmetric", map[string]any{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}, ""},
		{"kid not a string", with(good[2], "kid", 7), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other := edJWK("other", testKeys.ed) // so that the set is never empty
			keys, err := ParseSet(set(tt.jwk, other), discard)
			if err != nil {
				t.Fatal(err)
			}
			kid, _ := tt.jwk["kid"].(string)
			k := keys[kid]
			switch {
			case tt.alg == "" && k != nil:
				t.Errorf("accepted as %s", k.Algorithm)
			case tt.alg != "" && (k == nil || k.Algorithm != tt.alg || k.Public == nil):
				t.Errorf("key = %+v, want %s", k, tt.alg)
			}
		})
	}
}

func TestParseSetRefusals(t *testing.T) {
	ed := edJWK("ed", testKeys.ed)
	many := make([]map[string]any, MaxKeys+1)
	for i := range many {
		many[i] = with(ed, "kid", fmt.Sprint(i))
	}
	for name, data := range map[string][]byte{
		"not JSON":         []byte("<html>"),
		"keys not a list":  []byte(`{"keys":{}}`),
		"no usable key":    set(with(ed, "use", "enc")),
		"empty":            []byte(`{"keys":[]}`),
		"too many keys":    set(many...),
		"only a duplicate": set(ed, ed),
	} {
		if _, err := ParseSet(data, discard); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	keys, err := ParseSet(set(ed, with(ed, "x", b64.EncodeToString(make([]byte, 32))), edJWK("b", testKeys.ed), with(ed, "kid", "ed")), discard)
	if err != nil || keys["ed"] != nil || keys["b"] == nil {
		t.Errorf("a kid used twice must be dropped: %v, %v", keys, err)
	}
}

func TestLifetime(t *testing.T) {
	tests := []struct {
		cacheControl []string
		age          string
		want         time.Duration
	}{
		{nil, "", DefaultLifetime},
		{[]string{"public, max-age=300"}, "", 5 * time.Minute},
		{[]string{"max-age=600, public"}, "", 10 * time.Minute},
		{[]string{`max-age="120"`}, "", 2 * time.Minute},
		{[]string{"Max-Age=900"}, "", 15 * time.Minute},
		{[]string{"public", "max-age=900"}, "", 15 * time.Minute},
		{[]string{"max-age=300"}, "100", 200 * time.Second},
		{[]string{"max-age=300"}, "1000", MinLifetime},
		{[]string{"max-age=300"}, "junk", 5 * time.Minute},
		{[]string{"max-age=0"}, "", MinLifetime},
		{[]string{"max-age=5"}, "", MinLifetime},
		{[]string{"no-store"}, "", MinLifetime},
		{[]string{"max-age=600, no-cache"}, "", MinLifetime},
		{[]string{"max-age=31536000"}, "", MaxLifetime},
		{[]string{"max-age=99999999999999999999999"}, "", MaxLifetime},
		{[]string{"max-age=-1"}, "", DefaultLifetime},
		{[]string{"max-age=1e3"}, "", DefaultLifetime},
		{[]string{"max-age="}, "", DefaultLifetime},
		{[]string{"s-maxage=60"}, "", DefaultLifetime},
	}
	for _, tt := range tests {
		h := http.Header{"Cache-Control": tt.cacheControl}
		if tt.age != "" {
			h.Set("Age", tt.age)
		}
		if got := Lifetime(h); got != tt.want {
			t.Errorf("Cache-Control %q Age %q: %s, want %s", tt.cacheControl, tt.age, got, tt.want)
		}
	}
}

func TestDiscoveryURLs(t *testing.T) {
	tests := []struct {
		issuer string
		want   []string
	}{
		{"https://auth.example.com/", []string{
			"https://auth.example.com/.well-known/oauth-authorization-server",
			"https://auth.example.com/.well-known/openid-configuration"}},
		{"https://auth.example.com", []string{
			"https://auth.example.com/.well-known/oauth-authorization-server",
			"https://auth.example.com/.well-known/openid-configuration"}},
		{"https://auth.example.com/tenants/a", []string{
			"https://auth.example.com/.well-known/oauth-authorization-server/tenants/a",
			"https://auth.example.com/tenants/a/.well-known/openid-configuration"}},
		{"http://127.0.0.1:8080/t/", []string{
			"http://127.0.0.1:8080/.well-known/oauth-authorization-server/t",
			"http://127.0.0.1:8080/t/.well-known/openid-configuration"}},
	}
	for _, tt := range tests {
		got, err := DiscoveryURLs(tt.issuer)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("DiscoveryURLs(%q) = %q, %v; want %q", tt.issuer, got, err, tt.want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	for u, ok := range map[string]bool{
		"https://auth.example.com/":             true,
		"https://auth.example.com/jwks?v=1":     true,
		"http://localhost:8080/":                true,
		"http://api.localhost/":                 true,
		"http://127.0.0.1/":                     true,
		"http://[::1]:80/":                      true,
		"http://auth.example.com/":              false,
		"http://127.0.0.1.nip.io/":              false,
		"https://auth.example.com/#fragment":    false,
		"https://auth.example.com/#":            false,
		"/relative":                             false,
		"ftp://auth.example.com/":               false,
		"file:///etc/passwd":                    false,
		"":                                      false,
		"https://":                              false,
		"javascript:alert(1)//auth.example.com": false,
	} {
		if err := CheckURL(u); (err == nil) != ok {
			t.Errorf("CheckURL(%q) = %v, want ok=%v", u, err, ok)
		}
	}
}

func FuzzParseSet(f *testing.F) {
	f.Add(set(rsaJWK("rs", &testKeys.rsa.PublicKey), ecJWK("es", &testKeys.ec.PublicKey, "P-256"), edJWK("ed", testKeys.ed)))
	f.Add(set(with(edJWK("ed", testKeys.ed), "use", "enc")))
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"a","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ParseSet(data, discard)
		if err != nil {
			if keys != nil {
				t.Fatal("keys with an error")
			}
			return
		}
		if len(keys) == 0 || len(keys) > MaxKeys {
			t.Fatalf("%d keys", len(keys))
		}
		for kid, k := range keys {
			if kid == "" || k.ID != kid || k.Public == nil || !slices.Contains(Algorithms, k.Algorithm) {
				t.Fatalf("bad key %q: %+v", kid, k)
			}
		}
	})
}

func FuzzLifetime(f *testing.F) {
	f.Add("public, max-age=300", "")
	f.Add(`max-age="60", no-cache`, "30")
	f.Add("max-age=99999999999999999999", "99999999999999999999")
	f.Fuzz(func(t *testing.T, cacheControl, age string) {
		h := http.Header{"Cache-Control": {cacheControl}, "Age": {age}}
		if d := Lifetime(h); d < MinLifetime || d > MaxLifetime {
			t.Fatalf("Lifetime = %s", d)
		}
	})
}
