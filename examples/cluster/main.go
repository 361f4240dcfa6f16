//go:build unix

// Command cluster shares one listening port between two processes, as
// Node's cluster module does: the parent listens, starts a child (this
// same program, marked by an environment variable), and hands it the
// listening server over a Unix socketpair with nodenet.SendHandle; the
// child serves on it with ListenHandle.
//
//	go run ./examples/cluster -demo    # hand over, dial, print who answered, stop
//	go run ./examples/cluster          # parent and child both serve on -port until interrupted
//
// Each server greets a client with "<role> <pid> answered" and echoes what
// it sends. While both processes listen, the kernel chooses which one
// accepts a connection, so the demo makes the answer certain: the parent
// answers the first connection alone, hands the server over, closes its
// own copy, and the child answers every later one.
//
// It builds on unix only: SendHandle needs SCM_RIGHTS, which Windows lacks.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nodenet/nodenet"
)

// childEnv marks the child process in its environment.
const childEnv = "NODENET_CLUSTER_CHILD"

func main() {
	port := flag.Int("port", 0, "TCP port to listen on, on 127.0.0.1 (0 picks a free one)")
	demo := flag.Bool("demo", false, "hand over, connect a few times, print which process answered, stop")
	n := flag.Int("n", 3, "connections the demo makes after the hand-over")
	flag.Parse()
	log.SetFlags(0)

	var err error
	if os.Getenv(childEnv) == "1" {
		log.SetPrefix(fmt.Sprintf("child %d: ", os.Getpid()))
		err = runChild()
	} else {
		log.SetPrefix(fmt.Sprintf("parent %d: ", os.Getpid()))
		err = runParent(*port, *demo, *n)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// handler greets each client with the process that answered, then echoes.
func handler(role string) func(*nodenet.Socket) {
	greeting := fmt.Sprintf("%s %d answered\n", role, os.Getpid())
	return func(c *nodenet.Socket) {
		c.SendString(greeting, "", nil)
		c.Pipe(c)
	}
}

func runParent(port int, demo bool, n int) error {
	srv, err := nodenet.CreateServer(nodenet.ServerOptions{}, handler("parent"))
	if err != nil {
		return err
	}
	if err := srv.Listen(port, "127.0.0.1", 0); err != nil {
		return err
	}
	defer srv.Close()
	port = srv.Address().Port
	fmt.Printf("parent %d listening on 127.0.0.1:%d\n", os.Getpid(), port)

	ipc, child, err := startChild()
	if err != nil {
		return err
	}
	err = handOver(srv, ipc, child.Process.Pid, demo, n)
	// Closing the channel tells the child to stop: its read returns.
	ipc.Close()
	if werr := child.Wait(); werr != nil && err == nil {
		err = fmt.Errorf("child %d: %v", child.Process.Pid, werr)
	}
	if err == nil {
		fmt.Printf("child %d exited\n", child.Process.Pid)
	}
	return err
}

// handOver sends the listening server to the child, then runs the demo
// or serves beside the child until interrupted.
func handOver(srv *nodenet.Server, ipc *net.UnixConn, childPid int, demo bool, n int) error {
	port := srv.Address().Port
	if demo {
		if err := ask(port, 1); err != nil { // only the parent listens yet
			return err
		}
	}
	if err := nodenet.SendHandle(ipc, srv, []byte("serve")); err != nil {
		return fmt.Errorf("sending the server: %w", err)
	}
	fmt.Printf("parent %d handed the server to child %d\n", os.Getpid(), childPid)
	if !demo {
		log.Printf("parent and child serve 127.0.0.1:%d; interrupt to stop", port)
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, os.Interrupt)
		<-stop
		return nil
	}
	// The listening socket lives on in the child, so connections keep
	// coming to the port; only the child accepts them now.
	srv.Close()
	fmt.Printf("parent %d closed its server\n", os.Getpid())
	for i := 2; i < 2+n; i++ {
		if err := ask(port, i); err != nil {
			return err
		}
	}
	return nil
}

// startChild starts this program again as the child, connected to the
// parent by a Unix socketpair whose other end is the child's descriptor 3.
func startChild() (*net.UnixConn, *exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	// Both ends are close-on-exec before any process can start: a child
	// that inherited the parent's end would never see it close.
	syscall.ForkLock.RLock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	parentEnd := os.NewFile(uintptr(fds[0]), "ipc")
	childEnd := os.NewFile(uintptr(fds[1]), "ipc")
	defer childEnd.Close() // the started child has its own copy
	c, err := net.FileConn(parentEnd)
	parentEnd.Close()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.ExtraFiles = []*os.File{childEnd} // descriptor 3 in the child
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		c.Close()
		return nil, nil, err
	}
	return c.(*net.UnixConn), cmd, nil
}

// runChild takes the server the parent sends on descriptor 3, serves on
// it, and stops when the parent closes the channel (or dies).
func runChild() error {
	// An interrupt at the terminal reaches both processes: the parent
	// decides when the child stops.
	signal.Ignore(os.Interrupt)
	f := os.NewFile(3, "ipc")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("descriptor 3: %w", err)
	}
	ipc, ok := c.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("descriptor 3 is a %T, not a Unix socket", c)
	}
	defer ipc.Close()

	h, msg, err := nodenet.ReceiveHandle(ipc)
	if err != nil {
		return fmt.Errorf("receiving the server: %w", err)
	}
	srv, err := nodenet.CreateServer(nodenet.ServerOptions{}, handler("child"))
	if err != nil {
		return err
	}
	err = srv.ListenHandle(h)
	h.Close() // the server has its own duplicate
	if err != nil {
		return err
	}
	log.Printf("serving 127.0.0.1:%d (the parent said %q)", srv.Address().Port, msg)

	io.Copy(io.Discard, ipc) // returns when the parent closes the channel
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
}

// ask connects to port, sends a line, and prints which process answered
// and what it echoed.
func ask(port, i int) error {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "hello %d\n", i); err != nil {
		return err
	}
	c.(*net.TCPConn).CloseWrite() // the server's echo ends when we do
	reply, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	who, echo, _ := strings.Cut(string(reply), "\n")
	fmt.Printf("connection %d: %s, echoed %q\n", i, who, echo)
	return nil
}
