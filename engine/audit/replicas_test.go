package audit_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/cluster/natstest"
	"github.com/scopeline/scopeline/engine/settings"
)

// A stream that exists with another replica count is an error naming it,
// and stays as it is: the publisher never moves a stream's copies.
func TestStreamReplicasAreCheckedNotChanged(t *testing.T) {
	c := natstest.Start(t, 1)
	js := c.JetStream(t)
	ctx := context.Background()
	cfg := settings.DefaultAudit()
	cfg.NATS = settings.NATS{URLs: []string{c.URL()}}
	// The stream as another configuration made it: one copy.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: cfg.Stream.Name, Subjects: []string{cfg.SubjectPrefix + ".>"}, Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	cfg.Stream.Replicas = 3
	p, err := audit.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	err = p.EnsureStream(ctx)
	if !errors.Is(err, audit.ErrStreamReplicas) {
		t.Fatalf("EnsureStream: %v, want ErrStreamReplicas", err)
	}
	s, err := js.Stream(ctx, cfg.Stream.Name)
	if err != nil || s.CachedInfo().Config.Replicas != 1 {
		t.Fatalf("the stream changed: %v", err)
	}
	if err := p.Ready(ctx); err == nil {
		t.Error("ready with a stream of the wrong replica count")
	}
}

// A server whose max_payload is below the largest event is refused with
// a reason that names the setting: it would refuse such an event for
// ever, and in buffered mode hold back every event behind it.
func TestServerMaxPayloadIsChecked(t *testing.T) {
	c := natstest.Start(t, 1, func(o *server.Options) { o.MaxPayload = 64 << 10 })
	ctx := context.Background()
	cfg := settings.DefaultAudit()
	cfg.NATS = settings.NATS{URLs: []string{c.URL()}}
	p, err := audit.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	err = p.EnsureStream(ctx)
	if !errors.Is(err, audit.ErrMaxPayload) || !strings.Contains(err.Error(), "at most 65536 bytes (max_payload)") {
		t.Fatalf("EnsureStream: %v, want ErrMaxPayload", err)
	}
	if err := p.Ready(ctx); err == nil {
		t.Error("ready on a server that cannot take every event")
	}
}
