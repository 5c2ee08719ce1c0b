package audit_test

import (
	"testing"

	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/tenant"
)

func TestClientOptions(t *testing.T) {
	for _, tt := range []struct {
		name  string
		nats  tenant.NATS
		url   string
		nopts int
	}{
		{"embedded", tenant.DefaultAudit().NATS, "nats://" + tenant.DefaultEmbeddedListen, 0},
		{"embedded, not listening", tenant.NATS{}, "", 0},
		{"external", tenant.NATS{URLs: []string{"nats://a:4222", "nats://b:4222"}}, "nats://a:4222,nats://b:4222", 0},
		{"external with credentials and TLS", tenant.NATS{
			URLs:        []string{"tls://a:4222"},
			Credentials: "audit.creds",
			TLS:         tenant.NATSTLS{CA: "ca.pem", Cert: "client.pem", Key: "client-key.pem"},
		}, "tls://a:4222", 3},
	} {
		url, opts := audit.ClientOptions(tt.nats)
		if url != tt.url || len(opts) != tt.nopts {
			t.Errorf("%s: ClientOptions = %q with %d options, want %q with %d", tt.name, url, len(opts), tt.url, tt.nopts)
		}
	}
}
