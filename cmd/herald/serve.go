package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"

	"github.com/herald-push/herald/server"
)

var serveHelp = helpText{
	about: `Run a Herald node. With no configuration it listens on loopback only, with
the in-memory engine and generated dev credentials (herald token reads them).`,
	envTwins: true,
	notes: `Every flag can also be set by the environment variable shown beside it
(--ws-addr by HERALD_WS_ADDR); a flag on the command line wins. Durations
take a unit: 250ms, 25s, 5m. HERALD_DEV_DIR moves the default dev
credentials file (dev-credentials.json) out of the user config dir.
Unless GOGC is set, the garbage collector runs at Go's GOGC=100, or 400
under a memory limit: GOMEMLIMIT, else 90% of the cgroup's limit if there
is one. GOGC=200 halves the collector's CPU for about 1 KiB more RSS per
idle connection.`,
}

// serve runs a node until SIGINT or SIGTERM, then drains it; a second
// signal exits at once. SIGHUP reloads the TLS certificate.
func serve(ctx context.Context, args []string, out, errOut io.Writer) error {
	cfg := server.Defaults()
	fs := newFlagSet("serve")
	cfg.RegisterFlags(fs)
	if helped, err := parseArgs(fs, args, serveHelp, out); helped || err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if err := server.ApplyEnv(fs, os.Getenv); err != nil {
		return usageError{err}
	}
	if err := cfg.Validate(); err != nil {
		fromEnv := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { fromEnv[f.Name] = !given[f.Name] })
		server.BlameEnv(err, fromEnv)
		return usageError{err}
	}
	log := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: cfg.LogLevel}))
	raiseFileLimit(log)
	gc := server.TuneGC(os.Getenv, os.ReadFile)
	log.Info("garbage collector", "gogc", gc.Percent, "gogc_from", gc.PercentFrom, "memory_limit", memoryLimit(gc.MemoryLimit), "memory_limit_from", gc.LimitFrom)
	raiseProcs(log, os.Getenv)

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
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		s := <-sigs
		log.Info("signal: draining; send it again to stop at once", "signal", s.String())
		cancel()
		s = <-sigs
		log.Warn("second signal: stopping now", "signal", s.String())
		os.Exit(exitFailed)
	}()
	return srv.Run(ctx)
}

// memoryLimit writes a soft memory limit for the log.
func memoryLimit(n int64) string {
	if n == math.MaxInt64 {
		return "none"
	}
	return strconv.FormatInt(n>>20, 10) + " MiB"
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

// minProcs is the fewest processors (GOMAXPROCS) a node runs with: the
// WebSocket writers take all processors but one, which stays free to poll
// the network and answer calls while a broadcast keeps the writers busy
// (see wsgate's writerCount). On one CPU the two share it, as the OS
// schedules them.
const minProcs = 2

// raiseProcs gives the Go scheduler minProcs processors when it has fewer
// (one CPU, or a CPU limit of one), unless GOMAXPROCS is set in the
// environment, which then decides.
func raiseProcs(log *slog.Logger, getenv func(string) string) {
	if getenv("GOMAXPROCS") != "" {
		return
	}
	if n := runtime.GOMAXPROCS(0); n < minProcs {
		runtime.GOMAXPROCS(minProcs)
		log.Info("processors raised so that calls are answered while WebSocket writers are busy", "cpus", n, "gomaxprocs", minProcs)
	}
}
