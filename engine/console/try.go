package console

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"

	"github.com/scopeline/scopeline/engine/audit"
	"github.com/scopeline/scopeline/engine/tenant"
)

// tryView is the "try a request" page: the form, and the trace of the
// dry run just made.
type tryView struct {
	Form   tryForm
	Tenant *tenant.Tenant
	Result *traceView
	Error  string
}

// tryForm is what the form holds.
type tryForm struct {
	Flow     string // machine or user
	ClientID string
	UserID   string
	API      string
	Scope    string
}

func readTryForm(q url.Values) tryForm {
	f := tryForm{Flow: q.Get("flow"), ClientID: clip(q.Get("client"), 256), UserID: clip(q.Get("user"), 256),
		API: clip(q.Get("api"), 512), Scope: clip(q.Get("scope"), 4096)}
	if f.Flow != "user" {
		f.Flow = "machine"
	}
	return f
}

func (c *Console) handleTryForm(w http.ResponseWriter, r *http.Request) {
	t := c.src.Tenant().Tenant
	c.render(w, r, http.StatusOK, "try", &view{Title: "Try a request", Nav: "try", Body: &tryView{Form: readTryForm(r.URL.Query()), Tenant: t}})
}

// handleTry runs the form's request as a dry run. Auditors may: nothing
// is minted or changed, and the run is on the audit stream with their
// name.
func (c *Console) handleTry(w http.ResponseWriter, r *http.Request) {
	if err := checkForm(r, "try"); err != nil {
		c.fail(w, r, err)
		return
	}
	u := userOf(r.Context())
	f := readTryForm(r.PostForm)
	req := &DryRunRequest{ClientID: f.ClientID, Audience: f.API, Scope: f.Scope, By: u.ID,
		RequestID: requestID(), IP: remoteIP(r), UserAgent: r.UserAgent()}
	if f.Flow == "user" {
		req.UserID = f.UserID
	}
	v := &tryView{Form: f, Tenant: c.src.Tenant().Tenant}
	d, err := c.src.DryRun(r.Context(), req)
	status := http.StatusOK
	if err != nil {
		c.log.Error("console: dry run", "user", u.ID, "err", err)
		v.Error, status = "The dry run could not be run or recorded on the audit stream, so its result is not shown: "+err.Error(), http.StatusServiceUnavailable
	} else {
		v.Result = newTraceView(d, audit.KindDryRun, nil)
	}
	c.render(w, r, status, "try", &view{Title: "Try a request", Nav: "try", Body: v})
}

func requestID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
