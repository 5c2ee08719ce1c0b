package tenantstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/cluster"
	"github.com/scopeline/scopeline/engine/cluster/natstest"
	"github.com/scopeline/scopeline/engine/grant"
	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/engine/tenantstore"
	"github.com/scopeline/scopeline/engine/throttle"
	examplehooks "github.com/scopeline/scopeline/examples/hooks"
	"github.com/scopeline/scopeline/hooks"
)

// replica is an issuer following the store, as `scopeline serve` does
// with a tenant in the cluster.
type replica struct {
	name     string
	issuer   *engine.Issuer
	follower *tenantstore.Follower

	mu       sync.Mutex
	outcomes []tenantstore.Outcome
}

func startReplica(t *testing.T, name string, js jetstream.JetStream, opts ...tenantstore.Option) *replica {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	// As serve does: a cluster just formed may not answer at once, and a
	// busy machine makes that longer.
	var store *tenantstore.Store
	openCtx, opened := context.WithTimeout(ctx, natstest.Deadline)
	err := cluster.Retry(openCtx, slog.New(slog.DiscardHandler), "the tenant store", func(ctx context.Context) (err error) {
		store, err = tenantstore.Open(ctx, js, opts...)
		return err
	})
	opened()
	if err != nil {
		t.Fatal(err)
	}
	host, err := hooks.New(ctx, hooks.WithCacheDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	keyStore := keys.NewStore(t.TempDir())
	r := &replica{name: name}
	r.follower = store.Follow(tenantstore.FollowConfig{Dir: t.TempDir(), Retry: 20 * time.Millisecond})
	apply := func(ctx context.Context, _ tenantstore.Revision, tn *tenant.Tenant) error {
		ks, err := keyStore.Ensure(tn.Algorithms(), time.Now())
		if err != nil {
			return err
		}
		return r.issuer.Reload(ctx, tn, ks)
	}
	report := func(_ context.Context, o tenantstore.Outcome) {
		r.mu.Lock()
		r.outcomes = append(r.outcomes, o)
		r.mu.Unlock()
	}
	_, tn, err := r.follower.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keyStore.Ensure(tn.Algorithms(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	clients := engine.NewClientAuthenticator(throttle.Local, throttle.DefaultNetworks, time.Now, nil)
	r.issuer, err = engine.New(ctx, tn, ks, engine.WithHookLoader(host), engine.WithGrants(&grant.ClientCredentials{Clients: clients}))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		// As serve does: a follow that fails (its watch could not be set
		// up in time) starts again until the replica stops.
		for {
			err := r.follower.Run(ctx, apply, report)
			if ctx.Err() != nil {
				done <- err
				return
			}
			t.Logf("%s: following again after: %v", name, err)
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("%s: follower: %v", name, err)
		}
		r.issuer.Close()
		host.Close(context.Background())
	})
	return r
}

// token asks r for a token for client, and returns its tier claim ("" for
// none).
func (r *replica) token(client string) (string, error) {
	resp, err := r.issuer.Token(context.Background(), &engine.TokenRequest{
		GrantType: engine.GrantClientCredentials, ClientID: client, ClientSecret: "secret",
		AuthMethod: engine.AuthSecretBasic, Audience: "https://api.example.com", Scope: "read:users", ScopeSet: true,
	})
	if err != nil {
		return "", err
	}
	return string(resp.Transaction.Claims["tier"]), nil
}

func (r *replica) failures() []tenantstore.Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []tenantstore.Outcome
	for _, o := range r.outcomes {
		if o.Err != nil {
			out = append(out, o)
		}
	}
	return out
}

// waitAll waits until cond holds on every replica, and returns how long
// that took. The deadline is generous; the time is for the log.
func waitAll(t *testing.T, what string, rs []*replica, cond func(*replica) bool) time.Duration {
	t.Helper()
	start := time.Now()
	for _, r := range rs {
		if err := natstest.Poll(context.Background(), natstest.Deadline, func() bool { return cond(r) }); err != nil {
			t.Fatalf("%s: %s: %v", r.name, what, err)
		}
	}
	took := time.Since(start)
	t.Logf("%s: on every replica after %s", what, took.Round(time.Millisecond))
	return took
}

// TestClusterFollowsPushes: three NATS servers, three replicas each on
// its own server; what is pushed reaches all of them, a rollback undoes
// it, an invalid or stale push changes nothing, a hook module pushed to
// the store runs everywhere, and a replica that cannot fetch a module
// keeps its tenant until it can.
func TestClusterFollowsPushes(t *testing.T) {
	ctx := context.Background()
	c := natstest.Start(t, 3)
	admin := openStore(t, c)
	const n = 1000
	r1, err := admin.PushFile(ctx, tenantFile(n), "tenant.yaml", "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	var rs []*replica
	for i := range 3 {
		js, err := jetstream.New(c.ConnectInProcess(t, i))
		if err != nil {
			t.Fatal(err)
		}
		opts := []tenantstore.Option{tenantstore.WithReplicas(3)}
		if i == 2 {
			// This replica's module store is another, empty one: it cannot
			// fetch what the others can.
			opts = append(opts, tenantstore.WithModuleStore("modules_elsewhere"))
		}
		rs = append(rs, startReplica(t, fmt.Sprintf("replica %d", i), js, opts...))
	}
	last := fmt.Sprintf("client-%d", n-1)
	for _, r := range rs {
		if _, err := r.token(last); !errors.Is(err, engine.ErrAccessDenied) {
			t.Fatalf("%s: before the push: %v", r.name, err)
		}
	}

	// A new grant reaches every replica.
	r2, err := admin.PushFile(ctx, tenantFile(n, grantLast(n)), "tenant.yaml", "bob", r1.Number)
	if err != nil {
		t.Fatal(err)
	}
	waitAll(t, "a pushed grant", rs, func(r *replica) bool { _, err := r.token(last); return err == nil })
	for _, r := range rs {
		r.mu.Lock()
		for _, o := range r.outcomes {
			t.Logf("%s: revision %d built and applied in %s", r.name, o.Revision.Number, o.Took)
		}
		r.mu.Unlock()
	}
	for _, r := range rs {
		if got := r.follower.Serving(); got.Number != r2.Number || got.By != "bob" {
			t.Errorf("%s serves revision %d by %q", r.name, got.Number, got.By)
		}
	}

	// A rollback undoes it.
	r3, err := admin.Rollback(ctx, r1.Number, "carol", r2.Number)
	if err != nil {
		t.Fatal(err)
	}
	waitAll(t, "a rollback", rs, func(r *replica) bool { return r.follower.Serving().Number == r3.Number })
	for _, r := range rs {
		if _, err := r.token(last); !errors.Is(err, engine.ErrAccessDenied) {
			t.Errorf("%s: after the rollback: %v", r.name, err)
		}
	}

	// An invalid push and a stale push change nothing.
	if _, err := admin.PushFile(ctx, tenantFile(n, "  - {client: nobody, api: https://api.example.com}\n"), "tenant.yaml", "mallory", r3.Number); err == nil {
		t.Fatal("an invalid tenant was pushed")
	}
	if _, err := admin.PushFile(ctx, tenantFile(n, grantLast(n)), "tenant.yaml", "mallory", r2.Number); !errors.Is(err, tenantstore.ErrConflict) {
		t.Fatalf("a stale push: %v", err)
	}
	if head, err := admin.Head(ctx); err != nil || head.Number != r3.Number {
		t.Fatalf("head %d (%v) after refused pushes, want %d", head.Number, err, r3.Number)
	}

	// A hook module pushed to the store, and a tenant running it.
	if _, err := admin.PushModule(ctx, examplehooks.TierGateWAT, "tier-gate"); err != nil {
		t.Fatal(err)
	}
	withHook := tenantFile(n, "pipelines:\n  credentials-exchange:\n    hooks:\n      - {name: tier-gate, module: \"store:tier-gate\"}\n")
	r4, err := admin.PushFile(ctx, withHook, "tenant.yaml", "dave", r3.Number)
	if err != nil {
		t.Fatal(err)
	}
	waitAll(t, "a pushed hook", rs[:2], func(r *replica) bool { tier, err := r.token("client-0"); return err == nil && tier == `"gold"` })
	// The replica that cannot fetch the module keeps serving r3, says so,
	// and reported it.
	waitAll(t, "a refused revision", rs[2:], func(r *replica) bool { return len(r.failures()) > 0 })
	if got := rs[2].follower.Serving().Number; got != r3.Number {
		t.Fatalf("replica 2 serves %d, want %d", got, r3.Number)
	}
	if err := rs[2].follower.Ready(ctx); err == nil {
		t.Error("replica 2 is ready without saying it serves an old revision")
	} else {
		t.Logf("replica 2: %v", err)
	}
	if tier, err := rs[2].token("client-0"); err != nil || tier != "" {
		t.Errorf("replica 2 ran a hook it has not got: %q %v", tier, err)
	}
	// Once its module store has the module, its retries succeed.
	elsewhere, err := tenantstore.Open(ctx, c.JetStream(t), tenantstore.WithReplicas(3), tenantstore.WithModuleStore("modules_elsewhere"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := elsewhere.PushModule(ctx, examplehooks.TierGateWAT, ""); err != nil {
		t.Fatal(err)
	}
	waitAll(t, "a retried revision", rs[2:], func(r *replica) bool { return r.follower.Serving().Number == r4.Number })
	if err := rs[2].follower.Ready(ctx); err != nil {
		t.Errorf("replica 2 after its retry: %v", err)
	}
	if tier, err := rs[2].token("client-0"); err != nil || tier != `"gold"` {
		t.Errorf("replica 2 after its retry: %q %v", tier, err)
	}
}
