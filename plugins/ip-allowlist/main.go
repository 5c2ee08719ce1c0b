// Command ip-allowlist is the ip-allowlist plugin: it denies requests
// whose IP address is outside configured networks, for every client or per
// client.
//
// Config (docs/hooks.md):
//
//	cidrs: [10.0.0.0/8, "2001:db8::/32"]   # allowed for every client
//	clients:                                # allowed for these clients,
//	  partner-sync: [198.51.100.0/24]       # instead of cidrs
//	allow_unknown: false                    # a request without an IP is denied
//
// The IP is the connection's, or the X-Forwarded-For one when the issuer
// trusts the proxy (serve --trusted-proxy). IPv4-mapped IPv6 addresses are
// compared as IPv4.
//
// Build: see plugins/build.sh.
package main

import (
	"errors"
	"net/netip"
	"strconv"

	"github.com/scopeline/scopeline/sdk/hook"
)

type settings struct {
	all          []netip.Prefix
	clients      map[string][]netip.Prefix
	allowUnknown bool
}

var conf settings

func init() {
	hook.Setup(configure)
	hook.Handle(checkIP)
}

func prefixes(list []string, at string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, errors.New("config: " + at + ": " + strconv.Quote(s) + " is not a CIDR or an address")
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func configure(raw []byte) error {
	var c struct {
		CIDRs        []string            `json:"cidrs"`
		Clients      map[string][]string `json:"clients"`
		AllowUnknown bool                `json:"allow_unknown"`
	}
	if raw == nil {
		return errors.New("config is required: give cidrs")
	}
	if err := hook.DecodeConfig(raw, &c); err != nil {
		return err
	}
	if len(c.CIDRs) == 0 && len(c.Clients) == 0 {
		return errors.New("config: give cidrs and/or clients")
	}
	s := settings{clients: map[string][]netip.Prefix{}, allowUnknown: c.AllowUnknown}
	var err error
	if s.all, err = prefixes(c.CIDRs, "cidrs"); err != nil {
		return err
	}
	for id, list := range c.Clients {
		if s.clients[id], err = prefixes(list, "clients."+id); err != nil {
			return err
		}
	}
	conf = s
	return nil
}

func checkIP(e *hook.Event, c *hook.Changes) error {
	allowed, ok := conf.clients[e.ClientID()]
	if !ok {
		allowed = conf.all
	}
	ip := e.IP()
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		if ip == "" && conf.allowUnknown {
			return nil
		}
		c.Deny(hook.AccessDenied, "the request's IP address is unknown")
		return nil
	}
	addr = addr.Unmap()
	for _, p := range allowed {
		if p.Contains(addr) {
			return nil
		}
	}
	c.Deny(hook.AccessDenied, "requests from "+addr.String()+" are not allowed for this client")
	return nil
}

func main() {}
