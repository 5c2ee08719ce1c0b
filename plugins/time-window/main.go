// Command time-window is the time-window plugin: it denies requests made
// outside configured days and hours, in UTC or a named time zone. The time
// is the request's arrival time.
//
// Config (docs/hooks.md):
//
//	zone: Europe/Paris              # an IANA zone; default UTC
//	windows:                        # allowed when inside any window
//	  - days: [mon, tue, wed, thu, fri]
//	    from: "08:00"
//	    to: "18:30"                 # to < from spans midnight
//	reason: outside business hours  # error_description (optional)
//
// Build: see plugins/build.sh.
package main

import (
	"errors"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // the zone database, since a hook sees no file system

	"github.com/scopeline/scopeline/sdk/hook"
)

type window struct {
	days     [7]bool
	from, to int // minutes since midnight
}

type settings struct {
	zone    *time.Location
	windows []window
	reason  string
}

var conf settings

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

func init() {
	hook.Setup(configure)
	hook.Handle(checkWindow)
}

func configure(raw []byte) error {
	var c struct {
		Zone    string `json:"zone"`
		Windows []struct {
			Days []string `json:"days"`
			From string   `json:"from"`
			To   string   `json:"to"`
		} `json:"windows"`
		Reason string `json:"reason"`
	}
	if raw == nil {
		return errors.New("config is required: give windows")
	}
	if err := hook.DecodeConfig(raw, &c); err != nil {
		return err
	}
	s := settings{zone: time.UTC, reason: c.Reason}
	if c.Zone != "" {
		loc, err := time.LoadLocation(c.Zone)
		if err != nil {
			return errors.New("config: zone " + strconv.Quote(c.Zone) + ": " + err.Error())
		}
		s.zone = loc
	}
	if s.reason == "" {
		s.reason = "requests are not allowed at this time"
	}
	if len(c.Windows) == 0 {
		return errors.New("config: windows is empty")
	}
	for i, cw := range c.Windows {
		var w window
		if len(cw.Days) == 0 {
			for d := range w.days {
				w.days[d] = true
			}
		}
		for _, d := range cw.Days {
			wd, ok := dayNames[strings.ToLower(d)]
			if !ok {
				return errors.New("config: windows[" + strconv.Itoa(i) + "]: day " + strconv.Quote(d) + ": want mon, tue, wed, thu, fri, sat or sun")
			}
			w.days[wd] = true
		}
		var err error
		if w.from, err = clock(cw.From, 0); err != nil {
			return errors.New("config: windows[" + strconv.Itoa(i) + "].from: " + err.Error())
		}
		if w.to, err = clock(cw.To, 24*60); err != nil {
			return errors.New("config: windows[" + strconv.Itoa(i) + "].to: " + err.Error())
		}
		if w.from == w.to {
			return errors.New("config: windows[" + strconv.Itoa(i) + "]: from and to are equal")
		}
		s.windows = append(s.windows, w)
	}
	conf = s
	return nil
}

// clock reads "HH:MM" as minutes since midnight ("24:00" is the end of
// the day); empty means def.
func clock(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	t, err := time.Parse("15:04", s)
	if s == "24:00" {
		return 24 * 60, nil
	}
	if err != nil {
		return 0, errors.New(strconv.Quote(s) + " is not HH:MM")
	}
	return t.Hour()*60 + t.Minute(), nil
}

// inside reports whether the moment t (in the configured zone) falls in w.
// A window whose end is before its start spans midnight: it starts on
// its listed days and ends on the next day.
func (w window) inside(t time.Time) bool {
	m := t.Hour()*60 + t.Minute()
	day := t.Weekday()
	if w.from < w.to {
		return w.days[day] && m >= w.from && m < w.to
	}
	yesterday := (day + 6) % 7
	return (w.days[day] && m >= w.from) || (w.days[yesterday] && m < w.to)
}

func checkWindow(e *hook.Event, c *hook.Changes) error {
	at := e.Time()
	if at.IsZero() {
		c.Deny(hook.AccessDenied, "the request time is unknown")
		return nil
	}
	local := at.In(conf.zone)
	for _, w := range conf.windows {
		if w.inside(local) {
			return nil
		}
	}
	c.Deny(hook.AccessDenied, conf.reason)
	return nil
}

func main() {}
