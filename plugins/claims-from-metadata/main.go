// Command claims-from-metadata is the claims-from-metadata plugin: it
// copies client or user metadata into token claims.
//
// Config (docs/hooks.md):
//
//	claims:
//	  tier: client.tier             # client metadata key "tier"
//	  plan: user.plan               # user metadata key "plan" (post-login)
//	  name: profile.name            # user profile key "name"
//	on_missing: skip                # skip (default) or deny
//
// Client metadata values are strings and are read without JSON; user
// metadata and profile values keep their JSON type and need the input
// document, decoded only when such a claim is configured and there is a
// user.
//
// Build: see plugins/build.sh.
package main

import (
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/scopeline/scopeline/engine/claim"
	"github.com/scopeline/scopeline/sdk/hook"
)

type mapping struct {
	claim  string
	source string // client, user or profile
	key    string
	reason string // of the claim's op, made once
}

type settings struct {
	mappings  []mapping
	deny      bool
	needsUser bool
}

var conf settings

func init() {
	hook.Setup(configure)
	hook.Handle(copyClaims)
}

func configure(raw []byte) error {
	var c struct {
		Claims    map[string]string `json:"claims"`
		OnMissing string            `json:"on_missing"`
	}
	if raw == nil {
		return errors.New("config is required: give claims")
	}
	if err := hook.DecodeConfig(raw, &c); err != nil {
		return err
	}
	if len(c.Claims) == 0 {
		return errors.New("config: claims is empty")
	}
	var s settings
	switch c.OnMissing {
	case "", "skip":
	case "deny":
		s.deny = true
	default:
		return errors.New("config: on_missing must be skip or deny, not " + strconv.Quote(c.OnMissing))
	}
	names := make([]string, 0, len(c.Claims))
	for name := range c.Claims {
		names = append(names, name)
	}
	sort.Strings(names) // a stable order of ops
	// A name the issuer would refuse is refused at load rather than on
	// every request: malformed, reserved (in any letter case or Unicode
	// fold), or the same claim as another one of the config once folded.
	keys := map[string]string{}
	for _, name := range names {
		if err := claim.CheckName(name); err != nil {
			return errors.New("config: claims." + claim.Quote(name) + ": " + err.Error())
		}
		if r, ok := claim.IsReserved(name); ok {
			return errors.New("config: claims." + name + ": " + claim.Quote(name) + " is a reserved claim (" + r + ")")
		}
		if other, ok := keys[claim.Key(name)]; ok {
			return errors.New("config: claims." + name + ": the same claim as " + strconv.Quote(other) + " under case folding")
		}
		keys[claim.Key(name)] = name
		src, key, ok := strings.Cut(c.Claims[name], ".")
		if !ok || key == "" || (src != "client" && src != "user" && src != "profile") {
			return errors.New("config: claims." + name + ": source " + strconv.Quote(c.Claims[name]) + " must be client.KEY, user.KEY or profile.KEY")
		}
		if src != "client" {
			s.needsUser = true
		}
		s.mappings = append(s.mappings, mapping{claim: name, source: src, key: key, reason: "from " + src + " metadata " + key})
	}
	conf = s
	return nil
}

func copyClaims(e *hook.Event, c *hook.Changes) error {
	var user *hook.User
	if conf.needsUser {
		u, err := e.User()
		if err != nil {
			return err
		}
		user = u
	}
	for _, m := range conf.mappings {
		switch m.source {
		case "client":
			if v, ok := e.ClientMetadata(m.key); ok {
				c.SetClaimString(m.claim, v, m.reason)
				continue
			}
		case "user", "profile":
			if user != nil {
				src := user.Metadata
				if m.source == "profile" {
					src = user.Profile
				}
				if v, ok := src[m.key]; ok {
					if err := c.SetClaim(m.claim, v, m.reason); err != nil {
						return err
					}
					continue
				}
			}
		}
		if conf.deny {
			c.Deny(hook.AccessDenied, m.source+" metadata "+strconv.Quote(m.key)+" is missing")
			return nil
		}
	}
	return nil
}

func main() {}
