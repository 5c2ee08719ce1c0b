package hooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/tenant"
)

// Event is the input document a hook reads through the `input` host
// function (docs/hook-abi.md §4), and the file `scopeline hook test`
// takes. It describes the transaction as the previous stages left it.
type Event struct {
	// ABI is the ABI version, 1.
	ABI     int    `json:"abi"`
	Trigger string `json:"trigger"`
	// Hook names the running hook and carries its config.
	Hook    EventHook    `json:"hook"`
	Request EventRequest `json:"request"`
	Client  EventClient  `json:"client"`
	API     EventAPI     `json:"api"`
	Grant   EventGrant   `json:"grant"`
	// Subject is the token's `sub`: the client id, or the user id.
	Subject string `json:"subject"`
	// User is the signed-in user (post-login), absent for client tokens.
	User *EventUser `json:"user,omitempty"`
	// Exchange describes a token exchange (token-exchange only): the
	// subject token and the actor.
	Exchange *EventExchange `json:"exchange,omitempty"`
	// Scopes are the scopes the token carries so far.
	Scopes []string `json:"scopes"`
	// Claims are the custom claims set so far.
	Claims map[string]json.RawMessage `json:"claims"`
}

// EventHook is the hook's own part of the input.
type EventHook struct {
	Name   string          `json:"name"`
	Config json.RawMessage `json:"config,omitempty"`
}

// EventRequest describes the token request.
type EventRequest struct {
	ID        string `json:"id,omitempty"`
	GrantType string `json:"grant_type"`
	// RequestedScopes is the scope parameter, nil when absent.
	RequestedScopes []string `json:"requested_scopes"`
	// IdentityScopes are the OpenID Connect scopes of an end-user request
	// (openid, profile, email, offline_access); hooks read them but cannot
	// change them.
	IdentityScopes []string  `json:"identity_scopes,omitempty"`
	IP             string    `json:"ip,omitempty"`
	UserAgent      string    `json:"user_agent,omitempty"`
	Time           time.Time `json:"time"`
}

// EventClient describes the authenticated client.
type EventClient struct {
	ID       string            `json:"id"`
	Name     string            `json:"name,omitempty"`
	Type     string            `json:"type,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// EventAPI describes the API the token is for: its identifier is the
// audience, and Scopes are the scopes it defines.
type EventAPI struct {
	Identifier string   `json:"identifier"`
	Name       string   `json:"name,omitempty"`
	Scopes     []string `json:"scopes"`
}

// EventGrant is the client's grant on the API: its scope ceiling.
type EventGrant struct {
	Scopes []string `json:"scopes"`
}

// EventUser is the signed-in user.
type EventUser struct {
	ID       string         `json:"id"`
	Username string         `json:"username,omitempty"`
	Email    string         `json:"email,omitempty"`
	Profile  map[string]any `json:"profile,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
	Roles    []string       `json:"roles,omitempty"`
	// Permissions are the user's scopes on the API (RBAC), when known.
	Permissions []string `json:"permissions,omitempty"`
}

// EventExchange is what a token exchange (RFC 8693) presented.
type EventExchange struct {
	// SubjectToken is the subject token's claims (iss, sub, aud, scope,
	// act, custom claims, ...), verified.
	SubjectToken json.RawMessage `json:"subject_token"`
	// Actor is who acts: the actor token's sub, or the client's id;
	// ActorToken the actor token's claims, absent without one.
	Actor      string          `json:"actor"`
	ActorToken json.RawMessage `json:"actor_token,omitempty"`
	// ActorChain is the actors, newest first (Actor, then those of the
	// subject token's act claim): the new token's act claim.
	ActorChain []string `json:"actor_chain"`
}

// NewEvent describes the transaction v views for the hook spec (nil: no
// hook section).
func NewEvent(v engine.View, spec *tenant.HookSpec) *Event {
	e := &Event{
		ABI:     ABIVersion,
		Trigger: string(v.Trigger()),
		Request: EventRequest{
			ID:              v.RequestID(),
			GrantType:       v.GrantType(),
			RequestedScopes: v.Requested(),
			IdentityScopes:  v.Identity(),
			IP:              v.IP(),
			UserAgent:       v.UserAgent(),
			Time:            v.Time().UTC(),
		},
		Client:  EventClient{ID: v.ClientID()},
		Subject: v.Subject(),
		Scopes:  v.Scopes(),
		Claims:  v.Claims(),
	}
	if spec != nil {
		e.Hook = EventHook{Name: spec.Name, Config: spec.Config}
	}
	if c := v.Client(); c != nil {
		e.Client = EventClient{ID: c.ID, Name: c.Name, Type: string(c.Type), Metadata: c.Metadata}
	}
	api := v.API()
	if api != nil {
		e.API = EventAPI{Identifier: api.Identifier, Name: api.Name, Scopes: make([]string, 0, len(api.Scopes))}
		for _, s := range api.Scopes {
			e.API.Scopes = append(e.API.Scopes, s.Name)
		}
	}
	if g := v.Grant(); g != nil {
		e.Grant.Scopes = g.Scopes
	}
	if u := v.User(); u != nil {
		e.User = &EventUser{ID: u.ID, Username: u.Username, Email: u.Email, Profile: u.Profile, Metadata: u.Metadata, Roles: u.Roles}
		if api != nil {
			e.User.Permissions = u.Permissions[api.Identifier]
		}
	}
	if x, ok := v.Exchange(); ok {
		e.Exchange = &EventExchange{SubjectToken: x.SubjectClaims, Actor: x.Actor, ActorToken: x.ActorClaims, ActorChain: x.Chain}
	}
	if e.Scopes == nil {
		e.Scopes = []string{}
	}
	if e.Claims == nil {
		e.Claims = map[string]json.RawMessage{}
	}
	if e.Grant.Scopes == nil {
		e.Grant.Scopes = []string{}
	}
	return e
}

// MarshalJSON encodes the event without HTML escaping.
func (e *Event) MarshalJSON() ([]byte, error) {
	type plain Event
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode((*plain)(e)); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// ReadEvent reads an event file (at most MaxInput bytes of JSON).
func ReadEvent(r io.Reader) (*Event, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxInput+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxInput {
		return nil, fmt.Errorf("hooks: event larger than %d bytes", MaxInput)
	}
	var e Event
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("hooks: event: %w", err)
	}
	if dec.More() {
		return nil, errors.New("hooks: event: more than one JSON value")
	}
	return &e, e.validate()
}

func (e *Event) validate() error {
	switch {
	case e.ABI != 0 && e.ABI != ABIVersion:
		return fmt.Errorf("hooks: event: abi %d, this host speaks %d", e.ABI, ABIVersion)
	case !slices.Contains(tenant.Triggers, tenant.Trigger(e.Trigger)):
		return fmt.Errorf("hooks: event: trigger %q: want credentials-exchange, post-login or token-exchange", e.Trigger)
	case e.Client.ID == "":
		return errors.New("hooks: event: client.id is required")
	case e.API.Identifier == "":
		return errors.New("hooks: event: api.identifier is required")
	case e.Trigger == string(tenant.TriggerPostLogin) && e.User == nil:
		return errors.New("hooks: event: a post-login event needs a user")
	case e.Trigger == string(tenant.TriggerTokenExchange) && (e.Exchange == nil || e.Exchange.Actor == "" || len(e.Exchange.SubjectToken) == 0):
		return errors.New("hooks: event: a token-exchange event needs an exchange with a subject_token and an actor")
	case e.Exchange != nil && e.Trigger != string(tenant.TriggerTokenExchange):
		return errors.New("hooks: event: only a token-exchange event has an exchange")
	}
	for _, s := range append(slices.Clone(e.Scopes), e.Grant.Scopes...) {
		if !slices.Contains(e.API.Scopes, s) {
			return fmt.Errorf("hooks: event: scope %q is not among api.scopes", s)
		}
	}
	return nil
}

// Transaction makes the transaction the event describes, as the engine
// would have it when the hook runs: for running one hook outside an issuer
// (scopeline hook test).
func (e *Event) Transaction() *engine.Transaction {
	scopes := make([]tenant.Scope, 0, len(e.API.Scopes))
	for _, s := range e.API.Scopes {
		scopes = append(scopes, tenant.Scope{Name: s})
	}
	api := tenant.NewAPI(e.API.Identifier, e.API.Name, scopes)
	client := &tenant.Client{ID: e.Client.ID, Name: e.Client.Name, Type: tenant.ClientType(e.Client.Type), Metadata: e.Client.Metadata}
	tx := &engine.Transaction{
		RequestID: e.Request.ID,
		Trigger:   tenant.Trigger(e.Trigger),
		GrantType: e.Request.GrantType,
		ClientID:  e.Client.ID,
		Client:    client,
		API:       api,
		Grant:     &tenant.Grant{Client: client, API: api, Scopes: slices.Clone(e.Grant.Scopes), ForClient: e.User == nil, ForUser: e.User != nil},
		Requested: e.Request.RequestedScopes,
		Identity:  e.Request.IdentityScopes,
		Scopes:    slices.Clone(e.Scopes),
		Subject:   e.Subject,
		IP:        e.Request.IP,
		UserAgent: e.Request.UserAgent,
		Time:      e.Request.Time,
	}
	if tx.Scopes == nil {
		tx.Scopes = []string{}
	}
	if len(e.Claims) > 0 {
		tx.Claims = make(map[string]json.RawMessage, len(e.Claims))
		for k, v := range e.Claims {
			tx.Claims[k] = v
		}
	}
	if u := e.User; u != nil {
		tx.User = &tenant.User{ID: u.ID, Username: u.Username, Email: u.Email, Profile: u.Profile, Metadata: u.Metadata, Roles: u.Roles}
		if u.Permissions != nil {
			tx.User.Permissions = map[string][]string{e.API.Identifier: u.Permissions}
		}
		if tx.Subject == "" {
			tx.Subject = u.ID
		}
	}
	if tx.Subject == "" {
		tx.Subject = client.ID
	}
	if x := e.Exchange; x != nil {
		tx.Exchange = &engine.Exchange{SubjectClaims: x.SubjectToken, Actor: x.Actor, ActorClaims: x.ActorToken, Chain: x.ActorChain, Grant: tx.Grant}
		var subject struct {
			JTI      string `json:"jti"`
			ClientID string `json:"client_id"`
			Scope    string `json:"scope"`
		}
		if json.Unmarshal(x.SubjectToken, &subject) == nil {
			tx.Exchange.SubjectJTI, tx.Exchange.SubjectClientID = subject.JTI, subject.ClientID
			tx.Exchange.SubjectScopes = strings.Fields(subject.Scope)
		}
		if len(tx.Exchange.Chain) == 0 {
			tx.Exchange.Chain = []string{x.Actor}
		}
	}
	if tx.GrantType == "" {
		tx.GrantType = engine.GrantClientCredentials
		switch {
		case e.Exchange != nil:
			tx.GrantType = engine.GrantTokenExchange
		case e.User != nil:
			tx.GrantType = engine.GrantAuthorizationCode
		}
	}
	if tx.Time.IsZero() {
		tx.Time = time.Now()
	}
	return tx
}
