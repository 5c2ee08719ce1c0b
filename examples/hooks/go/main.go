// Command tier-gate is the example hook in Go, built with the SDK
// (package hook). Every example language implements the same rules, and
// the conformance table in package hooks checks they decide alike:
//
//   - a client whose metadata says suspended: "true" is denied;
//   - its tier is metadata "tier" (absent, or longer than 62 bytes: "free");
//   - a gold client always gets read:users; any other loses delete:users;
//   - the token gets a "tier" claim, and the hook logs "tier=<tier>".
//
// Build (from the repository root; examples/hooks/build.sh does it):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-buildid= -o examples/hooks/go/tier-gate.wasm ./examples/hooks/go
package main

import "github.com/scopeline/scopeline/sdk/hook"

func init() { hook.Handle(tierGate) }

func tierGate(e *hook.Event, c *hook.Changes) error {
	if v, _ := e.ClientMetadata("suspended"); v == "true" {
		c.Deny(hook.AccessDenied, "client is suspended")
		return nil
	}
	tier, ok := e.ClientMetadata("tier")
	if !ok || len(tier) > 62 {
		tier = "free"
	}
	if tier == "gold" {
		c.AddScope("read:users", "gold clients always read users")
	} else if e.HasScope("delete:users") {
		c.RemoveScope("delete:users", "only gold clients may delete users")
	}
	c.SetClaimString("tier", tier, "client tier")
	c.Log("tier=" + tier)
	return nil
}

func main() {}
