package clientauth_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/scopeline/scopeline/engine/clientauth"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/sdk/resource/replay"
)

// BenchmarkAuthenticate compares what authenticating a client costs at
// the token endpoint, per method: client_secret_basic (a SHA-256 digest
// and a constant-time compare), client_secret_jwt (an HS256 assertion)
// and private_key_jwt per algorithm, each assertion checked in full, its
// jti claimed in the in-memory replay cache. Making the assertions is
// outside the timing.
func BenchmarkAuthenticate(b *testing.B) {
	f := setup(b, "")
	ctx := context.Background()
	b.Run("client_secret_basic", func(b *testing.B) {
		c, _ := f.t.Client("basic")
		b.ReportAllocs()
		for b.Loop() {
			if !c.VerifySecret("demo-m2m-secret") {
				b.Fatal("refused")
			}
		}
	})
	ps := &signer{alg: "PS256", key: rsKey.key, kid: "rs"}
	for _, m := range []struct {
		name   string
		s      *signer
		client string
	}{
		{"client_secret_jwt/HS256", nil, "hmac"},
		{"private_key_jwt/ES256", esKey, "key-es"},
		{"private_key_jwt/EdDSA", edKey, "key-ed"},
		{"private_key_jwt/RS256", rsKey, "key-rs"},
		{"private_key_jwt/PS256", ps, "key-rs"},
	} {
		b.Run(m.name, func(b *testing.B) {
			const n = 4096
			as := make([]string, n)
			for i := range as {
				as[i] = f.assertion(b, m.s, m.client, nil, map[string]any{"jti": fmt.Sprint(m.name, i)})
			}
			fresh := func() *clientauth.Verifier {
				v, err := clientauth.New(clientauth.Config{Issuer: issuer, Replay: replay.NewMemory(1<<20, f.clk.Now), Keys: f.remote, Now: f.clk.Now})
				if err != nil {
					b.Fatal(err)
				}
				return v
			}
			v := fresh()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i == n {
					b.StopTimer()
					v, i = fresh(), 0
					b.StartTimer()
				}
				res, err := v.Verify(ctx, f.t, clientauth.Request{AssertionType: clientauth.AssertionType, Assertion: as[i]})
				if err != nil || res.Method != map[bool]string{true: tenant.AuthClientSecretJWT, false: tenant.AuthPrivateKeyJWT}[m.s == nil] {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
