// Command tlsecho is an echo server and client over TLS, with nodenet's
// own TLS transport: the server is a nodenet Server with
// ServerOptions.TLSConfig (the handshake runs off the accept loop, bounded
// by HandshakeTimeout, and a client that fails it is a DropEvent), the
// client a Socket connected with ConnectOptions.TLSConfig (its
// ConnectEvent comes after the handshake); Pipe, backpressure, and End as
// close_notify followed by the FIN work as over plain TCP.
//
//	go run ./examples/tlsecho -demo                        # server and client in one process, then exit
//	go run ./examples/tlsecho -cert /tmp/echo.pem          # server on 127.0.0.1:8443 (-addr)
//	go run ./examples/tlsecho -client -cert /tmp/echo.pem  # client: stdin to the server, echo to stdout
//
// The server makes a self-signed certificate in memory at start-up and
// writes it (the certificate only, not the key) to -cert; the client
// trusts that certificate and nothing else.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nodenet/nodenet"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8443", "address to listen on or connect to")
	certFile := flag.String("cert", "tlsecho-cert.pem", "server: where to write its certificate; client: the certificate to trust")
	client := flag.Bool("client", false, "run the client: send stdin, print the echo")
	demo := flag.Bool("demo", false, "run server and client in one process, print what happens, exit")
	flag.Parse()
	log.SetFlags(0)

	var err error
	switch {
	case *demo:
		err = runDemo(os.Stdout)
	case *client:
		err = clientMain(*addr, *certFile)
	default:
		err = serverMain(*addr, *certFile)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// selfSigned makes an ECDSA certificate for 127.0.0.1 and ::1, valid for
// a day, held in memory only.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "nodenet tlsecho"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// newServer makes the TLS echo server: each connection is piped into
// itself (an echo; the client's end, close_notify then FIN, ends this side
// too) and reports its events to onEvent.
func newServer(cert tls.Certificate, onEvent func(nodenet.Event)) (*nodenet.Server, error) {
	return nodenet.CreateServer(nodenet.ServerOptions{
		TLSConfig:        &tls.Config{Certificates: []tls.Certificate{cert}},
		HandshakeTimeout: 10 * time.Second,
	}, func(s *nodenet.Socket) {
		s.Pipe(s)
		for ev := range s.Events() {
			onEvent(ev)
		}
	})
}

// echo sends in to the TLS echo server at addr, writes what comes back to
// out, and returns once the connection has closed.
func echo(addr string, roots *x509.CertPool, in io.Reader, out io.Writer) error {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return err
	}
	c, err := nodenet.Connect(nodenet.ConnectOptions{
		Host:      host, // also the name checked against the certificate
		Port:      port,
		TLSConfig: &tls.Config{RootCAs: roots},
	})
	if err != nil {
		return err
	}
	go func() {
		io.Copy(c, in) // Write waits for the handshake, then blocks at the high-water mark
		c.End()        // close_notify, then the FIN, once everything is sent
	}()
	var failure error
	for ev := range c.Events() {
		switch ev := ev.(type) {
		case nodenet.DataEvent:
			out.Write(ev.Data)
		case nodenet.ErrorEvent:
			failure = ev.Err
		}
	}
	c.Destroy() // a Write still blocked in io.Copy returns
	return failure
}

func serverMain(addr, certFile string) error {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return err
	}
	cert, err := selfSigned()
	if err != nil {
		return err
	}
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	if err := os.WriteFile(certFile, block, 0o644); err != nil {
		return err
	}
	srv, err := newServer(cert, func(ev nodenet.Event) {
		if _, data := ev.(nodenet.DataEvent); !data {
			log.Printf("server: %s", nodenet.EventName(ev))
		}
	})
	if err != nil {
		return err
	}
	if err := srv.Listen(port, host, 0); err != nil {
		return err
	}
	log.Printf("TLS echo on %s; certificate in %s", srv.Address(), certFile)
	go func() {
		for ev := range srv.Events() {
			if d, ok := ev.(nodenet.DropEvent); ok {
				log.Printf("dropped %s: %s %v", d.Remote, d.Reason, d.Err) // a failed handshake, say
			}
		}
	}()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	<-stop
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
}

func clientMain(addr, certFile string) error {
	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		return errors.New("no certificate in " + certFile)
	}
	return echo(addr, roots, os.Stdin, os.Stdout)
}

// runDemo runs the server and a client in one process: the client sends
// two lines and ends; it prints what came back and the server's events,
// then returns once everything has closed.
func runDemo(w io.Writer) error {
	cert, err := selfSigned()
	if err != nil {
		return err
	}
	var mu sync.Mutex // the server's handler and this goroutine print
	printf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, format, args...)
	}
	srv, err := newServer(cert, func(ev nodenet.Event) {
		switch ev := ev.(type) {
		case nodenet.DataEvent: // chunking varies; the client shows the bytes
		case nodenet.CloseEvent:
			printf("server: close (had error: %v)\n", ev.HadError)
		default:
			printf("server: %s\n", nodenet.EventName(ev))
		}
	})
	if err != nil {
		return err
	}
	if err := srv.Listen(0, "127.0.0.1", 0); err != nil {
		return err
	}

	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	var got strings.Builder
	err = echo(srv.Address().String(), roots, strings.NewReader("hello over TLS\nsecond line\n"), &got)
	// Shutdown returns once the server's connection has closed and its
	// handler, which prints the server's events, has returned.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if serr := srv.Shutdown(ctx); err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	printf("client received %q\n", got.String())
	return nil
}
