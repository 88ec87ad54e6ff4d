package wsgate

import (
	"hash/maphash"
	"net/netip"
	"sync"
)

const counterShards = 64

// counter counts connections per key (user or client IP) exactly: each
// key's count changes under its shard's lock, and a key at zero is removed,
// so the map holds only keys with connections.
type counter[K comparable] struct {
	seed   maphash.Seed
	shards [counterShards]struct {
		mu sync.Mutex // guards n
		n  map[K]int32
	}
}

func newCounter[K comparable]() *counter[K] {
	c := &counter[K]{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].n = make(map[K]int32)
	}
	return c
}

// acquire counts one more connection for k unless k already has limit.
func (c *counter[K]) acquire(k K, limit int) bool {
	sh := &c.shards[maphash.Comparable(c.seed, k)%counterShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n := sh.n[k]
	if int(n) >= limit {
		return false
	}
	sh.n[k] = n + 1
	return true
}

// release gives back a connection acquire counted.
func (c *counter[K]) release(k K) {
	sh := &c.shards[maphash.Comparable(c.seed, k)%counterShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if n := sh.n[k] - 1; n > 0 {
		sh.n[k] = n
	} else {
		delete(sh.n, k)
	}
}

// count returns k's connections.
func (c *counter[K]) count(k K) int {
	sh := &c.shards[maphash.Comparable(c.seed, k)%counterShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return int(sh.n[k])
}

// keys returns how many keys have connections.
func (c *counter[K]) keys() int {
	total := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		total += len(sh.n)
		sh.mu.Unlock()
	}
	return total
}

// clientIP is the key of the per-IP limits for a request's RemoteAddr,
// which net/http sets from the TCP peer. IPv6 peers count by their /64: a
// subscriber usually holds a whole /64 and could otherwise rotate through
// it. A RemoteAddr that does not parse (not a TCP listener) gives the zero
// Addr: such peers are local, like loopback ones, and share one key when
// they are limited at all.
func clientIP(remoteAddr string) netip.Addr {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	ip := ap.Addr().Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// ticket is what one connection holds against the connection limits.
// The handshake that takes it gives it back when it fails; otherwise the
// connection's OnClose does.
type ticket struct {
	ip               netip.Addr
	exempt           bool // ip is not limited: see Options.LimitLoopback
	user             string
	total, byIP, byU bool // which counts were taken
}

// newTicket starts the ticket of a request from remoteAddr.
func (g *Gateway) newTicket(remoteAddr string) *ticket {
	ip := clientIP(remoteAddr)
	local := !ip.IsValid() || ip.IsLoopback()
	return &ticket{ip: ip, exempt: local && !g.opts.LimitLoopback}
}

// admitIP takes a slot in the node's total and the IP's count, or names
// the limit that refuses.
func (g *Gateway) admitIP(t *ticket) (refused string) {
	if max := g.opts.MaxConnections; max > 0 {
		// Add first, undo if over: never more than max admitted, though
		// a request racing this one may be refused needlessly.
		if g.slots.Add(1) > int64(max) {
			g.slots.Add(-1)
			return "limit"
		}
		t.total = true
	}
	if max := g.opts.MaxConnectionsPerIP; max > 0 && !t.exempt {
		if !g.perIP.acquire(t.ip, max) {
			g.release(t)
			return "limit_ip"
		}
		t.byIP = true
	}
	return ""
}

// admitUser takes a slot in t.user's count, or names the limit.
func (g *Gateway) admitUser(t *ticket) (refused string) {
	if max := g.opts.MaxConnectionsPerUser; max > 0 {
		if !g.perUser.acquire(t.user, max) {
			g.release(t)
			return "limit_user"
		}
		t.byU = true
	}
	return ""
}

// release gives back every slot t holds; t then holds none.
func (g *Gateway) release(t *ticket) {
	if t.total {
		g.slots.Add(-1)
	}
	if t.byIP {
		g.perIP.release(t.ip)
	}
	if t.byU {
		g.perUser.release(t.user)
	}
	t.total, t.byIP, t.byU = false, false, false
}
