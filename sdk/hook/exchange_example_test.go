package hook_test

import (
	"fmt"
	"os"

	"github.com/scopeline/scopeline/sdk/hook"
	"github.com/scopeline/scopeline/sdk/hook/hooktest"
)

// A token-exchange hook that reads whose token is exchanged and who acts
// (the input document's exchange), and refuses exchanges of tokens that
// were exchanged before.
func ExampleEvent_Exchange() {
	hook.Handle(func(e *hook.Event, c *hook.Changes) error {
		x, err := e.Exchange()
		if err != nil || x == nil {
			return err
		}
		if _, chained := x.SubjectToken["act"]; chained {
			c.Deny(hook.AccessDenied, "tokens are exchanged once")
			return nil
		}
		fmt.Println("subject token for", x.SubjectToken["aud"], "acted on by", x.Actor, x.ActorChain)
		return nil
	})
	event, err := os.ReadFile("../../examples/events/token-exchange.json")
	if err != nil {
		panic(err)
	}
	res, err := hooktest.Run(string(event))
	if err != nil {
		panic(err)
	}
	fmt.Println("denied:", res.Deny != nil)
	// Output:
	// subject token for https://orders.example.com acted on by orders-api [orders-api]
	// denied: false
}
