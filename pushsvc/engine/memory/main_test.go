package memory

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind: each
// engine's janitor ends with its Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
