package server_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"testing"
	"time"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	"github.com/herald-push/herald/internal/wstest"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wsClient is a raw WebSocket client that decodes every ServerFrame.
type wsClient = wstest.Client

type dialOpts struct {
	compress bool
	silent   bool
	header   http.Header
	tls      *tls.Config
}

// dialWS connects to url with token as a bearer header (when not empty).
func dialWS(t *testing.T, url, token string, o dialOpts) (*wsClient, *http.Response, error) {
	t.Helper()
	return wstest.Dial(t, wstest.Options{URL: url, Token: token, Header: o.header, Compress: o.compress, Silent: o.silent, TLS: o.tls})
}

// noPushBeforePong asserts no push arrives at c while the server handles a
// Ping round trip: the Pong proves every earlier frame was written.
func noPushBeforePong(t *testing.T, c *wsClient) {
	t.Helper()
	c.Send(t, &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Ping{Ping: &clientv1.Ping{Nonce: 99}}})
	for {
		f := c.Next(t)
		if f.GetPong() != nil {
			return
		}
		if f.GetPush() != nil || f.GetBatch() != nil {
			t.Fatalf("unexpected push %v", f)
		}
	}
}

// httpGet returns the status code of a GET.
func httpGet(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}
