package main

import (
	"bytes"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/nodenet/nodenet"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// nodeClient is a client written with Node's net: it prints what it
// receives, answers the greeting with a line, and ends.
const nodeClient = `
const net = require('net');
const c = net.connect(+process.argv[1], '127.0.0.1');
let got = '', sent = false;
c.setEncoding('utf8');
c.on('data', d => {
  got += d;
  if (!sent && got.includes('\r\n')) { sent = true; c.end('from node\r\n'); }
});
c.on('end', () => process.stdout.write(JSON.stringify(got)));
c.on('error', e => { console.error(e.message); process.exit(1); });
`

// Both server modes answer a Node client as Node's echo server would.
func TestNodeClientTalksToServer(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; the Node client cannot run")
	}
	for _, events := range []bool{false, true} {
		t.Run("events="+strconv.FormatBool(events), func(t *testing.T) {
			srv, err := nodenet.CreateServer(nodenet.ServerOptions{}, handler(events, true, true))
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Listen(0, "127.0.0.1", 0); err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			out, err := exec.Command(node, "-e", nodeClient, strconv.Itoa(srv.Address().Port)).Output()
			if err != nil {
				t.Fatalf("node client: %v", err)
			}
			if got, want := string(out), `"hello\r\nfrom node\r\n"`; got != want {
				t.Errorf("node client received %s; want %s", got, want)
			}
		})
	}
}

func TestDemo(t *testing.T) {
	var out bytes.Buffer
	runDemo(&out)
	// The server's and the client's lines interleave; each side's own
	// order is fixed.
	var client, server, srvEvents []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		switch {
		case strings.HasPrefix(line, "client: "):
			client = append(client, strings.TrimPrefix(line, "client: "))
		case strings.HasPrefix(line, "server socket: "):
			server = append(server, strings.TrimPrefix(line, "server socket: "))
		case strings.HasPrefix(line, "server: "):
			srvEvents = append(srvEvents, strings.TrimPrefix(line, "server: "))
		}
	}
	wantClient := []string{`connect`, `data "hello\r\n"`, `data "I am the client\r\n"`, `end`, `close (had error: false)`}
	wantServer := []string{`data "I am the client\r\n"`, `end`, `close (had error: false)`}
	if strings.Join(client, "|") != strings.Join(wantClient, "|") {
		t.Errorf("client events %q; want %q", client, wantClient)
	}
	if strings.Join(server, "|") != strings.Join(wantServer, "|") {
		t.Errorf("server socket events %q; want %q", server, wantServer)
	}
	wantSrv := []string{"listening", "connection", "close (had error: false)"}
	if strings.Join(srvEvents, "|") != strings.Join(wantSrv, "|") {
		t.Errorf("server events %q; want %q", srvEvents, wantSrv)
	}
}

// The telnet-style client sees the greeting and its own lines echoed.
func TestClientMode(t *testing.T) {
	for _, events := range []bool{false, true} {
		t.Run("events="+strconv.FormatBool(events), func(t *testing.T) {
			srv, err := nodenet.CreateServer(nodenet.ServerOptions{}, handler(events, true, true))
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Listen(0, "127.0.0.1", 0); err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			var out bytes.Buffer
			in := strings.NewReader("first line\r\nsecond line\r\n")
			if err := runClient(srv.Address().Port, "127.0.0.1", "", in, &out); err != nil {
				t.Fatal(err)
			}
			if got, want := out.String(), "hello\r\nfirst line\r\nsecond line\r\n"; got != want {
				t.Errorf("client printed %q; want %q", got, want)
			}
		})
	}
}

// The server also serves a Unix socket, and the client reaches it there.
func TestClientModeUnix(t *testing.T) {
	path := t.TempDir() + "/echo.sock"
	srv, err := nodenet.CreateServer(nodenet.ServerOptions{}, handler(false, true, true))
	if err != nil {
		t.Fatal(err)
	}
	if err := listen(srv, 0, "", path); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var out bytes.Buffer
	if err := runClient(0, "", path, strings.NewReader("over unix\n"), &out); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "hello\r\nover unix\n"; got != want {
		t.Errorf("client printed %q; want %q", got, want)
	}
}
