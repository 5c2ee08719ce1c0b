package clientauth_test

import (
	"context"
	"errors"
	"testing"

	"github.com/scopeline/scopeline/engine/clientauth"
)

// FuzzVerify feeds arbitrary client assertions, starting from genuine
// ones, to Verify: it must never panic, refuse with invalid_client, and
// accept only assertions of a registered client signed with its key.
func FuzzVerify(f *testing.F) {
	fx := setup(f, "")
	f.Add(fx.assertion(f, esKey, "key-es", nil, nil), "")
	f.Add(fx.assertion(f, edKey, "key-ed", nil, map[string]any{"aud": []string{tokenURL}}), "key-ed")
	f.Add(fx.assertion(f, nil, "hmac", nil, nil), "")
	f.Add(fx.assertion(f, rsKey, "key-rs", map[string]any{"typ": clientauth.ExplicitType}, nil), "")
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJrZXktZXMifQ.", "")
	f.Fuzz(func(t *testing.T, assertion, clientID string) {
		res, err := fx.v.Verify(context.Background(), fx.t, clientauth.Request{AssertionType: clientauth.AssertionType, Assertion: assertion, ClientID: clientID})
		if err != nil {
			if !errors.Is(err, clientauth.ErrInvalidClient) && !errors.Is(err, clientauth.ErrUnavailable) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if res.Client == nil || !res.Client.Auth.UsesAssertion() || (clientID != "" && clientID != res.Client.ID) {
			t.Fatalf("accepted %+v", res)
		}
	})
}
