package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/herald-push/herald/server"
)

// serve runs a node until SIGINT or SIGTERM, then drains it; a second
// signal exits at once. SIGHUP reloads the TLS certificate.
func serve(args []string) error {
	cfg := server.Defaults()
	fs := flag.NewFlagSet("herald serve", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := server.ApplyEnv(fs, os.Getenv); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	raiseFileLimit(log)

	srv, err := server.New(cfg, log)
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			if err := srv.ReloadTLS(); err != nil {
				log.Warn("SIGHUP: tls reload failed; keeping the current certificate", "err", err)
			}
		}
	}()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		s := <-sigs
		log.Info("signal: draining; send it again to stop at once", "signal", s.String())
		cancel()
		s = <-sigs
		log.Warn("second signal: stopping now", "signal", s.String())
		os.Exit(1)
	}()
	return srv.Run(ctx)
}

// raiseFileLimit lifts the soft open-files limit to the hard one: every
// connection is a file.
func raiseFileLimit(log *slog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("open files limit unknown", "err", err)
		return
	}
	soft := lim.Cur
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("cannot raise the open files limit", "soft", soft, "hard", lim.Max, "err", err)
		return
	}
	log.Info("open files limit", "soft", soft, "raised_to", lim.Cur, "hard", lim.Max)
}
