package main

import (
	"errors"
	"fmt"
)

// sendCtrlC fails: a Windows process cannot send itself Ctrl-C (it comes
// from the console), so TestCtrlC fails there, saying so; see
// ctrlc_unix_test.go.
func sendCtrlC() error {
	return fmt.Errorf("sending this process Ctrl-C: %w", errors.ErrUnsupported)
}
