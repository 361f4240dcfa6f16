package nodenet

import (
	"net"
	"net/netip"
	"slices"
	"sync"
)

// BlockList is later Node's net.BlockList: a set of blocked IP addresses,
// ranges and subnets, for ServerOptions.BlockList (connections from a
// blocked address are dropped) and ConnectOptions.BlockList (connections
// to a blocked address fail with ERR_IP_BLOCKED). An IPv4-mapped IPv6
// address (::ffff:1.2.3.4) matches the IPv4 rules. The zero value is an
// empty list. A nil *BlockList blocks nothing: its Add methods return an
// error wrapping ErrInvalidArgument, Check false and Rules nil. Safe for
// concurrent use; rules may be added while servers and sockets use the
// list.
type BlockList struct {
	mu     sync.RWMutex
	rules  []blockRule
	labels []string
}

// blockRule is one rule: an inclusive range of addresses of one family
// (a single address or a subnet is a range too).
type blockRule struct{ first, last netip.Addr }

// AddAddress blocks one address ("10.0.0.1", "::1"). It returns an error
// wrapping ErrInvalidArgument if addr is not an IP address.
func (b *BlockList) AddAddress(addr string) error {
	if b == nil {
		return errNilBlockList
	}
	a, err := parseBlockAddr(addr)
	if err != nil {
		return err
	}
	b.add(blockRule{a, a}, "Address: "+family(a)+" "+a.String())
	return nil
}

// AddRange blocks every address from start to end, both included; they
// must be of one family, with start not after end.
func (b *BlockList) AddRange(start, end string) error {
	if b == nil {
		return errNilBlockList
	}
	first, err := parseBlockAddr(start)
	if err != nil {
		return err
	}
	last, err := parseBlockAddr(end)
	if err != nil {
		return err
	}
	if first.Is4() != last.Is4() {
		return argError("BlockList range %s-%s mixes IPv4 and IPv6", start, end)
	}
	if last.Less(first) {
		return argError("BlockList range %s-%s: start is after end", start, end)
	}
	b.add(blockRule{first, last}, "Range: "+family(first)+" "+first.String()+"-"+last.String())
	return nil
}

// AddSubnet blocks a subnet in CIDR form ("192.168.0.0/16", "fd00::/8").
func (b *BlockList) AddSubnet(cidr string) error {
	if b == nil {
		return errNilBlockList
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return argError("BlockList subnet %q: %v", cidr, err)
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	p = p.Masked()
	b.add(blockRule{p.Addr(), lastInPrefix(p)}, "Subnet: "+family(p.Addr())+" "+p.String())
	return nil
}

// Check reports whether addr (an IP address, with or without a zone) is
// blocked. A string that is not an IP address is not blocked.
func (b *BlockList) Check(addr string) bool {
	if b == nil {
		return false
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	return b.check(a)
}

// Rules describes the rules in Node's words and order, the newest first
// ("Subnet: IPv4 10.0.0.0/8", "Range: IPv4 10.0.0.1-10.0.0.10",
// "Address: IPv6 ::1").
func (b *BlockList) Rules() []string {
	if b == nil {
		return nil
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	rules := append([]string(nil), b.labels...)
	slices.Reverse(rules)
	return rules
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

func (b *BlockList) add(r blockRule, label string) {
	b.mu.Lock()
	b.rules = append(b.rules, r)
	b.labels = append(b.labels, label)
	b.mu.Unlock()
}

func (b *BlockList) check(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, r := range b.rules {
		if a.Is4() == r.first.Is4() && !a.Less(r.first) && !r.last.Less(a) {
			return true
		}
	}
	return false
}

// checkAddr is check for a connection's address; a non-IP address (a Unix
// socket) is never blocked.
func (b *BlockList) checkAddr(a net.Addr) bool {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return b.check(ip)
		}
	}
	return false
}

func parseBlockAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, argError("BlockList address %q is not an IP address", s)
	}
	return a.Unmap().WithZone(""), nil
}

// lastInPrefix is the highest address of a masked prefix.
func lastInPrefix(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	last, _ := netip.AddrFromSlice(b)
	return last
}
