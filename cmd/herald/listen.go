package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
	"unicode/utf8"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"

	"github.com/herald-push/herald/client"
	"github.com/herald-push/herald/server"
	"github.com/herald-push/herald/server/tokens"
)

var listenHelp = helpText{
	about: `Connect as --user (with a token minted from --jwt-secret or the dev
credentials) or with --token, and print every push received as
"stream #offset topic payload". State changes go to stderr. It reconnects
and resumes by itself after drops and drains.

Exit status: 0 after SIGINT or SIGTERM; 1 when the server refuses the
token (HTTP 401: a fresh token signed the same way would be refused too)
or disconnects the user for good (DisconnectUser with reconnect false,
close 4002); 2 for a bad command line.`,
}

// listenCloseTimeout bounds closing the client at the end.
const listenCloseTimeout = 5 * time.Second

// listen connects as a user with the client SDK (compression on,
// reconnect and resume by itself) and prints every push until SIGINT or
// SIGTERM, or until the server refuses it for good.
func listen(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := newFlagSet("listen")
	url := fs.String("url", "ws://127.0.0.1:8080/ws", "WebSocket URL")
	user := fs.String("user", "", "user id; a token is minted for it on every connect")
	groups := fs.String("groups", "", "comma-separated groups for the minted token")
	tok := fs.String("token", "", "a token to use instead of minting one")
	secret := fs.String("jwt-secret", os.Getenv(server.EnvName("jwt-secret")), "HMAC secret to mint with (default: $HERALD_JWT_SECRET, else the dev credentials)")
	audience := fs.String("jwt-audience", os.Getenv(server.EnvName("jwt-audience")), "aud claim of the minted token (default: $HERALD_JWT_AUDIENCE)")
	issuer := fs.String("jwt-issuer", os.Getenv(server.EnvName("jwt-issuer")), "iss claim of the minted token (default: $HERALD_JWT_ISSUER)")
	devPath := fs.String("dev-credentials", os.Getenv(server.EnvName("dev-credentials")), devCredentialsUsage)
	noCompress := fs.Bool("no-compression", false, "do not offer permessage-deflate")
	if helped, err := parseArgs(fs, args, listenHelp, out); helped || err != nil {
		return err
	}
	if *tok == "" && *user == "" {
		return usageError{errors.New("--user or --token: one is required")}
	}
	mint, err := tokenSource(*tok, *devPath, *secret, tokens.MintClaims{UserID: *user, Groups: splitList(*groups), Audience: *audience, Issuer: *issuer})
	if err != nil {
		return err
	}
	// A 401 is final: the token was minted afresh for this very attempt
	// (or is the fixed --token), so the next attempt would send one the
	// server refuses for the same reason (wrong key, audience or issuer;
	// an expired --token). Retrying forever would hide the mistake.
	refused := errors.New("the server refused the minted token (HTTP 401): mint with the server's key (--jwt-secret, or --dev-credentials for a dev server with its own file), and with --jwt-audience/--jwt-issuer if the server checks them")
	if *tok != "" {
		refused = errors.New("the server refused --token (HTTP 401): it has expired, or is not signed with the server's key")
	}

	ctx, stopSignals := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stopSignals()
	// stopped carries why the client stopped for good on its own; the
	// client's callbacks never overlap, and only the first reason counts.
	stopped := make(chan error, 1)
	stop := func(err error) {
		select {
		case stopped <- err:
		default:
		}
	}
	c, err := client.New(client.Options{
		URL:                *url,
		Token:              func(context.Context) (string, error) { return mint() },
		DisableCompression: *noCompress,
		AutoAck:            true,
		OnPush:             func(p *clientv1.Push) { printPush(out, p) },
		OnState: func(sc client.StateChange) {
			switch {
			case errors.Is(sc.Err, client.ErrUnauthorized):
				stop(refused)
				return
			case sc.State == client.StateClosed && errors.Is(sc.Err, client.ErrDisconnected):
				stop(fmt.Errorf("disconnected by the server and told not to reconnect (close %d: %s)", sc.Code, sc.Reason))
			}
			fmt.Fprintln(errOut, stateLine(sc))
		},
		OnResumeFailed: func(r *clientv1.StreamResult) {
			fmt.Fprintf(errOut, "-- %s: missed pushes could not be recovered; resync it\n", r.GetStream())
		},
	})
	if err != nil {
		return usageError{err}
	}
	if err := c.Start(); err != nil {
		return err
	}
	var why error
	select {
	case <-ctx.Done():
	case why = <-stopped:
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), listenCloseTimeout)
	defer cancel()
	if err := c.Close(cctx); why == nil {
		why = err
	}
	return why
}

// stateLine describes a state change for stderr.
func stateLine(sc client.StateChange) string {
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
	return line
}

// tokenSource returns a function giving a token on each (re)connect: the
// one given, or one minted afresh with the secret (else the dev
// credentials at devPath).
func tokenSource(tok, devPath, secret string, claims tokens.MintClaims) (func() (string, error), error) {
	if tok != "" {
		return func() (string, error) { return tok, nil }, nil
	}
	key := []byte(secret)
	if len(key) == 0 {
		dev, err := devCredentials(devPath)
		if err != nil {
			return nil, err
		}
		key = dev.JWTSecret
	}
	claims.TTL = time.Hour
	return func() (string, error) { return tokens.Mint(key, claims) }, nil
}

// printPush prints a push as: stream #offset topic payload. A payload that
// is not UTF-8 text is shown in hex.
func printPush(w io.Writer, p *clientv1.Push) {
	payload := string(p.GetPayload())
	if !utf8.Valid(p.GetPayload()) {
		payload = fmt.Sprintf("%x", p.GetPayload())
	}
	fmt.Fprintf(w, "%s #%d %s %s\n", p.GetStream(), p.GetOffset(), p.GetTopic(), payload)
}
