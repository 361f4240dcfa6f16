package nodenet

import "time"

// SocketStats is what a socket's getters (BytesRead, BytesWritten,
// BufferSize, IsPaused, ReadyState) do not tell: the data it holds unread
// and when it last read and wrote.
type SocketStats struct {
	Unread    int       // bytes read from the kernel, not yet delivered
	LastRead  time.Time // the last read of data from the kernel; zero if none
	LastWrite time.Time // the last write handed to the kernel; zero if none
}

// Stats returns the socket's SocketStats, taken at once. Safe for
// concurrent use, from any goroutine, at any time.
func (s *Socket) Stats() SocketStats {
	if !s.lock() {
		return SocketStats{}
	}
	defer s.mu.Unlock()
	c := s.c
	return SocketStats{
		LastRead:  unixNano(c.lastRead.Load()),
		LastWrite: unixNano(c.lastWrite.Load()),
		Unread:    c.q.held,
	}
}

func unixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// ServerStats is a snapshot of a server's counters; Connections gives the
// number of open connections.
type ServerStats struct {
	Accepted    int64 // connections handed to the program since the server was made
	Dropped     int64 // connections closed without being handed over: over the limit, blocked, closing, failed TLS handshake
	Handshaking int   // of the open connections (Connections), those in their TLS handshake
	Forced      int64 // connections destroyed by Shutdown at its deadline
}

// Stats returns a snapshot of the server's counters. Safe for concurrent
// use.
func (srv *Server) Stats() ServerStats {
	if !srv.lock() {
		return ServerStats{}
	}
	handshaking := len(srv.handshakes)
	srv.mu.Unlock()
	return ServerStats{
		Accepted:    srv.accepted.Load(),
		Dropped:     srv.dropped.Load(),
		Handshaking: handshaking,
		Forced:      srv.forced.Load(),
	}
}
