package hook_test

import (
	"encoding/json"
	"fmt"

	"github.com/scopeline/scopeline/sdk/hook"
	"github.com/scopeline/scopeline/sdk/hook/hooktest"
)

// event is a credentials-exchange request of a silver client holding
// delete:users (the format of `scopeline hook test --event`).
const event = `{
  "trigger": "credentials-exchange",
  "request": {"grant_type": "client_credentials", "ip": "10.1.2.3", "time": "2026-03-04T10:00:00Z"},
  "client": {"id": "billing", "metadata": {"tier": "silver"}},
  "api": {"identifier": "https://api.example.com"},
  "scopes": ["read:users", "delete:users"]
}`

// A hook that takes delete:users away from clients below the gold tier
// and records their tier in a claim.
func Example() {
	hook.Handle(func(e *hook.Event, c *hook.Changes) error {
		tier, _ := e.ClientMetadata("tier")
		if tier != "gold" && e.HasScope("delete:users") {
			c.RemoveScope("delete:users", "only gold clients may delete users")
		}
		c.SetClaimString("tier", tier, "client tier")
		return nil
	})

	res, err := hooktest.Run(event)
	if err != nil {
		panic(err)
	}
	for _, op := range res.Ops {
		fmt.Println(op.Kind, op.Name+op.Value)
	}
	// Output:
	// remove-scope delete:users
	// set-claim tier"silver"
}

// Setup parses the hook's config once per instance; a bad config fails
// the hook's load.
func ExampleSetup() {
	hooktest.Reset() // forget the other examples' hook
	var blocked map[string]bool
	hook.Setup(func(config []byte) error {
		var ids []string
		if err := json.Unmarshal(config, &ids); err != nil {
			return fmt.Errorf("config: want a list of client ids: %w", err)
		}
		blocked = map[string]bool{}
		for _, id := range ids {
			blocked[id] = true
		}
		return nil
	})
	hook.Handle(func(e *hook.Event, c *hook.Changes) error {
		if blocked[e.ClientID()] {
			c.Deny(hook.AccessDenied, "this client is blocked")
		}
		return nil
	})

	res, _ := hooktest.Run(event, hooktest.WithConfig(`["billing"]`))
	fmt.Println(res.Deny.Code, res.Deny.Reason)

	_, err := hooktest.Run(event, hooktest.WithConfig(`{"billing": true}`))
	fmt.Println(err != nil)
	// Output:
	// access_denied this client is blocked
	// true
}

// Event's getters read the request without JSON.
func ExampleEvent() {
	hooktest.Reset() // forget the other examples' hook
	hook.Handle(func(e *hook.Event, c *hook.Changes) error {
		requested, ok := e.RequestedScopes()
		c.Log(fmt.Sprint(e.ClientID(), " ", e.Audience(), " ", e.Scopes(), " ", requested, ok, " ", e.IP(), " ", e.Time().Weekday()))
		return nil
	})
	res, _ := hooktest.Run(event)
	fmt.Println(res.Logs[0])
	// Output:
	// billing https://api.example.com [read:users delete:users] [] false 10.1.2.3 Wednesday
}

// A handler's error fails the hook: the run returns 1 and the issuer
// applies the hook's failure policy.
func ExampleHandler_error() {
	hooktest.Reset() // forget the other examples' hook
	hook.Handle(func(e *hook.Event, c *hook.Changes) error {
		c.AddScope("write:users", "never applied")
		return fmt.Errorf("the upstream directory is down")
	})
	res, _ := hooktest.Run(event)
	fmt.Println(res.Code, res.Logs)
	// Output:
	// 1 [[error] the upstream directory is down]
}

// DecodeConfig refuses a config with a field the hook does not know.
func ExampleDecodeConfig() {
	var c struct {
		Blocked []string `json:"blocked"`
	}
	fmt.Println(hook.DecodeConfig([]byte(`{"blocked": ["billing"]}`), &c), c.Blocked)
	fmt.Println(hook.DecodeConfig([]byte(`{"blocked": ["billing"], "block": []}`), &c))
	// Output:
	// <nil> [billing]
	// config: json: unknown field "block"
}
