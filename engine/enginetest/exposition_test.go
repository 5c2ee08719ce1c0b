package enginetest

import (
	"strings"
	"testing"
)

// TestParseExposition checks that the parser takes a valid page and
// refuses each kind of invalid one, so that the tests built on it can
// fail.
func TestParseExposition(t *testing.T) {
	valid := `# HELP a_total
# TYPE a_total counter
a_total{k="x\\y\"z\nw",o="é"} 3
a_total{k="v"} 1
# TYPE h_seconds histogram
h_seconds_bucket{r="a",le="0.1"} 1
h_seconds_bucket{r="a",le="+Inf"} 2
h_seconds_sum{r="a"} 0.25
h_seconds_count{r="a"} 2
# TYPE s summary
s{quantile="0.5"} 1
s_sum 2
s_count 2
go_info_ext{compiler="gc", GOOS="linux"} 1
`
	e, err := ParseExposition(valid)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Series("a_total", "k", "x\\y\"z\nw"); len(got) != 1 || got[0].Value != 3 || got[0].Labels["o"] != "é" {
		t.Errorf("a_total{k=...} = %+v", got)
	}
	if got := e.Sum("a_total"); got != 4 {
		t.Errorf("sum of a_total = %v, want 4", got)
	}
	if e.Types["h_seconds"] != "histogram" {
		t.Errorf("types %v", e.Types)
	}
	if p := e.PartialHistograms(""); len(p) != 0 {
		t.Errorf("partial histograms %v", p)
	}
	e, err = ParseExposition("# TYPE go_h histogram\ngo_h_bucket{le=\"1\"} 1\ngo_h_bucket{le=\"+Inf\"} 1\n")
	if err != nil {
		t.Fatal(err)
	}
	if p := e.PartialHistograms("go_"); len(p) != 1 {
		t.Errorf("partial histograms %v, want go_h", p)
	}
	for _, c := range []struct{ name, page, want string }{
		{"bad escape", `a{k="\u200b"} 1`, `escape \u`},
		{"unterminated", `a{k="x} 1`, "unterminated"},
		{"bad name", `1a 1`, "bad metric name"},
		{"bad value", `a one`, "bad value"},
		{"duplicate", "a 1\na 2", "series twice"},
		{"duplicate label", `a{k="1",k="2"} 1`, "label k twice"},
		{"apart", "a 1\nb 1\na{k=\"v\"} 1", "not together"},
		{"type twice", "# TYPE a gauge\n# TYPE a gauge\na 1", "second TYPE"},
		{"type after", "a 1\n# TYPE a gauge", "TYPE after"},
		{"bad type", "# TYPE a meter\na 1", "not a type"},
		{"no +Inf", "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1", `no le="+Inf"`},
		{"no sum", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1", "_count or _sum alone"},
		{"count", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 2", "is not _count"},
		{"not cumulative", "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1", "not cumulative"},
	} {
		if _, err := ParseExposition(c.page); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}
