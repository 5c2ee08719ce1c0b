// Command token-exchange runs two APIs protected by Scopeline access
// tokens: an orders API that, to answer, calls a billing API on the
// caller's behalf, by exchanging the token it received for one of the
// billing API (RFC 8693 token exchange):
//
//	GET /orders/{id}    (orders API)  needs read:orders; calls the billing API
//	GET /invoices       (billing API) needs read:invoices
//
// The billing API sees the user as the subject and the orders API as the
// actor (the token's act claim). See README.md:
//
//	scopeline serve --config examples/token-exchange/tenant.yaml
//	ORDERS_API_SECRET=orders-api-secret go run ./examples/token-exchange --issuer http://127.0.0.1:8080/
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

const (
	ordersAPI  = "https://orders.example.com"
	billingAPI = "https://billing.example.com"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "token-exchange:", err)
		os.Exit(1)
	}
}

// addrs are where the two APIs listen.
type addrs struct{ orders, billing string }

// run serves both APIs until ctx is done. listening, when set, is told
// their addresses once they listen.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, listening chan<- addrs) error {
	fs := flag.NewFlagSet("token-exchange", flag.ContinueOnError)
	fs.SetOutput(stderr)
	issuer := fs.String("issuer", "http://127.0.0.1:8080/", "issuer identifier, exactly as in the tokens' iss")
	ordersAddr := fs.String("orders-addr", "127.0.0.1:9091", "the orders API's address")
	billingAddr := fs.String("billing-addr", "127.0.0.1:9092", "the billing API's address")
	clientID := fs.String("client-id", "orders-api", "the orders API's client at the issuer (its secret in $ORDERS_API_SECRET)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	secret := getenv("ORDERS_API_SECRET")
	if secret == "" {
		return errors.New("set ORDERS_API_SECRET to the orders API's client secret")
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	orders, err := resource.New(*issuer, ordersAPI, resource.WithLogger(log))
	if err != nil {
		return err
	}
	billing, err := resource.New(*issuer, billingAPI, resource.WithLogger(log))
	if err != nil {
		return err
	}
	tokenURL, err := tokenEndpoint(ctx, *issuer)
	if err != nil {
		return err
	}

	billingLn, err := net.Listen("tcp", *billingAddr)
	if err != nil {
		return err
	}
	ordersLn, err := net.Listen("tcp", *ordersAddr)
	if err != nil {
		billingLn.Close()
		return err
	}
	x := &exchanger{tokenURL: tokenURL, clientID: *clientID, secret: secret, audience: billingAPI, scope: "read:invoices",
		client: &http.Client{Timeout: 10 * time.Second}, cache: map[[32]byte]cached{}}
	servers := []*http.Server{
		{Handler: newBillingAPI(billing), ReadHeaderTimeout: 10 * time.Second},
		{Handler: newOrdersAPI(orders, x, "http://"+billingLn.Addr().String(), log), ReadHeaderTimeout: 10 * time.Second},
	}
	errs := make(chan error, 2)
	for i, ln := range []net.Listener{billingLn, ordersLn} {
		go func() { errs <- servers[i].Serve(ln) }()
	}
	log.Info("listening", "orders", ordersLn.Addr().String(), "billing", billingLn.Addr().String())
	if listening != nil {
		listening <- addrs{orders: ordersLn.Addr().String(), billing: billingLn.Addr().String()}
	}
	select {
	case <-ctx.Done():
	case err := <-errs:
		return err
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(servers[0].Shutdown(shutdown), servers[1].Shutdown(shutdown))
}
