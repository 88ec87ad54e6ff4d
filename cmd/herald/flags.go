package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/herald-push/herald/server"
)

// newFlagSet returns the flag set of `herald <name>`.
func newFlagSet(name string) *flag.FlagSet {
	return flag.NewFlagSet("herald "+name, flag.ContinueOnError)
}

// helpText is what `herald <command> --help` prints around the flags.
type helpText struct {
	about string // what the command does, a paragraph
	// envTwins shows each flag's HERALD_ variable beside it (serve).
	envTwins bool
	notes    string // after the flags
}

// parseArgs parses a command's arguments. With -h or --help it prints the
// help to out and returns helped: the command then returns nil (exit 0).
// Errors are usageErrors; a bad value names the flag, shows the value and
// the form expected (server.ValueError).
func parseArgs(fs *flag.FlagSet, args []string, h helpText, out io.Writer) (helped bool, err error) {
	err = server.ParseFlags(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(out, fs, h)
		return true, nil
	}
	if err != nil {
		return false, usageError{err}
	}
	if fs.NArg() > 0 {
		return false, usageError{fmt.Errorf("unexpected arguments: %q", fs.Args())}
	}
	return false, nil
}

// printHelp prints a command's usage, its flags with their defaults and,
// for serve, their environment twins.
func printHelp(w io.Writer, fs *flag.FlagSet, h helpText) {
	fmt.Fprintf(w, "usage: %s [flags]\n\n%s\n\nflags:\n", fs.Name(), h.about)
	fs.VisitAll(func(f *flag.Flag) {
		kind := server.FlagKind(f.Value)
		name, text := flag.UnquoteUsage(f) // a `name` in the usage wins
		if !strings.Contains(f.Usage, "`") {
			name = kind
		}
		line := "  --" + f.Name
		if kind != "bool" {
			line += " " + name
		}
		if h.envTwins {
			line += "   " + server.EnvName(f.Name)
		}
		fmt.Fprintln(w, line)
		usage := "        " + strings.ReplaceAll(text, "\n", "\n        ")
		if d := f.DefValue; d != "" && d != "0" && d != "false" && d != "0s" && d != "[]" {
			if kind == "string" {
				d = fmt.Sprintf("%q", d)
			}
			usage += " (default " + d + ")"
		}
		fmt.Fprintln(w, usage)
	})
	if h.notes != "" {
		fmt.Fprintf(w, "\n%s\n", h.notes)
	}
}
