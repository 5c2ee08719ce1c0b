package engine

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/scopeline/scopeline/engine/internal/throttle"
)

// Throttle limits attempts per key with a token bucket per key: Burst
// attempts in a row, then one more every Refill (see ThrottleRule). The
// issuer keys its throttles on resolved users, client ids and network
// prefixes, never on raw input. The default keeps the buckets in the
// process; a backend shared by several replicas behind one URL implements
// the same three methods (see WithThrottleBackend). A backend that cannot
// answer decides itself whether to let attempts through.
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

// ThrottleRule describes one of the issuer's throttles to the backend that
// makes it.
type ThrottleRule struct {
	// Name says what the throttle counts, for a backend's key space:
	// login-user, login-network, authorize-network, pending-user,
	// client-auth, client-auth-network, client-auth-pair,
	// client-auth-known.
	Name   string
	Burst  int
	Refill time.Duration
}

// The issuer's throttles. Sign-in failures are limited per user (per
// normalized login name for unknown ones, so the limit does not tell) and
// per client network; the authorization requests anybody can start are
// limited per network; consent-pending requests, the only ones stored
// before a code, per signed-in user; failed client authentication per
// client id and per network (see Issuer.authenticate).
var (
	ruleLoginUser        = ThrottleRule{"login-user", 5, time.Minute}
	ruleLoginNetwork     = ThrottleRule{"login-network", 20, 10 * time.Second}
	ruleAuthorizeNetwork = ThrottleRule{"authorize-network", 100, 200 * time.Millisecond}
	rulePendingUser      = ThrottleRule{"pending-user", 20, AuthRequestLifetime / 20}
	ruleClientAuth       = ThrottleRule{"client-auth", 20, 3 * time.Second}
	ruleClientNetwork    = ThrottleRule{"client-auth-network", 20, 6 * time.Second}
	ruleClientPair       = ThrottleRule{"client-auth-pair", 100, time.Second}
	// client-auth-known remembers, for a day, the networks a client
	// authenticated from: a one-attempt bucket charged at each success is
	// empty (Delay > 0) until a day after the last one.
	ruleClientKnown = ThrottleRule{"client-auth-known", 1, 24 * time.Hour}
)

// throttleMaxKeys bounds each in-process throttle's table.
const throttleMaxKeys = 100_000

// WithThrottleBackend makes the issuer's throttles with newThrottle instead
// of in the process: for several replicas to share their counts.
func WithThrottleBackend(newThrottle func(ThrottleRule) Throttle) Option {
	return func(i *Issuer) { i.newThrottle = newThrottle }
}

// The default network prefixes throttles count clients under.
const (
	DefaultIPv4Prefix = 24
	DefaultIPv6Prefix = 64
)

// WithNetworkPrefixes sets the prefix lengths under which throttles count
// client addresses together (default /24 for IPv4, /64 for IPv6): one
// actor usually holds a whole IPv6 /64 and often many addresses of an IPv4
// /24, so limits per exact address are easily stretched.
func WithNetworkPrefixes(ipv4, ipv6 int) Option {
	return func(i *Issuer) { i.prefix4, i.prefix6 = ipv4, ipv6 }
}

// ValidateNetworkPrefixes checks prefix lengths for WithNetworkPrefixes:
// IPv4 /8 to /32, IPv6 /16 to /128.
func ValidateNetworkPrefixes(v4, v6 int) error {
	if v4 < 8 || v4 > 32 {
		return fmt.Errorf("engine: IPv4 throttle prefix /%d: want 8 to 32", v4)
	}
	if v6 < 16 || v6 > 128 {
		return fmt.Errorf("engine: IPv6 throttle prefix /%d: want 16 to 128", v6)
	}
	return nil
}

// networkKey is the throttle key of a client address: its network prefix.
// An address that does not parse counts as itself; an empty one (an
// in-process caller) is "".
func (i *Issuer) networkKey(ip string) string {
	if ip == "" {
		return ""
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "addr:" + truncate(ip, 64)
	}
	a = a.Unmap().WithZone("")
	bits := i.prefix6
	if a.Is4() {
		bits = i.prefix4
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return "addr:" + a.String()
	}
	return p.String()
}

// localThrottle is the in-process Throttle.
type localThrottle struct{ l *throttle.Limiter }

func newLocalThrottle(r ThrottleRule) Throttle {
	return localThrottle{throttle.New(r.Burst, r.Refill, throttleMaxKeys)}
}

func (t localThrottle) Delay(_ context.Context, key string, now time.Time) time.Duration {
	return t.l.Delay(key, now)
}

func (t localThrottle) Fail(_ context.Context, key string, now time.Time) { t.l.Fail(key, now) }

func (t localThrottle) Take(_ context.Context, key string, now time.Time) time.Duration {
	return t.l.Take(key, now)
}

// throttles are the issuer's throttles, made once.
type throttles struct {
	loginUser, loginNetwork, authorizeNetwork, pendingUser Throttle
	clientAuth, clientNetwork, clientPair, clientKnown     Throttle
}

func newThrottles(mk func(ThrottleRule) Throttle) *throttles {
	return &throttles{
		loginUser: mk(ruleLoginUser), loginNetwork: mk(ruleLoginNetwork),
		authorizeNetwork: mk(ruleAuthorizeNetwork), pendingUser: mk(rulePendingUser),
		clientAuth: mk(ruleClientAuth), clientNetwork: mk(ruleClientNetwork),
		clientPair: mk(ruleClientPair), clientKnown: mk(ruleClientKnown),
	}
}

var _ Throttle = localThrottle{}
