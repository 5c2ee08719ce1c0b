package engine_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/scopeline/scopeline/engine"
)

// tokenResponses are answers to encode: every field set, the optional
// ones left out, and strings encoding/json escapes.
var tokenResponses = []engine.TokenResponse{
	{AccessToken: "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJjIn0.c2ln", TokenType: "Bearer", ExpiresIn: 3600, Scope: "read:users write:users"},
	{AccessToken: "a", TokenType: "Bearer", ExpiresIn: 0},
	{AccessToken: "a", TokenType: "Bearer", ExpiresIn: -5, Scope: "s", RefreshToken: "r", IDToken: "i"},
	{AccessToken: `<&>"\` + "\x00\x1f\u2028\u2029é\xff", TokenType: "DPoP", ExpiresIn: 1 << 40, Scope: "a<b", RefreshToken: "\t", IDToken: "日本"},
}

// TestTokenResponseJSON checks that the token response's own encoder
// writes exactly what encoding/json writes, for every field: a field added
// to TokenResponse fails here until AppendJSON writes it.
func TestTokenResponseJSON(t *testing.T) {
	typ := reflect.TypeFor[engine.TokenResponse]()
	all := engine.TokenResponse{}
	v := reflect.ValueOf(&all).Elem()
	for i := range typ.NumField() {
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString(typ.Field(i).Name + "<x>")
		case reflect.Int64:
			f.SetInt(int64(i + 1))
		case reflect.Pointer:
			if typ.Field(i).Tag.Get("json") != "-" {
				t.Fatalf("field %s is encoded: AppendJSON must write it", typ.Field(i).Name)
			}
			f.Set(reflect.New(f.Type().Elem()))
		default:
			t.Fatalf("field %s (%s): AppendJSON must write it", typ.Field(i).Name, f.Kind())
		}
	}
	for _, r := range append(tokenResponses, all) {
		want, err := json.Marshal(&r)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.AppendJSON([]byte("prefix")); !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("AppendJSON(%+v)\n got %s\nwant prefix%s", r, got, want)
		}
	}
}

func FuzzTokenResponseJSON(f *testing.F) {
	for _, r := range tokenResponses {
		f.Add(r.AccessToken, r.TokenType, r.ExpiresIn, r.Scope, r.RefreshToken, r.IDToken)
	}
	f.Fuzz(func(t *testing.T, access, typ string, expires int64, scope, refresh, id string) {
		r := engine.TokenResponse{AccessToken: access, TokenType: typ, ExpiresIn: expires, Scope: scope, RefreshToken: refresh, IDToken: id}
		want, _ := json.Marshal(&r)
		if got := r.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Errorf("AppendJSON\n got %q\nwant %q", got, want)
		}
	})
}

// BenchmarkTokenResponseJSON encodes a typical ES256 token response by
// hand (what the token endpoint does) and with encoding/json (what it
// did).
func BenchmarkTokenResponseJSON(b *testing.B) {
	r := &engine.TokenResponse{AccessToken: strings.Repeat("eyJhbGciOiJFUzI1NiIsImtpZCI6IjEifQ", 12), TokenType: "Bearer", ExpiresIn: 3600, Scope: "read:users write:users"}
	b.Run("by-hand", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 2<<10)
		for b.Loop() {
			buf = r.AppendJSON(buf[:0])
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
