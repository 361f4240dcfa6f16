package nodenet

import (
	"crypto/tls"
	"net"
	"time"
)

// SetEncoding makes DataEvents carry text decoded with encoding instead of
// bytes: "utf8" (also "" and "utf-8"), "hex", "base64", "ascii",
// "binary" (also "latin1" and "raw"), "ucs2" (also "ucs-2", "utf16le",
// "utf-16le"); names are case-insensitive. A character split across reads
// is held until it is whole, and no DataEvent is empty. Data already read
// but not yet delivered is decoded too. An unknown name returns an
// *Error with Code "ERR_UNKNOWN_ENCODING" (it matches ErrInvalidArgument)
// and changes nothing. Safe for concurrent use.
func (s *Socket) SetEncoding(encoding string) error {
	if encoding == "" {
		encoding = "utf8"
	}
	enc, err := normalizeEncoding(encoding)
	if err != nil {
		return err
	}
	if !s.lock() {
		return errNilSocket
	}
	defer s.mu.Unlock()
	if s.encoding == enc {
		return nil
	}
	s.encoding = enc
	c := s.c
	c.settleLocked(kindAny) // the queue changes: nothing may be on offer
	if c.fr != nil {
		// Frames are decoded whole, as they are queued.
		for i := range c.q.items {
			if it := &c.q.items[i]; it.frame && !it.isText {
				it.text, it.isText, it.data = decodeWhole(enc, it.data), true, nil
			}
		}
		return nil
	}
	if c.dec != nil {
		// Flush the old decoder so no held byte is lost.
		if t := c.dec.end(); t != "" {
			c.q.pushData(item{text: t, isText: true})
		}
	}
	c.dec = newDecoder(enc)
	q := &c.q
	kept := q.items[:0]
	for _, it := range q.items {
		if it.ev == nil && !it.isText {
			it.text, it.isText, it.data = c.dec.write(it.data), true, nil
			putReadBuf(it.buf)
			it.buf = nil
			if it.text == "" {
				q.data--
				q.held -= it.n
				continue
			}
		}
		kept = append(kept, it)
	}
	clear(q.items[len(kept):])
	q.items = kept
	return nil
}

// SetNoDelay turns Nagle's algorithm off (true) or on (false) for a TCP
// socket. Go's sockets start with it off (no delay), unlike Node's. A call
// made while connecting takes effect once connected; on a Unix socket or
// a closed one it does nothing, as in Node. Safe for concurrent use.
func (s *Socket) SetNoDelay(noDelay bool) error {
	if !s.lock() {
		return errNilSocket
	}
	defer s.mu.Unlock()
	s.noDelay = &noDelay
	return s.applyOptionsLocked()
}

// SetKeepAlive enables or disables TCP keep-alive probes. initialDelay,
// when at least a second, is the idle time before the first probe
// (truncated to whole seconds, as Node does); 0 leaves the system's value.
// A negative delay is an error. Timing as for SetNoDelay. Safe for
// concurrent use.
func (s *Socket) SetKeepAlive(enable bool, initialDelay time.Duration) error {
	if initialDelay < 0 {
		return argError("keep-alive initial delay should be >= 0, got %v", initialDelay)
	}
	if !s.lock() {
		return errNilSocket
	}
	defer s.mu.Unlock()
	s.keepAlive = &keepAliveSetting{enable: enable, delay: initialDelay}
	return s.applyOptionsLocked()
}

// applyOptionsLocked applies SetNoDelay and SetKeepAlive to an open TCP
// connection, also under TLS.
func (s *Socket) applyOptionsLocked() error {
	nc := s.c.nc
	if t, ok := nc.(*tls.Conn); ok {
		nc = t.NetConn()
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok || s.c.phase != phaseOpen {
		return nil
	}
	if s.noDelay != nil {
		if err := tc.SetNoDelay(*s.noDelay); err != nil {
			return sysError("setsockopt", "", err)
		}
	}
	if ka := s.keepAlive; ka != nil {
		cfg := net.KeepAliveConfig{Enable: ka.enable, Idle: -1, Interval: -1, Count: -1}
		if ka.enable && ka.delay >= time.Second {
			cfg.Idle = ka.delay.Truncate(time.Second) // whole seconds, as Node (Go rounds up)
		}
		if err := tc.SetKeepAliveConfig(cfg); err != nil {
			return sysError("setsockopt", "", err)
		}
	}
	return nil
}

// Address is Node's socket.address(): the local TCP address. It is the
// zero Addr (Node's null) before the connection is up, after close, and on
// a Unix socket, which has no such address in Node. Safe for concurrent
// use.
func (s *Socket) Address() Addr {
	if c := s.openConn(); c != nil {
		if a := addrOf(c.LocalAddr()); a.Family != "" {
			return a
		}
	}
	return Addr{}
}

// RemoteAddress is the peer's IP address ("127.0.0.1", "::1", without
// brackets), or "" when not connected, after close, or on a Unix socket.
// Safe for concurrent use.
func (s *Socket) RemoteAddress() string { return s.remote().Address }

// RemotePort is the peer's port, or 0 as for RemoteAddress.
func (s *Socket) RemotePort() int { return s.remote().Port }

// LocalAddress is the local IP address, or "" as for RemoteAddress.
func (s *Socket) LocalAddress() string { return s.local().Address }

// LocalPort is the local port, or 0 as for RemoteAddress.
func (s *Socket) LocalPort() int { return s.local().Port }

func (s *Socket) remote() Addr {
	if c := s.openConn(); c != nil {
		if a := addrOf(c.RemoteAddr()); a.Family != "" {
			return a
		}
	}
	return Addr{}
}

func (s *Socket) local() Addr { return s.Address() }

func (s *Socket) openConn() net.Conn {
	if !s.lock() {
		return nil
	}
	defer s.mu.Unlock()
	if s.c.phase != phaseOpen {
		return nil
	}
	return s.c.nc
}

// BytesRead is Node's bytesRead: the bytes received on this connection,
// delivered or not. Safe for concurrent use.
func (s *Socket) BytesRead() int64 {
	if !s.lock() {
		return 0
	}
	c := s.c
	s.mu.Unlock()
	return c.bytesRead.Load()
}

// Ref makes the socket count for Wait again after Unref (the default).
// Safe for concurrent use.
func (s *Socket) Ref() {
	if !s.lock() {
		return
	}
	s.ref.set(s.ref.active, false)
	s.mu.Unlock()
}

// Unref lets Wait return while this socket is still open, as Node's
// unref lets the process exit. Safe for concurrent use.
func (s *Socket) Unref() {
	if !s.lock() {
		return
	}
	s.ref.set(s.ref.active, true)
	s.mu.Unlock()
}

// Server returns the server that accepted the socket, or nil for a socket
// made by Connect or NewSocket. Safe for concurrent use.
func (s *Socket) Server() *Server {
	if s == nil {
		return nil
	}
	return s.server
}

// ReadyState reports the socket's state as Node's socket.readyState
// string: "opening" while Connect is in progress, "open" when readable
// and writable, "readOnly" after End (the peer may still send),
// "writeOnly" after the peer's end (AllowHalfOpen: this side may still
// write), and "closed" otherwise (new, ended both ways, or closed). Later
// Node's socket.connecting is ReadyState() == "opening", and its
// socket.pending is "opening" or "closed". Safe for concurrent use.
func (s *Socket) ReadyState() string {
	if !s.lock() {
		return "closed"
	}
	defer s.mu.Unlock()
	return s.c.readyStateLocked()
}

func (c *conn) readyStateLocked() string {
	c.settleLocked(kindEnd)
	switch c.phase {
	case phaseConnecting:
		return "opening"
	case phaseOpen:
	default:
		return "closed"
	}
	readable := c.readSide != readEnded // as Node: readable until 'end' is emitted
	writable := c.writeSide == writeOpen
	switch {
	case readable && writable:
		return "open"
	case readable:
		return "readOnly"
	case writable:
		return "writeOnly"
	}
	return "closed"
}

// ResetAndDestroy is later Node's socket.resetAndDestroy(): it closes a
// TCP connection with an RST instead of a FIN (SO_LINGER 0, so the peer
// gets ECONNRESET and no TIME_WAIT is left here) and destroys the socket,
// dropping its queue. A socket still connecting is just destroyed. It
// returns an error wrapping ErrInvalidArgument for a Unix socket (Node's
// ERR_INVALID_HANDLE_TYPE) and ErrSocketClosed after close. Safe for
// concurrent use.
func (s *Socket) ResetAndDestroy() error {
	if !s.lock() {
		return errNilSocket
	}
	defer s.mu.Unlock()
	c := s.c
	if c.phase == phaseClosed || c.phase == phaseIdle {
		return ErrSocketClosed
	}
	if c.phase == phaseOpen {
		tc, ok := c.nc.(*net.TCPConn)
		if !ok {
			return argError("ResetAndDestroy: not a TCP socket (%T)", c.nc)
		}
		if err := tc.SetLinger(0); err != nil {
			return sysError("setsockopt", "", err)
		}
	}
	c.closeLocked(nil, closedByDestroy)
	return nil
}
