// Package userflow is what the end-user flows share between the hosted
// pages, which sign users in and hand out authorization codes (package
// pages), and the token grants that redeem them (package grant): the
// records they keep in storage, the rules of an end-user transaction,
// and the random values they hand out. Neither side imports the other.
package userflow

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/storage"
	"github.com/scopeline/scopeline/engine/tenant"
)

// Code is what an authorization code stands for (storage.AuthCode.Data):
// written by the hosted pages once a user signed in and consented, read
// by the authorization_code grant. Result is what the post-login pipeline
// decided at sign-in, which the token carries.
type Code struct {
	ClientID      string        `json:"client_id"`
	RedirectURI   string        `json:"redirect_uri"`
	RedirectGiven bool          `json:"redirect_given,omitempty"`
	Challenge     string        `json:"code_challenge,omitempty"`
	Nonce         string        `json:"nonce,omitempty"`
	UserID        string        `json:"user_id"`
	AuthTime      time.Time     `json:"auth_time"`
	API           string        `json:"api"`
	Requested     []string      `json:"requested"`
	Result        engine.Result `json:"outcome"`
	// DPoPKey binds the code to a DPoP key (RFC 9449 §10: dpop_jkt, or
	// the key of the PAR request's proof): it is redeemed only with a
	// proof by that key.
	DPoPKey string `json:"dpop_jkt,omitempty"`
}

// Family is what a refresh-token family stands for
// (storage.RefreshFamily.Data): the scopes first granted, the ceiling of
// every refresh.
type Family struct {
	API      string    `json:"api"`
	Scopes   []string  `json:"scopes"`
	Identity []string  `json:"identity,omitempty"`
	AuthTime time.Time `json:"auth_time"`
	// DPoPKey binds a public client's family to the DPoP key of the
	// request that started it (RFC 9449 §5): every refresh needs a proof
	// by that key.
	DPoPKey string `json:"dpop_jkt,omitempty"`
}

// CheckDPoPKey refuses a request whose DPoP proof is not by the key a
// code or a refresh token is bound to (jkt; "" when it is bound to none).
func CheckDPoPKey(tx *engine.Transaction, jkt, what string) error {
	switch {
	case jkt == "" || tx.DPoPKey == jkt:
		return nil
	case tx.DPoPKey == "":
		return engine.ErrInvalidDPoPProof.WithDescription("the %s is bound to a DPoP key: send a DPoP proof by that key", what)
	}
	return engine.ErrInvalidDPoPProof.WithDescription("the %s is bound to another DPoP key", what)
}

// RandomToken returns 256 random bits from r, base64url-encoded: the value
// of a code, a refresh token, a session or a browser cookie.
func RandomToken(r io.Reader) (string, error) {
	var b [32]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("userflow: randomness: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// SplitScopes separates OpenID Connect scopes from API scopes.
func SplitScopes(all []string) (identity, api []string) {
	api = []string{}
	for _, s := range all {
		if slices.Contains(tenant.OIDCScopes, s) {
			if !slices.Contains(identity, s) {
				identity = append(identity, s)
			}
		} else {
			api = append(api, s)
		}
	}
	// Keep the order of tenant.OIDCScopes, so tokens read the same.
	slices.SortFunc(identity, func(a, b string) int {
		return slices.Index(tenant.OIDCScopes, a) - slices.Index(tenant.OIDCScopes, b)
	})
	return identity, api
}

// Fill fills a transaction for an end-user flow and records the OpenID
// Connect scopes it carries in the trace.
func Fill(tx *engine.Transaction, c *tenant.Client, api *tenant.API, u *tenant.User, requested, identity []string) {
	tx.Trigger = tenant.TriggerPostLogin
	tx.Client, tx.ClientID = c, c.ID
	tx.API, tx.User, tx.Subject = api, u, u.ID
	tx.Requested = requested
	for _, s := range identity {
		tx.Record(engine.TraceEntry{Stage: engine.StageBaseline, Op: engine.OpAdd, Scope: s, Reason: "OpenID Connect scope (the issuer's own)"})
	}
	tx.Identity = identity
}

// CheckResult refuses a user token that asked for API scopes and ends
// with none: it would be useless to the client, and tell it nothing. A
// request that named only OpenID Connect scopes (sign-in only) is fine.
func CheckResult(tx *engine.Transaction) error {
	if len(tx.Scopes) > 0 || (tx.Requested != nil && len(tx.Requested) == 0) {
		return nil
	}
	tx.Record(engine.TraceEntry{Stage: engine.StageBaseline, Op: engine.OpDeny, Reason: "none of the requested scopes is granted to this user"})
	return engine.ErrAccessDenied.WithDescription("none of the requested scopes of %q is granted to this user through this client", tx.API.Identifier)
}

// StorageError maps a storage failure to an OAuth error: a full store is
// temporarily_unavailable, anything else a server_error.
func StorageError(err error) *engine.Error {
	var e *engine.Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, storage.ErrFull) {
		return engine.ErrTemporarilyUnavailable.WithDescription("too many sign-ins in progress; try again later").Wrap(err)
	}
	return engine.ErrServerError.Wrap(err)
}
