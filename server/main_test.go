package server_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind: every
// server is stopped by its test's cleanup, so none may remain.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
