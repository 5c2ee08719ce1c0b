package main

import (
	"testing"
	"time"
)

func TestInside(t *testing.T) {
	weekdays := window{from: 8 * 60, to: 18 * 60}
	for d := time.Monday; d <= time.Friday; d++ {
		weekdays.days[d] = true
	}
	night := window{from: 22 * 60, to: 6 * 60}
	night.days[time.Friday] = true
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		w    window
		at   string
		want bool
	}{
		{weekdays, "2026-03-04T08:00:00Z", true}, // Wednesday, opening minute
		{weekdays, "2026-03-04T17:59:00Z", true},
		{weekdays, "2026-03-04T18:00:00Z", false}, // `to` is exclusive
		{weekdays, "2026-03-04T07:59:00Z", false},
		{weekdays, "2026-03-07T10:00:00Z", false}, // Saturday
		{night, "2026-03-06T22:00:00Z", true},     // Friday night
		{night, "2026-03-07T05:59:00Z", true},     // Saturday morning, from Friday
		{night, "2026-03-07T06:00:00Z", false},
		{night, "2026-03-07T23:00:00Z", false}, // Saturday night: not listed
		{night, "2026-03-06T03:00:00Z", false}, // Friday morning: Thursday not listed
	} {
		if got := tc.w.inside(at(tc.at)); got != tc.want {
			t.Errorf("%s: inside = %v, want %v", tc.at, got, tc.want)
		}
	}
}

func TestClock(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		err  bool
	}{{"", 5, false}, {"00:00", 0, false}, {"08:30", 510, false}, {"24:00", 1440, false}, {"25:00", 0, true}, {"8h", 0, true}} {
		got, err := clock(tc.in, 5)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("clock(%q) = %d, %v", tc.in, got, err)
		}
	}
}
