package wsgate

import (
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lxzan/gws"

	"github.com/herald-push/herald/pushsvc"
	"github.com/herald-push/herald/server/tokens"
)

// limitRetryAfter is the Retry-After, in seconds, of a handshake refused
// at a connection limit; limitRetryJitter more are added at random, so
// that the clients refused together do not all come back together.
const (
	limitRetryAfter  = 5
	limitRetryJitter = 5
)

// floodReconnectAfter is when a connection closed for sending too many
// frames is told to come back.
const floodReconnectAfter = 5 * time.Second

// ServeHTTP authenticates and upgrades a WebSocket request. Every refusal
// is a plain HTTP error before any upgrade; the cheap checks come first, so
// a flood costs little: the handshake rate per IP (429), the Origin (403),
// the request's form (400), the connection limits of the node and the IP
// (503), and only then the token (401) and the user's limit (503).
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.life.RLock()
	defer g.life.RUnlock()
	if g.closed || g.draining.Load() {
		g.refuse(w, http.StatusServiceUnavailable, "draining", "server is shutting down", 1)
		return
	}
	t := g.newTicket(r.RemoteAddr)
	if g.handshakes != nil && !t.exempt {
		if ok, wait := g.handshakes.allow(t.ip, time.Now()); !ok {
			g.refuse(w, http.StatusTooManyRequests, "rate_limited", "too many handshakes from this address", retrySeconds(wait))
			return
		}
	}
	if origin, ok := r.Header["Origin"]; ok && g.origins != nil && (len(origin) != 1 || !g.origins.allows(origin[0])) {
		g.refuse(w, http.StatusForbidden, "origin", "origin not allowed", 0)
		return
	}
	if msg := badUpgrade(r); msg != "" {
		g.refuse(w, http.StatusBadRequest, "bad_request", msg, 0)
		return
	}
	if refused := g.admitIP(t); refused != "" {
		g.refuse(w, http.StatusServiceUnavailable, refused, "connection limit reached", limitRetryAfter+rand.IntN(limitRetryJitter+1))
		return
	}
	// From here on t holds slots: every return gives them back, except
	// the one that hands them to the connection.
	token, err := tokens.TokenFromRequest(r)
	if err != nil {
		g.release(t)
		g.refuse(w, http.StatusUnauthorized, "unauthorized", "missing token", 0)
		return
	}
	claims, err := g.opts.Verifier.Verify(token)
	if err != nil {
		g.release(t)
		result := "unauthorized"
		if errors.Is(err, tokens.ErrExpired) {
			result = "expired"
		}
		g.refuse(w, http.StatusUnauthorized, result, "invalid token", 0)
		return
	}
	t.user = claims.UserID
	if refused := g.admitUser(t); refused != "" {
		g.refuse(w, http.StatusServiceUnavailable, refused, "connection limit reached for this user", limitRetryAfter+rand.IntN(limitRetryJitter+1))
		return
	}
	g.upgrade(w, r, t, claims)
}

// upgrade upgrades r and starts the connection, which takes over t.
func (g *Gateway) upgrade(w http.ResponseWriter, r *http.Request, t *ticket, claims tokens.Claims) {
	socket, err := g.upgrader.Upgrade(w, r)
	if err != nil {
		g.release(t)
		g.metrics.handshakes.WithLabelValues("upgrade_failed").Inc()
		g.opts.Logger.Debug("upgrade failed", "remote", r.RemoteAddr, "err", err)
		if _, ok := w.(http.Hijacker); !ok {
			// Nothing was hijacked, so nothing answered.
			http.Error(w, "connection cannot be upgraded", http.StatusInternalServerError)
		}
		return
	}
	wire, ok := socket.NetConn().(*wireConn)
	if !ok {
		// Served on a listener not wrapped by Listener: the frame rate
		// could not be counted, nor the closes made right.
		g.release(t)
		g.metrics.handshakes.WithLabelValues("internal").Inc()
		g.opts.Logger.Error("wsgate: the WebSocket http.Server must serve on Gateway.Listener")
		closeSocket(socket, pushsvc.DisconnectInternal)
		return
	}
	c := &conn{g: g, socket: socket, wire: wire, user: claims.UserID, ticket: *t,
		deflate: !g.opts.DisableCompression && offersDeflate(r)}
	socket.Session().(*slot).c = c
	// Before Connect, which schedules the first flush: a flush owed to a
	// write that holds the socket is scheduled through it.
	wire.owner = c
	info := pushsvc.SessionInfo{
		UserID:      claims.UserID,
		Groups:      claims.Groups,
		RemoteAddr:  r.RemoteAddr,
		UserAgent:   r.UserAgent(),
		Compressed:  c.deflate,
		TokenExpiry: claims.ExpiresAt,
		// The Welcome tells the interval this gateway pings at.
		HeartbeatInterval: g.opts.HeartbeatInterval,
		OnRefresh:         c.refresh,
		// ?resume=1 announces a Resume as the first frame: live pushes
		// wait for it, so that replay and live traffic meet exactly.
		AwaitResume: r.URL.Query().Get("resume") == "1",
	}
	// Before Connect: the Welcome is the first write.
	c.armWriteDeadline()
	sess, err := g.opts.Service.Connect(info, c)
	if err != nil {
		// No read loop, so no OnClose: give the slots back here.
		g.release(t)
		g.metrics.handshakes.WithLabelValues("internal").Inc()
		closeSocket(socket, pushsvc.DisconnectInternal)
		return
	}
	c.sess = sess
	c.touch()
	c.armExpiry(info.TokenExpiry)
	g.register(c)
	g.metrics.handshakes.WithLabelValues("ok").Inc()
	if g.draining.Load() {
		// Drain began after the check above and may have listed the
		// connections before this one was registered.
		sess.Close(pushsvc.DisconnectShutdown)
	}
	g.loops.Add(1)
	go func() {
		defer g.loops.Done()
		socket.ReadLoop()
	}()
}

// closeSocket closes an upgraded socket that has no session: d's
// Disconnect frame, then the close frame, within closeTimeout.
func closeSocket(socket *gws.Conn, d pushsvc.Disconnect) {
	if w, ok := socket.NetConn().(*wireConn); ok {
		w.markDisconnectSent()
	}
	_ = socket.SetWriteDeadline(time.Now().Add(closeTimeout))
	_ = socket.WriteMessage(gws.OpcodeBinary, pushsvc.EncodeDisconnect(d))
	_ = socket.WriteClose(d.Code, []byte(d.Reason))
}

func (g *Gateway) refuse(w http.ResponseWriter, code int, result, msg string, retryAfter int) {
	g.metrics.handshakes.WithLabelValues(result).Inc()
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	http.Error(w, msg, code)
}

// retrySeconds rounds a wait up to whole seconds, at least one, for
// Retry-After.
func retrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(min(d.Seconds(), 3600))))
}

// badUpgrade checks r is a WebSocket upgrade request (RFC 6455 4.2.1) as
// gws will, but before gws hijacks the connection: a refusal is then a
// plain HTTP response on a connection that stays usable, and costs no
// token check or slot.
func badUpgrade(r *http.Request) string {
	switch {
	case r.Method != http.MethodGet:
		return "method must be GET"
	case !r.ProtoAtLeast(1, 1) || r.ProtoMajor != 1:
		return "WebSocket needs HTTP/1.1"
	case !strings.EqualFold(r.Header.Get("Upgrade"), "websocket"):
		return "Upgrade: websocket required"
	case !headerHasToken(r.Header.Get("Connection"), "upgrade"):
		return "Connection: Upgrade required"
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		return "Sec-WebSocket-Version: 13 required"
	case r.Header.Get("Sec-WebSocket-Key") == "":
		return "Sec-WebSocket-Key required"
	}
	return ""
}

// headerHasToken reports whether the comma-separated header value v holds
// token, case-insensitively.
func headerHasToken(v, token string) bool {
	for part := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(strings.TrimSpace(part), token) {
			return true
		}
	}
	return false
}

// offersDeflate reports whether the request offers permessage-deflate,
// which gws then accepts (TestGwsNegotiatesDeflateAsOffered).
func offersDeflate(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate")
}
