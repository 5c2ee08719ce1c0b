package cluster

import (
	"fmt"
	"log/slog"
)

// Logger sends a NATS server's log to slog. Its notices (start-up
// banners) are debug lines here; warnings and errors keep their level.
type Logger struct{ Log *slog.Logger }

// Noticef logs at debug level.
func (l Logger) Noticef(format string, v ...any) { l.Log.Debug(fmt.Sprintf(format, v...)) }

// Warnf logs a warning, but for the notice about the anonymous reader's
// empty password, which has nothing to hash.
func (l Logger) Warnf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if msg == plaintextWarning {
		l.Log.Debug(msg)
		return
	}
	l.Log.Warn(msg)
}

const plaintextWarning = "Plaintext passwords detected, use nkeys or bcrypt"

// Fatalf logs an error (StartServer ends the start with it).
func (l Logger) Fatalf(format string, v ...any) { l.Log.Error(fmt.Sprintf(format, v...)) }

// Errorf logs an error.
func (l Logger) Errorf(format string, v ...any) { l.Log.Error(fmt.Sprintf(format, v...)) }

// Debugf logs at debug level.
func (l Logger) Debugf(format string, v ...any) { l.Log.Debug(fmt.Sprintf(format, v...)) }

// Tracef logs nothing.
func (l Logger) Tracef(string, ...any) {}
