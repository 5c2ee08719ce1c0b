// Package text cuts text to size for traces, logs and audit events, and
// formats waits for Retry-After.
package text

import (
	"strconv"
	"time"
)

// Truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// RetryAfter formats a wait as whole seconds, rounded up, at least 1: the
// value of a Retry-After header.
func RetryAfter(d time.Duration) string {
	return strconv.FormatInt(max(1, int64((d+time.Second-1)/time.Second)), 10)
}
