// Package yamlfile is what the issuer's YAML files (the tenant file, the
// settings file) share: errors that name the file, the line and the field;
// decoder errors rewritten the same way; and sizes with units.
package yamlfile

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// FieldError is a problem with one field of a file.
type FieldError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

// Error describes the failure.
func (e *FieldError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.File, e.Field, e.Msg)
}

// Read reads the file at path, of at most max bytes, and returns its
// contents with its absolute path and directory; errors start with pkg.
func Read(path string, max int, pkg string) (data []byte, abs, dir string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", "", fmt.Errorf("%s: %w", pkg, err)
	}
	defer f.Close()
	data, err = io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, "", "", fmt.Errorf("%s: %s: %w", pkg, path, err)
	}
	if len(data) > max {
		return nil, "", "", fmt.Errorf("%s: %s: larger than %d bytes", pkg, path, max)
	}
	if abs, err = filepath.Abs(path); err != nil {
		return nil, "", "", fmt.Errorf("%s: %w", pkg, err)
	}
	return data, abs, filepath.Dir(abs), nil
}

// Checker collects the errors of a file's validation, each at the line of
// the field it is about.
type Checker struct {
	// Name names the file in errors; Root is its parsed document.
	Name string
	Root *yaml.Node
	// Unlined are top-level keys whose errors carry no line: sections
	// validated from pieces decoded apart from Root (a tenant read from
	// the cluster's store), whose lines Root cannot tell. EntryLine, when
	// set, gives the line of entry i of such a section instead (0: none).
	Unlined   []string
	EntryLine func(section string, i int, rest []any) int
	// RootLine, when set, maps a line of Root to the line of the file
	// Root was cut from.
	RootLine func(line int) int
	errs     []error
}

// Err returns every error recorded, joined; nil when there is none.
func (c *Checker) Err() error { return errors.Join(c.errs...) }

// Has reports whether the document's top-level mapping has key.
func (c *Checker) Has(key string) bool {
	n := c.Root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

// Line is the line of the node at path, or of its nearest ancestor.
func (c *Checker) Line(path ...any) int {
	if c.Root == nil {
		return 0
	}
	if len(path) > 0 {
		if k, ok := path[0].(string); ok && slices.Contains(c.Unlined, k) {
			if i, ok := elem[int](path, 1); ok && c.EntryLine != nil {
				return c.EntryLine(k, i, path[2:])
			}
			return 0
		}
	}
	if c.RootLine != nil {
		return c.RootLine(lineOf(c.Root, path))
	}
	return lineOf(c.Root, path)
}

func elem[T any](path []any, i int) (T, bool) {
	var zero T
	if i >= len(path) {
		return zero, false
	}
	v, ok := path[i].(T)
	return v, ok
}

// Fail records an error at a path such as ("grants", 2, "api").
func (c *Checker) Fail(msg string, path ...any) {
	var b strings.Builder
	for _, p := range path {
		switch p := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", p)
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p)
		}
	}
	c.errs = append(c.errs, &FieldError{File: c.Name, Line: c.Line(path...), Field: b.String(), Msg: msg})
}

// LineOf is the line of the node at path under root, or of its nearest
// ancestor.
func LineOf(root *yaml.Node, path ...any) int { return lineOf(root, path) }

// lineOf finds the line of the node at path, or of its nearest ancestor.
func lineOf(root *yaml.Node, path []any) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, p := range path {
		var next *yaml.Node
		switch p := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == p {
						// Point at the key, so the message lands on the
						// field's name even when its value is a block.
						next, line = n.Content[i+1], n.Content[i].Line
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && p < len(n.Content) {
				next = n.Content[p]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

var (
	unknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type (\w+)\.(\w+)$`)
	lineMessage  = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// DecodeError rewrites the errors of a YAML decoder of file name, decoding
// into types of package pkg, into "file:line: message"; sectionOf names
// the part of the file a type of pkg decodes, for unknown fields.
func DecodeError(name string, err error, pkg string, sectionOf func(typ string) string) error {
	return DecodeErrorAt(name, err, pkg, sectionOf, 0)
}

// DecodeErrorAt is DecodeError for a piece of file name that starts after
// its line offset: the lines of the errors are moved by offset.
func DecodeErrorAt(name string, err error, pkg string, sectionOf func(typ string) string, offset int) error {
	msgs := []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var errs []error
	for _, msg := range msgs {
		if m := unknownField.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			errs = append(errs, &FieldError{File: name, Line: line + offset, Field: m[2], Msg: "unknown field in " + sectionOf(m[4])})
			continue
		}
		if m := lineMessage.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			errs = append(errs, fmt.Errorf("%s:%d: %s", name, line+offset, strings.ReplaceAll(m[2], pkg+".", "")))
			continue
		}
		errs = append(errs, fmt.Errorf("%s: %s", name, msg))
	}
	return errors.Join(errs...)
}

// ByteSize is a size written as a number of bytes or with a unit
// (KiB, MiB, GiB; K, M, G and KB, MB, GB are read as the binary units).
type ByteSize int64

// UnmarshalYAML reads "16MiB", "512KiB" or a plain number of bytes.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a size must be a number or a string such as 16MiB", n.Line)
	}
	size, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	*b = ByteSize(size)
	return nil
}

// ParseByteSize reads a size such as "16MiB" or "1048576".
func ParseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	mult := int64(1)
	switch strings.ToLower(unit) {
	case "", "b":
	case "k", "kb", "ki", "kib":
		mult = 1 << 10
	case "m", "mb", "mi", "mib":
		mult = 1 << 20
	case "g", "gb", "gi", "gib":
		mult = 1 << 30
	default:
		return 0, fmt.Errorf("invalid size %q: unit must be KiB, MiB or GiB", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return n * mult, nil
}

// Duration sets *dst to d when d is set and within [lo, hi]; otherwise it
// fails at path.
func (c *Checker) Duration(dst *time.Duration, d, lo, hi time.Duration, path ...any) {
	switch {
	case d == 0:
	case d < lo || d > hi:
		c.Fail(fmt.Sprintf("must be between %s and %s", lo, hi), path...)
	default:
		*dst = d
	}
}

// StringList reads either one string or a list of strings.
type StringList []string

// UnmarshalYAML reads one string or a sequence of them.
func (l *StringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = StringList{n.Value}
		return nil
	case yaml.SequenceNode:
		var s []string
		if err := n.Decode(&s); err != nil {
			return err
		}
		*l = s
		return nil
	}
	return fmt.Errorf("line %d: want a string or a list of strings", n.Line)
}

// LoopbackHost reports whether a URL's host names this machine
// (localhost, a name under .localhost, or a loopback address): where the
// files allow plain http and routes without TLS.
func LoopbackHost(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
