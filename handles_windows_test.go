package nodenet

import "testing"

// TestHandlesUnsupported proves that on Windows, which has no SCM_RIGHTS
// and no int descriptors (handles_windows.go), SendHandle, ReceiveHandle
// and ListenHandle(int) fail with unsupported's error (checkUnsupported
// is in unsupported_test.go).
func TestHandlesUnsupported(t *testing.T) {
	checkUnsupported(t, "SendHandle", SendHandle(nil, nil, nil), "sendmsg")
	_, _, err := ReceiveHandle(nil)
	checkUnsupported(t, "ReceiveHandle", err, "recvmsg")
	srv := createServer(t, ServerOptions{}, nil)
	err = srv.ListenHandle(3)
	if err == nil {
		srv.Close()
	}
	checkUnsupported(t, "ListenHandle(3)", err, "listen")
}
