package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/scopeline/scopeline/engine/tenant"
)

// GrantTokenExchange is the grant type of token exchange (RFC 8693 §2.1).
const GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"

// Token type identifiers (RFC 8693 §3). Scopeline exchanges its own access
// tokens, which are JWTs: a subject or actor token may be typed either way;
// the token issued is an access token.
const (
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
)

// MaxActDepth bounds the actor chain of an exchanged token (RFC 8693 §4.1):
// a subject token whose act claim already nests this many actors cannot be
// exchanged again, so that chains cannot grow a token without end.
const MaxActDepth = 8

// Exchange is what a token exchange (RFC 8693) presented and what allowed
// it: the subject token, the actor, and the tenant's rule. A grant sets it
// on the transaction before the token-exchange pipeline runs; the baseline
// takes its ceiling from Grant, the token gets its act claim from it, and
// hooks and the audit event read it.
type Exchange struct {
	// Rule is the tenant's token_exchange entry that allows the exchange.
	Rule *tenant.TokenExchange
	// SubjectClaims are the subject token's claims, as a JSON object;
	// SubjectAPI its audience, SubjectJTI its jti, SubjectClientID the
	// client it was issued to, SubjectScopes the scopes of its scope claim.
	SubjectClaims   json.RawMessage
	SubjectAPI      *tenant.API
	SubjectJTI      string
	SubjectClientID string
	SubjectScopes   []string
	// Actor is who acts on the subject's behalf: the actor token's sub, or
	// the client's id when no actor token was presented. ActorClaims are
	// the actor token's claims (nil without one).
	Actor       string
	ActorClaims json.RawMessage
	// Chain is the actors, newest first: Actor, then those the subject
	// token's act claim nests.
	Chain []string
	// Grant is the exchange's ceiling as a grant on the new token's API:
	// the rule's scopes, capped by the subject token's unless the rule
	// says otherwise.
	Grant *tenant.Grant

	act json.RawMessage // the act claim of the new token
}

// NewExchange describes an exchange by rule of a subject token (its
// verified claims, subject API and scopes) by actor, whose own claims are
// actorClaims (nil without an actor token). It checks the subject token's
// act and may_act claims: an act claim must be a well-formed chain of at
// most MaxActDepth-1 actors, and a may_act claim (RFC 8693 §4.4) must name
// the actor.
func NewExchange(rule *tenant.TokenExchange, subject map[string]any, subjectAPI *tenant.API, subjectScopes []string, actor string, actorClaims map[string]any) (*Exchange, error) {
	x := &Exchange{Rule: rule, SubjectAPI: subjectAPI, SubjectScopes: subjectScopes, Actor: actor}
	x.SubjectJTI, _ = subject["jti"].(string)
	x.SubjectClientID, _ = subject["client_id"].(string)
	var err error
	if x.SubjectClaims, err = json.Marshal(subject); err != nil {
		return nil, err
	}
	if actorClaims != nil {
		if x.ActorClaims, err = json.Marshal(actorClaims); err != nil {
			return nil, err
		}
	}
	if ma, ok := subject["may_act"]; ok {
		m, isObj := ma.(map[string]any)
		sub, _ := m["sub"].(string)
		switch {
		case !isObj || sub == "":
			return nil, errors.New("the subject token's may_act claim is not an object naming a sub")
		case sub != actor:
			return nil, fmt.Errorf("the subject token's may_act claim does not name the actor %q", actor)
		}
	} else if rule.RequireMayAct {
		return nil, errors.New("the subject token has no may_act claim, and this exchange requires one")
	}
	act := map[string]any{"sub": actor}
	x.Chain = []string{actor}
	if prior, ok := subject["act"]; ok {
		chain, err := actChain(prior)
		if err != nil {
			return nil, err
		}
		if len(chain)+1 > MaxActDepth {
			return nil, fmt.Errorf("the subject token's actor chain is %d long: at most %d actors may be recorded", len(chain), MaxActDepth)
		}
		act["act"] = prior
		x.Chain = append(x.Chain, chain...)
	}
	if x.act, err = json.Marshal(act); err != nil {
		return nil, err
	}
	return x, nil
}

// actChain reads an act claim (RFC 8693 §4.1): an object with a string
// sub, nesting the prior actor's in its own act. It returns the subjects,
// outermost first.
func actChain(v any) ([]string, error) {
	var chain []string
	for v != nil {
		m, ok := v.(map[string]any)
		sub, _ := m["sub"].(string)
		if !ok || sub == "" {
			return nil, errors.New("the subject token's act claim is not a chain of objects naming a sub")
		}
		if len(chain) >= MaxActDepth {
			return nil, fmt.Errorf("the subject token's actor chain is longer than %d", MaxActDepth)
		}
		chain = append(chain, sub)
		v = m["act"]
	}
	return chain, nil
}

// Act is the act claim of the new token, as JSON.
func (x *Exchange) Act() json.RawMessage { return slices.Clone(x.act) }

// ChainString shows the actor chain for traces and logs: the newest actor
// first, each acting for the next, then the subject.
func (x *Exchange) ChainString(subject string) string {
	return strings.Join(x.Chain, " for ") + " for " + subject
}
