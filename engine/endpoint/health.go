package endpoint

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/scopeline/scopeline/engine/internal/httpx"
)

// handleLive answers that the process runs.
func (e *Endpoints) handleLive(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReady answers whether the issuer can serve: a tenant loaded and
// every readiness check passing.
func (e *Endpoints) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	failing, degraded := map[string]string{}, map[string]string{}
	if e.iss.Tenant() == nil {
		failing["tenant"] = "no tenant loaded"
	}
	for _, c := range e.cfg.Ready {
		if err := c.Check(ctx); err != nil && c.Advisory {
			degraded[c.Name] = err.Error()
		} else if err != nil {
			failing[c.Name] = err.Error()
		}
	}
	if len(failing) > 0 {
		e.cfg.Log.Warn("not ready", slog.Any("checks", failing))
		body := map[string]any{"status": "unavailable", "failing": failing}
		if len(degraded) > 0 {
			body["degraded"] = degraded
		}
		httpx.WriteJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	if len(degraded) > 0 {
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"status": "degraded", "degraded": degraded})
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
