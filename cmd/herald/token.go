package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/herald-push/herald/server"
	"github.com/herald-push/herald/server/auth"
)

// token mints a client token with the configured secret or, with none, the
// dev credentials the loopback dev server uses; --api-key prints the dev
// API key instead.
func token(args []string) error {
	fs := flag.NewFlagSet("herald token", flag.ContinueOnError)
	user := fs.String("user", "", "user id (the sub claim)")
	groups := fs.String("groups", "", "comma-separated groups joined at connect")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	secret := fs.String("jwt-secret", "", "HMAC secret (default: $HERALD_JWT_SECRET, else the dev credentials)")
	audience := fs.String("jwt-audience", os.Getenv(server.EnvName("jwt-audience")), "aud claim")
	issuer := fs.String("jwt-issuer", os.Getenv(server.EnvName("jwt-issuer")), "iss claim")
	devPath := fs.String("dev-credentials", os.Getenv(server.EnvName("dev-credentials")), "dev credentials file (default: the user config dir)")
	apiKey := fs.Bool("api-key", false, "print the dev mode's gRPC API key instead of a token")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *secret == "" {
		*secret = os.Getenv(server.EnvName("jwt-secret"))
	}
	var dev auth.DevCredentials
	if *secret == "" || *apiKey {
		path := *devPath
		if path == "" {
			p, err := auth.DefaultDevCredentialsPath()
			if err != nil {
				return err
			}
			path = p
		}
		d, _, err := auth.LoadOrCreateDevCredentials(path)
		if err != nil {
			return err
		}
		dev = d
	}
	if *apiKey {
		fmt.Println(dev.APIKey)
		return nil
	}
	if *user == "" {
		return errors.New("--user: required")
	}
	key := []byte(*secret)
	if len(key) == 0 {
		key = dev.JWTSecret
	}
	tok, err := auth.Mint(key, auth.MintClaims{UserID: *user, Groups: splitList(*groups), TTL: *ttl, Audience: *audience, Issuer: *issuer})
	if err != nil {
		return err
	}
	fmt.Println(tok)
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
