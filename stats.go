package nodenet

import "time"

// SocketStats is a snapshot of a socket's counters and state, taken at
// once.
type SocketStats struct {
	BytesRead    int64 // as BytesRead
	BytesWritten int64 // as BytesWritten
	BufferSize   int   // bytes queued, not yet handed to the kernel (BufferSize)
	Unread       int   // bytes read from the kernel, not yet delivered
	Paused       bool
	ReadyState   ReadyState
	LastRead     time.Time // the last read of data from the kernel; zero if none
	LastWrite    time.Time // the last write handed to the kernel; zero if none
}

// Stats returns a snapshot of the socket's counters and state. Safe for
// concurrent use, from any goroutine, at any time.
func (s *Socket) Stats() SocketStats {
	if !s.lock() {
		return SocketStats{ReadyState: StateClosed}
	}
	defer s.mu.Unlock()
	c := s.c
	return SocketStats{
		BytesRead:    c.bytesRead.Load(),
		BytesWritten: c.bytesWritten.Load(),
		LastRead:     unixNano(c.lastRead.Load()),
		LastWrite:    unixNano(c.lastWrite.Load()),
		ReadyState:   c.readyStateLocked(),
		BufferSize:   c.bufferSizeLocked(),
		Unread:       c.q.held,
		Paused:       s.paused,
	}
}

func unixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// ServerStats is a snapshot of a server's counters.
type ServerStats struct {
	Accepted    int64 // connections handed to the program since the server was made
	Dropped     int64 // connections closed without being handed over: over the limit, blocked, closing, failed TLS handshake
	Active      int   // open connections, those in their TLS handshake included (Connections)
	Handshaking int   // of Active, those in their TLS handshake
	Forced      int64 // connections destroyed by Shutdown at its deadline
}

// Stats returns a snapshot of the server's counters. Safe for concurrent
// use.
func (srv *Server) Stats() ServerStats {
	if !srv.lock() {
		return ServerStats{}
	}
	active, handshaking := srv.activeLocked(), len(srv.handshakes)
	srv.mu.Unlock()
	return ServerStats{
		Accepted:    srv.accepted.Load(),
		Dropped:     srv.dropped.Load(),
		Active:      active,
		Handshaking: handshaking,
		Forced:      srv.forced.Load(),
	}
}
