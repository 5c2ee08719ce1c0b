// Package jsonmember walks the members of the objects in a JSON text, for
// checks that decoding cannot make: a decoder keeps one of two members
// with the same name, and which one depends on the decoder. It uses the
// standard library only. It lives in the resource-server SDK's module,
// which uses it to refuse ambiguous claims sets, and the issuer (package
// claim) imports it from there: one copy, and the SDK's module needs
// nothing of the issuer's.
package jsonmember

import (
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"
)

// Member is one member of an object.
type Member struct {
	// Object identifies the object that holds the member (its offset in
	// the text): the members of one object share it.
	Object int
	// Depth is 0 for the members of the top-level value, 1 for the members
	// of objects in their values, and so on.
	Depth int
	// Name is the member's name, as encoding/json decodes it (escapes
	// undone, each byte of invalid UTF-8 a U+FFFD).
	Name string
	// Value is the member's value, as JSON text.
	Value []byte
}

// ErrSyntax is returned for a text Walk cannot walk.
var ErrSyntax = errors.New("jsonmember: malformed JSON text")

// Walk calls visit for each member of each object in the JSON value b
// holds, a member after the members inside its value, and stops at the
// first error visit returns. It does not check the syntax fully: give it
// text encoding/json accepts (json.Valid). Whatever b holds, it never reads
// past it, and it returns ErrSyntax for what it cannot walk.
func Walk(b []byte, visit func(Member) error) error {
	w := walker{b: b, visit: visit}
	return w.value(0)
}

type walker struct {
	b     []byte
	i     int
	visit func(Member) error
}

func (w *walker) space() {
	for w.i < len(w.b) && (w.b[w.i] == ' ' || w.b[w.i] == '\t' || w.b[w.i] == '\n' || w.b[w.i] == '\r') {
		w.i++
	}
}

// value moves past the value at w.i; depth is that of its members.
func (w *walker) value(depth int) error {
	w.space()
	if w.i >= len(w.b) {
		return ErrSyntax
	}
	switch w.b[w.i] {
	case '{':
		return w.object(depth)
	case '[':
		w.i++
		for {
			w.space()
			if w.i >= len(w.b) {
				return ErrSyntax
			}
			switch w.b[w.i] {
			case ']':
				w.i++
				return nil
			case ',':
				w.i++
			}
			if err := w.value(depth); err != nil {
				return err
			}
		}
	case '"':
		_, _, err := w.str()
		return err
	default: // a number, true, false or null
		start := w.i
		for w.i < len(w.b) && !strings.ContainsRune(",:{}[]\" \t\n\r", rune(w.b[w.i])) {
			w.i++
		}
		if w.i == start {
			return ErrSyntax
		}
		return nil
	}
}

// object moves past the object at w.i, visiting its members.
func (w *walker) object(depth int) error {
	obj := w.i
	w.i++ // {
	for {
		w.space()
		if w.i >= len(w.b) {
			return ErrSyntax
		}
		switch w.b[w.i] {
		case '}':
			w.i++
			return nil
		case ',':
			w.i++
			w.space()
		}
		raw, escaped, err := w.str()
		if err != nil {
			return err
		}
		w.space()
		if w.i >= len(w.b) || w.b[w.i] != ':' {
			return ErrSyntax
		}
		w.i++
		w.space()
		start := w.i
		if err := w.value(depth + 1); err != nil {
			return err
		}
		m := Member{Object: obj, Depth: depth, Value: w.b[start:w.i]}
		if m.Name, err = unquote(raw, escaped); err != nil {
			return err
		}
		if err := w.visit(m); err != nil {
			return err
		}
	}
}

// str moves past the string at w.i and returns its JSON text, and whether
// it has escapes.
func (w *walker) str() (raw []byte, escaped bool, err error) {
	if w.i >= len(w.b) || w.b[w.i] != '"' {
		return nil, false, ErrSyntax
	}
	start := w.i
	for w.i++; w.i < len(w.b); w.i++ {
		switch w.b[w.i] {
		case '\\':
			escaped = true
			w.i++
		case '"':
			w.i++
			return w.b[start:w.i], escaped, nil
		}
	}
	return nil, false, ErrSyntax
}

// Unquote returns the string a JSON string literal (its text, quotes
// included) stands for, as encoding/json decodes it.
func Unquote(raw []byte) (string, error) {
	w := walker{b: raw}
	raw, escaped, err := w.str()
	if err != nil || w.i != len(w.b) {
		return "", ErrSyntax
	}
	return unquote(raw, escaped)
}

func unquote(raw []byte, escaped bool) (string, error) {
	if !escaped && utf8.Valid(raw) {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil { // escapes; invalid UTF-8 to U+FFFD byte by byte
		return "", ErrSyntax
	}
	return s, nil
}
