package jwk_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/scopeline/scopeline/sdk/resource/jwk"
)

var keys = func() (k struct {
	rsa, weak *rsa.PrivateKey
	ec, p384  *ecdsa.PrivateKey
	ed        ed25519.PrivateKey
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
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	return k
}()

var b64 = base64.RawURLEncoding

func encode(t testing.TB, pub any, alg, kid string) map[string]any {
	t.Helper()
	j, err := jwk.FromPublicKey(pub, alg, kid)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(j)
	var m map[string]any
	json.Unmarshal(raw, &m)
	return m
}

func with(m map[string]any, changes ...any) []byte {
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
	raw, _ := json.Marshal(c)
	return raw
}

func TestParseEachKind(t *testing.T) {
	for _, tc := range []struct {
		name string
		pub  any
		algs []string
	}{
		{"RSA", &keys.rsa.PublicKey, []string{"RS256", "PS256"}},
		{"P-256", &keys.ec.PublicKey, []string{"ES256"}},
		{"Ed25519", keys.ed.Public(), []string{"EdDSA"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := encode(t, tc.pub, "", "k1")
			k, err := jwk.Parse(with(m))
			if err != nil {
				t.Fatal(err)
			}
			if k.ID != "k1" || k.Algorithm != "" {
				t.Errorf("key = %+v", k)
			}
			for _, alg := range jwk.Algorithms {
				want := strings.Contains(strings.Join(tc.algs, " "), alg)
				if k.Verifies(alg) != want {
					t.Errorf("Verifies(%s) = %v", alg, !want)
				}
			}
			tp, err := jwk.Thumbprint(tc.pub)
			if err != nil || tp != k.Thumbprint {
				t.Errorf("thumbprint %s, from the key %s (%v)", k.Thumbprint, tp, err)
			}
			// An alg member pins the key to it.
			pinned, err := jwk.Parse(with(m, "alg", tc.algs[0]))
			if err != nil {
				t.Fatal(err)
			}
			for _, alg := range jwk.Algorithms {
				if pinned.Verifies(alg) != (alg == tc.algs[0]) {
					t.Errorf("pinned to %s: Verifies(%s) wrong", tc.algs[0], alg)
				}
			}
		})
	}
}

// TestThumbprintRFC8037 checks the thumbprint against RFC 8037 Appendix A.3.
func TestThumbprintRFC8037(t *testing.T) {
	k, err := jwk.Parse([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; k.Thumbprint != want {
		t.Errorf("thumbprint %s, want %s", k.Thumbprint, want)
	}
}

func TestParseRefusals(t *testing.T) {
	rsaKey := encode(t, &keys.rsa.PublicKey, "", "r")
	ecKey := encode(t, &keys.ec.PublicKey, "", "e")
	edKey := encode(t, keys.ed.Public(), "", "o")
	p384raw, _ := keys.p384.PublicKey.Bytes()
	p384 := map[string]any{"kty": "EC", "crv": "P-384", "x": b64.EncodeToString(p384raw[1:49]), "y": b64.EncodeToString(p384raw[49:])}
	n := keys.rsa.N.Bytes()
	for _, tc := range []struct {
		name string
		data []byte
		why  string
	}{
		{"not JSON", []byte(`{"kty":`), "malformed JSON"},
		{"an array", []byte(`[]`), "malformed JSON"},
		{"no kty", with(rsaKey, "kty", nil), "kty is missing"},
		{"unknown kty", with(rsaKey, "kty", "DSA"), "unsupported kty"},
		{"symmetric", []byte(`{"kty":"oct","k":"c2VjcmV0"}`), "symmetric"},
		{"k member on an RSA key", with(rsaKey, "k", "c2VjcmV0"), "symmetric"},
		{"RSA private", with(rsaKey, "d", "AQAB"), "private"},
		{"RSA prime", with(rsaKey, "p", "AQAB"), "private"},
		{"RSA crt", with(rsaKey, "qi", "AQAB"), "private"},
		{"EC private", with(ecKey, "d", "AQAB"), "private"},
		{"OKP private", with(edKey, "d", "AQAB"), "private"},
		{"null private member", with(ecKey, "d", json.RawMessage("null")), "private"},
		{"encryption key", with(rsaKey, "use", "enc"), "use"},
		{"key_ops without verify", with(rsaKey, "key_ops", []string{"encrypt"}), "key_ops"},
		{"empty kid", with(rsaKey, "kid", ""), "kid"},
		{"long kid", with(rsaKey, "kid", strings.Repeat("k", 257)), "kid"},
		{"weak RSA", with(encode(t, &keys.weak.PublicKey, "", "")), "1024 bits"},
		{"RSA leading zero", with(rsaKey, "n", b64.EncodeToString(append([]byte{0}, n...))), "leading zero"},
		{"RSA even exponent", with(rsaKey, "e", b64.EncodeToString(big.NewInt(65536).Bytes())), "unusable"},
		{"RSA exponent 1", with(rsaKey, "e", "AQ"), "unusable"},
		{"RSA padded base64", with(rsaKey, "e", "AQAB=="), "malformed"},
		{"RSA no modulus", with(rsaKey, "n", nil), "malformed"},
		{"P-384", with(p384), "unsupported curve"},
		{"EC short x", with(ecKey, "x", b64.EncodeToString(make([]byte, 31))), "malformed"},
		{"EC off the curve", with(ecKey, "y", b64.EncodeToString(make([]byte, 32))), "not a point"},
		{"X25519", with(edKey, "crv", "X25519"), "unsupported curve"},
		{"Ed25519 short", with(edKey, "x", b64.EncodeToString(make([]byte, 31))), "malformed"},
		{"alg of another type", with(ecKey, "alg", "RS256"), "does not suit"},
		{"HMAC alg", with(rsaKey, "alg", "HS256"), "does not suit"},
		{"RS512", with(rsaKey, "alg", "RS512"), "does not suit"},
		{"huge", []byte(`{"kty":"RSA","x5c":["` + strings.Repeat("A", 20<<10) + `"]}`), "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := jwk.Parse(tc.data)
			if err == nil {
				t.Fatalf("accepted: %+v", k)
			}
			if !errors.Is(err, jwk.ErrInvalid) || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("error %q, want ErrInvalid mentioning %q", err, tc.why)
			}
		})
	}
}

func TestParseSetAndFind(t *testing.T) {
	rsaKey := encode(t, &keys.rsa.PublicKey, "", "r")
	ecKey := encode(t, &keys.ec.PublicKey, "", "e")
	edNoKid := encode(t, keys.ed.Public(), "", "")
	raw, _ := json.Marshal(map[string]any{"keys": []any{rsaKey, ecKey, edNoKid, map[string]any{"kty": "oct", "k": "x", "kid": "sym"}}})
	s, skipped, err := jwk.ParseSet(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Keys) != 3 || len(skipped) != 1 || !strings.Contains(skipped[0].Error(), "key 3 (kid sym)") {
		t.Fatalf("keys %d, skipped %v", len(s.Keys), skipped)
	}
	for _, tc := range []struct {
		kid, alg string
		want     string // kid of the key found, "-" for none
		err      error
	}{
		{"r", "RS256", "r", nil},
		{"r", "PS256", "r", nil},
		{"r", "ES256", "-", jwk.ErrNoKey},
		{"e", "ES256", "e", nil},
		{"", "ES256", "e", nil},
		{"", "EdDSA", "", nil},
		{"", "RS256", "r", nil},
		{"nope", "ES256", "-", jwk.ErrNoKey},
		{"", "HS256", "-", jwk.ErrNoKey},
	} {
		k, err := s.Find(tc.kid, tc.alg)
		switch {
		case tc.err != nil && !errors.Is(err, tc.err):
			t.Errorf("Find(%q, %s) = %v, want %v", tc.kid, tc.alg, err, tc.err)
		case tc.err == nil && (err != nil || k.ID != tc.want):
			t.Errorf("Find(%q, %s) = %+v, %v; want kid %q", tc.kid, tc.alg, k, err, tc.want)
		}
	}

	// Two keys for one algorithm and no kid to choose: ambiguous.
	ec2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	raw, _ = json.Marshal(map[string]any{"keys": []any{ecKey, encode(t, &ec2.PublicKey, "", "e")}})
	s, _, _ = jwk.ParseSet(raw)
	if _, err := s.Find("", "ES256"); !errors.Is(err, jwk.ErrAmbiguous) {
		t.Errorf("no kid, two P-256 keys: %v", err)
	}
	if _, err := s.Find("e", "ES256"); !errors.Is(err, jwk.ErrAmbiguous) {
		t.Errorf("a kid shared by two keys: %v", err)
	}

	for _, bad := range []string{`{}`, `{"keys":{}}`, `[]`, `{"keys":[` + strings.Repeat(`{},`, jwk.MaxKeys) + `{}]}`} {
		if _, _, err := jwk.ParseSet([]byte(bad)); !errors.Is(err, jwk.ErrInvalid) {
			t.Errorf("ParseSet(%.40s) = %v", bad, err)
		}
	}
}

func TestFromPublicKeyRefusals(t *testing.T) {
	if _, err := jwk.FromPublicKey(&keys.p384.PublicKey, "", ""); err == nil {
		t.Error("P-384 encoded")
	}
	if _, err := jwk.FromPublicKey(&keys.ec.PublicKey, "RS256", ""); err == nil {
		t.Error("an EC key encoded with RS256")
	}
	if _, err := jwk.FromPublicKey("key", "", ""); err == nil {
		t.Error("a string encoded")
	}
	if jwk.Method("HS256") != nil || jwk.Method("none") != nil || jwk.Method("PS256") == nil {
		t.Error("Method")
	}
}

func FuzzParse(f *testing.F) {
	for _, pub := range []any{&keys.rsa.PublicKey, &keys.ec.PublicKey, keys.ed.Public()} {
		raw, _ := json.Marshal(encode(f, pub, "", "k"))
		f.Add(raw)
	}
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`))
	f.Add([]byte(`{"keys":[{"kty":"oct"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if k, err := jwk.Parse(data); err == nil {
			// A decoded key encodes back to the same thumbprint.
			j, err := jwk.FromPublicKey(k.Public, k.Algorithm, k.ID)
			if err != nil || j.Thumbprint() != k.Thumbprint {
				t.Fatalf("round trip: %v, %s != %s", err, j.Thumbprint(), k.Thumbprint)
			}
		} else if !errors.Is(err, jwk.ErrInvalid) {
			t.Fatalf("error not ErrInvalid: %v", err)
		}
		if s, _, err := jwk.ParseSet(data); err == nil {
			for _, alg := range jwk.Algorithms {
				s.Find("", alg)
			}
		}
	})
}
