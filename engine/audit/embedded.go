package audit

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/scopeline/scopeline/engine/settings"
)

// readerUser is who connections without credentials are on the embedded
// server (scopeline audit tail, the nats CLI on the loopback port): they
// may read the audit stream and manage consumers on it, and nothing else,
// not publish events, not delete or change the stream. The issuer itself
// connects in process with an nkey made at start and kept in memory.
const readerUser = "audit-reader"

// embedded is the in-process NATS server.
type embedded struct {
	srv       *server.Server
	publisher nkeys.KeyPair
	url       string // the loopback client URL, "" when not listening
}

// startEmbedded starts the in-process server with JetStream in storeDir,
// letting readers read the stream of that name.
func startEmbedded(cfg settings.EmbeddedNATS, storeDir, stream string, rnd io.Reader, log *slog.Logger) (*embedded, error) {
	publisher, err := nkeys.CreatePairWithRand(nkeys.PrefixByteUser, rnd)
	if err != nil {
		return nil, fmt.Errorf("audit: embedded server key: %w", err)
	}
	publicKey, err := publisher.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("audit: embedded server key: %w", err)
	}
	if err = os.MkdirAll(storeDir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: embedded server store: %w", err)
	}
	opts := &server.Options{
		ServerName:   "scopeline-embedded",
		JetStream:    true,
		StoreDir:     storeDir,
		SyncInterval: cfg.Sync.Interval,
		SyncAlways:   cfg.Sync.Always,
		NoSigs:       true,
		DontListen:   cfg.Listen == "",
		MaxPayload:   2 * MaxEventBytes,
		Nkeys:        []*server.NkeyUser{{Nkey: publicKey}},
		// The reader has no password: it is what anonymous connections are.
		Users:      []*server.User{{Username: readerUser, Permissions: readerPermissions(stream)}},
		NoAuthUser: readerUser,
	}
	if cfg.Listen != "" {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("audit: embedded listen %q: %w", cfg.Listen, err)
		}
		opts.Host = host
		if opts.Port, err = strconv.Atoi(port); err != nil {
			return nil, fmt.Errorf("audit: embedded listen %q: bad port", cfg.Listen)
		}
		if opts.Port == 0 {
			opts.Port = server.RANDOM_PORT
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("audit: embedded server: %w", err)
	}
	srv.SetLoggerV2(natsLogger{log.With("component", "nats")}, false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		if cfg.Listen != "" {
			return nil, fmt.Errorf("audit: the embedded NATS server did not start; is %s already in use? (set nats.embedded.listen to another address, or off)", cfg.Listen)
		}
		return nil, errors.New("audit: the embedded NATS server did not start")
	}
	e := &embedded{srv: srv, publisher: publisher}
	if cfg.Listen != "" {
		e.url = srv.ClientURL()
	}
	return e, nil
}

// connectOptions connect in process (or, to measure the difference, over
// the loopback listener) as the publisher.
func (e *embedded) connectOptions(overTCP bool) []nats.Option {
	pub, _ := e.publisher.PublicKey()
	opts := []nats.Option{nats.Nkey(pub, e.publisher.Sign)}
	if !overTCP {
		opts = append(opts, nats.InProcessServer(e.srv))
	}
	return opts
}

func (e *embedded) shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// readerPermissions let a reader consume the audit stream: stream and
// consumer information, direct gets, its own consumers (create, pull,
// acknowledge, delete), and any subscription. Publishing events, and
// changing, purging or deleting the stream, are refused.
func readerPermissions(stream string) *server.Permissions {
	api := "$JS.API."
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{
			api + "INFO",
			api + "STREAM.NAMES",
			api + "STREAM.LIST",
			api + "STREAM.INFO." + stream,
			api + "STREAM.MSG.GET." + stream,
			api + "DIRECT.GET." + stream,
			api + "DIRECT.GET." + stream + ".>",
			api + "CONSUMER.CREATE." + stream,
			api + "CONSUMER.CREATE." + stream + ".>",
			api + "CONSUMER.DURABLE.CREATE." + stream + ".>",
			api + "CONSUMER.INFO." + stream + ".>",
			api + "CONSUMER.NAMES." + stream,
			api + "CONSUMER.LIST." + stream,
			api + "CONSUMER.DELETE." + stream + ".>",
			api + "CONSUMER.MSG.NEXT." + stream + ".>",
			"$JS.ACK." + stream + ".>",
			"$JS.FC." + stream + ".>",
		}},
		Subscribe: &server.SubjectPermission{Allow: []string{">"}},
	}
}

// natsLogger sends the server's log to slog. Its notices (start-up
// banners) are debug lines here; warnings and errors keep their level.
type natsLogger struct{ log *slog.Logger }

func (l natsLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsLogger) Warnf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if msg == plaintextWarning {
		// The anonymous reader's empty password: there is nothing to hash.
		l.log.Debug(msg)
		return
	}
	l.log.Warn(msg)
}

const plaintextWarning = "Plaintext passwords detected, use nkeys or bcrypt"

func (l natsLogger) Fatalf(format string, v ...any) { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Errorf(format string, v ...any) { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Debugf(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsLogger) Tracef(format string, v ...any) {}
