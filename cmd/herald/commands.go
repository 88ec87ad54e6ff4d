package main

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // the command ran and failed
	exitUsage  = 2 // bad command line or environment: nothing was started
)

// command is one subcommand. Its flags are parsed by the command itself;
// out is for results, errOut for progress, logs and help on errors.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, out, errOut io.Writer) error
}

var commands = []command{
	{"serve", "run a Herald node (zero configuration: loopback, in-memory engine)", serve},
	{"token", "mint a client token (or print the dev API key with --api-key)", token},
	{"listen", "connect as a user and print every push it receives", listen},
	{"events", "print the cluster's presence and delivery events, resuming after breaks", events},
	{"bench", "generate load against a node on loopback", bench},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: herald <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "herald <command> --help" for a command's flags. Every flag of serve
can also be set by an environment variable: --ws-addr by HERALD_WS_ADDR.`)
}

// run runs the command line args and returns the process's exit code,
// having printed any error to errOut.
func run(ctx context.Context, args []string, out, errOut io.Writer) int {
	if len(args) == 0 {
		usage(errOut)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(out)
		return exitOK
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], out, errOut)
		if err == nil {
			return exitOK
		}
		fmt.Fprintf(errOut, "herald %s: %v\n", c.name, err)
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(errOut, "(herald %s --help lists the flags)\n", c.name)
			return exitUsage
		}
		return exitFailed
	}
	fmt.Fprintf(errOut, "herald: unknown command %q\n", args[0])
	usage(errOut)
	return exitUsage
}

// usageError is a bad command line or environment: the command started
// nothing. It exits with exitUsage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }
