package audit_test

import (
	"testing"

	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/settings"
)

func TestClientOptions(t *testing.T) {
	for _, tt := range []struct {
		name  string
		nats  settings.NATS
		url   string
		nopts int
	}{
		{"embedded", settings.DefaultAudit().NATS, "nats://" + settings.DefaultEmbeddedListen, 0},
		{"embedded, not listening", settings.NATS{}, "", 0},
		{"external", settings.NATS{URLs: []string{"nats://a:4222", "nats://b:4222"}}, "nats://a:4222,nats://b:4222", 0},
		{"external with credentials and TLS", settings.NATS{
			URLs:        []string{"tls://a:4222"},
			Credentials: "audit.creds",
			TLS:         settings.NATSTLS{CA: "ca.pem", Cert: "client.pem", Key: "client-key.pem"},
		}, "tls://a:4222", 3},
	} {
		url, opts := audit.ClientOptions(tt.nats)
		if url != tt.url || len(opts) != tt.nopts {
			t.Errorf("%s: ClientOptions = %q with %d options, want %q with %d", tt.name, url, len(opts), tt.url, tt.nopts)
		}
	}
}
