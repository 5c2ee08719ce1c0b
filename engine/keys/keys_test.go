package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

var b64 = base64.RawURLEncoding

// RFC 7638 §3.1.
func TestThumbprintRFC7638(t *testing.T) {
	j := JWK{
		Kty: "RSA",
		N:   "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
		E:   "AQAB",
	}
	if got := j.Thumbprint(); got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Errorf("thumbprint = %s", got)
	}
}

func TestGenerateSignVerify(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			k, err := Generate(alg, t0)
			if err != nil {
				t.Fatal(err)
			}
			tok := jwt.NewWithClaims(k.Method(), jwt.MapClaims{"sub": "x"})
			tok.Header["kid"] = k.ID
			signed, err := tok.SignedString(k.private)
			if err != nil {
				t.Fatal(err)
			}
			pub := publicFromJWK(t, k.JWK())
			decoded, err := k.JWK().PublicKey()
			if err != nil || !k.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(decoded) {
				t.Fatalf("JWK.PublicKey = %v, %v", decoded, err)
			}
			if _, err := jwt.Parse(signed, func(*jwt.Token) (any, error) { return pub, nil }, jwt.WithValidMethods([]string{alg})); err != nil {
				t.Fatalf("verify with the published JWK: %v", err)
			}
			if k.JWK().Kid != k.ID || k.JWK().Alg != alg || k.JWK().Use != "sig" {
				t.Errorf("jwk = %+v", k.JWK())
			}
		})
	}
	if _, err := Generate("HS256", t0); err == nil {
		t.Error("HS256 must be refused")
	}
}

// publicFromJWK decodes a JWK the way a resource server would.
func publicFromJWK(t *testing.T, j JWK) any {
	t.Helper()
	raw, _ := json.Marshal(j)
	var m map[string]string
	json.Unmarshal(raw, &m)
	dec := func(s string) []byte {
		b, err := b64.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	switch m["kty"] {
	case "RSA":
		var pk rsa.PublicKey
		pk.N = new(bigInt).SetBytes(dec(m["n"]))
		pk.E = int(new(bigInt).SetBytes(dec(m["e"])).Int64())
		return &pk
	case "EC":
		pk, err := ecdsa.ParseUncompressedPublicKey(p256(), append(append([]byte{4}, dec(m["x"])...), dec(m["y"])...))
		if err != nil {
			t.Fatal(err)
		}
		return pk
	case "OKP":
		return ed25519.PublicKey(dec(m["x"]))
	}
	t.Fatalf("unknown kty %q", m["kty"])
	return nil
}

func TestStoreEnsureAndReuse(t *testing.T) {
	dir := t.TempDir()
	s := NewStore(dir)
	set, err := s.Ensure([]string{"ES256", "RS256"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", fi.Mode().Perm())
	}
	if len(set.Keys()) != 4 {
		t.Fatalf("want current+next for two algorithms, got %d keys", len(set.Keys()))
	}
	es, ok := set.Signing("ES256")
	if !ok {
		t.Fatal("no ES256 signing key")
	}
	// A restart reuses the same keys.
	again, err := NewStore(dir).Ensure([]string{"ES256", "RS256"}, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	es2, _ := again.Signing("ES256")
	if es2.ID != es.ID {
		t.Errorf("restart made a new key: %s != %s", es2.ID, es.ID)
	}
	// Asking for a new algorithm adds only its keys.
	third, err := s.Ensure([]string{"ES256", "RS256", "EdDSA"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(third.Keys()) != 6 {
		t.Errorf("want 6 keys, got %d", len(third.Keys()))
	}
}

func TestRotate(t *testing.T) {
	s := NewStore(t.TempDir())
	set, err := s.Ensure([]string{"ES256"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := set.Signing("ES256")
	var next *Key
	for _, k := range set.Keys() {
		if k.Status == StatusNext {
			next = k
		}
	}
	retain := time.Hour + Leeway
	jwks := string(set.JWKS(t0, retain))
	if !strings.Contains(jwks, cur.ID) || !strings.Contains(jwks, next.ID) {
		t.Fatalf("JWKS must publish current and next keys: %s", jwks)
	}

	// Too soon after the next key was published: refused unless forced.
	if _, err := s.Rotate(t0.Add(time.Minute), RotateOptions{Retain: retain, MinPublished: 5 * time.Minute}); err == nil {
		t.Fatal("rotation right after publishing the next key must be refused")
	}
	at := t0.Add(10 * time.Minute)
	rot, err := s.Rotate(at, RotateOptions{Retain: retain, MinPublished: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	now, _ := rot.Signing("ES256")
	if now.ID != next.ID {
		t.Errorf("the published next key must become current")
	}
	jwks = string(rot.JWKS(at, retain))
	if !strings.Contains(jwks, cur.ID) {
		t.Error("the retired key must stay published while its tokens live")
	}
	if strings.Contains(string(rot.JWKS(at.Add(retain+time.Second), retain)), cur.ID) {
		t.Error("the retired key must leave the JWKS after retention")
	}
	if n := strings.Count(jwks, `"kid"`); n != 3 {
		t.Errorf("want retired+current+next = 3 keys published, got %d", n)
	}
	// Once retention has passed, a rotation drops the retired key from the file.
	later := at.Add(2 * retain)
	rot2, err := s.Rotate(later, RotateOptions{Retain: retain, MinPublished: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range rot2.Keys() {
		if k.ID == cur.ID {
			t.Error("expired retired key still in the file")
		}
	}
	// The file reloads to the same set.
	loaded, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded.Keys()) != len(rot2.Keys()) {
		t.Errorf("reload: %d keys, want %d", len(loaded.Keys()), len(rot2.Keys()))
	}
}

func TestLoadRejectsTamperedFile(t *testing.T) {
	s := NewStore(t.TempDir())
	if _, err := s.Ensure([]string{"EdDSA"}, t0); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(s.Path())
	var f file
	json.Unmarshal(data, &f)
	f.Keys[0].ID = "not-the-thumbprint"
	data, _ = json.Marshal(f)
	os.WriteFile(s.Path(), data, 0o600)
	if _, err := s.Load(); err == nil || !strings.Contains(err.Error(), "kid does not match") {
		t.Errorf("Load = %v, want a kid mismatch error", err)
	}
}

type bigInt = big.Int

func p256() elliptic.Curve { return elliptic.P256() }

// A derived secret is the same for every holder of the key file (so
// replicas open each other's sealed state), differs per label and per key.
func TestDeriveSecret(t *testing.T) {
	dir := t.TempDir()
	set, err := NewStore(dir).Ensure([]string{"EdDSA"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	again, err := NewStore(dir).Load()
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := set.Signing("EdDSA")
	cur2, _ := again.Signing("EdDSA")
	a, err := cur.DeriveSecret("purpose a", 32)
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := cur2.DeriveSecret("purpose a", 32)
	b, _ := cur.DeriveSecret("purpose b", 32)
	var next *Key
	for _, k := range set.Keys() {
		if k.Status == StatusNext {
			next = k
		}
	}
	n, _ := next.DeriveSecret("purpose a", 32)
	switch {
	case len(a) != 32:
		t.Errorf("length %d", len(a))
	case string(a) != string(a2):
		t.Error("the same key read twice derives different secrets")
	case string(a) == string(b):
		t.Error("two labels derive the same secret")
	case string(a) == string(n):
		t.Error("two keys derive the same secret")
	}
}
