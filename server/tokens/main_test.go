package tokens_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind, such as
// a JWKS refresh loop a Verifier did not stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
