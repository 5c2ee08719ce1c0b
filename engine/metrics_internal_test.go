package engine

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestObserveToken checks that issued tokens and refusals land in their
// series, known grant types or not.
func TestObserveToken(t *testing.T) {
	m := newMetrics(prometheus.NewRegistry(), []string{GrantClientCredentials})
	m.observeToken(GrantClientCredentials, "", time.Millisecond)
	m.observeToken(GrantClientCredentials, "", time.Millisecond)
	m.observeToken(GrantClientCredentials, "invalid_scope", time.Millisecond)
	m.observeToken("urn:made-up", "", time.Millisecond)
	for _, c := range []struct {
		grant, outcome string
		want           float64
	}{
		{GrantClientCredentials, "issued", 2},
		{GrantClientCredentials, "invalid_scope", 1},
		{"other", "issued", 1},
	} {
		if got := testutil.ToFloat64(m.tokens.WithLabelValues(c.grant, c.outcome)); got != c.want {
			t.Errorf("%s %s: %v tokens, want %v", c.grant, c.outcome, got, c.want)
		}
	}
	if got := testutil.CollectAndCount(m.tokenTime); got != 2 {
		t.Errorf("%d duration series, want 2", got)
	}
}

// BenchmarkObserveToken is what counting an issued token costs: its
// series are resolved once (issued), not looked up by label values on
// every token (by-labels, as before).
func BenchmarkObserveToken(b *testing.B) {
	m := newMetrics(prometheus.NewRegistry(), []string{GrantClientCredentials})
	b.Run("issued", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.observeToken(GrantClientCredentials, "", time.Millisecond)
		}
	})
	b.Run("by-labels", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.tokens.WithLabelValues(GrantClientCredentials, "issued").Inc()
			m.tokenTime.WithLabelValues(GrantClientCredentials).Observe(time.Millisecond.Seconds())
		}
	})
}
