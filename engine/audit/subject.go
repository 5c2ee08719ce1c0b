package audit

import (
	"errors"
	"strings"
)

// Subjects are <prefix>.<kind>.<client>: for example
// scopeline.audit.issued.demo-m2m. The client token is the client id the
// request named, encoded by EncodeClientID.

// NoClient is the client token of events with no client id: requests that
// named none, and tenant reloads.
const NoClient = "_"

// Subject returns the subject of an event of kind for clientID.
func Subject(prefix string, kind Kind, clientID string) string {
	return prefix + "." + string(kind) + "." + EncodeClientID(clientID)
}

// FilterSubject returns the subject matching events of kind ("" for any)
// for clientID (nil for any client).
func FilterSubject(prefix string, kind Kind, clientID *string) string {
	k, c := "*", "*"
	if kind != "" {
		k = string(kind)
	}
	if clientID != nil {
		c = EncodeClientID(*clientID)
	}
	return prefix + "." + k + "." + c
}

// EncodeClientID turns a client id into one NATS subject token. Client ids
// may hold '.', '*', '>' or spaces, which NATS tokens cannot: those, '%',
// control characters and every byte outside printable ASCII become %XX
// (upper-case hex of the byte), the way URLs escape. Everything else is
// kept, so common ids read as themselves. The empty id becomes NoClient,
// and an id that is exactly "_" becomes "%5F". The encoding is one to one.
func EncodeClientID(id string) string {
	switch id {
	case "":
		return NoClient
	case NoClient:
		return "%5F"
	}
	n := 0
	for i := 0; i < len(id); i++ {
		if mustEscape(id[i]) {
			n++
		}
	}
	if n == 0 {
		return id
	}
	var b strings.Builder
	b.Grow(len(id) + 2*n)
	for i := 0; i < len(id); i++ {
		c := id[i]
		if mustEscape(c) {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

const hexDigits = "0123456789ABCDEF"

func mustEscape(c byte) bool {
	return c <= ' ' || c >= 0x7f || c == '.' || c == '*' || c == '>' || c == '%'
}

var errBadToken = errors.New("audit: not an encoded client id")

// DecodeClientID reverses EncodeClientID. It refuses tokens EncodeClientID
// cannot produce, so each client id has exactly one token.
func DecodeClientID(tok string) (string, error) {
	switch tok {
	case NoClient:
		return "", nil
	case "%5F":
		return NoClient, nil
	case "":
		return "", errBadToken
	}
	var b strings.Builder
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c != '%' {
			if mustEscape(c) {
				return "", errBadToken
			}
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(tok) {
			return "", errBadToken
		}
		hi, lo := unhex(tok[i+1]), unhex(tok[i+2])
		if hi < 0 || lo < 0 {
			return "", errBadToken
		}
		v := byte(hi<<4 | lo)
		if !mustEscape(v) {
			return "", errBadToken
		}
		b.WriteByte(v)
		i += 2
	}
	s := b.String()
	if s == NoClient {
		return "", errBadToken
	}
	return s, nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}
