package browsertest_test

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// findChromium returns the browser real-browser tests drive:
// $SCOPELINE_CHROMIUM, or Debian's chromium (apt-get install chromium),
// or a Chrome on the PATH; "" when there is none.
func findChromium() string {
	if p := os.Getenv("SCOPELINE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// headlessChromium starts headless Chromium for a test, with a window of
// width × height, and returns a chromedp context that ends with the test
// or after timeout. Without Chromium it skips the test, or fails it when
// $SCOPELINE_REQUIRE_BROWSER is set (as CI does).
func headlessChromium(t *testing.T, width, height int, timeout time.Duration) context.Context {
	t.Helper()
	chromium := findChromium()
	if chromium == "" && os.Getenv("SCOPELINE_REQUIRE_BROWSER") != "" {
		t.Fatal("SCOPELINE_REQUIRE_BROWSER is set but no Chromium was found (apt-get install -y chromium)")
	}
	if chromium == "" {
		t.Skip("no Chromium found: install the Debian package chromium (apt-get install -y chromium) or set SCOPELINE_CHROMIUM to run the real-browser test")
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(width, height),
	)
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	ctx, cancel := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancel()
		cancelCtx()
		cancelAlloc()
	})
	return ctx
}
