// Command tzgen writes tzdata.h, the time zone database of the
// time-window plugin, from the IANA database that Go ships (the
// zoneinfo.zip of the Go toolchain the go command runs: plugins/build.sh
// pins it, so the output is reproducible).
//
// For each zone it keeps what a request's time needs, from 2000 on: the
// UTC offset in effect on 2000-01-01, the transitions from then until the
// zone's current rule (the POSIX TZ footer of its TZif file) takes over,
// and that rule. Links share their zone's data. Before writing, it checks
// that the kept data give Go's own offset at every transition from 2000
// to 2100 (and on either side of it), for every zone: a zone the rule
// does not describe keeps its transitions up to 2100 instead.
//
// Usage (from the repository's root): go run ./plugins/time-window/tzgen > plugins/time-window/tzdata.h
package main

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// epoch is where the kept data start: 2000-01-01T00:00:00Z.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

// horizon is how far the check (and a zone without a rule) goes.
var horizon = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

// date is a POSIX TZ rule date: the d-th weekday (0 Sunday) of week w
// (1-5, 5 the last) of month m, at secs seconds of local time.
type date struct{ m, w, d, secs int }

// rule is a zone's POSIX TZ footer: a standard offset and, for zones with
// daylight saving time, its offset and when it starts and ends.
type rule struct {
	std, dst   int // seconds east of UTC
	hasDST     bool
	start, end date
}

type transition struct {
	at  int64
	off int
}

type zone struct {
	initial    int // the offset in effect at epoch
	trans      []transition
	ruleFrom   int64 // the rule applies from this instant on (horizon: never)
	rule       rule
	signature  string
	names      []string
	index      int
	firstTrans int
}

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tzgen:", err)
		os.Exit(1)
	}
}

func run(out io.Writer) error {
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("go env GOROOT: %w", err)
	}
	path := filepath.Join(strings.TrimSpace(string(goroot)), "lib", "time", "zoneinfo.zip")
	z, err := zip.OpenReader(path)
	if err != nil {
		return err
	}
	defer z.Close()
	var names []string
	footers := map[string]string{}
	data := map[string][]byte{}
	for _, f := range z.File {
		r, err := f.Open()
		if err != nil {
			return err
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			return err
		}
		if len(b) < 2 || b[len(b)-1] != '\n' {
			return fmt.Errorf("%s: no TZif footer", f.Name)
		}
		i := bytes.LastIndexByte(b[:len(b)-1], '\n')
		names = append(names, f.Name)
		footers[f.Name] = string(b[i+1 : len(b)-1])
		data[f.Name] = b
	}
	slices.Sort(names)

	zones := map[string]*zone{}
	var order []*zone
	for _, name := range names {
		loc, err := time.LoadLocationFromTZData(name, data[name])
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		zn, err := build(loc, footers[name])
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if prev, ok := zones[zn.signature]; ok {
			prev.names = append(prev.names, name)
			continue
		}
		zn.names = []string{name}
		zn.index = len(order)
		zones[zn.signature] = zn
		order = append(order, zn)
	}
	return write(out, names, zones, order)
}

// build derives a zone's kept data from Go's view of it.
func build(loc *time.Location, footer string) (*zone, error) {
	var all []transition
	_, initial := time.Unix(epoch, 0).In(loc).Zone()
	for t := epoch; ; {
		end, ok := next(loc, t)
		if !ok {
			break
		}
		t = end
		_, off := time.Unix(t, 0).In(loc).Zone()
		all = append(all, transition{t, off})
	}
	r, rerr := parseRule(footer)
	zn := &zone{initial: initial, ruleFrom: horizon, trans: all}
	if rerr == nil {
		// the first instant from which the rule gives every transition
		starts := []int64{epoch}
		for _, tr := range all {
			starts = append(starts, tr.at)
		}
		for i, from := range starts {
			if matches(r, from, all[i:]) {
				zn.trans, zn.ruleFrom, zn.rule = all[:i], from, r
				break
			}
		}
	}
	if err := check(zn, loc); err != nil {
		return nil, err
	}
	var sig strings.Builder
	fmt.Fprintf(&sig, "%d|%d|%+v|", zn.initial, zn.ruleFrom, zn.rule)
	for _, tr := range zn.trans {
		fmt.Fprintf(&sig, "%d:%d,", tr.at, tr.off)
	}
	zn.signature = sig.String()
	return zn, nil
}

// next returns the first change of loc's UTC offset after t, before the
// horizon. Go's ZoneBounds gives the end of each zone period (a change of
// name or offset, or the end of a year its rule cache covers); where it
// answers none, step by a day.
func next(loc *time.Location, t int64) (int64, bool) {
	_, off := time.Unix(t, 0).In(loc).Zone()
	for {
		_, end := time.Unix(t, 0).In(loc).ZoneBounds()
		if end.IsZero() || end.Unix() <= t {
			break
		}
		if end.Unix() >= horizon {
			return 0, false
		}
		t = end.Unix()
		if _, o := time.Unix(t, 0).In(loc).Zone(); o != off {
			return t, true // a change of offset, not only of name
		}
	}
	for u := t; u < horizon; {
		step := int64(86400)
		if _, o := time.Unix(u+step, 0).In(loc).Zone(); o != off {
			for lo, hi := u, u+step; ; { // the first second with another offset
				if hi-lo <= 1 {
					return hi, true
				}
				mid := (lo + hi) / 2
				if _, o := time.Unix(mid, 0).In(loc).Zone(); o != off {
					hi = mid
				} else {
					lo = mid
				}
			}
		}
		u += step
	}
	return 0, false
}

// matches tells whether rule r, from instant from on, makes exactly the
// transitions trans (and no other) until the horizon.
func matches(r rule, from int64, trans []transition) bool {
	var got []transition
	prev := r.offset(from)
	for y := time.Unix(from, 0).UTC().Year(); y <= 2100 && r.hasDST; y++ {
		for _, at := range []int64{r.instant(y, r.start, r.std), r.instant(y, r.end, r.dst)} {
			if at > from && at < horizon {
				got = append(got, transition{at, 0})
			}
		}
	}
	slices.SortFunc(got, func(a, b transition) int { return int(a.at - b.at) })
	var kept []transition
	for _, tr := range got {
		off := r.offset(tr.at)
		if off != prev {
			kept = append(kept, transition{tr.at, off})
			prev = off
		}
	}
	if len(trans) > 0 && trans[0].at == from {
		// from is itself a transition: the rule must give its offset
		if r.offset(from) != trans[0].off {
			return false
		}
		trans = trans[1:]
	}
	return slices.Equal(kept, trans)
}

// check compares the kept data with Go at every transition, on either
// side of it, and at the epoch.
func check(zn *zone, loc *time.Location) error {
	points := []int64{epoch, horizon - 1}
	for t := epoch; ; {
		end, ok := next(loc, t)
		if !ok {
			break
		}
		t = end
		points = append(points, t-1, t, t+1)
	}
	for _, p := range points {
		if p < epoch || p >= horizon {
			continue
		}
		_, want := time.Unix(p, 0).In(loc).Zone()
		if got := zn.offset(p); got != want {
			return fmt.Errorf("offset at %s: %d, Go says %d", time.Unix(p, 0).UTC(), got, want)
		}
	}
	return nil
}

// offset is the lookup the plugin does (time-window.c's utc_offset).
func (zn *zone) offset(t int64) int {
	if t >= zn.ruleFrom {
		return zn.rule.offset(t)
	}
	off := zn.initial
	for _, tr := range zn.trans {
		if tr.at > t {
			break
		}
		off = tr.off
	}
	return off
}

func (r rule) offset(t int64) int {
	if !r.hasDST {
		return r.std
	}
	y := time.Unix(t, 0).UTC().Year()
	start, end := r.instant(y, r.start, r.std), r.instant(y, r.end, r.dst)
	if start < end {
		if t >= start && t < end {
			return r.dst
		}
		return r.std
	}
	if t >= end && t < start {
		return r.std
	}
	return r.dst
}

// instant is when date d of year y happens, its time being local with
// offset off.
func (r rule) instant(y int, d date, off int) int64 {
	first := time.Date(y, time.Month(d.m), 1, 0, 0, 0, 0, time.UTC)
	day := 1 + (d.d-int(first.Weekday())+7)%7 + 7*(d.w-1)
	last := time.Date(y, time.Month(d.m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
	for day > last {
		day -= 7
	}
	return time.Date(y, time.Month(d.m), day, 0, 0, 0, 0, time.UTC).Unix() + int64(d.secs) - int64(off)
}

// parseRule reads a POSIX TZ string with M-form dates, such as
// "CET-1CEST,M3.5.0,M10.5.0/3" or "<+0330>-3:30".
func parseRule(s string) (rule, error) {
	var r rule
	p := &tzParser{s: s}
	if !p.name() {
		return r, fmt.Errorf("footer %q: no standard time name", s)
	}
	std, ok := p.offset()
	if !ok {
		return r, fmt.Errorf("footer %q: no standard offset", s)
	}
	r.std = -std
	if p.done() {
		return r, nil
	}
	if !p.name() {
		return r, fmt.Errorf("footer %q: bad daylight saving time name", s)
	}
	r.hasDST = true
	r.dst = r.std + 3600
	if !p.done() && p.s[p.i] != ',' {
		dst, ok := p.offset()
		if !ok {
			return r, fmt.Errorf("footer %q: bad daylight saving offset", s)
		}
		r.dst = -dst
	}
	var err error
	if r.start, err = p.date(); err != nil {
		return r, fmt.Errorf("footer %q: %w", s, err)
	}
	if r.end, err = p.date(); err != nil {
		return r, fmt.Errorf("footer %q: %w", s, err)
	}
	if !p.done() {
		return r, fmt.Errorf("footer %q: text after the rule", s)
	}
	return r, nil
}

type tzParser struct {
	s string
	i int
}

func (p *tzParser) done() bool { return p.i >= len(p.s) }

func (p *tzParser) name() bool {
	if p.done() {
		return false
	}
	if p.s[p.i] == '<' {
		j := strings.IndexByte(p.s[p.i:], '>')
		if j < 0 {
			return false
		}
		p.i += j + 1
		return true
	}
	start := p.i
	for !p.done() && (p.s[p.i] >= 'A' && p.s[p.i] <= 'Z' || p.s[p.i] >= 'a' && p.s[p.i] <= 'z') {
		p.i++
	}
	return p.i-start >= 3
}

// offset reads [+-]hh[:mm[:ss]] in seconds.
func (p *tzParser) offset() (int, bool) {
	sign := 1
	if !p.done() && (p.s[p.i] == '+' || p.s[p.i] == '-') {
		if p.s[p.i] == '-' {
			sign = -1
		}
		p.i++
	}
	secs, mult := 0, 3600
	for part := 0; part < 3; part++ {
		start := p.i
		for !p.done() && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if p.i == start {
			return 0, false
		}
		n, _ := strconv.Atoi(p.s[start:p.i])
		secs += n * mult
		mult /= 60
		if p.done() || p.s[p.i] != ':' {
			break
		}
		p.i++
	}
	return sign * secs, true
}

// date reads ",Mm.w.d[/time]".
func (p *tzParser) date() (date, error) {
	var d date
	if p.done() || p.s[p.i] != ',' {
		return d, fmt.Errorf("want ,M")
	}
	p.i++
	if p.done() || p.s[p.i] != 'M' {
		return d, fmt.Errorf("only Mm.w.d dates are supported")
	}
	p.i++
	var nums [3]int
	for k := range nums {
		start := p.i
		for !p.done() && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if p.i == start {
			return d, fmt.Errorf("bad Mm.w.d date")
		}
		nums[k], _ = strconv.Atoi(p.s[start:p.i])
		if k < 2 {
			if p.done() || p.s[p.i] != '.' {
				return d, fmt.Errorf("bad Mm.w.d date")
			}
			p.i++
		}
	}
	d = date{m: nums[0], w: nums[1], d: nums[2], secs: 2 * 3600}
	if !p.done() && p.s[p.i] == '/' {
		p.i++
		secs, ok := p.offset()
		if !ok {
			return d, fmt.Errorf("bad time")
		}
		d.secs = secs
	}
	return d, nil
}

func write(out io.Writer, names []string, zones map[string]*zone, order []*zone) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "/* tzdata.h: the time zone database of the time-window plugin, made by\n")
	fmt.Fprintf(&b, " * plugins/time-window/tzgen from the IANA database of %s. Do not edit. */\n\n", runtime.Version())
	fmt.Fprintf(&b, "#define TZ_EPOCH %dLL /* 2000-01-01T00:00:00Z: data start here */\n\n", epoch)
	fmt.Fprintf(&b, "/* Zone names, sorted, each ending with a NUL byte. */\n#define TZ_NAMES %d\nstatic const char tz_names[] =\n", len(names))
	for _, n := range names {
		fmt.Fprintf(&b, "    %q \"\\0\"\n", n)
	}
	b.WriteString("    ;\n\n/* tz_name_zone[i] is the zone of the i-th name. */\nstatic const uint16_t tz_name_zone[] = {")
	zoneOf := map[string]int{}
	for _, zn := range order {
		for _, n := range zn.names {
			zoneOf[n] = zn.index
		}
	}
	for i, n := range names {
		if i%16 == 0 {
			b.WriteString("\n   ")
		}
		fmt.Fprintf(&b, " %d,", zoneOf[n])
	}
	b.WriteString("\n};\n\n")
	b.WriteString("/* Transitions from 2000 until each zone's rule: seconds since TZ_EPOCH, and the offset after. */\n")
	b.WriteString("static const uint32_t tz_trans_at[] = {")
	k := 0
	for _, zn := range order {
		zn.firstTrans = k
		for _, tr := range zn.trans {
			if k%8 == 0 {
				b.WriteString("\n   ")
			}
			fmt.Fprintf(&b, " %d,", tr.at-epoch)
			k++
		}
	}
	b.WriteString("\n    0};\nstatic const int32_t tz_trans_off[] = {")
	k = 0
	for _, zn := range order {
		for _, tr := range zn.trans {
			if k%12 == 0 {
				b.WriteString("\n   ")
			}
			fmt.Fprintf(&b, " %d,", tr.off)
			k++
		}
	}
	b.WriteString("\n    0};\n\n")
	b.WriteString("/* Zones: the offset at TZ_EPOCH, their transitions (first, count), from when\n")
	b.WriteString(" * (seconds since TZ_EPOCH; 0xffffffff never) the rule applies, and the rule:\n")
	b.WriteString(" * standard and daylight saving offsets, and the start and end of daylight\n")
	b.WriteString(" * saving time (month, week 1-5, weekday 0-6, seconds of local time). */\n")
	b.WriteString("static const tz_zone tz_zones[] = {\n")
	for _, zn := range order {
		from := uint32(0xffffffff)
		if zn.ruleFrom < horizon {
			from = uint32(zn.ruleFrom - epoch)
		}
		r := zn.rule
		fmt.Fprintf(&b, "    {%d, %d, %d, %du, %d, %d, %d, {%d, %d, %d, %d}, {%d, %d, %d, %d}}, /* %s */\n",
			zn.initial, zn.firstTrans, len(zn.trans), from, r.std, r.dst, btoi(r.hasDST),
			r.start.m, r.start.w, r.start.d, r.start.secs, r.end.m, r.end.w, r.end.d, r.end.secs, zn.names[0])
	}
	b.WriteString("};\n")
	_, err := out.Write(b.Bytes())
	return err
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
