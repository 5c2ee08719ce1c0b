package cluster

import (
	"fmt"
	"os"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/scopeline/scopeline/engine/settings"
)

// ReaderUser is who connections without credentials are on the embedded
// server (scopeline audit tail, the nats CLI on the loopback port): they
// may read the audit stream and manage consumers on it, and nothing else,
// not publish events, not delete or change the stream, not read any
// bucket. The issuer itself connects in process with an nkey made at
// start and kept in memory; management commands on the same machine use
// the admin key the server writes to its data directory.
const ReaderUser = "audit-reader"

// ClientOptions returns the URL and connection options of a client of the
// NATS system n names: for an external server its URLs (comma-separated),
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

// AdminOptions returns the URL and options of a management client: those
// of ClientOptions for an external system; for the embedded server, its
// loopback listener signed in with the admin key in adminKeyFile, which
// the running server wrote.
func AdminOptions(n settings.NATS, adminKeyFile string) (string, []nats.Option, error) {
	url, opts := ClientOptions(n)
	if n.External() {
		return url, opts, nil
	}
	if url == "" {
		return "", nil, fmt.Errorf("nats: the embedded server does not listen (nats.embedded.listen is off): nothing to connect to")
	}
	if fi, err := os.Stat(adminKeyFile); err != nil {
		return "", nil, fmt.Errorf("nats: the admin key of the embedded server: %w (is `scopeline serve` running with this --data-dir?)", err)
	} else if fi.Mode().Perm()&0o077 != 0 {
		return "", nil, fmt.Errorf("nats: %s is readable or writable by others (mode %v): make it 0600", adminKeyFile, fi.Mode().Perm())
	}
	opt, err := nats.NkeyOptionFromSeed(adminKeyFile)
	if err != nil {
		return "", nil, fmt.Errorf("nats: admin key: %w", err)
	}
	return url, append(opts, opt), nil
}

// readerPermissions let a reader consume the audit stream: stream and
// consumer information, direct gets, its own consumers (create, pull,
// acknowledge, delete), and subscriptions other than to the buckets'
// subjects. Publishing events, changing, purging or deleting the stream,
// and reading the buckets (whose writes a subscription to $KV.> would
// see) are refused.
func readerPermissions(stream string) *server.Permissions {
	api := "$JS.API."
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{
			api + "INFO",
			api + "STREAM.NAMES",
			api + "STREAM.LIST",
			api + "STREAM.INFO." + stream,
			api + "STREAM.MSG.GET." + stream,
			api + "DIRECT.GET." + stream,
			api + "DIRECT.GET." + stream + ".>",
			api + "CONSUMER.CREATE." + stream,
			api + "CONSUMER.CREATE." + stream + ".>",
			api + "CONSUMER.DURABLE.CREATE." + stream + ".>",
			api + "CONSUMER.INFO." + stream + ".>",
			api + "CONSUMER.NAMES." + stream,
			api + "CONSUMER.LIST." + stream,
			api + "CONSUMER.DELETE." + stream + ".>",
			api + "CONSUMER.MSG.NEXT." + stream + ".>",
			"$JS.ACK." + stream + ".>",
			"$JS.FC." + stream + ".>",
		}},
		Subscribe: &server.SubjectPermission{Allow: []string{">"}, Deny: []string{"$KV.>", "$O.>"}},
	}
}
