package wsgate

import (
	"hash/maphash"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestOriginsAllows(t *testing.T) {
	o, err := parseOrigins([]string{"https://App.Example.com", "https://*.example.org:8443", "http://[::1]:3000", "capacitor://localhost", "https://x.test:443"})
	if err != nil {
		t.Fatal(err)
	}
	for origin, want := range map[string]bool{
		"https://app.example.com":        true,
		"https://app.example.com:443":    true,
		"https://app.example.com:0443":   true,
		"https://app.example.com:444":    false,
		"https://a.example.org:8443":     true,
		"https://a.b.example.org:8443":   true,
		"https://a.example.org":          false,
		"https://example.org:8443":       false,
		"https://.example.org:8443":      false,
		"https://aexample.org:8443":      false,
		"http://[::1]:3000":              true,
		"http://[::1]":                   false,
		"capacitor://localhost":          true,
		"https://x.test":                 true,
		"https://*.example.org:8443":     false,
		"https://app.example.com/":       false,
		"https://user@app.example.com":   false,
		"null":                           false,
		"":                               false,
		"https://app.example.com\x00":    false,
		"https://app.example.com:65536":  false,
		"file://":                        false,
		"https://app.example.com.evil.x": false,
	} {
		if got := o.allows(origin); got != want {
			t.Errorf("allows(%q) = %v, want %v", origin, got, want)
		}
	}
	if o, err := parseOrigins(nil); o != nil || err != nil {
		t.Errorf("empty list: %v, %v; want no check", o, err)
	}
}

func TestOptionsValidateRates(t *testing.T) {
	for _, v := range []float64{math.NaN(), math.Inf(1), 2e6} {
		_, err := New(Options{Service: newTestService(t), Verifier: &fakeVerifier{}, ClientFramesPerSecond: v, MaxHandshakesPerIPPerSecond: v})
		if err == nil || !strings.Contains(err.Error(), "wsgate: Options.ClientFramesPerSecond ") || !strings.Contains(err.Error(), "wsgate: Options.MaxHandshakesPerIPPerSecond ") {
			t.Errorf("rate %v: error %v", v, err)
		}
	}
	o := Options{MaxConnectionsPerUser: NoLimit, MaxConnectionsPerIP: NoLimit, MaxHandshakesPerIPPerSecond: NoLimit, ClientFramesPerSecond: NoLimit}
	o.setDefaults()
	if o.MaxConnectionsPerUser > 0 || o.MaxConnectionsPerIP > 0 || o.MaxHandshakesPerIPPerSecond > 0 || o.ClientFramesPerSecond > 0 {
		t.Errorf("negative limits became %+v, want them kept off", o)
	}
	o = Options{}
	o.setDefaults()
	if o.MaxConnectionsPerUser != 100 || o.MaxConnectionsPerIP != 1000 || o.MaxHandshakesPerIPPerSecond != 20 || o.ClientFramesPerSecond != 200 {
		t.Errorf("defaults %+v", o)
	}
}

func TestClientIP(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:5000":                  "192.0.2.7",
		"[::ffff:192.0.2.7]:5000":         "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443":      "2001:db8:1:2::",
		"[2001:db8:1:2:ffff::1]:443":      "2001:db8:1:2::",
		"[fe80::1%eth0]:80":               "fe80::",
		"not an address":                  "invalid IP",
		"":                                "invalid IP",
		"192.0.2.7":                       "invalid IP",
		"[2001:db8:1:3:3:4:5:6]:443":      "2001:db8:1:3::",
		"[2001:db8:1:2:3:4:5:6%zone]:443": "2001:db8:1:2::",
	} {
		if got := clientIP(addr).String(); got != want {
			t.Errorf("clientIP(%q) = %s, want %s", addr, got, want)
		}
	}
}

func TestIPLimiterRefillsAndRetryAfter(t *testing.T) {
	l := newIPLimiter(2, 64, func() {}) // bursts of 4
	ip := netip.MustParseAddr("192.0.2.1")
	now := time.Unix(1000, 0)
	for i := range 4 {
		if ok, _ := l.allow(ip, now); !ok {
			t.Fatalf("handshake %d of the burst refused", i)
		}
	}
	ok, retry := l.allow(ip, now)
	if ok || retry <= 0 || retry > time.Second/2 {
		t.Fatalf("past the burst: ok %v, retry %v; want a refusal for up to 0.5s", ok, retry)
	}
	if ok, _ := l.allow(netip.MustParseAddr("192.0.2.2"), now); !ok {
		t.Error("another IP shares the bucket")
	}
	if ok, _ := l.allow(ip, now.Add(retry)); !ok {
		t.Error("refused after Retry-After")
	}
}

func TestIPLimiterForgetsIdleIPs(t *testing.T) {
	l := newIPLimiter(2, 1<<12, func() { t.Error("evicted an active IP") })
	now := time.Unix(1000, 0)
	for i := range 1000 {
		l.allow(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), now)
	}
	if n := l.size(); n != 1000 {
		t.Fatalf("remembers %d IPs, want 1000", n)
	}
	// After the buckets have refilled (2s), the sweep forgets them all.
	later := now.Add(2 * time.Second)
	for i := range ipLimiterShards {
		l.sweep(i, later)
	}
	if n := l.size(); n != 0 {
		t.Errorf("remembers %d idle IPs after a sweep, want 0", n)
	}
	// A new IP also makes room by forgetting the idle ones of its shard.
	a := netip.MustParseAddr("10.1.0.1")
	b := a.Next()
	for shardOf(l, b) != shardOf(l, a) {
		b = b.Next()
	}
	l.allow(a, now)
	l.allow(b, later)
	if n := l.size(); n != 1 {
		t.Errorf("remembers %d IPs, want 1", n)
	}
}

// TestIPLimiterBounded floods from more IPs than the limiter holds: it
// stays within its bound by forgetting the least recently seen, and an IP
// in the middle of its burst keeps being limited.
func TestIPLimiterBounded(t *testing.T) {
	const capacity = 256
	evicted := 0
	l := newIPLimiter(1, capacity, func() { evicted++ })
	now := time.Unix(1000, 0)
	hot := netip.MustParseAddr("198.51.100.1")
	for range 2 {
		l.allow(hot, now)
	}
	for i := range 10 * capacity {
		l.allow(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), now)
		// hot stays the most recent of its shard, and out of tokens.
		if ok, _ := l.allow(hot, now); ok {
			t.Fatalf("hot IP allowed after its burst (flood %d)", i)
		}
		if n := l.size(); n > capacity {
			t.Fatalf("remembers %d IPs, over its bound %d", n, capacity)
		}
	}
	if evicted == 0 {
		t.Error("no eviction counted")
	}
}

func shardOf(l *ipLimiter, ip netip.Addr) uint64 {
	return maphash.Comparable(l.seed, ip) % ipLimiterShards
}
