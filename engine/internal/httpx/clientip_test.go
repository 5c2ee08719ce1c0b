package httpx

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	proxies := Proxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, tc := range []struct {
		remote string
		xff    []string
		want   string
	}{
		{"192.0.2.1:4000", []string{"198.51.100.9"}, "192.0.2.1"}, // not from a proxy: its header is not believed
		{"10.0.0.2:4000", nil, "10.0.0.2"},
		{"10.0.0.2:4000", []string{"198.51.100.9"}, "198.51.100.9"},
		{"10.0.0.2:4000", []string{"198.51.100.9, 10.0.0.3"}, "198.51.100.9"},
		{"10.0.0.2:4000", []string{"203.0.113.5, 198.51.100.9"}, "198.51.100.9"}, // the nearest untrusted hop
		{"10.0.0.2:4000", []string{"203.0.113.5", "198.51.100.9"}, "198.51.100.9"},
		// Entries with ports, as some proxies write them.
		{"10.0.0.2:4000", []string{"198.51.100.9:50312"}, "198.51.100.9"},
		{"10.0.0.2:4000", []string{"198.51.100.9:50312, 10.0.0.3:80"}, "198.51.100.9"},
		{"10.0.0.2:4000", []string{"[2001:db8::7]:443"}, "2001:db8::7"},
		{"10.0.0.2:4000", []string{"[2001:db8::7]"}, "2001:db8::7"},
		{"10.0.0.2:4000", []string{"::ffff:198.51.100.9"}, "198.51.100.9"},
		// An entry that is no address stops the walk at the last trusted hop.
		{"10.0.0.2:4000", []string{"unknown"}, "10.0.0.2"},
		{"10.0.0.2:4000", []string{"198.51.100.9, garbage, 10.0.0.3"}, "10.0.0.3"},
		{"10.0.0.2:4000", []string{"[198.51.100.9"}, "10.0.0.2"},
	} {
		r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{"X-Forwarded-For": tc.xff}}
		if got := proxies.ClientIP(r); got != tc.want {
			t.Errorf("%s %q: %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}
