package nodenet_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"

	"github.com/nodenet/nodenet"
)

// A TLS echo server and a TLS client, with a self-signed certificate made
// in memory. The server keeps every feature of a plain one (here Stats
// and Shutdown); the client's ConnectEvent comes after the handshake, and
// its End sends close_notify, then the FIN.
func ExampleServerOptions_tls() {
	cert, err := selfSigned("127.0.0.1")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv, err := nodenet.CreateServer(nodenet.ServerOptions{
		TLSConfig:        &tls.Config{Certificates: []tls.Certificate{cert}},
		HandshakeTimeout: 5 * time.Second, // a client that does not handshake is dropped then
	}, func(c *nodenet.Socket) {
		c.Pipe(c) // plaintext in, plaintext out: an echo
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := srv.Listen(0, "127.0.0.1", 0); err != nil {
		fmt.Println(err)
		return
	}

	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf) // trust this certificate only
	client, err := nodenet.Connect(nodenet.ConnectOptions{
		Host:      "127.0.0.1", // also the ServerName checked against the certificate
		Port:      srv.Address().Port,
		TLSConfig: &tls.Config{RootCAs: roots},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	client.SetEncoding("utf8")
	client.EndString("hello over TLS\n", "") // queued until the handshake is done
	for ev := range client.Events() {
		switch ev := ev.(type) {
		case nodenet.ConnectEvent:
			st, _ := client.TLSConnectionState()
			fmt.Println("connected with", tls.VersionName(st.Version))
		case nodenet.DataEvent:
			fmt.Printf("echo %q\n", ev.Text)
		case nodenet.EndEvent:
			fmt.Println("end (close_notify)")
		case nodenet.ErrorEvent:
			fmt.Println("error:", ev.Err)
		case nodenet.CloseEvent:
			fmt.Println("closed")
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println("shutdown:", srv.Shutdown(ctx))
	fmt.Printf("%+v\n", srv.Stats())
	// Output:
	// connected with TLS 1.3
	// echo "hello over TLS\n"
	// end (close_notify)
	// closed
	// shutdown: <nil>
	// {Accepted:1 Dropped:0 Handshaking:0 Forced:0}
}

// selfSigned makes an ECDSA certificate for host (an IP address), valid
// for an hour.
func selfSigned(host string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: host},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP(host)},
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
