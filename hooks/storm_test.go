package hooks_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine/enginetest"
	"github.com/scopeline/scopeline/engine/server"
	"github.com/scopeline/scopeline/hooks"
)

// stormTenant has one hook in mode V with the given timeout: requests
// whose user agent starts with "L" make it loop, the others return at
// once. extra is added to the hook's YAML.
func stormTenant(timeout time.Duration, extra string) []byte {
	abs, _ := filepath.Abs("testdata/faulty.wasm")
	return pipelineTenant(fmt.Sprintf("      - name: storm\n        module: %s\n        config: \"V\"\n        timeout: %s\n        memory: 1MiB\n%s", abs, timeout, extra))
}

// postToken sends a token request with the given user agent and returns
// the status and body.
func postToken(t testing.TB, s *enginetest.Server, agent string) (int, string) {
	req, _ := http.NewRequest(http.MethodPost, s.TokenEndpoint(), strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"read:users"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", agent)
	req.SetBasicAuth("m2m", "demo-m2m-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestLoopStorm: 8 requests that make a hook loop and 8 good ones, sent at
// once, with the default pool: every good one is answered, every looping
// one fails closed.
func TestLoopStorm(t *testing.T) {
	rec := &recorder{host: newDefaultHost(t)}
	s := enginetest.Start(t, enginetest.Config{Tenant: stormTenant(50*time.Millisecond, ""), Server: server.Config{Hooks: rec}})
	const n = 8
	type reply struct {
		loop   bool
		status int
		body   string
	}
	replies := make(chan reply, 2*n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 2 * n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop := i%2 == 0
			agent := "good"
			if loop {
				agent = "Loop"
			}
			<-start
			status, body := postToken(t, s, agent)
			replies <- reply{loop, status, body}
		}()
	}
	close(start)
	wg.Wait()
	close(replies)
	for r := range replies {
		switch {
		case r.loop && r.status != http.StatusInternalServerError:
			t.Errorf("a looping request: %d %s", r.status, r.body)
		case !r.loop && r.status != http.StatusOK:
			t.Errorf("a good request: %d %s", r.status, r.body)
		}
	}
}

// newDefaultHost is newHost with the pool sizes of a real issuer.
func newDefaultHost(t testing.TB, opts ...hooks.Option) *hooks.Host {
	procs := runtime.GOMAXPROCS(0)
	return newHost(t, append([]hooks.Option{hooks.WithPoolSize(procs, max(2*procs, 4))}, opts...)...)
}
