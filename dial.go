package nodenet

import (
	"cmp"
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

// defaultAttemptDelay is how long a connect waits on one address before it
// also tries the next, when the host resolves to several (Happy Eyeballs,
// RFC 8305): Node's autoSelectFamilyAttemptTimeout, 250 ms.
const defaultAttemptDelay = 250 * time.Millisecond

// errAborted is the cause of a connect ended by its context's cancellation.
func abortError(cause error) error {
	return &Error{Code: "ABORT_ERR", Msg: "The operation was aborted", Err: cause}
}

// dialResult is the outcome of one connection attempt.
type dialResult struct {
	i    int
	conn net.Conn
	err  error
}

// dial connects as opts says, and runs the TLS handshake after it with
// opts.TLSConfig. For a host with several addresses it races
// them as RFC 8305 does: families interleaved, the next attempt started
// when the previous one fails or after AttemptDelay, the first connection
// kept and the others closed; with ReportAttempts each attempt is told as
// events on the conn. It returns the connection, or the error to destroy the
// socket with.
func (c *conn) dial(ctx context.Context, opts ConnectOptions) (net.Conn, error) {
	parent := ctx
	var timeoutAt time.Time
	if opts.Timeout > 0 {
		timeoutAt = time.Now().Add(opts.Timeout)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadlineCause(ctx, timeoutAt, errConnectTimeout)
		defer cancel()
	}
	conn, err := c.dialAddrs(ctx, opts)
	if err == nil && opts.TLSConfig != nil {
		conn, err = handshakeClient(ctx, conn, opts) // bounded as the connect is
	}
	if err == nil {
		return conn, nil
	}
	// Go's dialer applies a context's deadline itself and may fail with
	// "i/o timeout" before the context says it is done, so the deadlines
	// are compared with the clock rather than asked of the contexts.
	now := time.Now()
	parentDeadline, hasDeadline := parent.Deadline()
	timedOut := !timeoutAt.IsZero() && !now.Before(timeoutAt)
	switch {
	case parent.Err() != nil && !hasDeadline:
		return nil, abortError(context.Cause(parent)) // cancelled
	case timedOut && (!hasDeadline || !parentDeadline.Before(timeoutAt)):
		return nil, &Error{Code: "ETIMEDOUT", Syscall: "connect", Address: dialTarget(opts), Err: syscall.ETIMEDOUT}
	case parent.Err() != nil:
		return nil, abortError(context.Cause(parent))
	case hasDeadline && !now.Before(parentDeadline):
		return nil, abortError(context.DeadlineExceeded)
	}
	return nil, err
}

// over reports whether ctx is done or past its deadline: Go's dialer may
// report the deadline before the context does.
func over(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

var errConnectTimeout = errors.New("nodenet: connect timeout")

func dialTarget(opts ConnectOptions) string {
	if opts.Path != "" {
		return opts.Path
	}
	return net.JoinHostPort(cmp.Or(opts.Host, "localhost"), strconv.Itoa(opts.Port))
}

func (c *conn) dialAddrs(ctx context.Context, opts ConnectOptions) (net.Conn, error) {
	if opts.Path != "" {
		d := net.Dialer{Resolver: opts.Resolver} // never net.DefaultResolver from here (Connect read it)
		conn, err := d.DialContext(ctx, "unix", opts.Path)
		return conn, sysError("connect", opts.Path, err)
	}
	addrs, err := resolve(ctx, opts)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 1 {
		return dialOne(ctx, opts, addrs[0])
	}
	return c.race(ctx, opts, addrs)
}

// resolve looks up opts.Host (localhost when empty) and orders the
// addresses for Happy Eyeballs: the first one's family first, then the
// families alternating. With LocalAddress set, only its family is kept.
func resolve(ctx context.Context, opts ConnectOptions) ([]netip.AddrPort, error) {
	host := cmp.Or(opts.Host, "localhost")
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		if ips, err = opts.Resolver.LookupNetIP(ctx, "ip", host); err != nil {
			return nil, sysError("getaddrinfo", host, err)
		}
	}
	var v4, v6 []netip.Addr
	for _, ip := range ips {
		ip = ip.Unmap()
		if ip.Is4() {
			v4 = append(v4, ip)
		} else {
			v6 = append(v6, ip)
		}
	}
	if opts.LocalAddress != "" {
		if local, _ := netip.ParseAddr(opts.LocalAddress); local.Unmap().Is4() {
			v6 = nil
		} else {
			v4 = nil
		}
	}
	first, second := v6, v4
	if len(ips) > 0 && ips[0].Unmap().Is4() {
		first, second = v4, v6
	}
	out := make([]netip.AddrPort, 0, len(v4)+len(v6))
	for i := 0; i < len(first) || i < len(second); i++ {
		if i < len(first) {
			out = append(out, netip.AddrPortFrom(first[i], uint16(opts.Port)))
		}
		if i < len(second) {
			out = append(out, netip.AddrPortFrom(second[i], uint16(opts.Port)))
		}
	}
	if len(out) == 0 {
		return nil, &Error{Code: "ENOTFOUND", Syscall: "getaddrinfo", Address: host,
			Err: &net.DNSError{Err: "no address of the local address's family", Name: host, IsNotFound: true}}
	}
	return out, nil
}

// dialOne makes one connection attempt.
func dialOne(ctx context.Context, opts ConnectOptions, ap netip.AddrPort) (net.Conn, error) {
	address := ap.String()
	if opts.BlockList != nil && opts.BlockList.check(ap.Addr()) {
		return nil, &Error{Code: "ERR_IP_BLOCKED", Address: address,
			Msg: "IP(" + ap.Addr().String() + ") is blocked by net.BlockList", Err: errBlocked}
	}
	d := net.Dialer{Resolver: opts.Resolver} // never net.DefaultResolver from here (Connect read it)
	if opts.LocalAddress != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(opts.LocalAddress)}
	}
	conn, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		syscallName := "connect"
		var le *net.OpError
		if errors.As(err, &le) && le.Source != nil && le.Addr == nil {
			syscallName = "bind"
		}
		return nil, sysError(syscallName, address, err)
	}
	return conn, nil
}

// errBlocked is the cause of ERR_IP_BLOCKED.
var errBlocked = errors.New("nodenet: address blocked by BlockList")

// race runs the attempts of Happy Eyeballs. Every attempt goroutine sends
// exactly one result into a channel with room for all of them, and race
// waits for each before it returns, so none outlives it.
func (c *conn) race(ctx context.Context, opts ConnectOptions, addrs []netip.AddrPort) (net.Conn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan dialResult, len(addrs))
	delay := cmp.Or(opts.AttemptDelay, defaultAttemptDelay)
	timer := time.NewTimer(delay)
	defer timer.Stop()

	next, running := 0, 0
	start := func() {
		ap := addrs[next]
		if opts.ReportAttempts {
			c.tell(ConnectionAttemptEvent{Address: addrOfAddrPort(ap)})
		}
		go func(i int) {
			conn, err := dialOne(ctx, opts, ap)
			results <- dialResult{i, conn, err}
		}(next)
		next++
		running++
		timer.Reset(delay)
	}
	var winner net.Conn
	var errs []error
	start()
	for running > 0 {
		var tick <-chan time.Time
		if winner == nil && next < len(addrs) {
			tick = timer.C
		}
		select {
		case r := <-results:
			running--
			switch {
			case r.err == nil && winner == nil:
				winner = r.conn
				cancel() // the others give up; their results are still awaited
			case r.err == nil:
				r.conn.Close() // a later success
			case winner == nil && !over(ctx):
				errs = append(errs, r.err)
				if opts.ReportAttempts {
					c.tell(ConnectionAttemptFailedEvent{Address: addrOfAddrPort(addrs[r.i]), Err: r.err})
				}
				if next < len(addrs) {
					start() // a failure starts the next attempt at once
				}
			}
		case <-tick:
			if !over(ctx) {
				start()
			}
		}
	}
	if winner != nil {
		return winner, nil
	}
	if len(errs) == 0 { // every failure came after ctx was over
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, context.DeadlineExceeded
	}
	return nil, joinDialErrors(dialTarget(opts), errs)
}

// joinDialErrors is the error of a connect whose every attempt failed: an
// *Error with the last attempt's code (Node v20 raises an AggregateError),
// whose cause joins all of them, so errors.Is finds each one.
func joinDialErrors(address string, errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	e := &Error{Code: "UNKNOWN", Syscall: "connect", Address: address, Err: errors.Join(errs...)}
	var last *Error
	if errors.As(errs[len(errs)-1], &last) {
		e.Code, e.Syscall = last.Code, last.Syscall
	}
	return e
}

func addrOfAddrPort(ap netip.AddrPort) Addr {
	return addrOf(net.TCPAddrFromAddrPort(ap))
}
