package console

import (
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/scopeline/scopeline/engine/tenant"
)

// pipelineView is one trigger's pipeline, in order.
type pipelineView struct {
	Trigger tenant.Trigger
	Timeout time.Duration
	Hooks   []hookView
}

// hookView is one hook of a pipeline.
type hookView struct {
	Spec   *tenant.HookSpec
	Index  int
	Source string // plugin:NAME, or the module's path
	Module *Module
	Cost   HookCost
}

// hooksView is the hooks page.
type hooksView struct {
	Pipelines []pipelineView
	Window    time.Duration
	File      string
}

func (c *Console) handleHooks(w http.ResponseWriter, r *http.Request) {
	ts := c.src.Tenant()
	now := takeSample(c.src, c.now())
	base := c.stats.base(now.At)
	v := &hooksView{File: ts.Source}
	if base != nil {
		v.Window = now.At.Sub(base.At)
	}
	for _, trig := range tenant.Triggers {
		p := ts.Tenant.Pipelines[trig]
		pv := pipelineView{Trigger: trig, Timeout: p.Timeout}
		for i, h := range p.Hooks {
			hv := hookView{Spec: h, Index: i + 1, Module: c.src.Module(h), Cost: cost(now, base, hookKey{string(trig), h.Name})}
			if h.Plugin != "" {
				hv.Source = "plugin " + h.Plugin
			} else if rel, err := filepath.Rel(ts.Tenant.Dir, h.Module); err == nil && !strings.HasPrefix(rel, "..") {
				hv.Source = rel
			} else {
				hv.Source = h.Module
			}
			pv.Hooks = append(pv.Hooks, hv)
		}
		v.Pipelines = append(v.Pipelines, pv)
	}
	c.render(w, r, http.StatusOK, "hooks", &view{Title: "Hooks", Nav: "hooks", Body: v})
}
