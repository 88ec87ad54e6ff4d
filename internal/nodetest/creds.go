package nodetest

import (
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/server"
	"github.com/herald-push/herald/server/grpcapi"
	"github.com/herald-push/herald/server/tokens"
)

// Creds are the secrets the nodes of one test share: the client-token
// secret and the API key.
type Creds struct {
	JWTSecret string // hex; its bytes as they are sign the tokens
	APIKey    string
}

// NewCreds returns fresh random Creds, so that no two tests share them.
func NewCreds() Creds {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return Creds{JWTSecret: hex.EncodeToString(b), APIKey: "key-" + hex.EncodeToString(b[:8])}
}

// Token mints a client token for user, member of groups, valid for an
// hour.
func (c Creds) Token(t testing.TB, user string, groups ...string) string {
	t.Helper()
	tok, err := tokens.Mint([]byte(c.JWTSecret), tokens.MintClaims{UserID: user, Groups: groups, TTL: time.Hour})
	if err != nil {
		t.Fatalf("nodetest: minting a token for %s: %v", user, err)
	}
	return tok
}

// Env is the environment that gives a herald process these Creds.
func (c Creds) Env() []string {
	return []string{server.EnvName("jwt-secret") + "=" + c.JWTSecret, server.EnvName("api-key") + "=" + c.APIKey}
}

// Dial connects to the gRPC API at addr in plaintext with the API key on
// every call (extra options after), and closes the connection when the
// test ends.
func (c Creds) Dial(t testing.TB, addr string, extra ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(grpcapi.Bearer(c.APIKey)),
	}
	conn, err := grpc.NewClient(addr, append(opts, extra...)...)
	if err != nil {
		t.Fatalf("nodetest: dialling %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// Client is Dial's connection as a PushService client.
func (c Creds) Client(t testing.TB, addr string) pushv1.PushServiceClient {
	t.Helper()
	return pushv1.NewPushServiceClient(c.Dial(t, addr))
}
