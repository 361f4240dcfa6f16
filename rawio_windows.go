package nodenet

import "net"

// Windows has no raw path (rawio_unix.go): its RawConn.Write cannot wait
// for a socket to become writable (it fails instead), and its descriptors
// are handles for overlapped I/O, not for read(2) and writev(2). So every
// conn is read and written through its net.Conn, as a TLS conn is on
// every system: a read holds its buffer while it waits, every write is
// queued for the writer goroutine, and the writer's batches go out with
// net.Buffers (one WSASend for the batch). This file is that choice.

// useDescriptorLocked leaves c.rc nil: no raw path on Windows.
func (c *conn) useDescriptorLocked(net.Conn) {}

// batchWriter hands the writer goroutine's batches to the kernel, on
// Windows always with net.Buffers: it is writer.go's batch and no more.
type batchWriter struct {
	batch
}

// flush writes the batch in store with net.Buffers.
func (w *batchWriter) flush() error { return w.writeBuffers() }
