// Package throttle limits attempts per key (a user, a client id, a
// network) with a token bucket per key. Throttle is the interface the
// issuer's parts use; Local keeps the buckets in the process, in bounded
// memory, and a backend shared by several replicas behind one URL
// implements the same three methods (see Backend). Networks turns client
// addresses into the network keys throttles count them under
// (docs/design.md, "Throttles count networks, and known networks apart").
package throttle

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/scopeline/scopeline/engine/internal/text"
)

// Throttle limits attempts per key: Burst attempts in a row, then one more
// every Refill (see Rule). The issuer keys its throttles on resolved
// users, client ids and network prefixes, never on raw input. A backend
// that cannot answer decides itself whether to let attempts through.
type Throttle interface {
	// Delay returns how long key must wait before its next attempt; 0
	// means now. It uses nothing up.
	Delay(ctx context.Context, key string, now time.Time) time.Duration
	// Fail uses one attempt of key up (a failed sign-in, say).
	Fail(ctx context.Context, key string, now time.Time)
	// Take uses one attempt of key up if it has one, else returns how
	// long to wait and uses nothing.
	Take(ctx context.Context, key string, now time.Time) time.Duration
}

// Rule describes one of the issuer's throttles to the backend that makes
// it.
type Rule struct {
	// Name says what the throttle counts, for a backend's key space:
	// login-user, login-network, authorize-network, pending-user,
	// client-auth, client-auth-network, client-auth-pair,
	// client-auth-known, par-client.
	Name   string
	Burst  int
	Refill time.Duration
}

// Backend makes the throttle of a rule. Local is the default.
type Backend func(Rule) Throttle

// MaxKeys bounds each in-process throttle's table.
const MaxKeys = 100_000

// Local makes an in-process throttle for r, of at most MaxKeys keys.
func Local(r Rule) Throttle { return local{NewLimiter(r.Burst, r.Refill, MaxKeys)} }

// local is the in-process Throttle.
type local struct{ l *Limiter }

func (t local) Delay(_ context.Context, key string, now time.Time) time.Duration {
	return t.l.Delay(key, now)
}

func (t local) Fail(_ context.Context, key string, now time.Time) { t.l.Fail(key, now) }

func (t local) Take(_ context.Context, key string, now time.Time) time.Duration {
	return t.l.Take(key, now)
}

// Networks are the prefix lengths under which throttles count client
// addresses together: one actor usually holds a whole IPv6 /64 and often
// many addresses of an IPv4 /24, so limits per exact address are easily
// stretched.
type Networks struct{ IPv4, IPv6 int }

// DefaultNetworks counts IPv4 clients per /24 and IPv6 clients per /64.
var DefaultNetworks = Networks{IPv4: 24, IPv6: 64}

// Validate checks the prefix lengths: IPv4 /8 to /32, IPv6 /16 to /128.
func (n Networks) Validate() error {
	if n.IPv4 < 8 || n.IPv4 > 32 {
		return fmt.Errorf("throttle: IPv4 prefix /%d: want 8 to 32", n.IPv4)
	}
	if n.IPv6 < 16 || n.IPv6 > 128 {
		return fmt.Errorf("throttle: IPv6 prefix /%d: want 16 to 128", n.IPv6)
	}
	return nil
}

// Key is the throttle key of a client address: its network prefix. An
// address that does not parse counts as itself; an empty one (an
// in-process caller) is "".
func (n Networks) Key(ip string) string {
	if ip == "" {
		return ""
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "addr:" + text.Truncate(ip, 64)
	}
	a = a.Unmap().WithZone("")
	bits := n.IPv6
	if a.Is4() {
		bits = n.IPv4
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return "addr:" + a.String()
	}
	return p.String()
}

var _ Throttle = local{}
