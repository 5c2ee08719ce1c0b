package resource

import (
	"encoding/json"
	"testing"
	"time"
)

// BenchmarkClaimsDecode measures what the strict decoding of a typical
// claims set (tokenClaims.UnmarshalJSON, through encoding/json as
// golang-jwt calls it) costs next to encoding/json's reflection alone
// (what golang-jwt did before), in turn in every iteration so that both
// share the machine's load; it reports the ratio and the difference.
func BenchmarkClaimsDecode(b *testing.B) {
	payload := []byte(`{"iss":"https://auth.example.com/","sub":"alice","aud":"https://api.example.com","client_id":"demo-spa","iat":1795435200,"exp":1795438800,"jti":"pV3cS0x8QnK9m2Lr4TzY1w","scope":"openid read:users write:users","permissions":["read:users","write:users"],"tier":"gold"}`)
	type plain tokenClaims
	var strict, reflection time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		var tc tokenClaims
		if err := json.Unmarshal(payload, &tc); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		var pc plain
		if err := json.Unmarshal(payload, &pc); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		strict, reflection = strict+t1.Sub(t0), reflection+t2.Sub(t1)
	}
	b.ReportMetric(float64(strict)/float64(reflection), "strict/reflection")
	b.ReportMetric(float64(strict-reflection)/float64(b.N)/1e3, "extra-µs")
}
