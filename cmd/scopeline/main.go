// Command scopeline is the Scopeline OAuth 2.0 token issuer: one binary to
// serve tokens, get one, manage secrets and keys, and test hooks.
package main

import (
	"context"
	"os"
)

func main() { os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
