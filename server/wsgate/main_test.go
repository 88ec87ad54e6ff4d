package wsgate

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind: each
// test's gateway, HTTP server and clients are stopped by its cleanups.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
