package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/scopeline/scopeline/engine/settings"
	"github.com/scopeline/scopeline/engine/tenant"
	examplehooks "github.com/scopeline/scopeline/examples/hooks"
)

// The hook sets `scopeline bench --http` can put in the token pipeline.
const (
	hooksNone    = "none"    // no hook: the baseline policy only
	hooksSmall   = "small"   // the tier-gate example in WAT, in C, and in WAT again
	hooksPlugins = "plugins" // the built-in ip-allowlist, deny-scopes and claims-from-metadata (Go)
)

var benchHookSets = []string{hooksNone, hooksSmall, hooksPlugins}

// The audit modes it can run the server in: the settings file's two, and
// no audit stream at all (serve --no-audit).
const auditOff = "off"

var benchAuditModes = []string{string(settings.AuditAck), string(settings.AuditBuffered), auditOff}

// benchScope is what the bench's client asks for: the tier-gate hooks and
// the plugins act on these scopes as they would on a real API's.
const benchScope = "read:users write:users"

// benchAudience is the API of each algorithm in the bench tenant.
func benchAudience(alg string) string { return "https://bench.example/" + alg }

// httpBenchTenantYAML is the tenant of a child server: one API per
// algorithm, granted to the client "bench", and the hooks of set.
func httpBenchTenantYAML(algs []string, hookSet string) string {
	var b strings.Builder
	b.WriteString("apis:\n")
	for _, alg := range algs {
		fmt.Fprintf(&b, "  - identifier: %s\n    signing_algorithm: %s\n    scopes: [{name: read:users}, {name: write:users}, {name: delete:users}]\n", benchAudience(alg), alg)
	}
	fmt.Fprintf(&b, "clients:\n  - id: bench\n    type: m2m\n    secrets: [%q]\n    metadata: {tier: silver, region: eu}\ngrants:\n", tenant.FormatDigest(benchSecret))
	for _, alg := range algs {
		fmt.Fprintf(&b, "  - {client: bench, api: %s, scopes: [read:users, write:users, delete:users], subjects: [client]}\n", benchAudience(alg))
	}
	switch hookSet {
	case hooksSmall:
		b.WriteString(`pipelines:
  credentials-exchange:
    hooks:
      - {name: tier-gate-wat, module: hooks/tier-gate-wat.wasm}
      - {name: tier-gate-c, module: hooks/tier-gate-c.wasm}
      - {name: tier-gate-wat-2, module: hooks/tier-gate-wat.wasm}
`)
	case hooksPlugins:
		b.WriteString(`pipelines:
  credentials-exchange:
    hooks:
      - {name: local-only, plugin: ip-allowlist, config: {cidrs: [127.0.0.0/8, "::1/128"]}}
      - {name: no-deletes, plugin: deny-scopes, config: {scopes: ["delete:*"]}}
      - {name: region-claim, plugin: claims-from-metadata, config: {claims: {region: client.region}}}
`)
	}
	return b.String()
}

// benchServer is a `scopeline serve` child process.
type benchServer struct {
	build        serverBuild
	hooks, audit string
	dir          string
	cmd          *exec.Cmd
	pid          string
	base         string // http://host:port
	pprof        string // http://host:port of its profiles, when asked for
	log          *logTail
	exited       chan struct{}
}

func (s *benchServer) name() string {
	return strings.TrimPrefix(s.build.name+"/", "/") + s.hooks + "/" + s.audit
}

// startBenchServer starts build as `serve` with a tenant for algs, hook
// set and audit mode, in a new temporary directory, and waits until it is
// ready to issue.
func startBenchServer(ctx context.Context, build serverBuild, algs []string, hookSet, auditMode string, profile bool) (_ *benchServer, err error) {
	dir, err := os.MkdirTemp("", "scopeline-bench-")
	if err != nil {
		return nil, err
	}
	s := &benchServer{build: build, hooks: hookSet, audit: auditMode, dir: dir, log: &logTail{}, exited: make(chan struct{})}
	defer func() {
		if err != nil {
			s.stop()
			err = fmt.Errorf("bench: server %s: %w%s", s.name(), err, s.log.excerpt())
		}
	}()
	if err := os.Mkdir(filepath.Join(dir, "hooks"), 0o700); err != nil {
		return nil, err
	}
	for name, bin := range map[string][]byte{"tier-gate-wat.wasm": examplehooks.TierGateWAT, "tier-gate-c.wasm": examplehooks.TierGateC} {
		if err := os.WriteFile(filepath.Join(dir, "hooks", name), bin, 0o600); err != nil {
			return nil, err
		}
	}
	config := filepath.Join(dir, "tenant.yaml")
	if err := os.WriteFile(config, []byte(httpBenchTenantYAML(algs, hookSet)), 0o600); err != nil {
		return nil, err
	}
	args := []string{"serve", "--config", config, "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"),
		"--nats-listen", "off", "--user-store", "memory", "--key-poll", "1h", "--log-format", "json", "--log-level", "info"}
	if auditMode == auditOff {
		args = append(args, "--no-audit")
	} else {
		st := filepath.Join(dir, "settings.yaml")
		if err := os.WriteFile(st, []byte("audit:\n  mode: "+auditMode+"\n"), 0o600); err != nil {
			return nil, err
		}
		args = append(args, "--settings", st)
	}
	if profile {
		args = append(args, "--pprof", "127.0.0.1:0")
	}
	s.cmd = exec.Command(build.path, args...)
	s.cmd.SysProcAttr = childProcAttr()
	s.cmd.Stdout = io.Discard
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	s.pid = strconv.Itoa(s.cmd.Process.Pid)
	addrs := make(chan [2]string, 1)
	go func() {
		s.readLog(stderr, addrs)
		s.cmd.Wait()
		close(s.exited)
	}()
	start := time.Now()
	select {
	case a := <-addrs:
		s.base, s.pprof = "http://"+a[0], a[1]
	case <-s.exited:
		return nil, errors.New("exited before serving")
	case <-time.After(2 * time.Minute):
		return nil, errors.New("not serving after 2 minutes")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if profile && s.pprof == "" {
		return nil, errors.New("no profiling address in its log")
	}
	// Serving is not ready: the audit stream may still be being created.
	for {
		resp, err := http.Get(s.base + "/healthz/ready")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Since(start) > 2*time.Minute {
			return nil, errors.New("not ready after 2 minutes")
		}
		select {
		case <-s.exited:
			return nil, errors.New("exited before it was ready")
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// readLog keeps the tail of the server's log, and sends the addresses it
// listens on (token endpoint, profiles) once it says it serves.
func (s *benchServer) readLog(r io.Reader, addrs chan<- [2]string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var pprof string
	sent := false
	for sc.Scan() {
		line := sc.Bytes()
		s.log.add(line)
		if sent {
			continue
		}
		var rec struct{ Msg, Addr, URL string }
		if json.Unmarshal(line, &rec) != nil {
			continue
		}
		switch rec.Msg {
		case "serving Go profiles":
			pprof = strings.TrimSuffix(rec.URL, "/debug/pprof/")
		case "scopeline serving":
			addrs <- [2]string{rec.Addr, pprof}
			sent = true
		}
	}
}

// stop ends the server (SIGTERM, then SIGKILL after 30 s) and removes its
// directory.
func (s *benchServer) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(30 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
		}
	}
	os.RemoveAll(s.dir)
}

// logTail keeps the last lines of a child's log, for error messages.
type logTail struct {
	mu    sync.Mutex
	lines []string
}

func (t *logTail) add(line []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 20 {
		t.lines = t.lines[1:]
	}
	t.lines = append(t.lines, string(line))
}

func (t *logTail) excerpt() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 0 {
		return ""
	}
	return "; its log ends with:\n  " + strings.Join(t.lines, "\n  ")
}
