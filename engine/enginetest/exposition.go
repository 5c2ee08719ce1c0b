package enginetest

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"
)

// Exposition is a metrics page in the Prometheus text format (version
// 0.0.4), as /metrics serves it.
type Exposition struct {
	// Types maps each family that has a # TYPE line to its type.
	Types   map[string]string
	Samples []Sample

	histograms map[string]*histogram // by family and labels but le
}

// Sample is one line of an exposition: a series and its value.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Metrics writes set as `scopeline serve` writes /metrics, with # TYPE
// lines (it turns metrics.ExposeMetadata on, for the whole process), and
// parses it; the test fails if the page is not valid (ParseExposition).
func Metrics(tb testing.TB, set *metrics.Set) *Exposition {
	tb.Helper()
	metrics.ExposeMetadata(true)
	var b bytes.Buffer
	set.WritePrometheus(&b)
	e, err := ParseExposition(b.String())
	if err != nil {
		tb.Fatalf("%v in\n%s", err, b.String())
	}
	return e
}

// Sum returns the sum of the samples named name whose labels include
// labels (name, value pairs).
func (e *Exposition) Sum(name string, labels ...string) float64 {
	sum := 0.0
	for _, s := range e.Samples {
		if s.Name == name && s.has(labels) {
			sum += s.Value
		}
	}
	return sum
}

// Series returns the samples named name whose labels include labels.
func (e *Exposition) Series(name string, labels ...string) []Sample {
	var ss []Sample
	for _, s := range e.Samples {
		if s.Name == name && s.has(labels) {
			ss = append(ss, s)
		}
	}
	return ss
}

func (s Sample) has(labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		if v, ok := s.Labels[labels[i]]; !ok || v != labels[i+1] {
			return false
		}
	}
	return true
}

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	metricTypes  = []string{"counter", "gauge", "histogram", "summary", "untyped"}
)

// ParseExposition parses a page in the Prometheus text format strictly:
// valid names, label values with only the escapes \\, \" and \n, no
// series twice, a # TYPE line at most once per family and before its
// samples, each family's lines together, and every histogram series
// whole: cumulative _bucket lines in increasing le up to le="+Inf", and
// _sum and _count, the +Inf bucket's count. (The Go runtime's histograms
// that package metrics writes, go_sched_latencies_seconds and
// go_gc_pauses_seconds, have neither _sum nor _count: a histogram may
// lack both; PartialHistograms lists those that do.)
func ParseExposition(text string) (*Exposition, error) {
	e := &Exposition{Types: map[string]string{}}
	seen := map[string]bool{}     // series, to refuse duplicates
	families := map[string]bool{} // families whose lines ended
	current := ""
	enter := func(family string) error {
		if family == current {
			return nil
		}
		if families[family] {
			return fmt.Errorf("the lines of %s are not together", family)
		}
		if current != "" {
			families[current] = true
		}
		current = family
		return nil
	}
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		fail := func(format string, args ...any) error {
			return fmt.Errorf("line %d %q: %s", n+1, line, fmt.Sprintf(format, args...))
		}
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "# HELP "), strings.HasPrefix(line, "# TYPE "):
			f := strings.Fields(line[len("# TYPE "):])
			if len(f) == 0 || !metricNameRE.MatchString(f[0]) {
				return nil, fail("no metric name")
			}
			if err := enter(f[0]); err != nil {
				return nil, fail("%v", err)
			}
			if line[2] == 'H' {
				continue
			}
			if len(f) != 2 || !slices.Contains(metricTypes, f[1]) {
				return nil, fail("not a type")
			}
			if _, dup := e.Types[f[0]]; dup {
				return nil, fail("a second TYPE line")
			}
			for _, s := range e.Samples {
				if familyOf(e.Types, s.Name) == f[0] || s.Name == f[0] {
					return nil, fail("TYPE after the family's samples")
				}
			}
			e.Types[f[0]] = f[1]
		case strings.HasPrefix(line, "#"):
			continue
		default:
			s, series, err := parseSample(line)
			if err != nil {
				return nil, fail("%v", err)
			}
			if seen[series] {
				return nil, fail("the series twice")
			}
			seen[series] = true
			if err := enter(familyOf(e.Types, s.Name)); err != nil {
				return nil, fail("%v", err)
			}
			e.Samples = append(e.Samples, s)
		}
	}
	return e, e.checkHistograms()
}

// familyOf returns the family a sample name belongs to: a histogram's
// or a summary's own when the name has one of their suffixes.
func familyOf(types map[string]string, name string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		switch types[base] {
		case "histogram":
			return base
		case "summary":
			if suffix != "_bucket" {
				return base
			}
		}
	}
	return name
}

// parseSample parses name{labels} value [timestamp]; series is the name
// with its labels sorted.
func parseSample(line string) (s Sample, series string, err error) {
	s.Labels = map[string]string{}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return s, "", fmt.Errorf("no value")
	}
	s.Name, line = line[:i], line[i:]
	if !metricNameRE.MatchString(s.Name) {
		return s, "", fmt.Errorf("bad metric name %q", s.Name)
	}
	if line[0] == '{' {
		line = line[1:]
		for {
			line = strings.TrimLeft(line, " ")
			if strings.HasPrefix(line, "}") {
				line = line[1:]
				break
			}
			eq := strings.Index(line, `="`)
			if eq < 0 {
				return s, "", fmt.Errorf("bad labels")
			}
			name := line[:eq]
			if !labelNameRE.MatchString(name) {
				return s, "", fmt.Errorf("bad label name %q", name)
			}
			value, rest, err := unescapeLabelValue(line[eq+2:])
			if err != nil {
				return s, "", err
			}
			if _, dup := s.Labels[name]; dup {
				return s, "", fmt.Errorf("label %s twice", name)
			}
			s.Labels[name] = value
			line = rest
			if strings.HasPrefix(line, ",") {
				line = line[1:]
			} else if !strings.HasPrefix(line, "}") {
				return s, "", fmt.Errorf("bad labels")
			}
		}
	}
	f := strings.Fields(line)
	if len(f) == 0 || len(f) > 2 || !strings.HasPrefix(line, " ") {
		return s, "", fmt.Errorf("bad value")
	}
	if s.Value, err = strconv.ParseFloat(f[0], 64); err != nil {
		return s, "", fmt.Errorf("bad value %q", f[0])
	}
	if len(f) == 2 {
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			return s, "", fmt.Errorf("bad timestamp %q", f[1])
		}
	}
	names := make([]string, 0, len(s.Labels))
	for n := range s.Labels {
		names = append(names, n)
	}
	slices.Sort(names)
	series = s.Name
	for _, n := range names {
		series += "\x00" + n + "\x00" + s.Labels[n]
	}
	return s, series, nil
}

// unescapeLabelValue reads a label value up to its closing quote.
func unescapeLabelValue(in string) (value, rest string, err error) {
	var b strings.Builder
	for i := 0; i < len(in); i++ {
		switch c := in[i]; c {
		case '"':
			return b.String(), in[i+1:], nil
		case '\n':
			return "", "", fmt.Errorf("a line feed in a label value")
		case '\\':
			i++
			if i == len(in) {
				return "", "", fmt.Errorf("an unterminated label value")
			}
			switch in[i] {
			case '\\':
				b.WriteByte('\\')
			case '"':
				b.WriteByte('"')
			case 'n':
				b.WriteByte('\n')
			default:
				return "", "", fmt.Errorf("the escape \\%c in a label value", in[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", "", fmt.Errorf("an unterminated label value")
}

// PartialHistograms returns the histogram series, of the families whose
// names start with prefix, that have neither _sum nor _count.
func (e *Exposition) PartialHistograms(prefix string) (partial []string) {
	for k, h := range e.histograms {
		if strings.HasPrefix(k, prefix) && !h.hasCount {
			partial = append(partial, k)
		}
	}
	slices.Sort(partial)
	return partial
}

// histogram is one histogram series as checkHistograms reads it.
type histogram struct {
	les        []float64
	counts     []float64
	count, sum float64
	hasCount   bool
	hasSum     bool
}

// checkHistograms checks that each histogram series has cumulative
// buckets up to +Inf, whose count is _count, and a _sum; or neither
// _count nor _sum.
func (e *Exposition) checkHistograms() error {
	e.histograms = map[string]*histogram{}
	hs := e.histograms
	key := func(family string, labels map[string]string) string {
		names := make([]string, 0, len(labels))
		for n := range labels {
			if n != "le" {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		k := family
		for _, n := range names {
			k += "," + n + "=" + strconv.Quote(labels[n])
		}
		return k
	}
	for _, s := range e.Samples {
		family := familyOf(e.Types, s.Name)
		if e.Types[family] != "histogram" {
			continue
		}
		k := key(family, s.Labels)
		h := hs[k]
		if h == nil {
			h = &histogram{}
			hs[k] = h
		}
		switch s.Name {
		case family + "_bucket":
			le, ok := s.Labels["le"]
			if !ok {
				return fmt.Errorf("%s: a bucket without le", k)
			}
			v, err := strconv.ParseFloat(le, 64)
			if err != nil {
				return fmt.Errorf("%s: le=%q", k, le)
			}
			if n := len(h.les); n > 0 && (v <= h.les[n-1] || s.Value < h.counts[n-1]) {
				return fmt.Errorf("%s: buckets not cumulative in increasing le at le=%q", k, le)
			}
			h.les, h.counts = append(h.les, v), append(h.counts, s.Value)
		case family + "_count":
			h.count, h.hasCount = s.Value, true
		case family + "_sum":
			h.sum, h.hasSum = s.Value, true
		default:
			return fmt.Errorf("%s: sample %s in a histogram", k, s.Name)
		}
	}
	for k, h := range hs {
		n := len(h.les)
		switch {
		case n == 0 || !math.IsInf(h.les[n-1], 1):
			return fmt.Errorf("%s: no le=\"+Inf\" bucket", k)
		case h.hasCount != h.hasSum:
			return fmt.Errorf("%s: _count or _sum alone", k)
		case h.hasCount && h.counts[n-1] != h.count:
			return fmt.Errorf("%s: the +Inf bucket (%v) is not _count (%v)", k, h.counts[n-1], h.count)
		}
	}
	return nil
}
