package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/scopeline/scopeline/engine"
	"github.com/scopeline/scopeline/engine/tenant"
	"github.com/scopeline/scopeline/hooks"
	"github.com/scopeline/scopeline/plugins"
)

func newHookCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "hook", Short: "Test and check WebAssembly hooks"}
	var cacheDir string
	cmd.PersistentFlags().StringVar(&cacheDir, "cache-dir", defaultHookCache(), "where compiled modules are cached")

	var (
		eventPath, configPath string
		secrets               []string
		timeout               time.Duration
		memory                string
		asJSON                bool
	)
	test := &cobra.Command{
		Use:   "test MODULE.wasm|plugin:NAME --event FILE.json [--config FILE.json]",
		Short: "Run one hook on a sample event and print its decision",
		Long: `Run one hook locally, as the issuer would, on a sample event (the input
document of docs/hook-abi.md; examples/events/ has one per trigger), and
print the decision, the ops the hook asked for (applied or refused, with
the issuer's rules: scopes the API defines, the grant ceiling, reserved
claims), the resulting scopes and claims, the hook's logs and how long it
took.

--config replaces the event's hook.config. Secrets are read from
environment variables: --secret NAME=ENVVAR.

The exit code is 0 when the hook ran (allowing or denying), 1 when it
faulted, could not be loaded, or set a claim to a value that is not JSON
(which the issuer refuses, issuing the token without the claim).`,
		Example: `  scopeline hook test examples/hooks/go/tier-gate.wasm --event examples/events/credentials-exchange.json
  scopeline hook test plugin:ip-allowlist --event examples/events/credentials-exchange.json --config cidrs.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if eventPath == "" {
				return usageError{errors.New("--event FILE.json is required")}
			}
			mem, err := tenant.ParseByteSize(memory)
			if err != nil {
				return usageError{fmt.Errorf("--memory: %w", err)}
			}
			return hookTest(cmd.Context(), cmd.OutOrStdout(), hookTestConfig{
				module: args[0], eventPath: eventPath, configPath: configPath, secrets: secrets,
				timeout: timeout, memory: mem, cacheDir: cacheDir, json: asJSON,
			})
		},
	}
	f := test.Flags()
	f.StringVar(&eventPath, "event", "", "sample event (JSON)")
	f.StringVar(&configPath, "config", "", "hook config (JSON), replacing the event's hook.config")
	f.StringArrayVar(&secrets, "secret", nil, "a secret for the hook, NAME=ENVVAR (repeatable)")
	f.DurationVar(&timeout, "timeout", tenant.DefaultHookTimeout, "the hook's timeout")
	f.StringVar(&memory, "memory", fmt.Sprintf("%dMiB", tenant.DefaultHookMemory>>20), "the hook's memory cap")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")

	check := &cobra.Command{
		Use:   "check MODULE.wasm|plugin:NAME",
		Short: "Check a module against the hook ABI without running it",
		Long: `Check that a module follows hook ABI v1 (docs/hook-abi.md) without running
it: its exports (memory, scopeline_abi_v1, scopeline_run, and the optional
scopeline_init and _initialize) and their types, its imports (the ABI's
functions and the WASI allow-list only), and that it compiles.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return hookCheck(cmd.Context(), cmd.OutOrStdout(), args[0], cacheDir)
		},
	}
	list := &cobra.Command{
		Use:   "plugins",
		Short: "List the built-in plugins (use them with plugin: NAME)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, n := range plugins.Names() {
				fmt.Fprintln(cmd.OutOrStdout(), n)
			}
			return nil
		},
	}
	cmd.AddCommand(test, check, list, newHookNewCmd(), newHookPushCmd(&cacheDir))
	return cmd
}

func defaultHookCache() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "scopeline")
	}
	return filepath.Join(os.TempDir(), "scopeline-cache")
}

type hookTestConfig struct {
	module, eventPath, configPath string
	secrets                       []string
	timeout                       time.Duration
	memory                        int64
	cacheDir                      string
	json                          bool
}

// hookSpec makes the tenant entry for MODULE.wasm or plugin:NAME; hook test
// sets its timeout and memory cap from its flags.
func hookSpec(module string) (*tenant.HookSpec, error) {
	sp := &tenant.HookSpec{Failure: tenant.FailDeny}
	if name, ok := strings.CutPrefix(module, "plugin:"); ok {
		sp.Name, sp.Plugin = name, name
		return sp, nil
	}
	abs, err := filepath.Abs(module)
	if err != nil {
		return nil, err
	}
	sp.Module = abs
	sp.Name = strings.TrimSuffix(filepath.Base(abs), filepath.Ext(abs))
	return sp, nil
}

func newTestHost(ctx context.Context, cacheDir string) (*hooks.Host, error) {
	return hooks.New(ctx, hooks.WithCacheDir(cacheDir), hooks.WithPlugins(plugins.Lookup), hooks.WithPoolSize(1, 1))
}

// timedHook measures the hook's runs and keeps what they asked for.
type timedHook struct {
	engine.Hook
	took time.Duration
	res  *engine.HookResult
}

func (t *timedHook) Invoke(ctx context.Context, v engine.View) (*engine.HookResult, error) {
	start := time.Now()
	res, err := t.Hook.Invoke(ctx, v)
	t.took = time.Since(start)
	t.res = res
	return res, err
}

// opErrors lists the ops of res that are mistakes of the hook's which the
// issuer refuses quietly, answering without them: a claim value that is
// not JSON.
func opErrors(res *engine.HookResult) []string {
	if res == nil {
		return nil
	}
	var errs []string
	for _, op := range res.Ops {
		if op.Kind != engine.HookSetClaim {
			continue
		}
		var v any
		if err := json.Unmarshal(op.Value, &v); err != nil {
			value := string(op.Value)
			if len(value) > 40 {
				value = value[:40] + "..."
			}
			errs = append(errs, fmt.Sprintf("set_claim %q: the value %q is not JSON (%v); the issuer refuses the op and issues the token without the claim (a string claim is written with its quotes: \"gold\")", op.Name, value, err))
		}
	}
	return errs
}

// hookTestResult is what `hook test` prints.
type hookTestResult struct {
	Hook     string         `json:"hook"`
	Decision string         `json:"decision"`
	Error    string         `json:"error,omitempty"`
	Reason   string         `json:"error_description,omitempty"`
	Fault    string         `json:"fault,omitempty"`
	Trace    engine.Trace   `json:"trace"`
	Scopes   []string       `json:"scopes"`
	Claims   map[string]any `json:"claims"`
	Logs     []string       `json:"logs"`
	Errors   []string       `json:"errors,omitempty"`
	Load     string         `json:"load_time"`
	Run      string         `json:"run_time"`
	Module   *hooks.Report  `json:"module"`
}

func hookTest(ctx context.Context, out io.Writer, cfg hookTestConfig) error {
	sp, err := hookSpec(cfg.module)
	if err != nil {
		return err
	}
	sp.Timeout, sp.Memory = cfg.timeout, cfg.memory
	ef, err := os.Open(cfg.eventPath)
	if err != nil {
		return err
	}
	ev, err := hooks.ReadEvent(ef)
	ef.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.eventPath, err)
	}
	sp.Config = ev.Hook.Config
	if cfg.configPath != "" {
		raw, err := os.ReadFile(cfg.configPath)
		if err != nil {
			return err
		}
		if !json.Valid(raw) {
			return fmt.Errorf("%s: not valid JSON", cfg.configPath)
		}
		sp.Config = raw
	}
	for _, s := range cfg.secrets {
		name, env, ok := strings.Cut(s, "=")
		if !ok || name == "" || env == "" {
			return usageError{fmt.Errorf("--secret %q: want NAME=ENVVAR", s)}
		}
		val, ok := os.LookupEnv(env)
		if !ok {
			return fmt.Errorf("--secret %s: environment variable %s is not set", name, env)
		}
		if sp.Secrets == nil {
			sp.Secrets = map[string]tenant.Secret{}
		}
		sp.Secrets[name] = tenant.Secret(val)
	}

	host, err := newTestHost(ctx, cfg.cacheDir)
	if err != nil {
		return err
	}
	defer host.Close(ctx)
	start := time.Now()
	hk, err := host.Load(ctx, sp)
	if err != nil {
		return err
	}
	defer hk.Close()
	loadTook := time.Since(start)

	tx := ev.Transaction()
	th := &timedHook{Hook: hk}
	runErr := engine.RunHook(ctx, sp, th, tx)
	res := hookTestResult{
		Hook: cfg.module, Decision: "allowed", Trace: tx.Trace, Scopes: tx.Scopes, Claims: map[string]any{}, Logs: []string{},
		Load: loadTook.Round(time.Microsecond).String(), Run: th.took.Round(time.Microsecond).String(), Module: hk.Report(),
	}
	if res.Trace == nil {
		res.Trace = engine.Trace{}
	}
	for k, v := range tx.Claims {
		res.Claims[k] = json.RawMessage(v)
	}
	for _, l := range tx.Logs {
		res.Logs = append(res.Logs, l.Message)
	}
	if runErr == nil {
		res.Errors = opErrors(th.res)
	}
	if runErr != nil {
		e := engine.AsError(runErr)
		res.Decision, res.Error, res.Reason = "denied", e.Code(), e.Description()
		if len(tx.Failures) > 0 {
			f := tx.Failures[0]
			res.Decision, res.Fault = "fault", f.Kind
			if cause := errors.Unwrap(f); cause != nil {
				res.Fault = cause.Error()
			}
		}
	}
	if cfg.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		printHookTest(out, &res)
	}
	if res.Decision == "fault" {
		return errors.New("the hook faulted")
	}
	if len(res.Errors) > 0 {
		return errors.New("the hook asked for ops the issuer refuses")
	}
	return nil
}

func printHookTest(out io.Writer, r *hookTestResult) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "hook:\t%s (%d bytes, sha256 %.12s)\n", r.Hook, r.Module.Size, r.Module.SHA256)
	switch r.Decision {
	case "allowed":
		fmt.Fprintf(w, "decision:\tallowed\n")
	case "denied":
		fmt.Fprintf(w, "decision:\tdenied: %s: %s\n", r.Error, r.Reason)
	case "fault":
		fmt.Fprintf(w, "decision:\tFAULT (%s); failure policy deny answers %s\n", r.Fault, r.Error)
	}
	fmt.Fprintf(w, "scopes:\t%s\n", strings.Join(r.Scopes, " "))
	claims, _ := json.Marshal(r.Claims)
	fmt.Fprintf(w, "claims:\t%s\n", claims)
	fmt.Fprintf(w, "time:\tload %s, run %s\n", r.Load, r.Run)
	w.Flush()
	fmt.Fprintln(out, "ops:")
	if len(r.Trace) == 0 {
		fmt.Fprintln(out, "  (none)")
	}
	w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, e := range r.Trace {
		target := e.Scope
		if e.Claim != "" {
			target = "claim " + e.Claim
		}
		status := "applied"
		switch {
		case e.Refused:
			status = "REFUSED"
		case e.Op == engine.OpFault || e.Op == engine.OpSkip || e.Op == engine.OpDeny:
			status = "-"
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", e.Op, target, status, e.Reason)
	}
	w.Flush()
	if len(r.Logs) > 0 {
		fmt.Fprintln(out, "logs:")
		for _, l := range r.Logs {
			fmt.Fprintf(out, "  %s\n", l)
		}
	}
	if len(r.Errors) > 0 {
		fmt.Fprintln(out, "errors:")
		for _, e := range r.Errors {
			fmt.Fprintf(out, "  ERROR: %s\n", e)
		}
	}
}

func hookCheck(ctx context.Context, out io.Writer, module, cacheDir string) error {
	sp, err := hookSpec(module)
	if err != nil {
		return err
	}
	host, err := newTestHost(ctx, cacheDir)
	if err != nil {
		return err
	}
	defer host.Close(ctx)
	rep, err := host.Check(ctx, sp)
	if err != nil {
		return fmt.Errorf("%s: %w", module, err)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "%s:\tok, hook ABI v%d\n", module, hooks.ABIVersion)
	fmt.Fprintf(w, "size:\t%d bytes\n", rep.Size)
	fmt.Fprintf(w, "sha256:\t%s\n", rep.SHA256)
	fmt.Fprintf(w, "memory at start:\t%d KiB\n", rep.MemoryPages*64)
	fmt.Fprintf(w, "exports:\t%s\n", strings.Join(rep.Exports, ", "))
	fmt.Fprintf(w, "imports:\t%s\n", strings.Join(rep.Imports, ", "))
	fmt.Fprintf(w, "scopeline_init:\t%v\n", rep.HasInit)
	fmt.Fprintf(w, "WASI reactor (_initialize):\t%v\n", rep.HasInitialize)
	lang := rep.Toolchain.Language
	if lang == "" {
		lang = "unknown"
	}
	fmt.Fprintf(w, "language:\t%s (%s)\n", lang, rep.Toolchain.Evidence)
	if len(rep.Toolchain.Tools) > 0 {
		fmt.Fprintf(w, "built with:\t%s\n", strings.Join(rep.Toolchain.Tools, ", "))
	}
	return w.Flush()
}

func newHookPushCmd(cacheDir *string) *cobra.Command {
	var (
		sf   storeFlags
		name string
	)
	cmd := &cobra.Command{
		Use:   "push MODULE.wasm [--name NAME]",
		Short: "Check a module against the hook ABI and store it in the cluster's module store",
		Long: `Check MODULE.wasm as scopeline hook check does, then store it in the
cluster's module store under its SHA-256. A tenant pushed with scopeline
tenant push names it by digest (module: sha256:<hex>) or, with --name, by
name (module: store:NAME), which the push resolves to the digest, so a
revision always runs the same code. A later push of the same name moves
the name, never a revision already pushed. Replicas fetch the module, and
compile it (keeping the compiled code on disk), before they swap in a
tenant that uses it.`,
		Example: `  scopeline hook push examples/hooks/wat/tier-gate.wasm --name tier-gate`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.HasPrefix(args[0], "plugin:") {
				return usageError{errors.New("built-in plugins need no push: name them in the tenant with plugin: NAME")}
			}
			if err := hookCheck(cmd.Context(), io.Discard, args[0], *cacheDir); err != nil {
				return err
			}
			bin, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			store, closeConn, err := sf.open(cmd.Context(), "scopeline hook push")
			if err != nil {
				return err
			}
			defer closeConn()
			digest, err := store.PushModule(cmd.Context(), bin, name)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok, hook ABI v%d, stored as %s\n", args[0], hooks.ABIVersion, digest)
			ref := digest
			if name != "" {
				ref = tenant.StoreRefPrefix + name
			}
			fmt.Fprintf(cmd.OutOrStdout(), "name it in the tenant with:  module: %q\n", ref)
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&name, "name", "", "a name for the module, for tenants to name it by (module: store:NAME)")
	return cmd
}
