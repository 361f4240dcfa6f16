//go:build !linux && !freebsd

package nodenet

// ListenOptions.ReusePort where the system has no option that spreads
// connections among the sockets sharing a port; reuseport_linux.go says
// why the option is split by system.

// setReusePort fails: Windows has no SO_REUSEPORT, and macOS's lets
// sockets share the port without spreading the connections, which is not
// what ReusePort promises. Node (libuv) refuses it there too, with
// ENOTSUP.
func setReusePort(uintptr) error {
	return unsupported("listen", "ListenOptions.ReusePort (SO_REUSEPORT that spreads connections)")
}
