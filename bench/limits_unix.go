//go:build unix

package main

import (
	"fmt"
	"io"
	"syscall"
)

// fitIdleConns raises this process's limit of open files to its hard
// limit, which the servers inherit, and returns n, or fewer connections if
// the limit does not leave room for n on each side.
func fitIdleConns(n int, logw io.Writer) (int, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, fmt.Errorf("setrlimit: %w", err)
		}
	}
	const spare = 200        // the rest of each process's descriptors
	limit := uint64(lim.Cur) // int64 on some systems
	if uint64(n)+spare <= limit {
		return n, nil
	}
	if limit < 2*spare {
		return 0, fmt.Errorf("the limit of open files is %d (ulimit -n): too low", limit)
	}
	fit := int(limit - spare)
	fmt.Fprintf(logw, "bench: the limit of open files is %d (ulimit -Hn): idle figures use %d connections, not %d\n",
		limit, fit, n)
	return fit, nil
}
