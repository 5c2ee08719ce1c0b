package cluster

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ErrFatal: a NATS server met a fatal error while starting, most often a
// port it could not listen on (in use by another process).
var ErrFatal = errors.New("nats: server could not start")

// StartServer starts srv, logging through log, and waits until it takes
// connections, for at most timeout. A server that cannot listen on one of
// its ports logs a fatal line and then never gets ready: StartServer
// returns that line at once, as an ErrFatal, rather than wait out the
// timeout. On an error the server is shut down.
func StartServer(srv *server.Server, log server.Logger, timeout time.Duration) error {
	fatal := make(chan string, 1)
	srv.SetLoggerV2(fatalCatcher{Logger: log, fatal: fatal}, false, false, false)
	go srv.Start()
	deadline := time.Now().Add(timeout)
	for !srv.ReadyForConnections(50 * time.Millisecond) {
		select {
		case msg := <-fatal:
			srv.Shutdown()
			return fmt.Errorf("%w: %s", ErrFatal, msg)
		default:
		}
		if time.Now().After(deadline) {
			srv.Shutdown()
			return fmt.Errorf("nats: server did not take connections within %s", timeout)
		}
	}
	return nil
}

// fatalCatcher passes a server's log on, and its first fatal line to
// StartServer as well.
type fatalCatcher struct {
	server.Logger
	fatal chan<- string
}

func (l fatalCatcher) Fatalf(format string, v ...any) {
	l.Logger.Fatalf(format, v...)
	select {
	case l.fatal <- fmt.Sprintf(format, v...):
	default:
	}
}
