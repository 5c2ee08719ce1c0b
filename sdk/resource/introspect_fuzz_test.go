package resource

import (
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"
)

// FuzzIntrospectionAnswer feeds arbitrary introspection answers to the
// parser: it must never panic, and accept only an active answer from the
// issuer, for the API, unexpired.
func FuzzIntrospectionAnswer(f *testing.F) {
	const iss, aud = "https://auth.example.com/", "https://api.example.com"
	now := time.Unix(1_800_000_000, 0)
	f.Add([]byte(`{"active":true,"iss":"https://auth.example.com/","aud":"https://api.example.com","exp":1800003600,"sub":"a","scope":"read"}`))
	f.Add([]byte(`{"active":true,"iss":"https://auth.example.com/","aud":["x","https://api.example.com"],"exp":1800003600,"cnf":{"jkt":"abc"}}`))
	f.Add([]byte(`{"active":false}`))
	f.Add([]byte(`{"active":true,"Scope":"x","scope":"y"}`))
	f.Add([]byte(`[]`))
	o := &options{algs: []string{"ES256"}, client: http.DefaultClient, now: func() time.Time { return now }, log: slog.New(slog.DiscardHandler), leeway: DefaultLeeway}
	in, err := newIntrospector(Introspection{ClientID: "c", ClientSecret: "s", Endpoint: "https://auth.example.com/introspect"}, iss, aud, o, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := in.parse(&answerBody{raw: raw}, now)
		if err != nil {
			if asError(err).Status != 401 && asError(err).Status != 503 {
				t.Fatalf("error %v", err)
			}
			return
		}
		if c.Issuer != iss || !slices.Contains(c.Audience, aud) || !now.Before(c.ExpiresAt.Add(DefaultLeeway)) {
			t.Fatalf("accepted %+v", c)
		}
	})
}
