package keys

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newTestKEK(t *testing.T) *KEK {
	t.Helper()
	text, err := GenerateKEK(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKEK([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseKEK(t *testing.T) {
	raw := bytes.Repeat([]byte{0xfb}, 32) // has '+' and '/' in standard base64
	a, err := ParseKEK([]byte("  +/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/s=\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseKEK([]byte("-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := newKEK(raw)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID() != b.ID() || a.ID() != c.ID() {
		t.Errorf("one key, ids %s %s %s", a.ID(), b.ID(), c.ID())
	}
	if strings.Contains(a.ID(), "-_v7") || strings.Contains(a.ID(), "+/v7") {
		t.Errorf("the id %s shows the key", a.ID())
	}
	if newTestKEK(t).ID() == a.ID() {
		t.Error("two keys, one id")
	}
	for _, tc := range []struct{ in, want string }{
		{"not base64!", "not base64"},
		{"c2hvcnQ=", "has 5 bytes, want 32"},
		{"", "has 0 bytes"},
	} {
		if _, err := ParseKEK([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestLoadKEK(t *testing.T) {
	dir := t.TempDir()
	text, err := GenerateKEK(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "kek")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := LoadKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := ParseKEK([]byte(text)); p.ID() != k.ID() {
		t.Error("file and text differ")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKEK(path); err == nil || !strings.Contains(err.Error(), "make it 0600") {
		t.Errorf("a world-readable KEK file: %v", err)
	}
	if _, err := LoadKEK(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file")
	}
}

func TestSealBindsTheAssociatedData(t *testing.T) {
	k := newTestKEK(t)
	nonce, sealed, err := k.seal([]byte("secret"), []byte("kid-1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("secret")) {
		t.Fatal("sealed text holds the plaintext")
	}
	if got, err := k.open(nonce, sealed, []byte("kid-1")); err != nil || string(got) != "secret" {
		t.Fatalf("open: %q, %v", got, err)
	}
	if _, err := k.open(nonce, sealed, []byte("kid-2")); err == nil {
		t.Error("opened under another key id")
	}
	if _, err := newTestKEK(t).open(nonce, sealed, []byte("kid-1")); err == nil {
		t.Error("opened with another KEK")
	}
	if _, err := k.open(nonce[:4], sealed, []byte("kid-1")); err == nil {
		t.Error("opened with a short nonce")
	}
}

func FuzzParseKEK(f *testing.F) {
	f.Add([]byte("+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/s=\n"))
	f.Add([]byte("-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s"))
	f.Add([]byte("c2hvcnQ="))
	f.Fuzz(func(t *testing.T, text []byte) {
		k, err := ParseKEK(text)
		if err != nil {
			return
		}
		nonce, sealed, err := k.seal([]byte("x"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := k.open(nonce, sealed, nil); err != nil || string(got) != "x" {
			t.Fatalf("round trip: %q, %v", got, err)
		}
	})
}
