package nodenet

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks, after every test of the package has run, that no
// goroutine started by nodenet (or by a test) is still running.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
