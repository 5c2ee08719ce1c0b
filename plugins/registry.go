// Package plugins holds Scopeline's ready-made hooks, built from the Go
// sources in this directory (plugins/build.sh) and embedded in the binary:
// a tenant file uses one with `plugin: NAME`. docs/hooks.md documents each
// plugin and its config.
package plugins

import (
	"embed"
	"slices"
)

//go:embed deny-scopes/deny-scopes.wasm claims-from-metadata/claims-from-metadata.wasm time-window/time-window.wasm ip-allowlist/ip-allowlist.wasm
var modules embed.FS

// names are the plugins, in the order docs/hooks.md lists them.
var names = []string{"deny-scopes", "claims-from-metadata", "time-window", "ip-allowlist"}

// Names lists the plugins.
func Names() []string { return slices.Clone(names) }

// Lookup returns the WebAssembly module of the plugin called name.
func Lookup(name string) ([]byte, bool) {
	if !slices.Contains(names, name) {
		return nil, false
	}
	b, err := modules.ReadFile(name + "/" + name + ".wasm")
	return b, err == nil
}
