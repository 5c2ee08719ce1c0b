package hooks_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/hooks"
)

// TestSampleEvents: the sample events read, and a transaction made from
// one describes the same event again.
func TestSampleEvents(t *testing.T) {
	for _, name := range []string{"credentials-exchange", "post-login", "token-exchange"} {
		f, err := os.Open("../examples/events/" + name + ".json")
		if err != nil {
			t.Fatal(err)
		}
		ev, err := hooks.ReadEvent(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		again := hooks.NewEvent(ev.Transaction().View(), &tenant.HookSpec{Name: ev.Hook.Name, Config: ev.Hook.Config})
		a, _ := json.Marshal(ev)
		b, _ := json.Marshal(again)
		if string(a) != string(b) {
			t.Errorf("%s: round trip changed the event:\n%s\n%s", name, a, b)
		}
	}
}

func TestReadEventErrors(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`{"trigger":"nope","client":{"id":"c"},"api":{"identifier":"a"}}`, `trigger "nope"`},
		{`{"trigger":"credentials-exchange","api":{"identifier":"a"}}`, "client.id is required"},
		{`{"trigger":"post-login","client":{"id":"c"},"api":{"identifier":"a"}}`, "needs a user"},
		{`{"trigger":"credentials-exchange","client":{"id":"c"},"api":{"identifier":"a","scopes":["x"]},"scopes":["y"]}`, `scope "y" is not among api.scopes`},
		{`{"trigger":"credentials-exchange","colour":1}`, `unknown field "colour"`},
		{`{"trigger":"token-exchange","client":{"id":"c"},"api":{"identifier":"a"}}`, "needs an exchange"},
		{`{"trigger":"credentials-exchange","client":{"id":"c"},"api":{"identifier":"a"},"exchange":{"subject_token":{},"actor":"c"}}`, "only a token-exchange event"},
		{`{} {}`, "more than one JSON value"},
		{strings.Repeat(" ", hooks.MaxInput+1), "larger than"},
	} {
		_, err := hooks.ReadEvent(strings.NewReader(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.60s: got %v, want %q", tc.doc, err, tc.want)
		}
	}
}

// FuzzReadEvent: any event file is read or refused, and a read one makes a
// transaction, without panicking.
func FuzzReadEvent(f *testing.F) {
	for _, name := range []string{"credentials-exchange", "post-login", "token-exchange"} {
		b, _ := os.ReadFile("../examples/events/" + name + ".json")
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		ev, err := hooks.ReadEvent(strings.NewReader(string(doc)))
		if err != nil {
			return
		}
		tx := ev.Transaction()
		if _, err := hooks.NewEvent(tx.View(), nil).MarshalJSON(); err != nil {
			t.Fatal(err)
		}
	})
}
