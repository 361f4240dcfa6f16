package nodenet

// Node v0.10 answers isIP with libuv's inet_pton (first AF_INET, then
// AF_INET6), so the checks below follow inet_pton byte by byte instead of
// calling net/netip. netip.ParseAddr agrees on every address form, but it
// allocates an error for every string that is not an address (host names
// are a common input) and it accepts any bytes in a zone, while Node only
// accepts [0-9A-Za-z.:-]. A hand-written scan is short, never allocates and
// cannot panic, since every index is checked against len(s) first.
//
// Node v20 replaced inet_pton with a regular expression (lib/internal/net.js).
// The only difference we found between the two, reading one against the
// other and running this code against v20 on some 200,000 strings, is the
// zone id: v0.10 gives 0 for "fe80::1%eth0" and v20 gives 6. nodenet
// follows v20 there (DESIGN.md, "Differences from Node v0.10"). Two v0.10 artefacts of
// turning a JavaScript string into a C string (String::AsciiValue) are not
// ported, as a Go string cannot produce them: NUL became a space, which is
// rejected anyway, and a UTF-16 unit above 0xFF was cut to its low byte, so
// "\u0131.2.3.4" read as "1.2.3.4". Here any byte outside ASCII gives 0.

// IsIP reports whether s is an IP address: it returns 4 for an IPv4 address
// in dotted decimal, 6 for an IPv6 address and 0 otherwise, as Node's
// net.isIP does. IPv4 needs exactly four decimal parts, each 0 to 255 and
// without leading zeros. IPv6 follows inet_pton, plus an optional zone id
// ("fe80::1%eth0"). Surrounding spaces and brackets are not accepted.
//
// IsIP is a pure function and is safe for concurrent use.
func IsIP(s string) int {
	if isDottedQuad(s) {
		return 4
	}
	if isInet6(s) {
		return 6
	}
	return 0
}

// IsIPv4 reports whether IsIP(s) == 4.
//
// IsIPv4 is a pure function and is safe for concurrent use.
func IsIPv4(s string) bool {
	return IsIP(s) == 4
}

// IsIPv6 reports whether IsIP(s) == 6.
//
// IsIPv6 is a pure function and is safe for concurrent use.
func IsIPv6(s string) bool {
	return IsIP(s) == 6
}

// isDottedQuad reports whether s is inet_pton(AF_INET) text: four decimal
// octets of 0 to 255 joined by dots. A leading zero is refused ("01", "00")
// because BSD inet_aton would read it as octal, so "010.0.0.1" would name a
// different host depending on the parser; inet_pton and Node refuse it.
func isDottedQuad(s string) bool {
	for octet := 0; octet < 4; octet++ {
		if octet > 0 {
			if len(s) == 0 || s[0] != '.' {
				return false
			}
			s = s[1:]
		}
		// Three digits are enough for 255; a fourth digit is then caught
		// below as a byte that is not a dot.
		n, v := 0, 0
		for n < len(s) && n < 3 && '0' <= s[n] && s[n] <= '9' {
			v = v*10 + int(s[n]-'0')
			n++
		}
		if n == 0 || v > 255 || (n > 1 && s[0] == '0') {
			return false
		}
		s = s[n:]
	}
	return len(s) == 0
}

// isInet6 reports whether s is inet_pton(AF_INET6) text, optionally followed
// by a zone id as Node v20 accepts it.
func isInet6(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			if !isZoneID(s[i+1:]) {
				return false
			}
			s = s[:i]
			break
		}
	}

	// groups counts 16-bit groups written out; an embedded IPv4 address
	// counts as two. ellipsis records a "::", which inet_pton allows once.
	groups, ellipsis := 0, false
	if len(s) >= 2 && s[0] == ':' && s[1] == ':' {
		ellipsis = true
		s = s[2:]
		if len(s) == 0 {
			return true // "::"
		}
	}
	for {
		n := 0
		for n < len(s) && n < 4 && ipHexDigit(s[n]) {
			n++
		}
		if n == 0 {
			// A lone leading ':', ":::" or an empty group.
			return false
		}
		if n < len(s) && s[n] == '.' {
			// Dotted IPv4 may only fill the last 32 bits, so it must run
			// to the end of s; the group count after the loop checks that
			// it fits.
			if !isDottedQuad(s) {
				return false
			}
			groups += 2
			break
		}
		groups++
		s = s[n:]
		if len(s) == 0 {
			break
		}
		if s[0] != ':' || len(s) == 1 || groups == 8 {
			// A fifth hex digit or another byte, a trailing single ':'
			// ("1::2:"), or more text after eight groups (stopping here
			// keeps long inputs cheap).
			return false
		}
		s = s[1:]
		if s[0] == ':' {
			if ellipsis {
				return false
			}
			ellipsis = true
			s = s[1:]
			if len(s) == 0 {
				break // "1::"
			}
		}
	}
	if ellipsis {
		// "::" must stand for at least one zero group, but one is enough:
		// "1:2:3:4:5:6:7::" is valid.
		return groups <= 7
	}
	return groups == 8
}

// isZoneID reports whether zone is a zone id Node v20 accepts after '%': one
// or more of [0-9A-Za-z.:-]. Node v0.10 accepted no zone at all.
func isZoneID(zone string) bool {
	if len(zone) == 0 {
		return false
	}
	for i := 0; i < len(zone); i++ {
		c := zone[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '.' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// ipHexDigit reports whether c is a hex digit in either case; inet_pton and
// Node both accept upper case.
func ipHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
