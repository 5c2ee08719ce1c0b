package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/settings"
)

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read the audit stream",
	}
	cmd.AddCommand(newAuditTailCmd())
	return cmd
}

type tailConfig struct {
	url          string
	settingsPath string
	creds        string
	since        string
	client       string
	types        []string
	durable      string
	json         bool
	trace        bool
	follow       bool
}

func newAuditTailCmd() *cobra.Command {
	var cfg tailConfig
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "Follow or replay audit events",
		Long: `Follow the audit stream, or replay it from a point in time.

By default it connects to the embedded NATS server of a local
'scopeline serve' (nats://127.0.0.1:4222); --settings reads where to
connect from the settings file serve runs with (its nats: section, with
credentials and TLS), --url names a server.

Without --since it shows new events as they come; with --since it starts
at events stored since then (a duration such as 30m or 24h, an RFC 3339
time, or a date). --follow=false stops once it has caught up (and, without
--since, reads from the first event). --durable keeps the position in a
durable consumer on the server, so the next run with the same name goes
on where this one stopped.`,
		Example: `  scopeline audit tail
  scopeline audit tail --since 1h --type denied --type hook-failed
  scopeline audit tail --client demo-m2m --json | jq .data.trace
  scopeline audit tail --settings settings.yaml --durable siem-export --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			err := auditTail(ctx, cmd.OutOrStdout(), cfg, time.Now())
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.url, "url", "", "NATS server URL(s), comma-separated (default: from --settings, else nats://"+settings.DefaultEmbeddedListen+")")
	f.StringVar(&cfg.settingsPath, "settings", "", "settings file of the serve to read from: its nats: and audit: sections say where to connect and which stream to read")
	f.StringVar(&cfg.creds, "creds", "", "NATS credentials file (default: from --settings)")
	f.StringVar(&cfg.since, "since", "", "start at events stored since then: a duration (30m, 24h), an RFC 3339 time or a date (2006-01-02)")
	f.StringVar(&cfg.client, "client", "", "only events of requests naming this client id")
	f.StringSliceVar(&cfg.types, "type", nil, "only events of these kinds: issued, denied, hook-failed, tenant-reloaded, login, dry-run, revoked, introspected (repeatable)")
	f.StringVar(&cfg.durable, "durable", "", "read through a durable consumer of this name, remembering the position")
	f.BoolVar(&cfg.json, "json", false, "print each event as one line of JSON (the CloudEvent as stored)")
	f.BoolVar(&cfg.trace, "trace", false, "print each decision's trace below it")
	f.BoolVar(&cfg.follow, "follow", true, "keep waiting for new events")
	return cmd
}

// auditTail runs `scopeline audit tail`.
func auditTail(ctx context.Context, out io.Writer, cfg tailConfig, now time.Time) error {
	opts := audit.TailOptions{Durable: cfg.durable, Follow: cfg.follow}
	var err error
	if cfg.since != "" {
		if opts.Since, err = audit.ParseSince(cfg.since, now); err != nil {
			return usageError{fmt.Errorf("--since: %w", err)}
		}
	}
	for _, t := range cfg.types {
		for _, name := range strings.Split(t, ",") {
			k, err := audit.ParseKind(strings.TrimSpace(name))
			if err != nil {
				return usageError{fmt.Errorf("--type: %w", err)}
			}
			opts.Kinds = append(opts.Kinds, k)
		}
	}
	if cfg.client != "" {
		opts.Client = &cfg.client
	}
	if cfg.durable != "" && !settings.ValidStreamName(cfg.durable) {
		return usageError{fmt.Errorf("--durable %q: use letters, digits, '-' and '_'", cfg.durable)}
	}

	var st *settings.Settings
	if cfg.settingsPath != "" {
		var err error
		if st, err = settings.Load(cfg.settingsPath); err != nil {
			return err
		}
		opts.Stream, opts.SubjectPrefix = st.Audit.Stream.Name, st.Audit.SubjectPrefix
	}
	nc, err := dialNATS(st, cfg.url, cfg.creds, "scopeline audit tail")
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	w := &eventWriter{out: out, json: cfg.json, trace: cfg.trace}
	return audit.Tail(ctx, js, opts, w.write)
}

// eventWriter prints events as a table or as JSON lines.
type eventWriter struct {
	out    io.Writer
	json   bool
	trace  bool
	header bool
}

func (w *eventWriter) write(e *audit.TailedEvent) error {
	if w.json {
		_, err := fmt.Fprintf(w.out, "%s\n", e.Raw)
		return err
	}
	if !w.header {
		w.header = true
		fmt.Fprintf(w.out, "%-24s %-15s %-20s %-28s %-24s %s\n", "TIME", "KIND", "CLIENT", "AUDIENCE", "SCOPES", "DETAIL")
	}
	kind, _ := e.Kind()
	when := e.Time.UTC().Format("2006-01-02T15:04:05.000Z")
	if kind == audit.KindTenantReloaded {
		r, err := e.Reload()
		if err != nil {
			return err
		}
		detail := fmt.Sprintf("%d APIs, %d clients, %d grants, %d hooks", r.APIs, r.Clients, r.Grants, r.Hooks)
		if r.Result != "ok" {
			detail = "refused: " + r.Error
		}
		if r.RestartRequired {
			detail += " (nats/audit settings changed: restart to apply)"
		}
		_, err = fmt.Fprintf(w.out, "%-24s %-15s %-20s %-28s %-24s %s\n", when, kind, "-", "-", "-", oneLine(detail))
		return err
	}
	if kind == audit.KindLogin {
		l, err := e.Login()
		if err != nil {
			return err
		}
		detail := l.Outcome
		switch {
		case l.UserID != "":
			detail += " user=" + l.UserID
		case l.UnknownLogin:
			detail += " (unknown login name, not recorded)"
		}
		_, err = fmt.Fprintf(w.out, "%-24s %-15s %-20s %-28s %-24s %s\n", when, kind, cell(l.ClientID, 20), "-", "-", oneLine(detail))
		return err
	}
	if kind == audit.KindRevoked {
		r, err := e.Revocation()
		if err != nil {
			return err
		}
		detail := r.Outcome + " " + r.TokenType
		switch {
		case r.JTI != "":
			detail += " jti=" + r.JTI
		case r.FamilyID != "":
			detail += " family=" + r.FamilyID
		}
		if r.Owner != "" && r.Owner != r.ClientID {
			detail += " owner=" + r.Owner
		}
		if r.Error != nil {
			detail += ": " + r.Error.Code
		}
		_, err = fmt.Fprintf(w.out, "%-24s %-15s %-20s %-28s %-24s %s\n", when, kind, cell(r.ClientID, 20), cell(r.Audience, 28), "-", oneLine(detail))
		return err
	}
	if kind == audit.KindIntrospected {
		r, err := e.Introspection()
		if err != nil {
			return err
		}
		detail := r.Outcome
		if r.TokenType != "" {
			detail += " " + r.TokenType
		}
		if r.JTI != "" {
			detail += " jti=" + r.JTI
		}
		if r.Owner != "" && r.Owner != r.ClientID {
			detail += " owner=" + r.Owner
		}
		switch {
		case r.Error != nil:
			detail += ": " + r.Error.Code
		case r.Reason != "":
			detail += ": " + r.Reason
		}
		_, err = fmt.Fprintf(w.out, "%-24s %-15s %-20s %-28s %-24s %s\n", when, kind, cell(r.ClientID, 20), cell(r.Audience, 28), "-", oneLine(detail))
		return err
	}
	d, err := e.Decision()
	if err != nil {
		return err
	}
	scopes := d.GrantedScopes
	if d.Outcome != "issued" {
		scopes = d.RequestedScopes
	}
	var detail string
	switch {
	case d.Outcome == "issued":
		detail = fmt.Sprintf("jti=%s exp=%s", d.JTI, time.Unix(d.Expires, 0).UTC().Format(time.RFC3339))
	case d.Error != nil:
		detail = d.Error.Code
		if d.Error.Description != "" {
			detail += ": " + d.Error.Description
		}
	}
	for _, f := range d.HookFailures {
		detail += fmt.Sprintf("; hook %s: %s", f.Hook, f.Kind)
	}
	_, err = fmt.Fprintf(w.out, "%-24s %-15s %-20s %-28s %-24s %s\n", when, kind, cell(d.ClientID, 20), cell(d.Audience, 28),
		cell(strings.Join(scopes, " "), 24), oneLine(detail))
	if err != nil || !w.trace {
		return err
	}
	for _, t := range d.Trace {
		target := t.Scope
		if target == "" {
			target = t.Claim
		}
		refused := ""
		if t.Refused {
			refused = " (refused)"
		}
		fmt.Fprintf(w.out, "    %-16s %-12s %-20s%s %s\n", t.Stage, t.Op, target, refused, oneLine(t.Reason))
	}
	for _, l := range d.HookLogs {
		fmt.Fprintf(w.out, "    %-16s log          %s\n", l.Hook, oneLine(l.Message))
	}
	return nil
}

// cell fits s in a table column.
func cell(s string, width int) string {
	if s == "" {
		return "-"
	}
	s = oneLine(s)
	if r := []rune(s); len(r) > width {
		return string(r[:width-1]) + "…"
	}
	return s
}

// oneLine keeps a field on its line: control characters (which a request
// may carry) are shown escaped, never sent to the terminal.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}
