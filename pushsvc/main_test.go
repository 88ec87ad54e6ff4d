package pushsvc

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind: each
// test's service, and with it its engine, replays and cluster goroutine,
// is closed by its cleanups.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
