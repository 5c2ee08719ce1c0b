package audit

import (
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/scopeline/scopeline/engine/settings"
)

// ClientOptions returns the URL and connection options of a client of the
// NATS server n names: for an external server its URLs (comma-separated),
// credentials file and TLS files; for the embedded server its loopback
// listener, with no options ("" when it does not listen).
func ClientOptions(n settings.NATS) (url string, opts []nats.Option) {
	if !n.External() {
		if n.Embedded.Listen == "" {
			return "", nil
		}
		return "nats://" + n.Embedded.Listen, nil
	}
	if c := n.Credentials; c != "" {
		opts = append(opts, nats.UserCredentials(c))
	}
	if t := n.TLS; t.CA != "" {
		opts = append(opts, nats.RootCAs(t.CA))
	}
	if t := n.TLS; t.Cert != "" {
		opts = append(opts, nats.ClientCert(t.Cert, t.Key))
	}
	return strings.Join(n.URLs, ","), opts
}
