// Package hook is the Go SDK for writing Scopeline hooks: WebAssembly
// modules that run in the token pipeline and may add or remove scopes, set
// claims, or deny the request (docs/hook-abi.md, ABI v1).
//
// A hook is a Go main package built with the stock toolchain as a WASI
// reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o hook.wasm .
//
// It registers its handler in an init function (main is never called):
//
//	func init() {
//		hook.Handle(func(e *hook.Event, c *hook.Changes) error {
//			if v, _ := e.ClientMetadata("tier"); v != "gold" {
//				c.RemoveScope("delete:users", "only gold clients may delete users")
//			}
//			return nil
//		})
//	}
//
//	func main() {}
//
// The Event reads the request: the hot fields (client id, grant type,
// audience, requested and current scopes, subject, ...) come straight from
// the host without JSON; the whole input document is there too (Document,
// Decode, User). *Changes stages what the hook does: they are applied, in order, only
// if the handler returns nil and did not deny. A handler that returns an
// error or panics fails the hook, and the hook's failure policy (deny by
// default) decides the request.
//
// Setup registers a function run once per instance, before any request,
// with the hook's config: parse it there, not per request. If it returns
// an error the hook fails to load, with the error in the message.
//
// Outside WebAssembly (go test, go vet) the package compiles and talks to
// the fake host of package hooktest, so hooks can be unit-tested natively.
package hook
