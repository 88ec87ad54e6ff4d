package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
)

// Defaults for the zero values of Options, filled in by New.
const (
	// DefaultMinBackoff is the ceiling of the first reconnect delay.
	DefaultMinBackoff = 500 * time.Millisecond
	// DefaultMaxBackoff caps every reconnect delay the client chooses itself
	// (the server's reconnect_after and Retry-After are honoured as given).
	DefaultMaxBackoff = 30 * time.Second
	// DefaultStableAfter is how long a connection must stay up for the
	// backoff to start over: shorter-lived connections count as flapping.
	DefaultStableAfter = time.Minute
	// DefaultHandshakeTimeout bounds the TCP dial plus the WebSocket
	// handshake, and the wait for Welcome after it.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds every frame the client writes.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultHeartbeatInterval is assumed when Welcome does not say how
	// often the server pings.
	DefaultHeartbeatInterval = 25 * time.Second
	// DefaultFillTimeout bounds the wait for the server to fill a gap.
	DefaultFillTimeout = 10 * time.Second
	// DefaultFillBuffer bounds the pushes of one stream held while a gap
	// before them is being filled.
	DefaultFillBuffer = 256
)

// heartbeatMisses is how many heartbeat intervals of silence the client
// tolerates before it drops the connection: one lost ping plus jitter must
// not cost a reconnect, three in a row means the path is dead.
const heartbeatMisses = 3

// Options configures a Client. The zero value of every field but URL and
// Token is usable; New fills in the defaults and validates the rest.
type Options struct {
	// URL is the WebSocket endpoint, ws:// or wss://, for example
	// "wss://push.example.com/ws". Required.
	URL string

	// Token returns the JWT sent as "Authorization: Bearer <jwt>". It is
	// called before every connect and reconnect, so it can mint or fetch a
	// fresh token (after close code 4001, token expired, it must). ctx is
	// cancelled when the client is closed. Required.
	Token func(ctx context.Context) (string, error)

	// Header holds extra handshake headers, such as User-Agent (shown by
	// GetPresence). Authorization is set from Token and overrides any here.
	Header http.Header

	// TLSConfig configures wss:// connections; nil uses the system roots.
	// The client clones it for each connection.
	TLSConfig *tls.Config

	// DisableCompression turns off permessage-deflate. By default the client
	// offers it without context takeover, the only mode the server accepts
	// cheaply: takeover would cost it 8 KiB per connection and stop it
	// compressing a broadcast once for all. The server decides which frames
	// to compress.
	DisableCompression bool

	// OnPush is called for every push delivered, in order, including each
	// push of a PushBatch, after duplicates have been dropped. It runs on
	// the connection's read goroutine: while it runs nothing else is read,
	// and a callback slower than the pushes arrive makes the server close
	// the connection as a slow consumer (4003). The Push is the app's to
	// keep.
	OnPush func(push *clientv1.Push)

	// OnState is called on every state change; see State.
	OnState func(change StateChange)

	// OnResumeFailed is called when pushes of a stream were lost and the
	// app must resync that stream from its own backend: the server
	// answered a Resume (on connect, or for a gap in a stream's offsets)
	// with recovered=false (history trimmed, expired, or its epoch
	// changed), or a gap could not be filled within FillTimeout or
	// FillBuffer. result.Offset and Epoch are where the client goes on
	// from: the next push of the stream it delivers comes after them.
	OnResumeFailed func(result *clientv1.StreamResult)

	// OnError is called for Error frames: problems with a frame the client
	// sent that did not end the connection, such as a rejected RefreshToken.
	OnError func(e *clientv1.Error)

	// AutoAck sends an Ack with the stream positions of the delivered pushes
	// after OnPush returned for every push of a frame (push or batch). The
	// server uses Acks for delivery receipts.
	AutoAck bool

	// Resume holds positions to resume from on the first connect, for an
	// app that saved Client.Positions before it last stopped.
	Resume []*clientv1.StreamPosition

	// MinBackoff is the ceiling of the first reconnect delay; it doubles
	// with each failed attempt up to MaxBackoff. Each delay is drawn
	// uniformly between zero and its ceiling (full jitter).
	// Default DefaultMinBackoff.
	MinBackoff time.Duration
	// MaxBackoff caps the reconnect delay. Default DefaultMaxBackoff.
	MaxBackoff time.Duration
	// StableAfter is how long a connection must stay up (from Welcome) for
	// the backoff to start over. Default DefaultStableAfter.
	StableAfter time.Duration

	// HandshakeTimeout bounds the dial and WebSocket handshake, and the wait
	// for Welcome. Default DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds each frame write. Default DefaultWriteTimeout.
	WriteTimeout time.Duration
	// HeartbeatInterval is used when the server's Welcome does not carry a
	// heartbeat_interval. The client drops a connection silent for three
	// intervals. Default DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration

	// FillTimeout bounds how long the client waits for the server to
	// answer a Resume, and to replay what it asked for, before it reports
	// the stream through OnResumeFailed and delivers the pushes it held.
	// Measured on the system clock. Default DefaultFillTimeout.
	FillTimeout time.Duration
	// FillBuffer bounds the pushes of one stream the client holds while it
	// asks the server for a gap before them; one more and it reports the
	// stream and delivers them. Default DefaultFillBuffer.
	FillBuffer int

	// Logger receives the client's logs; nil discards them.
	Logger *slog.Logger

	// Rand returns a uniform random integer in [0, n) for n > 0; it drives
	// the backoff jitter. Default math/rand/v2.Int64N. Tests inject a fixed
	// source.
	Rand func(n int64) int64

	// Clock is the time source for reconnect waits and connection uptime.
	// Default the system clock. Read and write deadlines always use the
	// system clock: the kernel enforces them.
	Clock Clock
}

// Clock is the part of package time the client's reconnect logic uses, so
// that tests can replace it.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// setDefaults fills in every zero value: the one place defaults live.
func (o *Options) setDefaults() {
	if o.MinBackoff == 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = max(DefaultMaxBackoff, o.MinBackoff)
	}
	if o.StableAfter == 0 {
		o.StableAfter = DefaultStableAfter
	}
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if o.FillTimeout == 0 {
		o.FillTimeout = DefaultFillTimeout
	}
	if o.FillBuffer == 0 {
		o.FillBuffer = DefaultFillBuffer
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Rand == nil {
		o.Rand = rand.Int64N
	}
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	if o.Header == nil {
		o.Header = http.Header{}
	}
}

// validate reports the first invalid field, by name. It runs after
// setDefaults, so zero values have been replaced and only values the caller
// chose can fail.
func (o *Options) validate() error {
	u, err := url.Parse(o.URL)
	switch {
	case o.URL == "":
		return errors.New("client: Options.URL: required")
	case err != nil:
		return fmt.Errorf("client: Options.URL: %w", err)
	case u.Scheme != "ws" && u.Scheme != "wss":
		return fmt.Errorf("client: Options.URL: scheme must be ws or wss, got %q", u.Scheme)
	case u.Host == "":
		return fmt.Errorf("client: Options.URL: no host in %q", o.URL)
	}
	if o.Token == nil {
		return errors.New("client: Options.Token: required")
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"MinBackoff", o.MinBackoff},
		{"MaxBackoff", o.MaxBackoff},
		{"StableAfter", o.StableAfter},
		{"HandshakeTimeout", o.HandshakeTimeout},
		{"WriteTimeout", o.WriteTimeout},
		{"HeartbeatInterval", o.HeartbeatInterval},
		{"FillTimeout", o.FillTimeout},
	} {
		if f.d < 0 {
			return fmt.Errorf("client: Options.%s: must be >= 0, got %v", f.name, f.d)
		}
	}
	if o.FillBuffer < 0 {
		return fmt.Errorf("client: Options.FillBuffer: must be >= 0, got %d", o.FillBuffer)
	}
	if o.MaxBackoff < o.MinBackoff {
		return fmt.Errorf("client: Options.MaxBackoff: %v is below MinBackoff %v", o.MaxBackoff, o.MinBackoff)
	}
	seen := make(map[string]bool, len(o.Resume))
	for i, sp := range o.Resume {
		switch {
		case sp.GetStream() == "":
			return fmt.Errorf("client: Options.Resume[%d].stream: required", i)
		case seen[sp.GetStream()]:
			return fmt.Errorf("client: Options.Resume[%d].stream: %q appears twice", i, sp.GetStream())
		}
		seen[sp.GetStream()] = true
	}
	return nil
}
