// Package demo is the demo tenant, part of the product: `scopeline serve`
// with no --config serves it (on a loopback address only, unless --demo
// says otherwise), and `scopeline token --demo` runs it in process. Its
// client secrets and user passwords are public, printed in the README:
// it is for trying Scopeline, never for serving anybody.
package demo

import _ "embed"

// Tenant is the demo tenant file (tenant.yaml beside this file).
//
//go:embed tenant.yaml
var Tenant []byte

// Source names the demo tenant in logs and errors.
const Source = "built-in demo tenant (engine/demo/tenant.yaml)"
