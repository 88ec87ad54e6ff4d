package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: herald <command> [flags]

commands:
  serve    run a Herald node (zero configuration: loopback, in-memory engine)
  token    mint a client token (or print the dev API key with --api-key)
  listen   connect as a user and print every push it receives
  events   print the cluster's presence and delivery events, resuming after breaks
  bench    generate load against a node on loopback

Run "herald <command> -h" for a command's flags.`

// run dispatches a command line to its command.
func run(args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, usage)
		return errors.New("no command given")
	}
	cmds := map[string]func([]string) error{
		"serve":  serve,
		"token":  token,
		"listen": listen,
		"events": runEvents,
		"bench":  bench,
	}
	if f, ok := cmds[args[0]]; ok {
		return f(args[1:])
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Println(usage)
		return nil
	}
	fmt.Fprintln(os.Stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// runEvents runs `herald events` until SIGINT or SIGTERM.
func runEvents(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return events(ctx, args, os.Stdout, os.Stderr)
}
