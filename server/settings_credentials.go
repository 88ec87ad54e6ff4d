package server

import (
	"fmt"
	"os"

	"github.com/herald-push/herald/server/grpcapi"
	"github.com/herald-push/herald/server/tokens"
)

// Client tokens and API keys.
var authSettings = []setting{
	&spec[string]{
		Flag: "jwt-secret", Help: "HMAC key for client tokens (HS256/384/512)",
		Field:  func(c *Config) *string { return &c.JWTSecret },
		Shown:  "dev: generated",
		Secret: true,
		Checks: []func(string) string{ifSet(func(v string) error { return tokens.CheckSecret([]byte(v)) })},
		To:     func(o *options, v string) { o.tokens.Secret = []byte(v) },
	},
	&spec[string]{
		Flag: "jwt-public-key", Help: "PEM file: RSA, ECDSA or Ed25519 public key for client tokens",
		Field:  func(c *Config) *string { return &c.JWTPublicKey },
		Checks: []func(string) string{ifSet(openable), ifSet(publicKeyFile)},
		// build reads the file.
	},
	&spec[string]{
		Flag: "jwks-url", Help: "JWKS with the client-token keys (https, or http to a loopback host)",
		Field:  func(c *Config) *string { return &c.JWKSURL },
		Checks: []func(string) string{ifSet(tokens.CheckJWKSURL)},
		To:     func(o *options, v string) { o.tokens.JWKSURL = v },
	},
	&spec[string]{
		Flag: "jwt-audience", Help: "required aud claim of client tokens",
		Field: func(c *Config) *string { return &c.JWTAudience },
		To:    func(o *options, v string) { o.tokens.Audience = v },
	},
	&spec[string]{
		Flag: "jwt-issuer", Help: "required iss claim of client tokens",
		Field: func(c *Config) *string { return &c.JWTIssuer },
		To:    func(o *options, v string) { o.tokens.Issuer = v },
	},
	&spec[[]string]{
		Flag:  "api-key",
		Help:  "comma-separated API keys for gRPC callers; KEY:push, KEY:admin, KEY:events or KEY:push+events limits a key to scopes (none: all)",
		Field: func(c *Config) *[]string { return &c.APIKeys },
		Shown: "dev: generated",
		Parse: splitList,
		// The error never quotes a key: it is a secret.
		Checks: []func([]string) string{eachEntry(func(k string) error { _, err := grpcapi.ParseAPIKey(k); return err })},
		To:     func(o *options, v []string) { o.grpc.APIKeys = v },
	},
	&spec[string]{
		Flag: "dev-credentials", Help: "file of the loopback dev mode's generated JWT secret and API key",
		Field: func(c *Config) *string { return &c.DevCredentials },
		Shown: "dev-credentials.json in HERALD_DEV_DIR, else herald/dev-credentials.json in the user config dir",
	},
}

// publicKeyFile refuses a file that holds no public key the verifier
// takes.
func publicKeyFile(path string) error {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil // openable says why
	}
	if err := tokens.CheckPublicKeyPEM(pem); err != nil {
		return fmt.Errorf("is not a public key: %w", err)
	}
	return nil
}
