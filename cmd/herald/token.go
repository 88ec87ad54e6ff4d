package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/herald-push/herald/server"
	"github.com/herald-push/herald/server/tokens"
)

var tokenHelp = helpText{
	about: `Mint a client token (HS256) for --user with the configured secret or, with
none, the dev credentials the loopback dev server uses. With --api-key,
print the dev mode's gRPC API key instead.`,
}

// token mints a client token with the configured secret or, with none, the
// dev credentials the loopback dev server uses; --api-key prints the dev
// API key instead.
func token(_ context.Context, args []string, out, _ io.Writer) error {
	fs := newFlagSet("token")
	user := fs.String("user", "", "user id (the sub claim)")
	groups := fs.String("groups", "", "comma-separated groups joined at connect")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	secret := fs.String("jwt-secret", "", "HMAC secret (default: $HERALD_JWT_SECRET, else the dev credentials)")
	audience := fs.String("jwt-audience", os.Getenv(server.EnvName("jwt-audience")), "aud claim (default: $HERALD_JWT_AUDIENCE)")
	issuer := fs.String("jwt-issuer", os.Getenv(server.EnvName("jwt-issuer")), "iss claim (default: $HERALD_JWT_ISSUER)")
	devPath := fs.String("dev-credentials", os.Getenv(server.EnvName("dev-credentials")), devCredentialsUsage)
	apiKey := fs.Bool("api-key", false, "print the dev mode's gRPC API key instead of a token")
	if helped, err := parseArgs(fs, args, tokenHelp, out); helped || err != nil {
		return err
	}
	if *secret == "" {
		*secret = os.Getenv(server.EnvName("jwt-secret"))
	}
	var dev tokens.DevCredentials
	if *secret == "" || *apiKey {
		d, err := devCredentials(*devPath)
		if err != nil {
			return err
		}
		dev = d
	}
	if *apiKey {
		fmt.Fprintln(out, dev.APIKey)
		return nil
	}
	if *user == "" {
		return usageError{errors.New("--user: required")}
	}
	key := []byte(*secret)
	if len(key) == 0 {
		key = dev.JWTSecret
	}
	tok, err := tokens.Mint(key, tokens.MintClaims{UserID: *user, Groups: splitList(*groups), TTL: *ttl, Audience: *audience, Issuer: *issuer})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, tok)
	return nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
