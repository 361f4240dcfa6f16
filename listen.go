package nodenet

import (
	"cmp"
	"context"
	"net"
	"strconv"
	"syscall"
)

// ListenOptions configure Server.ListenContext, Node's
// server.listen(options): a TCP Port (with Host and Backlog) or a Unix
// socket Path, and the socket options of later Node versions.
type ListenOptions struct {
	// Port is the TCP port, 0..65535; 0 picks a free port.
	Port int
	// Host is the address to bind; "" means every IPv4 address, as in
	// Listen. "::" binds IPv6 and, unless IPv6Only, IPv4 as well.
	Host string
	// Backlog is listen(2)'s queue length; 0 means Node's 511. Windows
	// keeps the standard library's (SOMAXCONN) instead.
	Backlog int
	// Path, when set, is a Unix socket path; the TCP fields are then unused.
	Path string
	// IPv6Only is Node's ipv6Only: an IPv6 host ("::") does not also
	// accept IPv4 connections (IPV6_V6ONLY), so another socket may bind
	// the same port on IPv4.
	IPv6Only bool
	// ReusePort is Node's reusePort (SO_REUSEPORT): several servers, in
	// one process or several, may listen on the same address and port,
	// and the kernel spreads the incoming connections among them. Every
	// one of them must set it. As in Node, only systems that spread the
	// connections have it: Linux, and FreeBSD 12 and later
	// (SO_REUSEPORT_LB). Elsewhere (macOS, Windows) listening fails with
	// an *Error whose Code is "ENOTSUP", wrapping errors.ErrUnsupported.
	ReusePort bool
	// Exclusive is Node's exclusive: the listening socket is this
	// server's alone. ListenHandle(srv) and SendHandle refuse to share it.
	Exclusive bool
}

// ListenContext listens as opts says and serves until ctx is done, then
// closes the server as Close does (the accept loop stops at once; open
// connections are left to finish, see Shutdown). It returns what Listen
// returns, or ctx's error if ctx is done already. ListenContext itself
// does not wait: the server runs in the background.
func (srv *Server) ListenContext(ctx context.Context, opts ListenOptions) error {
	if ctx == nil {
		return argError("ListenContext: nil context")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if opts.Backlog < 0 {
		return argError("backlog should be >= 0, got %d", opts.Backlog)
	}
	open := unixOpener(opts.Path, opts.Backlog)
	if opts.Path == "" {
		var err error
		if open, err = tcpOpener(opts); err != nil {
			return err
		}
	}
	return srv.listenWith(ctx, open, opts.Exclusive)
}

// tcpOpener checks opts and returns the function that binds and listens.
func tcpOpener(opts ListenOptions) (func() (net.Listener, error), error) {
	if err := validatePort(opts.Port); err != nil {
		return nil, err
	}
	if opts.Backlog < 0 {
		return nil, argError("backlog should be >= 0, got %d", opts.Backlog)
	}
	network, address := "tcp", net.JoinHostPort(opts.Host, strconv.Itoa(opts.Port))
	if opts.Host == "" {
		network, address = "tcp4", "0.0.0.0:"+strconv.Itoa(opts.Port)
	}
	lc := net.ListenConfig{Control: socketOptions(opts.IPv6Only, opts.ReusePort)}
	return opener(lc, network, address, opts.Backlog), nil
}

// unixOpener returns the function that listens on a Unix socket at path.
func unixOpener(path string, backlog int) func() (net.Listener, error) {
	return opener(net.ListenConfig{}, "unix", path, backlog)
}

// opener returns the function that binds address and listens with
// backlog (0: defaultBacklog), given to listen(2) again after Go's own.
func opener(lc net.ListenConfig, network, address string, backlog int) func() (net.Listener, error) {
	backlog = cmp.Or(backlog, defaultBacklog)
	return func() (net.Listener, error) {
		ln, err := lc.Listen(context.Background(), network, address)
		if err != nil {
			return nil, sysError("listen", address, err)
		}
		if err := setBacklog(ln, backlog); err != nil {
			ln.Close()
			return nil, sysError("listen", address, err)
		}
		return ln, nil
	}
}

// socketOptions returns the Control function that sets IPV6_V6ONLY and
// ReusePort's option (setReusePort) before bind(2), or nil when neither
// is asked for.
func socketOptions(ipv6Only, reusePort bool) func(network, address string, c syscall.RawConn) error {
	if !ipv6Only && !reusePort {
		return nil
	}
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if reusePort {
				serr = setReusePort(fd)
			}
			if serr == nil && ipv6Only && network == "tcp6" {
				serr = setIPv6Only(fd)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
}
