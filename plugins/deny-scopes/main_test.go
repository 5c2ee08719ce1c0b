package main

import "testing"

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, scope string
		want           bool
	}{
		{"delete:*", "delete:users", true},
		{"delete:*", "delete:", true},
		{"delete:*", "undelete:users", false},
		{"*:users", "read:users", true},
		{"*:users", "read:users:all", false},
		{"rea?:users", "read:users", true},
		{"rea?:users", "reads:users", false},
		{"*", "anything", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"admin", "admin", true},
		{"admin", "admins", false},
		{"https://api/*", "https://api/x/y", true},
	} {
		if got := match(tc.pattern, tc.scope); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.pattern, tc.scope, got, tc.want)
		}
	}
}
