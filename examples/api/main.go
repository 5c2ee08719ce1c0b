// Command api is the classic users API, protected by Scopeline access
// tokens with the resource-server SDK (sdk/resource):
//
//	GET    /users       needs read:users
//	POST   /users       needs write:users
//	DELETE /users/{id}  needs delete:users
//	GET    /healthz     open; 503 until the issuer's keys can be had
//
// Run it next to `scopeline serve`; see README.md:
//
//	go run ./examples/api --issuer http://127.0.0.1:8080/ --audience https://api.example.com --addr 127.0.0.1:9090
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/scopeline/scopeline/sdk/resource"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		os.Exit(1)
	}
}

// run serves the API until ctx is done. listening, when set, is told the
// address once the server listens.
func run(ctx context.Context, args []string, stderr io.Writer, listening chan<- string) error {
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	fs.SetOutput(stderr)
	issuer := fs.String("issuer", "http://127.0.0.1:8080/", "issuer identifier, exactly as in the tokens' iss (mind the trailing slash)")
	audience := fs.String("audience", "https://api.example.com", "this API's identifier, the aud of its tokens")
	addr := fs.String("addr", "127.0.0.1:9090", "address to listen on (host:port)")
	debug := fs.Bool("debug", false, "log why each refused request was refused")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	rs, err := resource.New(*issuer, *audience, resource.WithLogger(log))
	if err != nil {
		return err
	}
	readyCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if err := rs.Ready(readyCtx); err != nil {
		log.Warn("the issuer's keys are not available yet; requests get 503 until they are", "err", err)
	}
	cancel()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           newAPI(rs, newStore(), log),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	log.Info("users API listening", "addr", ln.Addr().String(), "issuer", *issuer, "audience", *audience)
	if listening != nil {
		listening <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
