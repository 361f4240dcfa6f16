// Differential test of BlockList against Node's net.BlockList.

package nodenet

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDifferentialBlockList builds the same block list in node (v20's
// net.BlockList) and in nodenet, and compares the rules' text and the
// answers for a set of addresses, IPv4-mapped IPv6 among them. Node takes
// the family as an argument; nodenet reads it from the address.
func TestDifferentialBlockList(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the differential tests need it")
	}
	probes := []string{"10.0.0.1", "10.0.0.7", "10.0.0.10", "192.168.3.4", "172.16.0.1",
		"::1", "::2", "fd12::1", "2001:db8::15", "2001:db8::21", "::ffff:10.0.0.1", "::ffff:192.168.1.1", "::ffff:10.0.0.10"}
	script := `
const net = require('net');
const b = new net.BlockList();
b.addAddress('10.0.0.1');
b.addRange('10.0.0.5', '10.0.0.9');
b.addSubnet('192.168.0.0', 16);
b.addAddress('::1', 'ipv6');
b.addSubnet('fd00::', 8, 'ipv6');
b.addRange('2001:db8::10', '2001:db8::20', 'ipv6');
const probes = ` + mustJSON(t, probes) + `;
console.log(JSON.stringify({rules: b.rules, checks: probes.map(a => b.check(a, a.includes(':') ? 'ipv6' : 'ipv4'))}));
`
	out, err := exec.Command(node, "-e", script).Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var want struct {
		Rules  []string `json:"rules"`
		Checks []bool   `json:"checks"`
	}
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("node printed %q: %v", out, err)
	}

	var b BlockList
	for _, err := range []error{
		b.AddAddress("10.0.0.1"),
		b.AddRange("10.0.0.5", "10.0.0.9"),
		b.AddSubnet("192.168.0.0/16"),
		b.AddAddress("::1"),
		b.AddSubnet("fd00::/8"),
		b.AddRange("2001:db8::10", "2001:db8::20"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(want.Rules, b.Rules()); diff != "" {
		t.Errorf("Rules() differ from node's (-node +nodenet):\n%s", diff)
	}
	var got []bool
	for _, a := range probes {
		got = append(got, b.Check(a))
	}
	if diff := cmp.Diff(want.Checks, got); diff != "" {
		t.Errorf("Check of %s differs from node's (-node +nodenet):\n%s", strings.Join(probes, " "), diff)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
