// Package console is Scopeline's web console: the grants as a matrix,
// decisions live from the audit stream with their traces drawn stage by
// stage, the hook pipelines with their costs, a dry run of any request,
// and the keys and the tenant. `scopeline serve` serves it at
// <issuer>console/.
//
// The console is a client of the tenant it shows: people sign in at the
// issuer's own hosted login (authorization code with PKCE), and what the
// console shows and lets them do follows the scopes of their token for
// the console's API: console:read (auditors: every page, and dry runs)
// and console:manage (operators: also the write controls, such as
// reloading the tenant or rotating the signing keys).
//
// It reads everything through Source, a narrow interface the serving
// process implements (cmd/scopeline adapts the engine, the audit stream,
// the key store and the hook runtime to it). Optional capabilities
// (Reloader, KeyRotator) are found by type assertion; their controls
// appear only when the source has them. A tenant kept in a store with
// revisions brings its history through Config.Revisions.
//
// Pages are rendered on the server with html/template and work without
// JavaScript; one small script, served from the binary like the style
// sheet, adds the live stream of decisions (server-sent events). The
// Content-Security-Policy allows scripts and styles from the console's
// own origin only, nothing inline. docs/design.md ("Console") says why.
package console
