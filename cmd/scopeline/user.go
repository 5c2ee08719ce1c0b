package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/scopeline/scopeline/engine/cluster"
	"github.com/scopeline/scopeline/engine/storage"
	"github.com/scopeline/scopeline/engine/storage/bolt"
	"github.com/scopeline/scopeline/engine/storage/memory"
	"github.com/scopeline/scopeline/engine/storage/natskv"
	"github.com/scopeline/scopeline/engine/tenant"
)

func newUserCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage end users of the tenant file"}
	cmd.AddCommand(&cobra.Command{
		Use:   "hash-password",
		Short: "Hash a password (argon2id) for a user's password_hash",
		Long: `Hash a password with argon2id for the password_hash of a user in the tenant
file. The password is read from standard input (one line) or, on a terminal,
asked for twice without echo. It is never taken from a flag, where it would
land in the shell history and the process list.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pw, err := readPassword(cmd.InOrStdin(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			h, err := tenant.HashPassword(pw, tenant.DefaultArgon2, rand.Reader)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), h)
			return nil
		},
	})
	return cmd
}

// readPassword reads a password from a terminal without echo (twice, to
// catch typos), or as one line of any other input.
func readPassword(in io.Reader, prompt io.Writer) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		ask := func(label string) (string, error) {
			fmt.Fprint(prompt, label)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(prompt)
			return string(b), err
		}
		pw, err := ask("Password: ")
		if err != nil {
			return "", err
		}
		again, err := ask("Again: ")
		if err != nil {
			return "", err
		}
		if pw != again {
			return "", errors.New("the passwords differ")
		}
		if pw == "" {
			return "", errors.New("empty password")
		}
		return pw, nil
	}
	return readLine(in, "password", tenant.MaxPasswordLen)
}

// readLine reads the first line of in, a command's standard input, without
// its line ending; what names the line in errors. It refuses an empty line
// and one longer than max bytes, and reads no more than the line needs.
func readLine(in io.Reader, what string, max int) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(in, int64(max)+2)).ReadString('\n')
	s := strings.TrimRight(line, "\r\n")
	switch {
	case s == "" && err != nil:
		return "", fmt.Errorf("no %s on standard input", what)
	case s == "":
		return "", fmt.Errorf("empty %s", what)
	case len(s) > max:
		return "", fmt.Errorf("%s longer than %d bytes", what, max)
	}
	return s, nil
}

// openUserStore opens the storage of end-user flows that --user-store
// names.
func openUserStore(ctx context.Context, cfg serveConfig, js jetstream.JetStream) (storage.Storage, error) {
	switch cfg.userStore {
	case "", "file":
		return bolt.Open(cfg.dataDir, 5*time.Second)
	case "memory":
		return memory.New(), nil
	case "nats":
		var s *natskv.Store
		err := cluster.Retry(ctx, slog.New(slog.DiscardHandler), "the user-flow buckets", func(ctx context.Context) (err error) {
			s, err = natskv.Open(ctx, js)
			return err
		})
		return s, err
	}
	return nil, usageError{fmt.Errorf("--user-store %q: want file, memory or nats", cfg.userStore)}
}
