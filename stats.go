package nodenet

import "time"

// SocketStats is a snapshot of a socket's counters and state. The
// counters are read without the lock, the rest under it at once.
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
	st := SocketStats{
		BytesRead:    s.bytesRead.Load(),
		BytesWritten: s.bytesWritten.Load(),
		LastRead:     unixNano(s.lastRead.Load()),
		LastWrite:    unixNano(s.lastWrite.Load()),
	}
	s.mu.Lock()
	st.ReadyState = s.readyStateLocked()
	st.BufferSize = s.pending
	st.Unread = s.st.rbytes
	st.Paused = s.paused
	s.mu.Unlock()
	return st
}

func unixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// ServerStats is a snapshot of a server's counters.
type ServerStats struct {
	Accepted int64 // connections handed to the program since the server was made
	Dropped  int64 // connections closed at once: over the limit, blocked, or closing
	Active   int   // open connections (Connections)
	Forced   int64 // connections destroyed by Shutdown at its deadline
}

// Stats returns a snapshot of the server's counters. Safe for concurrent
// use.
func (srv *Server) Stats() ServerStats {
	return ServerStats{
		Accepted: srv.accepted.Load(),
		Dropped:  srv.dropped.Load(),
		Active:   srv.Connections(),
		Forced:   srv.forced.Load(),
	}
}
