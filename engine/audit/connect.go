package audit

import (
	"github.com/nats-io/nats.go"

	"github.com/scopeline/scopeline/engine/cluster"
	"github.com/scopeline/scopeline/engine/settings"
)

// ClientOptions returns the URL and connection options of a client of the
// NATS server n names (see cluster.ClientOptions).
func ClientOptions(n settings.NATS) (url string, opts []nats.Option) {
	return cluster.ClientOptions(n)
}
