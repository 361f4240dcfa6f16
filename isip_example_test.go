package nodenet_test

import (
	"fmt"

	"github.com/nodenet/nodenet"
)

func ExampleIsIP() {
	for _, s := range []string{
		"127.0.0.1",
		"01.1.1.1", // leading zero
		"::1",
		"::ffff:127.0.0.1", // IPv4-mapped, still IPv6
		"fe80::1%eth0",     // zone id
		"[::1]",
		"example.com",
	} {
		fmt.Printf("%-18q %d\n", s, nodenet.IsIP(s))
	}
	// Output:
	// "127.0.0.1"        4
	// "01.1.1.1"         0
	// "::1"              6
	// "::ffff:127.0.0.1" 6
	// "fe80::1%eth0"     6
	// "[::1]"            0
	// "example.com"      0
}
