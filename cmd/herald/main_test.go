package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind: every
// command a test runs must have ended, and every server stopped.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
