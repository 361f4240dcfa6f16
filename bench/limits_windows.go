package main

import "io"

// fitIdleConns returns n: Windows has no limit of open files to raise (its
// sockets are handles), and the harness measures on Linux (it reads /proc).
func fitIdleConns(n int, logw io.Writer) (int, error) {
	return n, nil
}
