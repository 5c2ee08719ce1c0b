// Command conformance is the conformance hook in Go, with package hook.
// Every SDK has the same hook; sdk/conformance/README.md says what it does
// and table.json what it must decide (run by go test ./hooks/).
//
// Build (sdk/build.sh does it):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-buildid= -o sdk/conformance/go/conformance.wasm ./sdk/conformance/go
package main

import (
	"errors"
	"strconv"
	"strings"

	"github.com/scopeline/scopeline/sdk/hook"
)

// config is the hook's typed config.
type config struct {
	Label         string   `json:"label"`
	Limit         int64    `json:"limit"`
	Strict        bool     `json:"strict"`
	Extra         []string `json:"extra"`
	Refuse        bool     `json:"refuse"`
	RequireSecret string   `json:"require_secret"`
}

var conf config

func init() {
	hook.Setup(setup)
	hook.Handle(handle)
}

func setup(raw []byte) error {
	c := config{Label: "none", Extra: []string{}}
	if raw != nil {
		if err := hook.DecodeConfig(raw, &c); err != nil {
			return err
		}
	}
	if c.RequireSecret != "" {
		if _, ok := (&hook.Event{}).Secret(c.RequireSecret); !ok {
			return errors.New("secret " + c.RequireSecret + " is missing")
		}
	}
	if c.Refuse {
		return errors.New("refused: label=" + c.Label)
	}
	conf = c
	return nil
}

func orNone(v string, ok bool) string {
	if !ok {
		return "(none)"
	}
	return v
}

func nonEmpty(v string) (string, bool) { return v, v != "" }

func handle(e *hook.Event, c *hook.Changes) error {
	tier, ok := e.ClientMetadata("tier")
	if !ok {
		tier = "free"
	}
	if v, _ := e.ClientMetadata("fail"); v == "true" {
		return errors.New("asked to fail")
	}
	if v, _ := e.ClientMetadata("suspended"); v == "true" {
		c.Deny(hook.AccessDenied, "suspended (label="+conf.Label+")")
		c.Deny(hook.InvalidScope, "ignored")
		return nil
	}
	if code, ok := e.ClientMetadata("deny_code"); ok {
		c.Deny(code, "denied with "+code)
		return nil
	}

	raw := e.Config()
	c.Debug("config=" + orNone(string(raw), raw != nil))
	c.Log("trigger=" + e.Trigger() + " grant=" + e.GrantType() + " client=" + e.ClientID() +
		" name=" + e.ClientName() + " type=" + e.ClientType() + " aud=" + e.Audience() +
		" sub=" + e.Subject() + " hook=" + e.HookName())
	requested, ok := e.RequestedScopes()
	c.Log("requested=" + orNone(strings.Join(requested, ","), ok) + " scopes=" + strings.Join(e.Scopes(), ",") +
		" ceiling=" + strings.Join(e.GrantScopes(), ","))
	c.Log("user=" + orNone(e.UserID()) + " ip=" + orNone(nonEmpty(e.IP())) + " ua=" + orNone(nonEmpty(e.UserAgent())) +
		" rid=" + orNone(nonEmpty(e.RequestID())) + " time=" + strconv.FormatInt(e.Time().Unix(), 10) + " at=" + e.TimeText())
	secret, ok := e.Secret("token")
	note, nok := e.ClientMetadata("note")
	c.Log("secret=" + orNone(strconv.Itoa(len(secret)), ok) + " note=" + orNone(strconv.Itoa(len(note)), nok))

	if tier == "gold" {
		c.AddScope("read:users", "gold reads")
		for _, s := range conf.Extra {
			c.AddScope(s, "extra from config")
		}
	} else if e.HasScope("delete:users") {
		c.RemoveScope("delete:users", "only gold deletes")
	}
	c.SetClaimString("tier", tier, "client tier")
	if err := c.SetClaim("conf", map[string]any{"label": conf.Label, "limit": conf.Limit, "strict": conf.Strict, "extra": conf.Extra}, "typed config"); err != nil {
		return err
	}
	if _, ok := e.UserID(); ok {
		u, err := e.User()
		if err != nil {
			return err
		}
		if u.Email != "" {
			c.SetClaimString("email", u.Email, "from the input document")
		}
	}
	c.RemoveClaim("legacy", "legacy dropped")
	c.Warn("tier=" + tier)
	return nil
}

func main() {}
