package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
	"unicode/utf8"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"

	"github.com/herald-push/herald/client"
	"github.com/herald-push/herald/server"
	"github.com/herald-push/herald/server/auth"
)

// listen connects as a user with the client SDK (compression on,
// reconnect and resume by itself) and prints every push until SIGINT or
// SIGTERM.
func listen(args []string) error {
	fs := flag.NewFlagSet("herald listen", flag.ContinueOnError)
	url := fs.String("url", "ws://127.0.0.1:8080/ws", "WebSocket URL")
	user := fs.String("user", "", "user id; a token is minted with the dev credentials or --jwt-secret")
	groups := fs.String("groups", "", "comma-separated groups for the minted token")
	tok := fs.String("token", "", "a token to use instead of minting one")
	secret := fs.String("jwt-secret", os.Getenv(server.EnvName("jwt-secret")), "HMAC secret to mint with (default: the dev credentials)")
	noCompress := fs.Bool("no-compression", false, "do not offer permessage-deflate")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tok == "" && *user == "" {
		return errors.New("--user or --token: one is required")
	}
	mint, err := tokenSource(*tok, *user, *groups, *secret)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	c, err := client.New(client.Options{
		URL:                *url,
		Token:              func(context.Context) (string, error) { return mint() },
		DisableCompression: *noCompress,
		AutoAck:            true,
		OnPush:             printPush,
		OnState: func(sc client.StateChange) {
			line := "-- " + sc.State.String()
			if sc.Code != 0 {
				line += fmt.Sprintf(" (close %d %s)", sc.Code, sc.Reason)
			}
			if sc.Err != nil {
				line += ": " + sc.Err.Error()
			}
			if sc.Delay > 0 {
				line += fmt.Sprintf(", retry in %v", sc.Delay.Round(time.Millisecond))
			}
			fmt.Fprintln(os.Stderr, line)
		},
		OnResumeFailed: func(r *clientv1.StreamResult) {
			fmt.Fprintf(os.Stderr, "-- %s: missed pushes could not be recovered; resync it\n", r.GetStream())
		},
	})
	if err != nil {
		return err
	}
	if err := c.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Close(cctx)
}

// tokenSource returns a function giving a token on each (re)connect: the
// one given, or a freshly minted one.
func tokenSource(tok, user, groups, secret string) (func() (string, error), error) {
	if tok != "" {
		return func() (string, error) { return tok, nil }, nil
	}
	key := []byte(secret)
	if len(key) == 0 {
		path, err := auth.DefaultDevCredentialsPath()
		if err != nil {
			return nil, err
		}
		dev, _, err := auth.LoadOrCreateDevCredentials(path)
		if err != nil {
			return nil, err
		}
		key = dev.JWTSecret
	}
	claims := auth.MintClaims{UserID: user, Groups: splitList(groups), TTL: time.Hour}
	return func() (string, error) { return auth.Mint(key, claims) }, nil
}

// printPush prints a push as: stream #offset topic payload. A payload that
// is not UTF-8 text is shown in hex.
func printPush(p *clientv1.Push) {
	payload := string(p.GetPayload())
	if !utf8.Valid(p.GetPayload()) {
		payload = fmt.Sprintf("%x", p.GetPayload())
	}
	fmt.Printf("%s #%d %s %s\n", p.GetStream(), p.GetOffset(), p.GetTopic(), payload)
}
