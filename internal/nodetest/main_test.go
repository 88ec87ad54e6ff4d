package nodetest_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a node outlives its test: Start's
// cleanup must leave no goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
