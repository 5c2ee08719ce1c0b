package cluster_test

import (
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/scopeline/scopeline/engine/cluster"
)

// An embedded server whose address is in use fails the start at once,
// with the server's reason and what to change, rather than after the
// start's timeout.
func TestStartOnAnAddressInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := cluster.Config{StoreDir: t.TempDir(), ReaderStream: "audit", Log: slog.New(slog.DiscardHandler)}
	cfg.NATS.Embedded.Listen = l.Addr().String()
	n, err := cluster.Start(t.Context(), cfg)
	if err == nil {
		n.Close()
		t.Fatal("started on an address in use")
	}
	t.Log(err)
	if !errors.Is(err, cluster.ErrFatal) {
		t.Fatalf("got %v, want an ErrFatal", err)
	}
	for _, want := range []string{"address already in use", "set nats.embedded.listen"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
}
