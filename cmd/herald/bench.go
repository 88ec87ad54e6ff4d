package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	loadgen "github.com/herald-push/herald/cmd/herald/internal/bench"
	"github.com/herald-push/herald/server"
	"github.com/herald-push/herald/server/auth"
)

// bench generates load against a node on loopback and prints what it
// measured; with no secret or key given it uses the dev credentials, like
// `herald token`. `bench --worker` is the hidden mode of the client
// processes it forks past one process's open-files limit.
func bench(args []string) error {
	if len(args) > 0 && args[0] == "--worker" {
		return loadgen.RunWorker(context.Background(), os.Stdin, os.Stdout)
	}
	cfg := loadgen.Defaults()
	fs := flag.NewFlagSet("herald bench", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	jsonPath := fs.String("json", "", "write the report as JSON to this file")
	cpuProfile := fs.String("cpuprofile", "", "write this process's CPU profile to this file (to see whether the load generator is the bottleneck)")
	devPath := fs.String("dev-credentials", os.Getenv(server.EnvName("dev-credentials")), "dev credentials file (default: the user config dir)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
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
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, runErr := loadgen.Run(ctx, cfg, os.Stderr)
	if rep != nil {
		if err := rep.WriteTable(os.Stdout); err != nil {
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
		key, _, _ := strings.Cut(os.Getenv(server.EnvName("api-key")), ",")
		cfg.APIKey = strings.TrimSpace(key)
	}
	if cfg.JWTSecret != "" && cfg.APIKey != "" {
		return nil
	}
	if devPath == "" {
		p, err := auth.DefaultDevCredentialsPath()
		if err != nil {
			return err
		}
		devPath = p
	}
	dev, _, err := auth.LoadOrCreateDevCredentials(devPath)
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
