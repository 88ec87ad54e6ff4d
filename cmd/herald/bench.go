package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	loadgen "github.com/herald-push/herald/cmd/herald/internal/bench"
	"github.com/herald-push/herald/server"
	"github.com/herald-push/herald/server/grpcapi"
)

var benchHelp = helpText{
	about: `Generate load against a Herald node on loopback (only loopback targets are
accepted) and print what it measured. Scenarios: idle (what connections
cost the server), broadcast, users and groups (pushes at stepped rates:
completeness, deliveries/s, latency), stream (users' pushes over PushStream
calls), and soak (churn, resumes and pushes for --duration, then whether
the server's goroutines and memory return to their baseline). A step in
which the bench itself had no CPU to spare says so: its figures are then a
floor. With no --jwt-secret or --api-key it uses
$HERALD_JWT_SECRET, $HERALD_API_KEY, else the dev credentials.`,
}

// bench generates load against a node on loopback and prints what it
// measured; with no secret or key given it uses the dev credentials, like
// `herald token`. `bench --worker` is the hidden mode of the client
// processes it forks past one process's open-files limit.
func bench(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) > 0 && args[0] == "--worker" {
		return loadgen.RunWorker(ctx, os.Stdin, os.Stdout)
	}
	cfg := loadgen.Defaults()
	fs := newFlagSet("bench")
	cfg.RegisterFlags(fs)
	jsonPath := fs.String("json", "", "write the report as JSON to this file")
	cpuProfile := fs.String("cpuprofile", "", "write this process's CPU profile to this file (to see whether the load generator is the bottleneck)")
	devPath := fs.String("dev-credentials", os.Getenv(server.EnvName("dev-credentials")), devCredentialsUsage)
	if helped, err := parseArgs(fs, args, benchHelp, out); helped || err != nil {
		return err
	}
	if err := benchCredentials(&cfg, *devPath); err != nil {
		return err
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, runErr := loadgen.Run(ctx, cfg, errOut)
	if errors.Is(runErr, loadgen.ErrConfig) {
		return usageError{runErr}
	}
	if rep != nil {
		if err := rep.WriteTable(out); err != nil {
			return err
		}
		if *jsonPath != "" {
			if err := writeReport(rep, *jsonPath); err != nil {
				return err
			}
		}
	}
	return runErr
}

// benchCredentials fills the JWT secret and API key from the environment,
// else from the dev credentials the loopback dev server uses.
func benchCredentials(cfg *loadgen.Config, devPath string) error {
	if cfg.JWTSecret == "" {
		cfg.JWTSecret = os.Getenv(server.EnvName("jwt-secret"))
	}
	if cfg.APIKey == "" {
		cfg.APIKey = benchAPIKey(os.Getenv(server.EnvName("api-key")))
	}
	if cfg.JWTSecret != "" && cfg.APIKey != "" {
		return nil
	}
	dev, err := devCredentials(devPath)
	if err != nil {
		return err
	}
	if cfg.JWTSecret == "" {
		cfg.JWTSecret = string(dev.JWTSecret)
	}
	if cfg.APIKey == "" {
		cfg.APIKey = dev.APIKey
	}
	return nil
}

// benchAPIKey picks the key bench calls with from a --api-key list: it
// pushes and reads GetStats, so the first with scopes push and admin.
func benchAPIKey(list string) string {
	const need = grpcapi.ScopePush | grpcapi.ScopeAdmin
	return pickAPIKey(list, func(s grpcapi.Scope) bool { return s&need == need })
}

// pickAPIKey picks the key to call with from a --api-key list: the first
// whose scopes fit the calls to make, else the first. A list entry may
// carry scopes (KEY:push), which are not part of the key.
func pickAPIKey(list string, fits func(grpcapi.Scope) bool) string {
	first := ""
	for _, spec := range splitList(list) {
		k, err := grpcapi.ParseAPIKey(spec)
		if err != nil {
			continue
		}
		if fits(k.Scopes) {
			return k.Key
		}
		if first == "" {
			first = k.Key
		}
	}
	return first
}

func writeReport(rep *loadgen.Report, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	if err := rep.WriteJSON(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("--json: %w", err)
	}
	return f.Close()
}
