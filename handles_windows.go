package nodenet

import (
	"net"
	"os"
)

// Windows has no SCM_RIGHTS and no int descriptors to duplicate
// (handles_unix.go has both): SendHandle, ReceiveHandle and
// ListenHandle(int) say so instead.

// sendHandle sends nothing: SCM_RIGHTS does not exist on Windows.
func sendHandle(*net.UnixConn, any, []byte) error {
	return unsupported("sendmsg", "SendHandle (a descriptor sent as SCM_RIGHTS)")
}

// receiveHandle reads nothing: SCM_RIGHTS does not exist on Windows.
func receiveHandle(*net.UnixConn) (*os.File, []byte, error) {
	return nil, nil, unsupported("recvmsg", "ReceiveHandle (a descriptor received as SCM_RIGHTS)")
}

// dupCloseOnExec fails: ListenHandle's int is a unix file descriptor; on
// Windows a socket is passed as an *os.File or a net.Listener.
func dupCloseOnExec(int) (int, error) {
	return -1, unsupported("listen", "ListenHandle with an int file descriptor (pass an *os.File)")
}
