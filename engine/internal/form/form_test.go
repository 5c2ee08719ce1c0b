package form

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	v, err := Parse("grant_type=client_credentials&scope=read%3Ausers+write%3Ausers&audience=&resource=a&resource=b", "resource")
	if err != nil {
		t.Fatal(err)
	}
	if v.Get("grant_type") != "client_credentials" || v.Get("scope") != "read:users write:users" {
		t.Errorf("values = %v", v)
	}
	if _, ok := v["audience"]; ok {
		t.Error("an empty value must count as absent")
	}
	if len(v["resource"]) != 2 {
		t.Errorf("repeatable parameter: %v", v["resource"])
	}
	for _, bad := range []string{
		"scope=a&scope=b",
		"a=%zz",
		"%zz=a",
		strings.Repeat("a=1&", MaxParams+1),
		"a=" + strings.Repeat("x", MaxValueLen+1),
	} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%.40q): want an error", bad)
		}
	}
}

func TestBasicAuth(t *testing.T) {
	enc := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		header, id, secret string
		err                bool
	}{
		{header: enc("demo-m2m:demo-m2m-secret"), id: "demo-m2m", secret: "demo-m2m-secret"},
		// RFC 6749 §2.3.1: both parts are form-encoded, as x/oauth2 sends them.
		{header: enc(url.QueryEscape("a:b c") + ":" + url.QueryEscape("p@ss:w+rd%")), id: "a:b c", secret: "p@ss:w+rd%"},
		{header: enc("id:"), id: "id", secret: ""},
		{header: "basic " + base64.StdEncoding.EncodeToString([]byte("x:y")), id: "x", secret: "y"},
		{header: enc("no-colon"), err: true},
		{header: "Basic !!!", err: true},
		{header: "Bearer abc", err: true},
		{header: "", err: true},
		{header: enc("a%zz:b"), err: true},
	}
	for _, tt := range tests {
		id, secret, err := BasicAuth(tt.header)
		if (err != nil) != tt.err || id != tt.id || secret != tt.secret {
			t.Errorf("BasicAuth(%q) = %q, %q, %v", tt.header, id, secret, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"grant_type=client_credentials&scope=a+b", "a=1&a=2", "&&=&", "%", "a=%2", "resource=x&resource=y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		v, err := Parse(body, "resource")
		if err != nil {
			return
		}
		for k, vals := range v {
			if len(vals) > 1 && k != "resource" {
				t.Fatalf("repeated %q accepted", k)
			}
			for _, val := range vals {
				if val == "" || len(val) > MaxValueLen {
					t.Fatalf("value %q kept", val)
				}
			}
		}
	})
}

func FuzzBasicAuth(f *testing.F) {
	for _, s := range []string{"Basic ZGVtby1tMm06ZGVtby1tMm0tc2VjcmV0", "Basic", "Basic =", "Bearer x", "Basic OmE="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		id, secret, err := BasicAuth(header)
		if err != nil {
			return
		}
		// What decodes must encode back to credentials that decode the same.
		again := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
		id2, secret2, err := BasicAuth(again)
		if err != nil || id2 != id || secret2 != secret {
			t.Fatalf("round trip of %q: %q %q %v", header, id2, secret2, err)
		}
	})
}

func TestParseLong(t *testing.T) {
	long := map[string]int{"subject_token": 16 << 10}
	big := strings.Repeat("a", MaxValueLen+1)
	if v, err := ParseLong("subject_token="+big+"&scope=x", MaxValueLen, long); err != nil || v.Get("subject_token") != big {
		t.Errorf("a long parameter allowed long: %v", err)
	}
	if _, err := ParseLong("scope="+big, MaxValueLen, long); err == nil {
		t.Error("another parameter as long was accepted")
	}
	if _, err := ParseLong("subject_token="+strings.Repeat("a", 16<<10+1), MaxValueLen, long); err == nil {
		t.Error("a parameter longer than its own bound was accepted")
	}
}
