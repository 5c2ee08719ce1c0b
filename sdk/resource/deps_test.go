package resource_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the SDK light: its module, on its own (no
// workspace), requires golang-jwt and nothing else, and its packages
// import nothing of the issuer, the WebAssembly runtime or NATS.
func TestDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on the PATH")
	}
	golist := func(args ...string) []string {
		t.Helper()
		cmd := exec.Command(goTool, append([]string{"list"}, args...)...)
		cmd.Env = append(os.Environ(), "GOWORK=off")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.Fields(string(out))
	}
	for _, m := range golist("-m", "all") {
		switch m {
		case "github.com/scopeline/scopeline/sdk/resource", "github.com/golang-jwt/jwt/v5":
		default:
			if !strings.HasPrefix(m, "v") { // versions follow the module paths
				t.Errorf("the SDK's module requires %s", m)
			}
		}
	}
	for _, d := range golist("-deps", "./...") {
		if strings.HasPrefix(d, "github.com/scopeline/scopeline/") && !strings.HasPrefix(d, "github.com/scopeline/scopeline/sdk/resource") ||
			strings.Contains(d, "wazero") || strings.Contains(d, "nats") {
			t.Errorf("the SDK depends on %s", d)
		}
	}
}
