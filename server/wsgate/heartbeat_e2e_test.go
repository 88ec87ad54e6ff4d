package wsgate

import (
	"testing"
	"time"
)

// TestWelcomeTellsThePingInterval: the Welcome states the interval the
// gateway pings at and drops silent peers by, its default included, so a
// client that keeps to it is never dropped for silence.
func TestWelcomeTellsThePingInterval(t *testing.T) {
	for _, hb := range []time.Duration{0, 7 * time.Second} {
		tg := startGate(t, func(o *Options) { o.HeartbeatInterval = hb })
		c, resp, err := tg.dial(t, "user:alice", dialOpts{})
		if err != nil {
			t.Fatalf("dial: %v (%s)", err, status(resp))
		}
		want := hb
		if want == 0 {
			want = DefaultHeartbeatInterval
		}
		if got := c.Next(t).GetWelcome().GetHeartbeatInterval().AsDuration(); got != want {
			t.Errorf("HeartbeatInterval %v: Welcome says %v, want %v", hb, got, want)
		}
	}
}
