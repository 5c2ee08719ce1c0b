package main

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scopeline/scopeline/sdk/resource"
)

// maxUserBytes bounds a POST /users body.
const maxUserBytes = 16 << 10

// User is one user of the API.
type User struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	CreatedBy string    `json:"created_by"` // the client that created it
	Created   time.Time `json:"created"`
}

// store keeps the users in memory.
type store struct {
	mu    sync.Mutex
	users map[string]User
	next  int
}

func newStore() *store {
	s := &store{users: map[string]User{}}
	s.add(User{Name: "Ada Lovelace", Email: "ada@example.com", CreatedBy: "seed"})
	s.add(User{Name: "Alan Turing", Email: "alan@example.com", CreatedBy: "seed"})
	return s
}

func (s *store) add(u User) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	u.ID, u.Created = strconv.Itoa(s.next), time.Now().UTC().Truncate(time.Second)
	s.users[u.ID] = u
	return u
}

func (s *store) list() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b User) int {
		ai, _ := strconv.Atoi(a.ID)
		bi, _ := strconv.Atoi(b.ID)
		return ai - bi
	})
	return out
}

func (s *store) remove(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.users[id]
	delete(s.users, id)
	return ok
}

// newAPI routes the users API; each route states the scope it needs.
func newAPI(rs *resource.Validator, s *store, log *slog.Logger) http.Handler {
	a := &api{store: s, log: log}
	mux := http.NewServeMux()
	mux.Handle("GET /users", rs.Protect(http.HandlerFunc(a.list), resource.RequireScopes("read:users")))
	mux.Handle("POST /users", rs.Protect(http.HandlerFunc(a.create), resource.RequireScopes("write:users")))
	mux.Handle("DELETE /users/{id}", rs.Protect(http.HandlerFunc(a.delete), resource.RequireScopes("delete:users")))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := rs.Ready(r.Context()); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return mux
}

type api struct {
	store *store
	log   *slog.Logger
}

func (a *api) list(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"users": a.store.list()})
}

func (a *api) create(w http.ResponseWriter, r *http.Request) {
	claims, _ := resource.ClaimsFrom(r.Context()) // Protect put them there
	var in struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxUserBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeJSON(w, http.StatusRequestEntityTooLarge, problem("the body is larger than 16 KiB"))
			return
		}
		writeJSON(w, http.StatusBadRequest, problem(`send {"name": "...", "email": "..."}`))
		return
	}
	in.Name, in.Email = strings.TrimSpace(in.Name), strings.TrimSpace(in.Email)
	if in.Name == "" || len(in.Name) > 200 || !strings.Contains(in.Email, "@") || len(in.Email) > 254 {
		writeJSON(w, http.StatusUnprocessableEntity, problem("name (up to 200 bytes) and a valid email are required"))
		return
	}
	u := a.store.add(User{Name: in.Name, Email: in.Email, CreatedBy: claims.ClientID})
	a.log.Info("user created", "id", u.ID, "client_id", claims.ClientID, "sub", claims.Subject, "jti", claims.TokenID)
	w.Header().Set("Location", "/users/"+u.ID)
	writeJSON(w, http.StatusCreated, u)
}

func (a *api) delete(w http.ResponseWriter, r *http.Request) {
	claims, _ := resource.ClaimsFrom(r.Context())
	id := r.PathValue("id")
	if !a.store.remove(id) {
		writeJSON(w, http.StatusNotFound, problem("no such user"))
		return
	}
	a.log.Info("user deleted", "id", id, "client_id", claims.ClientID, "sub", claims.Subject, "jti", claims.TokenID)
	w.WriteHeader(http.StatusNoContent)
}

func problem(msg string) map[string]string { return map[string]string{"error": msg} }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
