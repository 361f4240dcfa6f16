package main

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain serves stdecho-buf when the harness under test starts this
// binary as its raw Go server, as the harness starts itself; otherwise it
// runs the tests and checks that none leaves a goroutine behind.
func TestMain(m *testing.M) {
	if serving() {
		os.Exit(serveFromEnv())
	}
	goleak.VerifyTestMain(m)
}
