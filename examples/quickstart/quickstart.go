// Package quickstart holds the demo tenant that `scopeline serve` runs when
// no --config is given, so the binary and this directory never disagree.
package quickstart

import _ "embed"

// Tenant is the contents of tenant.yaml.
//
//go:embed tenant.yaml
var Tenant []byte
