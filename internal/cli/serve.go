package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	"github.com/tailorhq/tailor/internal/config"
	"github.com/tailorhq/tailor/internal/server"
	"golang.org/x/sync/errgroup"
)

func newServeCmd(stdout, stderr io.Writer) *cobra.Command {
	var dataDir, addr, configPath string
	cmd := &cobra.Command{
		Use:   "serve [--data-dir DIR] [--addr HOST:PORT] [--config FILE]",
		Short: "Serve the HTTP API",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configPath)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			db, err := openStore(ctx, dataDir)
			if err != nil {
				return err
			}
			defer db.Close()
			return serve(ctx, db, cfg, addr, stdout, stderr, nil)
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", DefaultDataDir, "folder of the embedded store")
	cmd.Flags().StringVar(&addr, "addr", DefaultAddr, "address to listen on")
	cmd.Flags().StringVar(&configPath, "config", "", "configuration file (TOML)")
	return cmd
}

// serve runs the API on addr until ctx is done. With no API keys it listens
// on loopback only. ready, if not nil, is called with the bound address
// once the server accepts connections.
func serve(ctx context.Context, db backend, cfg *config.Config, addr string, stdout, stderr io.Writer, ready func(net.Addr)) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	keys, err := serverKeys(cfg)
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usageError{fmt.Errorf("--addr %q: %w", addr, err)}
	}
	if len(keys) == 0 && !isLoopback(host) {
		fmt.Fprintf(stdout, "No API keys are configured, so the API is open to whoever can reach it: listening on 127.0.0.1:%s instead of %s.\n"+
			"Configure keys (see 'tailor keys generate' and README.md) to listen on other addresses.\n", port, addr)
		addr = net.JoinHostPort("127.0.0.1", port)
	} else if len(keys) == 0 {
		fmt.Fprintln(stdout, "No API keys are configured: the API is open, and listens on loopback only.")
	}
	rules := cfg.Rules()
	h, err := server.New(db, server.Options{
		Rules: rules, MaxBodyBytes: cfg.Server.MaxBodyBytes, MaxBatch: cfg.Server.MaxBatch, Keys: keys, Logger: log,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	fmt.Fprintf(stdout, "Tailor API listening on http://%s (health: /healthz, API description: /openapi.json)\n", ln.Addr())
	if ready != nil {
		ready(ln.Addr())
	}
	// Two actors: the HTTP server and the store's checkpointer. The first
	// to stop stops the other.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(shutdownCtx)
	})
	g.Go(func() error { return db.Run(gctx) })
	err = g.Wait()
	fmt.Fprintln(stdout, "Tailor stopped.")
	return err
}

// backend is what serve needs of the store: the API's backend and a
// background job to run beside the server.
type backend interface {
	server.Backend
	Run(ctx context.Context) error
}

func serverKeys(cfg *config.Config) ([]server.Key, error) {
	var keys []server.Key
	for _, k := range cfg.Auth.Keys {
		role, err := server.ParseRole(k.Role)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k.Name, err)
		}
		keys = append(keys, server.Key{Name: k.Name, Role: role, SHA256: k.SHA256})
	}
	return keys, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
