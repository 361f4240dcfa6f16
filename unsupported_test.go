//go:build !linux && !freebsd

package nodenet

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
)

// The tests of unsupported.go's error, built where it is: what the
// system cannot do fails with an ENOTSUP *Error that says what and
// where, and wraps errors.ErrUnsupported.

// checkUnsupported fails t unless err is unsupported's error for
// syscallName.
func checkUnsupported(t *testing.T, call string, err error, syscallName string) {
	t.Helper()
	var ne *Error
	if !errors.As(err, &ne) || ne.Code != "ENOTSUP" || ne.Syscall != syscallName {
		t.Fatalf("%s = %v (%T); want an *Error with Code ENOTSUP, Syscall %q", call, err, err, syscallName)
	}
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("errors.Is(%s, errors.ErrUnsupported) = false; want true", call)
	}
	if !strings.Contains(err.Error(), runtime.GOOS) {
		t.Errorf("%s = %q; want the message to name %s", call, err, runtime.GOOS)
	}
}

// needReusePort skips a test of ReusePort, which this system lacks.
func needReusePort(t testing.TB) {
	t.Helper()
	t.Skipf("ReusePort is not supported on %s (TestReusePortUnsupported checks its error)", runtime.GOOS)
}

// TestReusePortUnsupported proves that ReusePort, where the system has no
// option that spreads connections (macOS, Windows), fails the listen
// instead of sharing the port without spreading.
func TestReusePortUnsupported(t *testing.T) {
	srv := createServer(t, ServerOptions{}, nil)
	err := srv.ListenContext(context.Background(), ListenOptions{Host: "127.0.0.1", ReusePort: true})
	if err == nil {
		srv.Close()
	}
	checkUnsupported(t, "ListenContext with ReusePort", err, "listen")
}
