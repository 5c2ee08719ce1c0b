// Command deny-scopes is the deny-scopes plugin: it forbids scopes by
// pattern, for every client or per client, removing them from the token
// (or denying the request, with on_match: deny).
//
// Config (docs/hooks.md):
//
//	scopes: ["delete:*"]              # forbidden for every client
//	clients:                          # forbidden for these clients only
//	  reporting-job: ["write:*", "admin"]
//	on_match: remove                  # remove (default) or deny
//
// A pattern matches a whole scope; `*` stands for any run of characters
// and `?` for one.
//
// Build: see plugins/build.sh.
package main

import (
	"errors"
	"strconv"

	"github.com/scopeline/scopeline/sdk/hook"
)

type config struct {
	Scopes  []string            `json:"scopes"`
	Clients map[string][]string `json:"clients"`
	OnMatch string              `json:"on_match"`
}

// rules is the parsed config, made once per instance by Setup.
var rules config

func init() {
	hook.Setup(configure)
	hook.Handle(denyScopes)
}

func configure(raw []byte) error {
	var c config
	if raw == nil {
		return errors.New("config is required: give scopes and/or clients")
	}
	if err := hook.DecodeConfig(raw, &c); err != nil {
		return err
	}
	switch c.OnMatch {
	case "":
		c.OnMatch = "remove"
	case "remove", "deny":
	default:
		return errors.New("config: on_match must be remove or deny, not " + strconv.Quote(c.OnMatch))
	}
	if len(c.Scopes) == 0 && len(c.Clients) == 0 {
		return errors.New("config: give scopes and/or clients")
	}
	for _, p := range c.Scopes {
		if p == "" {
			return errors.New("config: empty scope pattern")
		}
	}
	for id, ps := range c.Clients {
		for _, p := range ps {
			if p == "" {
				return errors.New("config: clients." + id + ": empty scope pattern")
			}
		}
	}
	rules = c
	return nil
}

func denyScopes(e *hook.Event, c *hook.Changes) error {
	perClient := rules.Clients[e.ClientID()]
	for _, s := range e.Scopes() {
		p, ok := firstMatch(s, rules.Scopes)
		if !ok {
			p, ok = firstMatch(s, perClient)
		}
		if !ok {
			continue
		}
		if rules.OnMatch == "deny" {
			c.Deny(hook.InvalidScope, "scope "+strconv.Quote(s)+" is forbidden for this client")
			return nil
		}
		c.RemoveScope(s, "forbidden by pattern "+p)
	}
	return nil
}

func firstMatch(scope string, patterns []string) (string, bool) {
	for _, p := range patterns {
		if match(p, scope) {
			return p, true
		}
	}
	return "", false
}

// match reports whether s matches the glob pattern p (`*` any run, `?`
// one byte), iteratively with backtracking on the last star.
func match(p, s string) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

func main() {}
