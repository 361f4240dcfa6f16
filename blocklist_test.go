// BlockList (Check, subnets, concurrency; on servers and on Connect) and IsIP.

package nodenet

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// TestBeyondBlockListCheck proves what a BlockList blocks: single
// addresses, inclusive ranges, subnets (masked; an IPv4-mapped subnet is
// its IPv4 subnet), IPv4-mapped addresses as their IPv4 address, zones
// ignored, families apart; and that Rules lists the rules in order.
func TestBeyondBlockListCheck(t *testing.T) {
	t.Parallel()
	var b BlockList
	if b.Check("10.0.0.1") || len(b.Rules()) != 0 {
		t.Fatalf("the zero BlockList blocks 10.0.0.1 or has rules %q", b.Rules())
	}
	for _, err := range []error{
		b.AddAddress("10.0.0.1"),
		b.AddRange("10.0.1.10", "10.0.1.20"),
		b.AddSubnet("192.168.7.7/16"),
		b.AddAddress("fe80::1%eth0"),
		b.AddSubnet("::ffff:172.16.0.0/108"),
		b.AddRange("2001:db8::10", "2001:db8::20"),
		b.AddAddress("::ffff:10.9.9.9"),
		b.AddRange("::ffff:10.2.0.1", "10.2.0.3"),
		b.AddSubnet("fd00::/8"),
		b.AddRange("10.3.0.0", "10.3.0.0"),
	} {
		if err != nil {
			t.Fatalf("adding a rule: %v", err)
		}
	}
	wantRules := []string{ // Node's words and order: newest first
		"Range: IPv4 10.3.0.0-10.3.0.0",
		"Subnet: IPv6 fd00::/8",
		"Range: IPv4 10.2.0.1-10.2.0.3",
		"Address: IPv4 10.9.9.9",
		"Range: IPv6 2001:db8::10-2001:db8::20",
		"Subnet: IPv4 172.16.0.0/12",
		"Address: IPv6 fe80::1",
		"Subnet: IPv4 192.168.0.0/16",
		"Range: IPv4 10.0.1.10-10.0.1.20",
		"Address: IPv4 10.0.0.1",
	}
	if got := b.Rules(); strings.Join(got, "|") != strings.Join(wantRules, "|") {
		t.Errorf("Rules() =\n%q\nwant\n%q", got, wantRules)
	}
	tests := []struct {
		addr string
		want bool
	}{
		{"10.0.0.1", true},
		{"10.0.0.2", false},
		{"10.0.0.0", false},
		{"::ffff:10.0.0.1", true},
		{"10.0.1.9", false},
		{"10.0.1.10", true},
		{"10.0.1.15", true},
		{"10.0.1.20", true},
		{"10.0.1.21", false},
		{"192.168.0.0", true},
		{"192.168.255.255", true},
		{"192.169.0.0", false},
		{"192.167.255.255", false},
		{"fe80::1", true},
		{"fe80::1%eth0", true},
		{"fe80::1%lo", true},
		{"fe80::2", false},
		{"172.16.0.0", true},
		{"172.31.255.255", true},
		{"172.32.0.0", false},
		{"::ffff:172.20.1.1", true},
		{"2001:db8::f", false},
		{"2001:db8::10", true},
		{"2001:db8::20", true},
		{"2001:db8::21", false},
		{"10.9.9.9", true},
		{"::ffff:10.9.9.9", true},
		{"10.2.0.0", false},
		{"10.2.0.1", true},
		{"10.2.0.3", true},
		{"10.2.0.4", false},
		{"fd12:3456::1", true},
		{"fe00::1", false},
		{"10.3.0.0", true},
		{"10.3.0.1", false},
		{"::a00:1", false}, // IPv4-compatible, not mapped: an IPv6 address
		{"::1", false},
		{"not an address", false},
		{"", false},
		{"10.0.0.1/32", false},
	}
	for _, tt := range tests {
		if got := b.Check(tt.addr); got != tt.want {
			t.Errorf("Check(%q) = %v; want %v", tt.addr, got, tt.want)
		}
	}
}

// TestBeyondBlockListSubnetEdges proves the subnets of every size: /0
// blocks a whole family and only it, /32 and /128 one address.
func TestBeyondBlockListSubnetEdges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cidr    string
		rule    string
		in, out []string
	}{
		{"0.0.0.0/0", "Subnet: IPv4 0.0.0.0/0", []string{"0.0.0.0", "255.255.255.255", "::ffff:1.2.3.4"}, []string{"::", "::1"}},
		{"::/0", "Subnet: IPv6 ::/0", []string{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::1"}, nil},
		{"1.2.3.4/32", "Subnet: IPv4 1.2.3.4/32", []string{"1.2.3.4"}, []string{"1.2.3.3", "1.2.3.5"}},
		{"::ffff:0.0.0.0/96", "Subnet: IPv4 0.0.0.0/0", []string{"1.2.3.4", "::ffff:9.9.9.9"}, []string{"::1"}},
		{"2001:db8::1/128", "Subnet: IPv6 2001:db8::1/128", []string{"2001:db8::1"}, []string{"2001:db8::", "2001:db8::2"}},
		{"10.255.255.255/9", "Subnet: IPv4 10.128.0.0/9", []string{"10.128.0.0", "10.255.255.255"}, []string{"10.127.255.255", "11.0.0.0"}},
	}
	for _, tt := range tests {
		var b BlockList
		if err := b.AddSubnet(tt.cidr); err != nil {
			t.Errorf("AddSubnet(%q) = %v; want nil", tt.cidr, err)
			continue
		}
		if got := b.Rules(); len(got) != 1 || got[0] != tt.rule {
			t.Errorf("AddSubnet(%q): Rules() = %q; want [%q]", tt.cidr, got, tt.rule)
		}
		for _, a := range tt.in {
			if !b.Check(a) {
				t.Errorf("AddSubnet(%q): Check(%q) = false; want true", tt.cidr, a)
			}
		}
		for _, a := range tt.out {
			if b.Check(a) {
				t.Errorf("AddSubnet(%q): Check(%q) = true; want false", tt.cidr, a)
			}
		}
	}
}

// TestBeyondBlockListInvalid proves that bad input (not an address, a
// range across families or reversed, a bad CIDR) is an error wrapping
// ErrInvalidArgument and adds no rule.
func TestBeyondBlockListInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		add  func(b *BlockList) error
	}{
		{"address empty", func(b *BlockList) error { return b.AddAddress("") }},
		{"address a name", func(b *BlockList) error { return b.AddAddress("localhost") }},
		{"address out of range", func(b *BlockList) error { return b.AddAddress("10.0.0.256") }},
		{"address with a prefix", func(b *BlockList) error { return b.AddAddress("10.0.0.0/8") }},
		{"range bad start", func(b *BlockList) error { return b.AddRange("x", "10.0.0.1") }},
		{"range bad end", func(b *BlockList) error { return b.AddRange("10.0.0.1", "") }},
		{"range v4-v6", func(b *BlockList) error { return b.AddRange("10.0.0.1", "::1") }},
		{"range v6-v4", func(b *BlockList) error { return b.AddRange("::1", "10.0.0.1") }},
		{"range v4 reversed", func(b *BlockList) error { return b.AddRange("10.0.0.9", "10.0.0.1") }},
		{"range v6 reversed", func(b *BlockList) error { return b.AddRange("::2", "::1") }},
		{"range mapped reversed", func(b *BlockList) error { return b.AddRange("::ffff:10.0.0.9", "10.0.0.1") }},
		{"subnet no prefix", func(b *BlockList) error { return b.AddSubnet("10.0.0.0") }},
		{"subnet v4 /33", func(b *BlockList) error { return b.AddSubnet("10.0.0.0/33") }},
		{"subnet v6 /129", func(b *BlockList) error { return b.AddSubnet("::/129") }},
		{"subnet negative", func(b *BlockList) error { return b.AddSubnet("10.0.0.0/-1") }},
		{"subnet empty", func(b *BlockList) error { return b.AddSubnet("") }},
		{"subnet a name", func(b *BlockList) error { return b.AddSubnet("localhost/8") }},
	}
	for _, tt := range tests {
		var b BlockList
		if err := tt.add(&b); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: error %v; want one wrapping %v", tt.name, err, ErrInvalidArgument)
		}
		if got := b.Rules(); len(got) != 0 {
			t.Errorf("%s: Rules() = %q; want none", tt.name, got)
		}
	}
}

// TestBeyondBlockListConcurrent proves that rules may be added while
// other goroutines check (run it with -race): every rule added is then
// seen, and Rules lists all.
func TestBeyondBlockListConcurrent(t *testing.T) {
	t.Parallel()
	var b BlockList
	const writers, each = 4, 50
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := b.AddAddress(fmt.Sprintf("10.%d.0.%d", w, i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	var readers sync.WaitGroup
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				b.Check("10.1.0.7")
				b.Check("::ffff:10.2.0.9")
				_ = b.Rules()
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	for w := range writers {
		for i := range each {
			if a := fmt.Sprintf("10.%d.0.%d", w, i); !b.Check(a) {
				t.Errorf("Check(%q) = false after it was added", a)
			}
		}
	}
	if got := len(b.Rules()); got != writers*each {
		t.Errorf("%d rules; want %d", got, writers*each)
	}
}

// TestBeyondServerBlockList proves ServerOptions.BlockList: a client from
// a blocked address sees its connect, then the end (or a reset); the
// server gets a DropEvent{Reason: "blockList"} with the client's address,
// no ConnectionEvent, and counts it as dropped.
func TestBeyondServerBlockList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		host  string
		block func(b *BlockList) error
	}{
		{"IPv4 address", "127.0.0.1", func(b *BlockList) error { return b.AddAddress("127.0.0.1") }},
		{"IPv4 subnet", "127.0.0.1", func(b *BlockList) error { return b.AddSubnet("127.0.0.0/8") }},
		{"IPv4-mapped range", "127.0.0.1", func(b *BlockList) error { return b.AddRange("::ffff:127.0.0.0", "::ffff:127.0.0.9") }},
		{"IPv6 address", "::1", func(b *BlockList) error { return b.AddAddress("::1") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.host == "::1" {
				needIPv6(t)
			}
			bl := &BlockList{}
			if err := tt.block(bl); err != nil {
				t.Fatal(err)
			}
			srv := createServer(t, ServerOptions{BlockList: bl}, func(s *Socket) { s.SendString("hi", "", nil) })
			r := recordServer(t, srv)
			if err := srv.Listen(0, tt.host, 0); err != nil {
				t.Fatal(err)
			}
			port := srv.Address().Port
			c := connectSocket(t, ConnectOptions{Port: port, Host: tt.host})
			evs := record(t, c).wait()
			if !endedOrReset(evs) || len(dataOf(evs)) != 0 {
				t.Errorf("events of a blocked client = %q, data %q; want connect, then end or ECONNRESET, no data", names(evs), dataOf(evs))
			}
			drop := r.waitFor("drop", isKind[DropEvent]).(DropEvent)
			if drop.Reason != "blockList" || drop.Remote.Address != tt.host || drop.Local.Port != port || drop.Local.Address != tt.host {
				t.Errorf("DropEvent = %+v; want Reason blockList, Remote %s, Local %s port %d", drop, tt.host, tt.host, port)
			}
			if st := srv.Stats(); st.Dropped != 1 || st.Accepted != 0 || srv.Connections() != 0 {
				t.Errorf("Stats() = %+v; want 1 dropped, 0 accepted, 0 active", st)
			}
			srv.Close()
			if got, want := names(r.wait()), "listening drop close(false)"; got != want {
				t.Errorf("server events = %q; want %q", got, want)
			}
		})
	}
}

// TestBeyondServerBlockListLive proves that a server's BlockList may grow
// while it runs: a client accepted before its address is added is served,
// the next one from it is dropped.
func TestBeyondServerBlockListLive(t *testing.T) {
	t.Parallel()
	bl := &BlockList{}
	srv := createServer(t, ServerOptions{BlockList: bl}, func(s *Socket) { s.SendString("hi", "", nil) })
	r := recordServer(t, srv)
	port := listenTCP(t, srv)
	_, rc := connectClient(t, port)
	if got := string(rc.waitData(2)); got != "hi" {
		t.Errorf("client before the block got %q; want hi", got)
	}
	if err := bl.AddAddress("127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	c2 := connectSocket(t, ConnectOptions{Port: port, Host: "127.0.0.1"})
	if evs := record(t, c2).wait(); !endedOrReset(evs) {
		t.Errorf("events of the client after the block = %q; want connect, then end or ECONNRESET", names(evs))
	}
	r.waitFor("drop", isKind[DropEvent])
	if got, want := names(r.events()), "listening connection drop"; got != want {
		t.Errorf("server events = %q; want %q", got, want)
	}
	if st := srv.Stats(); st.Dropped != 1 || st.Accepted != 1 || srv.Connections() != 1 {
		t.Errorf("Stats() = %+v; want 1 dropped, 1 accepted, 1 active", st)
	}
}

// TestBeyondConnectBlockList proves ConnectOptions.BlockList: a connect
// to a blocked address fails with ERR_IP_BLOCKED before any connect(2)
// (the server never sees it: the next, allowed, client is its first
// connection); an unblocked address connects.
func TestBeyondConnectBlockList(t *testing.T) {
	srv, r, port := recordedServer(t, ServerOptions{})
	bl := &BlockList{}
	if err := bl.AddSubnet("127.0.0.0/24"); err != nil {
		t.Fatal(err)
	}
	c := connectSocket(t, ConnectOptions{Host: "127.0.0.1", Port: port, BlockList: bl})
	evs := record(t, c).wait()
	if got, want := names(evs), "error(IP(127.0.0.1) is blocked by net.BlockList) close(true)"; got != want {
		t.Errorf("events = %q; want %q", got, want)
	}
	if err := onlyError(t, evs); err != nil {
		if ne := errorWithCode(t, "the error of a blocked connect", err, "ERR_IP_BLOCKED"); ne != nil && ne.Address != fmt.Sprintf("127.0.0.1:%d", port) {
			t.Errorf("Address = %q; want 127.0.0.1:%d", ne.Address, port)
		}
	}
	closedPort, err := rawSocket(t, lo4, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	other := &BlockList{}
	if err := other.AddSubnet("10.0.0.0/8"); err != nil {
		t.Fatal(err)
	}
	c2 := connectSocket(t, ConnectOptions{Host: "127.0.0.1", Port: closedPort, BlockList: other})
	if got := names(record(t, c2).wait()); got != "error(connect ECONNREFUSED) close(true)" {
		// 127.0.0.1 is not in the list: the connect is made, and refused.
		t.Errorf("events of an unblocked connect to a closed port = %q; want a refused connect", got)
	}
	c3, _ := connectClient(t, port)
	s := r.waitConnection(1)
	if got, want := s.RemotePort(), c3.LocalPort(); got != want {
		t.Errorf("the server's first connection comes from port %d; want the allowed client's %d (the blocked one connected?)", got, want)
	}
	if st := srv.Stats(); st.Accepted != 1 {
		t.Errorf("Stats().Accepted = %d; want 1", st.Accepted)
	}
}

// TestBeyondConnectBlockListRace proves that a blocked address among
// several is one failed attempt (ERR_IP_BLOCKED) and the connect goes on
// to the other address.
func TestBeyondConnectBlockListRace(t *testing.T) {
	for _, tg := range dualTargets(t) {
		t.Run(tg.name, func(t *testing.T) {
			srv, port := dualPortServer(t, func() *Server { return createServer(t, ServerOptions{}, nil) }, tg.second,
				func(port int) error { _, err := rawSocket(t, tg.first, port, false); return err })
			r := recordServer(t, srv)
			bl := &BlockList{}
			if err := bl.AddAddress(tg.first.String()); err != nil {
				t.Fatal(err)
			}
			c := connectSocket(t, ConnectOptions{Host: tg.host, Port: port, Resolver: tg.resolver, ReportAttempts: true, BlockList: bl})
			rc := recordConnected(t, c)
			r.waitConnection(1)
			want := []string{"attempt " + tg.first.String(), "failed " + tg.first.String() + " ERR_IP_BLOCKED", "attempt " + tg.second.String()}
			if got := attemptNames(rc.events()); strings.Join(got, ", ") != strings.Join(want, ", ") {
				t.Errorf("attempts = %q; want %q", got, want)
			}
		})
	}
}

func TestIsIP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		give string
		want int
	}{
		// Every case of Node v0.10 test/simple/test-net-isip.js, in order.
		{give: "127.0.0.1", want: 4},
		{give: "x127.0.0.1", want: 0},
		{give: "example.com", want: 0},
		{give: "0000:0000:0000:0000:0000:0000:0000:0000", want: 6},
		{give: "0000:0000:0000:0000:0000:0000:0000:0000::0000", want: 0},
		{give: "1050:0:0:0:5:600:300c:326b", want: 6},
		{give: "2001:252:0:1::2008:6", want: 6},
		{give: "2001:dead:beef:1::2008:6", want: 6},
		{give: "2001::", want: 6},
		{give: "2001:dead::", want: 6},
		{give: "2001:dead:beef::", want: 6},
		{give: "2001:dead:beef:1::", want: 6},
		{give: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", want: 6},
		{give: ":2001:252:0:1::2008:6:", want: 0},
		{give: ":2001:252:0:1::2008:6", want: 0},
		{give: "2001:252:0:1::2008:6:", want: 0},
		{give: "2001:252::1::2008:6", want: 0},
		{give: "::2001:252:1:2008:6", want: 6},
		{give: "::2001:252:1:1.1.1.1", want: 6},
		{give: "::2001:252:1:255.255.255.255", want: 6},
		{give: "::2001:252:1:255.255.255.255.76", want: 0},
		{give: "::anything", want: 0},
		{give: "::1", want: 6},
		{give: "::", want: 6},
		{give: "0000:0000:0000:0000:0000:0000:12345:0000", want: 0},
		{give: "0", want: 0},
		// isIP() and isIP(null) see the strings "undefined" and "null";
		// isIP(123) sees "123". Go's zero value is the empty string.
		{give: "undefined", want: 0},
		{give: "null", want: 0},
		{give: "123", want: 0},
		{give: "", want: 0},

		// IPv4: exactly four decimal parts of 0-255, no leading zeros.
		{give: "0.0.0.0", want: 4},
		{give: "255.255.255.255", want: 4},
		{give: "10.0.0.1", want: 4},
		{give: "100.200.250.199", want: 4},
		{give: "192.168.1.0", want: 4},
		{give: "1.2.3.4", want: 4},
		{give: "01.1.1.1", want: 0},
		{give: "1.2.3.04", want: 0},
		{give: "00.0.0.0", want: 0},
		{give: "0.0.0.00", want: 0},
		{give: "010.0.0.1", want: 0},
		{give: "127.1", want: 0},
		{give: "1.1.1", want: 0},
		{give: "1.1.1.1.", want: 0},
		{give: "1.2.3.4.5", want: 0},
		{give: ".1.2.3", want: 0},
		{give: "1..2.3", want: 0},
		{give: "1.2.3.", want: 0},
		{give: "0x7f.1.1.1", want: 0},
		{give: "1.2.3.0x4", want: 0},
		{give: "1e2.1.1.1", want: 0},
		{give: "256.0.0.0", want: 0},
		{give: "1.2.3.256", want: 0},
		{give: "999.1.1.1", want: 0},
		{give: "1234.1.1.1", want: 0},
		{give: "1.2.3.-4", want: 0},
		{give: "+1.2.3.4", want: 0},
		{give: " 1.1.1.1", want: 0},
		{give: "1.1.1.1 ", want: 0},
		{give: "1.2.3.4\n", want: 0},
		{give: "1.2.3.4\x00", want: 0},
		{give: "1.2.3.4/24", want: 0},
		{give: "1.2.3.4:80", want: 0},
		{give: "\uff11.2.3.4", want: 0}, // fullwidth digit one
		// v0.10 gave 4 here: it cut U+0131 to its low byte, '1'. Not
		// ported (see isip.go); v20 gives 0.
		{give: "\u0131.2.3.4", want: 0},
		{give: "1.1.1.1%eth0", want: 0}, // zones are for IPv6 only

		// IPv6 as inet_pton parses it.
		{give: "1:2:3:4:5:6:7:8", want: 6},
		{give: "0:0:0:0:0:0:0:0", want: 6},
		{give: "1:2:3:4:5:6:7", want: 0},
		{give: "1:2:3:4:5:6:7:8:9", want: 0},
		{give: "1:2:3:4:5:6:7::", want: 6}, // "::" may stand for one group
		{give: "::2:3:4:5:6:7:8", want: 6},
		{give: "1::3:4:5:6:7:8", want: 6},
		{give: "1:2:3:4:5:6:7:8::", want: 0}, // but not for none
		{give: "::1:2:3:4:5:6:7:8", want: 0},
		{give: "1::", want: 6},
		{give: "::0000", want: 6},
		{give: "::00000", want: 0},
		{give: "12345::", want: 0},
		{give: "1:2:3:4:5:6:77777:8", want: 0},
		{give: ":", want: 0},
		{give: ":::", want: 0},
		{give: "1:::2", want: 0},
		{give: ":1::", want: 0},
		{give: "1::2::3", want: 0},
		{give: "1:", want: 0},
		{give: "::1:", want: 0},
		{give: "g::", want: 0},
		{give: "::g", want: 0},
		{give: "0x1::", want: 0},
		{give: "::-1", want: 0},
		{give: "::+1", want: 0},
		{give: "abcd", want: 0},
		{give: "localhost", want: 0},
		{give: "FE80::1", want: 6},
		{give: "Fe80::aBcD", want: 6},
		{give: "2001:DB8::1", want: 6},
		{give: "FFFF::ABCD", want: 6},

		// Embedded dotted IPv4, only as the last 32 bits.
		{give: "::ffff:1.2.3.4", want: 6},
		{give: "::ffff:127.0.0.1", want: 6}, // IPv6, not 4
		{give: "::FFFF:127.0.0.1", want: 6},
		{give: "::1.2.3.4", want: 6},
		{give: "1:2:3:4:5:6:1.2.3.4", want: 6},
		{give: "1:2:3:4:5::1.2.3.4", want: 6},
		{give: "::1:2:3:4:5:1.2.3.4", want: 6},
		{give: "1:2:3:4:5:6:7:1.2.3.4", want: 0},
		{give: "1:2:3:4:5:6::1.2.3.4", want: 0},
		{give: "::1:2:3:4:5:6:1.2.3.4", want: 0},
		{give: "::ffff:01.2.3.4", want: 0},
		{give: "::ffff:1.2.3", want: 0},
		{give: "::ffff:1.2.3.4.5", want: 0},
		{give: "::ffff:256.1.1.1", want: 0},
		{give: "::1.2.3.4:5", want: 0},
		{give: "::a.b.c.d", want: 0},
		{give: "1.2.3.4::", want: 0},
		{give: ":1.2.3.4", want: 0},

		// Brackets, ports, prefixes and spaces are not part of an address.
		{give: "[::1]", want: 0},
		{give: "[::1]:80", want: 0},
		{give: "::1/128", want: 0},
		{give: " ::1", want: 0},
		{give: "::1 ", want: 0},
		{give: ":: 1", want: 0},
		{give: "\t::1", want: 0},
		{give: "1:2:3:4:5:6:7:8 ", want: 0},

		// Zones: accepted as Node v20 accepts them (v0.10 gave 0 for all
		// of these); one or more of [0-9A-Za-z.:-] after '%'.
		{give: "fe80::1%eth0", want: 6},
		{give: "::1%1", want: 6},
		{give: "::%eth0", want: 6},
		{give: "1:2:3:4:5:6:7:8%eth0", want: 6},
		{give: "::ffff:1.2.3.4%eth0", want: 6},
		{give: "fe80::1%a-b.c:d", want: 6},
		{give: "fe80::1%25eth0", want: 6},
		{give: "fe80::1%", want: 0},
		{give: "::1.2.3.4%", want: 0},
		{give: "fe80::1%eth 0", want: 0},
		{give: "fe80::1%a_b", want: 0},
		{give: "fe80::1%a%b", want: 0},
		{give: "fe80::1%%", want: 0},
		{give: "%eth0", want: 0},
		{give: "fe80:::1%eth0", want: 0},
		{give: "[fe80::1%eth0]", want: 0},
	}
	for _, tt := range tests {
		if got := IsIP(tt.give); got != tt.want {
			t.Errorf("IsIP(%q) = %d; want %d", tt.give, got, tt.want)
		}
		if got := IsIPv4(tt.give); got != (tt.want == 4) {
			t.Errorf("IsIPv4(%q) = %t; want %t", tt.give, got, tt.want == 4)
		}
		if got := IsIPv6(tt.give); got != (tt.want == 6) {
			t.Errorf("IsIPv6(%q) = %t; want %t", tt.give, got, tt.want == 6)
		}
	}
}

// TestIsIPAllocs pins down that IsIP never allocates, for addresses and,
// unlike netip.ParseAddr, for host names that are not addresses.
func TestIsIPAllocs(t *testing.T) {
	for _, s := range []string{"127.0.0.1", "::ffff:127.0.0.1", "fe80::1%eth0", "example.com"} {
		var sink int
		if n := testing.AllocsPerRun(100, func() { sink += IsIP(s) }); n != 0 {
			t.Errorf("IsIP(%q) allocates %v times; want 0", s, n)
		}
	}
}

// FuzzIsIP checks IsIP against net/netip.ParseAddr, which parses the same
// grammar as inet_pton (leading zeros in IPv4 refused, "::" for a single
// group allowed) but accepts any bytes in a zone, where Node v20 accepts
// only [0-9A-Za-z.:-].
func FuzzIsIP(f *testing.F) {
	for _, s := range []string{
		"127.0.0.1", "01.1.1.1", "1.1.1.1.", " 1.1.1.1", "255.255.255.255",
		"::", "::1", "1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:8", "::ffff:1.2.3.4",
		"1:2:3:4:5:6:7:1.2.3.4", "::ffff:01.2.3.4", "FFFF::ABCD", "12345::",
		"fe80::1%eth0", "fe80::1%", "fe80::1%a b", "[::1]", "example.com", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := IsIP(s)
		if got != 0 && got != 4 && got != 6 {
			t.Fatalf("IsIP(%q) = %d; want 0, 4 or 6", s, got)
		}
		if v4 := IsIPv4(s); v4 != (got == 4) {
			t.Errorf("IsIPv4(%q) = %t, but IsIP = %d", s, v4, got)
		}
		if v6 := IsIPv6(s); v6 != (got == 6) {
			t.Errorf("IsIPv6(%q) = %t, but IsIP = %d", s, v6, got)
		}

		addr, err := netip.ParseAddr(s)
		// Node's zone rule, written independently of isZoneID.
		zoneOK := strings.Trim(addr.Zone(), "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.:-") == ""
		switch {
		case got == 4 && (err != nil || !addr.Is4()):
			t.Errorf("IsIP(%q) = 4, but netip.ParseAddr = %v, %v", s, addr, err)
		case got == 6 && (err != nil || addr.Is4() || !zoneOK):
			t.Errorf("IsIP(%q) = 6, but netip.ParseAddr = %v, %v", s, addr, err)
		case got == 0 && err == nil && zoneOK:
			t.Errorf("IsIP(%q) = 0, but netip.ParseAddr = %v", s, addr)
		}
	})
}
