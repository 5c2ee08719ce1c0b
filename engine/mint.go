package engine

import (
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/scopeline/scopeline/engine/keys"
	"github.com/scopeline/scopeline/engine/tenant"
)

// TokenType is the JWT `typ` of Scopeline access tokens (RFC 9068 §2.1).
const TokenType = "at+jwt"

// keyring is an immutable key set prepared for signing: one signer per
// algorithm, with its JWS header encoded once, the JWKS to publish, and
// the keys that seal authorization requests in flight (sealed.go).
type keyring struct {
	set     *keys.Set
	signers map[string]*signer
	jwks    []byte
	// sealers opens what any key of the set sealed; sealKID is the key
	// new requests are sealed with (the current key of the tenant's
	// algorithm).
	sealers map[string]cipher.AEAD
	sealKID string
}

type signer struct {
	key *keys.Key
	// header and idHeader are the base64url protected headers, with the
	// trailing '.', of access tokens (typ at+jwt) and ID tokens (typ JWT).
	header   string
	idHeader string
}

// jwsHeader encodes a protected header once, for every token it starts.
func jwsHeader(alg, kid, typ string) (string, error) {
	hdr, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{alg, kid, typ})
	if err != nil {
		return "", err
	}
	return b64.EncodeToString(hdr) + ".", nil
}

// sign makes a compact JWS of payload under header (one of s's headers).
func (s *signer) sign(header string, payload []byte) (string, error) {
	input := make([]byte, 0, len(header)+b64.EncodedLen(len(payload))+1+b64.EncodedLen(512))
	input = append(input, header...)
	input = b64.AppendEncode(input, payload)
	sig, err := s.key.Sign(string(input))
	if err != nil {
		return "", fmt.Errorf("engine: sign: %w", err)
	}
	input = append(input, '.')
	input = b64.AppendEncode(input, sig)
	return string(input), nil
}

var b64 = base64.RawURLEncoding

// keyring prepares ks for tenant t, failing when t uses an algorithm ks has
// no current key for.
func (i *Issuer) keyring(ks *keys.Set, t *tenant.Tenant) (*keyring, error) {
	if ks == nil {
		return nil, fmt.Errorf("%w: no key set", errNoKey)
	}
	kr := &keyring{set: ks, signers: map[string]*signer{}}
	for _, alg := range t.Algorithms() {
		k, ok := ks.Signing(alg)
		if !ok {
			return nil, fmt.Errorf("%w for %s", errNoKey, alg)
		}
		at, err := jwsHeader(alg, k.ID, TokenType)
		if err != nil {
			return nil, err
		}
		id, err := jwsHeader(alg, k.ID, "JWT")
		if err != nil {
			return nil, err
		}
		kr.signers[alg] = &signer{key: k, header: at, idHeader: id}
	}
	kr.jwks = ks.JWKS(i.now(), t.LongestTokenLifetime()+keys.Leeway)
	var err error
	if kr.sealers, err = sealers(ks); err != nil {
		return nil, err
	}
	kr.sealKID = kr.signers[t.Algorithm].key.ID
	return kr, nil
}

// minted is a signed token and what the audit record needs of it.
type minted struct {
	token string
	jti   string
	exp   time.Time
	scope string // the scope claim, also the response's scope
}

// mint signs the access token for tx (RFC 9068 §2.2): iss, sub, aud,
// client_id, iat, exp, jti and scope, then the hooks' custom claims. The
// issuer and the key are the snapshot's, the one tx.API comes from; random
// gives the token id.
func (s *snapshot) mint(tx *Transaction, now time.Time, random io.Reader) (minted, error) {
	sg, ok := s.keys.signers[tx.API.Algorithm]
	if !ok {
		return minted{}, fmt.Errorf("%w for %s", errNoKey, tx.API.Algorithm)
	}
	var id [16]byte
	if _, err := io.ReadFull(random, id[:]); err != nil {
		return minted{}, fmt.Errorf("engine: token id: %w", err)
	}
	m := minted{jti: b64.EncodeToString(id[:]), exp: now.Add(tx.API.TokenLifetime).Truncate(time.Second)}

	buf := make([]byte, 0, 512)
	buf = append(buf, `{"iss":`...)
	buf = appendString(buf, s.issuer)
	buf = append(buf, `,"sub":`...)
	buf = appendString(buf, tx.Subject)
	buf = append(buf, `,"aud":`...)
	buf = appendString(buf, tx.API.Identifier)
	buf = append(buf, `,"client_id":`...)
	buf = appendString(buf, tx.Client.ID)
	buf = append(buf, `,"iat":`...)
	buf = strconv.AppendInt(buf, now.Unix(), 10)
	buf = append(buf, `,"exp":`...)
	buf = strconv.AppendInt(buf, m.exp.Unix(), 10)
	buf = append(buf, `,"jti":`...)
	buf = appendString(buf, m.jti)
	buf = append(buf, `,"scope":`...)
	m.scope = tx.scopeClaim()
	buf = appendString(buf, m.scope)
	if len(tx.Claims) > 0 {
		names := make([]string, 0, len(tx.Claims))
		for k := range tx.Claims {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			buf = append(buf, ',')
			buf = appendString(buf, k)
			buf = append(buf, ':')
			buf = append(buf, tx.Claims[k]...)
		}
	}
	buf = append(buf, '}')

	var err error
	if m.token, err = sg.sign(sg.header, buf); err != nil {
		return minted{}, err
	}
	return m, nil
}

// appendString appends s as a JSON string.
func appendString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			b, _ := json.Marshal(s) // rare: let encoding/json escape
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}
