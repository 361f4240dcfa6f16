package nodenet

import (
	"cmp"
	"crypto/tls"
	"net"
	"os"
	"strconv"
	"time"
)

// defaultHighWaterMark is the write queue size, in bytes, at which Send
// starts to return false and Write starts to block, and the amount of
// unread data a socket buffers before it stops reading: Node's 16 KiB.
const defaultHighWaterMark = 16 * 1024

// defaultBacklog is the listen(2) backlog Listen uses when given 0: Node's 511.
const defaultBacklog = 511

// Flow is a socket's flow control: the marks of its write queue and of
// its reading ahead, the bound of its write queue, and its framing. It is
// embedded in ServerOptions (for every accepted socket), SocketOptions and
// ConnectOptions. The zero value is Node's: a 16 KiB mark both ways, no
// bound, the bytes as read.
type Flow struct {
	// HighWaterMark is the write queue size, in bytes, at which Send
	// returns false and Write blocks, and, unless ReadHighWaterMark is
	// set, how much unread data the socket reads ahead; 0 means
	// 16 KiB.
	HighWaterMark int
	// LowWaterMark is the write queue size at or under which a socket
	// whose queue reached HighWaterMark is writable again (Writable, a
	// blocked Write goes on) and the DrainEvent a false Send owes comes,
	// as Netty's and asyncio's low mark. 0 (Node's) means when the queue
	// is empty; it must be below HighWaterMark.
	LowWaterMark int
	// ReadHighWaterMark is how much unread data a socket reads ahead
	// before it stops reading (paused, or with no consumer yet); 0 means
	// HighWaterMark. Node v20's readableHighWaterMark.
	ReadHighWaterMark int
	// MaxBufferSize, when above 0, bounds the write queue in bytes: a Send
	// or End whose data would take the queue past it fails with
	// ErrBufferFull, and Write waits for room instead. 0 means no bound, as
	// in Node. A guard against a peer that never reads.
	MaxBufferSize int
	// Framing makes each DataEvent one frame (lines, a delimiter, a length
	// prefix, any bufio.SplitFunc); the zero value delivers the bytes as
	// read. See Framing.
	Framing Framing
}

// ServerOptions configure CreateServer. The zero value is Node's default.
type ServerOptions struct {
	// AllowHalfOpen, copied to every accepted socket, keeps a socket
	// writable after the peer's FIN until it calls End. When false (Node's
	// default), the socket ends its own side once the peer has ended.
	AllowHalfOpen bool
	// Flow is the flow control of every accepted socket.
	Flow

	// PauseOnConnect is later Node's pauseOnConnect: accepted sockets do
	// not read at all until Resume, so a connection can be handed to
	// another process (SendHandle) with nothing read from it.
	PauseOnConnect bool

	// WaitOverLimit makes a server at its limit (Server.SetMaxConnections,
	// Node's maxConnections) stop accepting, as
	// netutil.LimitListener does, instead of dropping: new connections
	// wait in the listen backlog (the kernel's queue, up to the backlog)
	// and are accepted as open ones close.
	WaitOverLimit bool
	// BlockList, when not nil, drops connections from the addresses it
	// blocks (a DropEvent with Reason "blockList"), as later Node's
	// blockList option. It may be changed while the server runs.
	BlockList *BlockList
	// ConnState, when not nil, is called with open true for every accepted
	// connection before the program sees it, and with open false once it
	// has closed, in the spirit of http.Server.ConnState. It runs on a
	// library goroutine, must not block, and may call the socket's methods.
	ConnState func(s *Socket, open bool)

	// TLSConfig, when not nil, makes the server a TLS server, as Node's
	// tls.createServer: every connection the server admits (BlockList and
	// the connection limit come first, and the limit counts it from then
	// on) runs the server's side of a TLS handshake on a goroutine of its
	// own, never on the accept loop, and becomes a Socket only once the
	// handshake has succeeded: ConnState, the ConnectionEvent (Node's
	// 'secureConnection') and the handler come after it. A handshake that
	// fails, or has not finished within HandshakeTimeout, closes the
	// connection with a DropEvent whose Reason is "tlsHandshake" and whose
	// Err says why (Node's 'tlsClientError'). Close closes the connections
	// still in their handshake. The sockets read and write plaintext; End
	// sends close_notify, then the FIN. The config must have a certificate
	// (Certificates, GetCertificate or GetConfigForClient), or CreateServer fails;
	// as crypto/tls requires, it must not be modified once the server
	// listens. Its callbacks (GetCertificate, VerifyPeerCertificate, ...)
	// run on the handshake goroutines, several at once; they must not call
	// the server's Shutdown, which waits for those goroutines.
	TLSConfig *tls.Config
	// HandshakeTimeout bounds a TLS client's handshake, from the accept to
	// its end; 0 means 10 seconds (net/http's figure). A negative
	// value makes CreateServer fail. Unused without TLSConfig.
	HandshakeTimeout time.Duration
}

func (o Flow) flow() (flow, error) {
	return newFlow(o.HighWaterMark, o.LowWaterMark, o.ReadHighWaterMark, o.MaxBufferSize, o.Framing)
}

// validate checks the options as Listen does before it binds anything.
func (o ServerOptions) validate() error {
	if _, err := o.flow(); err != nil {
		return err
	}
	if o.HandshakeTimeout < 0 {
		return argError("HandshakeTimeout should be >= 0, got %v", o.HandshakeTimeout)
	}
	if c := o.TLSConfig; c != nil && len(c.Certificates) == 0 && c.GetCertificate == nil && c.GetConfigForClient == nil {
		return argError("ServerOptions.TLSConfig has no certificate: set Certificates, GetCertificate or GetConfigForClient")
	}
	return nil
}

// applyTo gives an accepted socket the server's socket options.
func (o *ServerOptions) applyTo(s *Socket) {
	s.paused = o.PauseOnConnect
	s.c.holdReads = o.PauseOnConnect
}

// SocketOptions configure NewSocket. The zero value makes an unconnected
// socket, to be connected with Socket.Connect.
type SocketOptions struct {
	// FD, when not nil, is an open socket descriptor to wrap, as Node's
	// {fd: n}: a connected TCP or Unix stream socket. NewSocket duplicates
	// it; the caller keeps ownership of FD and may close it.
	FD *os.File
	// Type, when not empty, names the descriptor's kind: "tcp", "tcp4",
	// "tcp6" or "unix". NewSocket checks it against the descriptor (Node
	// ignores it and sniffs the type; a mismatch here is an error).
	Type string
	// AllowHalfOpen: see ServerOptions.AllowHalfOpen.
	AllowHalfOpen bool
	// Flow is the socket's flow control.
	Flow
}

// ConnectOptions configure Connect and Socket.Connect: a TCP Port (with
// Host and LocalAddress), or a Unix socket Path.
type ConnectOptions struct {
	// Port is the TCP port, 1..65535. Required unless Path is set.
	Port int
	// Host is a name or an IP address; "" means "localhost", which is
	// tried on each loopback address it resolves to until one answers.
	Host string
	// LocalAddress is the local IP address to connect from; "" lets the
	// system choose.
	LocalAddress string
	// Path, when set, is a Unix socket path; Port and Host are then unused.
	Path string
	// AllowHalfOpen: see ServerOptions.AllowHalfOpen.
	AllowHalfOpen bool
	// Flow is the socket's flow control. On a reconnect (Socket.Connect),
	// a zero field keeps the socket's setting.
	Flow

	// Timeout bounds the connecting phase (resolving and every attempt):
	// past it the socket is destroyed with an "ETIMEDOUT" error. 0 means
	// no bound but the system's.
	Timeout time.Duration
	// Resolver looks Host up (Node's lookup option); nil means
	// net.DefaultResolver as Connect finds it.
	Resolver *net.Resolver
	// AttemptDelay is the Happy Eyeballs delay (RFC 8305) when Host
	// resolves to several addresses: how long one attempt runs before the
	// next address is tried beside it. 0 means 250 ms (RFC 8305).
	AttemptDelay time.Duration
	// ReportAttempts makes the socket emit ConnectionAttemptEvent and
	// ConnectionAttemptFailedEvent for each address tried when Host
	// resolves to several (Node v20's events; Node v0.10 has none).
	ReportAttempts bool
	// BlockList, when not nil, refuses to connect to the addresses it
	// blocks: such an attempt fails with Code "ERR_IP_BLOCKED".
	BlockList *BlockList

	// TLSConfig, when not nil, makes the connection a TLS client's, as
	// Node's tls.connect: once connected, the socket runs the TLS
	// handshake, within the connecting phase (Timeout and the context of
	// ConnectContext bound it, Destroy stops it), and the ConnectEvent
	// (Node's 'secureConnect') comes only after it has succeeded. A failed
	// handshake is a failed connect: an ErrorEvent whose *Error has Node's
	// Code ("ERR_TLS_CERT_ALTNAME_INVALID", "DEPTH_ZERO_SELF_SIGNED_CERT",
	// "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "CERT_HAS_EXPIRED", "ECONNRESET",
	// or "EPROTO" for the others) and crypto/tls's error as its cause, then
	// CloseEvent{HadError: true}. An empty ServerName defaults to Host
	// ("localhost" when Host is empty), as tls.Dial does; with Path it must
	// be set, unless InsecureSkipVerify. The socket reads and writes
	// plaintext; End sends close_notify, then the FIN. The config is not
	// modified (it is cloned to set ServerName), and must not be while the
	// connect runs; its callbacks run on the socket's connecting goroutine.
	TLSConfig *tls.Config
}

// Addr is a bound address as Node's address() reports it. For TCP, Address
// is the numeric IP ("127.0.0.1", "::1", without brackets), Family "IPv4"
// or "IPv6", and Port the port. For a Unix socket, Address is the path and
// Family and Port are zero. The zero Addr stands for Node's null.
type Addr struct {
	Address string
	Family  string
	Port    int
}

// String returns host:port for TCP ("[::1]:80" for IPv6), the path for a
// Unix socket, and "" for the zero Addr.
func (a Addr) String() string {
	if a.Family == "" {
		return a.Address
	}
	return net.JoinHostPort(a.Address, strconv.Itoa(a.Port))
}

func addrOf(a net.Addr) Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		fam := "IPv6"
		ip := a.IP
		if ip4 := ip.To4(); ip4 != nil {
			fam, ip = "IPv4", ip4
		}
		host := ip.String()
		if a.Zone != "" {
			host += "%" + a.Zone
		}
		return Addr{Address: host, Family: fam, Port: a.Port}
	case *net.UnixAddr:
		return Addr{Address: a.Name}
	}
	return Addr{}
}

func validatePort(port int) error {
	if port < 0 || port > 65535 {
		return argError("port should be >= 0 and < 65536, got %d", port)
	}
	return nil
}

// flow holds a socket's marks, from its options.
type flow struct {
	hwm       int      // write queue: Send returns false at it, Write waits
	lwm       int      // the queue is writable again, and drains, at or under it
	rhwm      int      // unread data read ahead before reading stops
	maxBuffer int      // MaxBufferSize; 0: no bound
	frame     *framing // Framing; nil: DataEvents are chunks as read
}

// newFlow checks the marks of an options struct and fills in defaults.
func newFlow(high, low, readHigh, maxBuffer int, framing Framing) (flow, error) {
	if err := checkMarks(high, low, readHigh, maxBuffer); err != nil {
		return flow{}, err
	}
	fr, err := framing.check()
	if err != nil {
		return flow{}, err
	}
	hwm := cmp.Or(high, defaultHighWaterMark)
	f := flow{hwm: hwm, lwm: low, rhwm: cmp.Or(readHigh, hwm), maxBuffer: maxBuffer, frame: fr}
	return f, f.check()
}

// checkMarks checks each mark alone; check checks them together.
func checkMarks(high, low, readHigh, maxBuffer int) error {
	if _, err := highWaterMark(high); err != nil {
		return err
	}
	if err := validateMaxBuffer(maxBuffer); err != nil {
		return err
	}
	switch {
	case low < 0:
		return argError("LowWaterMark should be >= 0, got %d", low)
	case readHigh < 0:
		return argError("ReadHighWaterMark should be >= 0, got %d", readHigh)
	}
	return nil
}

func (f flow) check() error {
	if f.lwm >= f.hwm {
		return argError("LowWaterMark (%d) should be below HighWaterMark (%d)", f.lwm, f.hwm)
	}
	return nil
}

// reconnect is the flow of a socket that Socket.Connect connects with o:
// the socket's own marks, with those o sets.
func (f flow) reconnect(o ConnectOptions) (flow, error) {
	if o.HighWaterMark > 0 {
		f.hwm = o.HighWaterMark
		f.rhwm = o.HighWaterMark // "0 means HighWaterMark", unless set below
	}
	f.lwm = cmp.Or(o.LowWaterMark, f.lwm)
	f.rhwm = cmp.Or(o.ReadHighWaterMark, f.rhwm)
	f.maxBuffer = cmp.Or(o.MaxBufferSize, f.maxBuffer)
	fr, err := o.Framing.check()
	if err != nil {
		return f, err
	}
	if fr != nil {
		f.frame = fr
	}
	return f, f.check()
}

func highWaterMark(n int) (int, error) {
	switch {
	case n < 0:
		return 0, argError("HighWaterMark should be >= 0, got %d", n)
	case n == 0:
		return defaultHighWaterMark, nil
	}
	return n, nil
}

func validateMaxBuffer(n int) error {
	if n < 0 {
		return argError("MaxBufferSize should be >= 0, got %d", n)
	}
	return nil
}

func (o ConnectOptions) validate() error {
	// The marks are checked together against the socket's own by
	// Socket.Connect (flow.reconnect), and by ConnectContext (flow).
	if err := checkMarks(o.HighWaterMark, o.LowWaterMark, o.ReadHighWaterMark, o.MaxBufferSize); err != nil {
		return err
	}
	switch {
	case o.Timeout < 0:
		return argError("Timeout should be >= 0, got %v", o.Timeout)
	case o.AttemptDelay < 0:
		return argError("AttemptDelay should be >= 0, got %v", o.AttemptDelay)
	}
	if o.Path != "" {
		if c := o.TLSConfig; c != nil && c.ServerName == "" && !c.InsecureSkipVerify {
			return argError("TLSConfig over a Unix socket (Path) needs ServerName, or InsecureSkipVerify: there is no host to take it from")
		}
		return nil
	}
	if err := validatePort(o.Port); err != nil {
		return err
	}
	if o.Port == 0 {
		return argError("connect needs a Port (1..65535) or a Path")
	}
	if o.LocalAddress != "" && IsIP(o.LocalAddress) == 0 {
		return argError("LocalAddress %q is not an IP address", o.LocalAddress)
	}
	return nil
}
