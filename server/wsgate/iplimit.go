package wsgate

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

const (
	ipLimiterShards = 64
	// ipLimiterCapacity bounds the IPs the handshake limiter remembers, so
	// that a flood from many addresses costs bounded memory: about 200
	// bytes an entry, 13 MiB when full.
	ipLimiterCapacity = 1 << 16
)

// ipLimiter is a token bucket per client IP for handshakes, in a map that
// forgets idle IPs and is bounded. An IP idle long enough for its bucket to
// fill again is forgotten at no cost: a new bucket starts full too. When a
// shard is full of IPs active within that time, its least recently seen
// IP is forgotten, which can only give that IP a fresh burst.
//
// Lock order: a shard's mu, then the rate.Limiter's own lock.
type ipLimiter struct {
	// immutable after newIPLimiter
	limit    rate.Limit
	burst    int
	idle     time.Duration // how long an empty bucket takes to fill
	perShard int
	seed     maphash.Seed
	evicted  func() // counts entries forgotten while not idle

	shards [ipLimiterShards]ipShard
}

type ipShard struct {
	mu sync.Mutex // guards m and the list
	m  map[netip.Addr]*ipEntry
	// lru is the sentinel of a ring ordered by last use: lru.next is the
	// most recent entry, lru.prev the least.
	lru ipEntry
}

type ipEntry struct {
	ip         netip.Addr
	lim        *rate.Limiter
	seen       time.Time
	prev, next *ipEntry
}

func newIPLimiter(perSecond float64, capacity int, evicted func()) *ipLimiter {
	l := &ipLimiter{
		limit:    rate.Limit(perSecond),
		burst:    burstOf(perSecond),
		perShard: max(1, capacity/ipLimiterShards),
		seed:     maphash.MakeSeed(),
		evicted:  evicted,
	}
	l.idle = time.Duration(float64(l.burst) / perSecond * float64(time.Second))
	for i := range l.shards {
		sh := &l.shards[i]
		sh.m = make(map[netip.Addr]*ipEntry)
		sh.lru.next, sh.lru.prev = &sh.lru, &sh.lru
	}
	return l
}

// allow takes a token from ip's bucket at now. When there is none, it
// reports how long until there is.
func (l *ipLimiter) allow(ip netip.Addr, now time.Time) (ok bool, retry time.Duration) {
	sh := &l.shards[maphash.Comparable(l.seed, ip)%ipLimiterShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[ip]
	if e == nil {
		l.forgetIdleLocked(sh, now)
		if len(sh.m) >= l.perShard {
			l.unlinkLocked(sh, sh.lru.prev)
			l.evicted()
		}
		e = &ipEntry{ip: ip, lim: rate.NewLimiter(l.limit, l.burst)}
		sh.m[ip] = e
	} else {
		e.prev.next, e.next.prev = e.next, e.prev
	}
	// To the front: most recently seen.
	e.seen = now
	e.prev, e.next = &sh.lru, sh.lru.next
	sh.lru.next.prev = e
	sh.lru.next = e
	if e.lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - e.lim.TokensAt(now)
	return false, time.Duration(missing / float64(l.limit) * float64(time.Second))
}

// sweep forgets the idle IPs of shard i.
func (l *ipLimiter) sweep(i int, now time.Time) {
	sh := &l.shards[i%ipLimiterShards]
	sh.mu.Lock()
	l.forgetIdleLocked(sh, now)
	sh.mu.Unlock()
}

// forgetIdleLocked drops the entries whose bucket is full again, from the
// least recently seen: each entry is dropped once, so this costs O(1)
// amortized.
func (l *ipLimiter) forgetIdleLocked(sh *ipShard, now time.Time) {
	for e := sh.lru.prev; e != &sh.lru && now.Sub(e.seen) >= l.idle; e = sh.lru.prev {
		l.unlinkLocked(sh, e)
	}
}

func (l *ipLimiter) unlinkLocked(sh *ipShard, e *ipEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
	delete(sh.m, e.ip)
}

// size returns how many IPs the limiter remembers.
func (l *ipLimiter) size() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
