// Test helpers of TLS: a self-signed certificate and the configurations built on it.

package nodenet

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"
)

// testCert is a self-signed certificate for 127.0.0.1, ::1 and
// localhost, made once, in memory.
var testCert = sync.OnceValues(func() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "nodenet test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
		// A CA, so that openssl's -CAfile accepts it as its own root.
		IsCA:                  true,
		BasicConstraintsValid: true,
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
})

func tlsCert(t testing.TB) tls.Certificate {
	t.Helper()
	cert, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// serverTLS is a server config with the test certificate.
func serverTLS(t testing.TB) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{tlsCert(t)}}
}

// clientTLS is a client config that trusts the test certificate only.
func clientTLS(t testing.TB) *tls.Config {
	roots := x509.NewCertPool()
	roots.AddCert(tlsCert(t).Leaf)
	return &tls.Config{RootCAs: roots}
}

// checkCode checks that err is an *Error with code.
func checkCode(t testing.TB, what string, err error, code string) {
	t.Helper()
	var ne *Error
	if !errors.As(err, &ne) || ne.Code != code {
		t.Errorf("%s = %v (%T); want an *Error with Code %s", what, err, err, code)
	}
}
