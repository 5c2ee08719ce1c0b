package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/tenant"
)

// reloadRow is a tenant reload as the audit stream recorded it.
type reloadRow struct {
	Time time.Time
	Seq  uint64
	Data *audit.ReloadData
}

// tenantView is the tenant page.
type tenantView struct {
	State     TenantState
	Tenant    *tenant.Tenant
	Reloads   []reloadRow
	ReloadErr string
	CanReload bool
	// Revisions, when the source keeps them; Diff compares the revision
	// chosen (Rev) with another (Against: the one before it unless the
	// query names one; "" for the first revision).
	HasRevisions bool
	Revisions    []Revision
	Rev          string
	Against      string
	Diff         []diffLine
	DiffErr      string
	Flash        string
}

// maxReloads is how many reloads the tenant page lists.
const maxReloads = 20

func (c *Console) handleTenant(w http.ResponseWriter, r *http.Request) {
	ts := c.src.Tenant()
	_, canReload := c.src.(Reloader)
	v := &tenantView{State: ts, Tenant: ts.Tenant, CanReload: canReload}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	if ev := c.src.Events(); ev != nil {
		err := ev.Tail(ctx, audit.TailOptions{Kinds: []audit.Kind{audit.KindTenantReloaded}}, func(e *audit.TailedEvent) error {
			d, err := e.Reload()
			if err != nil {
				return nil
			}
			v.Reloads = append(v.Reloads, reloadRow{Time: e.Time, Seq: e.Seq, Data: d})
			if len(v.Reloads) > maxReloads {
				v.Reloads = v.Reloads[1:]
			}
			return nil
		})
		if err != nil {
			v.ReloadErr = err.Error()
		}
		for i, j := 0, len(v.Reloads)-1; i < j; i, j = i+1, j-1 {
			v.Reloads[i], v.Reloads[j] = v.Reloads[j], v.Reloads[i]
		}
	}
	if rs := c.cfg.Revisions; rs != nil {
		v.HasRevisions = true
		q := r.URL.Query()
		if err := c.revisions(ctx, rs, q.Get("rev"), q.Get("against"), v); err != nil {
			v.DiffErr = err.Error()
		}
	}
	switch r.URL.Query().Get("done") {
	case "reloaded":
		v.Flash = "The tenant was reloaded."
	}
	c.render(w, r, http.StatusOK, "tenant", &view{Title: "Tenant", Nav: "tenant", Body: v})
}

// maxRevisions is how many revisions the tenant page lists.
const maxRevisions = 50

// revisions lists the stored revisions and diffs the one chosen (rev, the
// newest by default) with another (against, the one before it by
// default), as `scopeline tenant diff REV [REV]` would.
func (c *Console) revisions(ctx context.Context, rs RevisionSource, rev, against string, v *tenantView) error {
	list, err := rs.Revisions(ctx, maxRevisions)
	if err != nil {
		return err
	}
	v.Revisions = list
	if len(list) == 0 {
		return nil
	}
	find := func(id string) int {
		return slices.IndexFunc(list, func(r Revision) bool { return r.ID == id })
	}
	at := 0
	if rev != "" {
		if at = find(rev); at < 0 {
			return errors.New("no such revision")
		}
	}
	v.Rev = list[at].ID
	base := at + 1
	if against != "" {
		if base = find(against); base < 0 {
			return errors.New("no such revision to compare with")
		}
	}
	newText, err := rs.RevisionText(ctx, list[at].ID)
	if err != nil {
		return err
	}
	var oldText []byte
	if base < len(list) {
		v.Against = list[base].ID
		if oldText, err = rs.RevisionText(ctx, v.Against); err != nil {
			return err
		}
	}
	d, ok := lineDiff(string(oldText), string(newText), 3)
	if !ok {
		return errors.New("the revisions are too large to compare here")
	}
	if slices.ContainsFunc(d, func(l diffLine) bool { return l.Op == '+' || l.Op == '-' }) {
		v.Diff = d
	}
	return nil
}

// handleReload reloads the tenant (operators only).
func (c *Console) handleReload(w http.ResponseWriter, r *http.Request) {
	rl, ok := c.src.(Reloader)
	if !ok {
		c.fail(w, r, errNotFound)
		return
	}
	c.operate(w, r, "reload", rl.Reload, "Reload refused", "The tenant was not reloaded; the current one keeps serving. ", "tenant", "reloaded")
}

// operate runs a write control for the operator signed in: it checks
// the form of purpose, runs do in their name, and sends the browser back
// to page saying done, or shows why do refused.
func (c *Console) operate(w http.ResponseWriter, r *http.Request, purpose string, do func(context.Context, string) error, refused, why, page, done string) {
	if err := checkForm(r, purpose); err != nil {
		c.fail(w, r, err)
		return
	}
	u := userOf(r.Context())
	if err := do(r.Context(), u.ID); err != nil {
		c.log.Warn("console: "+purpose+" refused", "user", u.ID, "err", err)
		c.fail(w, r, &pageError{Status: http.StatusConflict, Title: refused, Msg: why + err.Error()})
		return
	}
	c.log.Info("console: "+purpose, "user", u.ID)
	http.Redirect(w, r, c.url(page, url.Values{"done": {done}}), http.StatusSeeOther)
}

// overviewView is the console's home.
type overviewView struct {
	State      TenantState
	Clients    int
	APIs       int
	Grants     int
	Users      int
	Hooks      int
	Uncapped   []UncappedScope
	Exceeding  []*tenant.HookSpec
	Next       []nextRotation
	OpenBreak  []string
	FaultsSeen int
	Window     time.Duration
}

func (c *Console) handleOverview(w http.ResponseWriter, r *http.Request) {
	ts := c.src.Tenant()
	t := ts.Tenant
	v := &overviewView{State: ts, Clients: len(t.Clients), APIs: len(t.APIs), Grants: len(t.Grants), Users: len(t.Users)}
	v.Uncapped = NewMatrix(t, MatrixFilter{}).Uncapped()
	now := takeSample(c.src, c.now())
	base := c.stats.base(now.At)
	if base != nil {
		v.Window = now.At.Sub(base.At)
	}
	for _, trig := range tenant.Triggers {
		for _, h := range t.Pipelines[trig].Hooks {
			v.Hooks++
			if h.AllowExceedGrant {
				v.Exceeding = append(v.Exceeding, h)
			}
			hc := cost(now, base, hookKey{string(trig), h.Name})
			if hc.Open {
				v.OpenBreak = append(v.OpenBreak, string(trig)+"/"+h.Name)
			}
			v.FaultsSeen += hc.FaultTotal()
		}
	}
	ks := c.src.Keys()
	if ks.Set != nil {
		for _, k := range ks.Set.Keys() {
			if k.Status == "next" {
				from := k.Created.Add(ks.MinPublished)
				v.Next = append(v.Next, nextRotation{Algorithm: k.Algorithm, Next: k, From: from, Ready: !c.now().Before(from)})
			}
		}
	}
	c.render(w, r, http.StatusOK, "overview", &view{Title: "Overview", Nav: "overview", Body: v})
}
