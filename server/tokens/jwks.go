package tokens

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// JWKS fetching limits. The refresh interval bounds how long a revoked key
// keeps verifying; the unknown-kid refetch lets a freshly rotated key work
// at once, but at most once a minute so tokens with made-up kids cannot
// turn Herald into a load generator against the identity provider.
const (
	jwksRefreshInterval = 15 * time.Minute
	jwksUnknownKIDEvery = time.Minute
	jwksFetchTimeout    = 10 * time.Second
	jwksDialTimeout     = 5 * time.Second
	jwksMaxBytes        = 1 << 20 // far above any real key set (a few KiB)
	jwksMaxRedirects    = 3
)

var errJWKSTooLarge = fmt.Errorf("JWK Set larger than %d bytes", jwksMaxBytes)

// jwksSource holds the keyfunc cache and what is needed to stop it.
type jwksSource struct {
	kf        keyfunc.Keyfunc
	cancel    context.CancelFunc // ends keyfunc's refresh goroutine
	transport *http.Transport
}

// newJWKSSource fetches the key set once (failing if that fails or yields
// no usable key) and leaves keyfunc's refresh goroutine running until
// close. ctx bounds only this first fetch: the goroutine's lifetime context
// is detached from it, so a caller's start-up deadline does not silently
// stop refreshes later.
func newJWKSSource(ctx context.Context, opts Options) (_ *jwksSource, err error) {
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	defer func() {
		if err != nil {
			cancel()
		}
	}()

	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: jwksDialTimeout}).DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   jwksDialTimeout,
		ResponseHeaderTimeout: jwksFetchTimeout,
		// One fetch every few minutes gains nothing from a kept-alive
		// connection, and an idle one would hold two goroutines.
		DisableKeepAlives: true,
	}
	client := &http.Client{
		Transport:     limitBody{base: transport, max: jwksMaxBytes},
		Timeout:       jwksFetchTimeout,
		CheckRedirect: checkJWKSRedirect,
	}
	log := opts.Logger
	noErrorFirst := false // a key set we cannot fetch at start is bad configuration
	kf, err := keyfunc.NewDefaultOverrideCtx(life, []string{opts.JWKSURL}, keyfunc.Override{
		Client:                    client,
		HTTPTimeout:               jwksFetchTimeout,
		NoErrorReturnFirstHTTPReq: &noErrorFirst,
		// Bounds the unknown-kid refetch, wait included; the limiter fails
		// at once when its wait would exceed this, so handshakes with
		// unknown kids do not queue behind it.
		RateLimitWaitMax:  jwksFetchTimeout,
		RefreshInterval:   jwksRefreshInterval,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(jwksUnknownKIDEvery), 1),
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				log.WarnContext(ctx, "tokens: JWKS refresh failed; keeping the keys fetched before", "url", u, "err", err)
			}
		},
	})
	if err != nil {
		return nil, oneLine{err}
	}
	if err := life.Err(); err != nil {
		return nil, err
	}
	keys, err := kf.Storage().KeyReadAll(life)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s served no usable keys", opts.JWKSURL)
	}
	return &jwksSource{kf: kf, cancel: cancel, transport: transport}, nil
}

// keyFunc wraps keyfunc's lookup so that only a key fitting the token's
// algorithm is ever handed to golang-jwt.
func (j *jwksSource) keyFunc(t *jwt.Token) (any, error) {
	got, err := j.kf.Keyfunc(t)
	if err != nil {
		if errors.Is(err, jwkset.ErrKeyNotFound) {
			kid, _ := t.Header["kid"].(string)
			return nil, refuse(ErrUnknownKey, fmt.Errorf("no key with kid %q", clip(kid)))
		}
		// Also keyfunc's own refusal of a JWK whose alg differs from the
		// token's, and a rate-limited refetch: no usable key either way.
		return nil, refuse(ErrUnknownKey, err)
	}
	if set, ok := got.(jwt.VerificationKeySet); ok {
		// No kid: golang-jwt tries each key; offer only those that fit.
		var fit jwt.VerificationKeySet
		for _, k := range set.Keys {
			if keyFits(t.Method, k) {
				fit.Keys = append(fit.Keys, k)
			}
		}
		if len(fit.Keys) == 0 {
			return nil, refuse(ErrUnknownKey, fmt.Errorf("no key for %s", t.Method.Alg()))
		}
		return fit, nil
	}
	if !keyFits(t.Method, got) {
		return nil, refuse(ErrUnknownKey, fmt.Errorf("the key its kid names does not fit %s", t.Method.Alg()))
	}
	return got, nil
}

// close cancels keyfunc's context, which ends its refresh goroutine at its
// next select (it waits only on the ticker and this context) and aborts a
// fetch in flight.
func (j *jwksSource) close() {
	j.cancel()
	j.transport.CloseIdleConnections()
}

// checkJWKSRedirect keeps redirects on https (or loopback http), so a
// redirect cannot downgrade the key fetch to plain text.
func checkJWKSRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= jwksMaxRedirects {
		return fmt.Errorf("more than %d redirects", jwksMaxRedirects)
	}
	if !strings.EqualFold(req.URL.Scheme, "https") && !isLoopbackHost(req.URL.Hostname()) {
		return fmt.Errorf("redirect to %s refused: not https", (&url.URL{Scheme: req.URL.Scheme, Host: req.URL.Host}).String())
	}
	return nil
}

// limitBody caps response bodies: jwkset decodes whatever it is sent, and
// a misbehaving or hostile endpoint should not be able to exhaust memory.
type limitBody struct {
	base http.RoundTripper
	max  int64
}

func (l limitBody) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: l.max}
	return resp, nil
}

type limitedBody struct {
	io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errJWKSTooLarge
	}
	// Read one byte past the limit to tell "exactly max" from "more".
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	if int64(n) > b.left {
		n = int(b.left)
		b.left = -1
		return n, errJWKSTooLarge
	}
	b.left -= int64(n)
	return n, err
}

// oneLine keeps an error's chain but prints it on one line: keyfunc joins
// its errors with newlines, which split a start-up failure across log
// lines.
type oneLine struct{ err error }

func (e oneLine) Error() string { return strings.ReplaceAll(e.err.Error(), "\n", "; ") }
func (e oneLine) Unwrap() error { return e.err }
