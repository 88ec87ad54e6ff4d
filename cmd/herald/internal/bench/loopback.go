package bench

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// isLoopbackHost reports whether host (a name or an address, IPv6 with or
// without brackets) is loopback. Names other than localhost are refused
// without resolving them: what a name resolves to can change between the
// check and the dial.
func isLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkHostPort refuses a host:port whose host is not loopback.
func checkHostPort(flag, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--%s: %q is not host:port: %w", flag, addr, err)
	}
	if !isLoopbackHost(host) {
		return fmt.Errorf("--%s: %q is not a loopback address (127.0.0.0/8, ::1 or localhost): herald bench only loads servers on this machine", flag, host)
	}
	return nil
}

// checkURL refuses a URL that is not of one of schemes or whose host is
// not loopback.
func checkURL(flag, raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("--%s: %w", flag, err)
	}
	ok := false
	for _, s := range schemes {
		ok = ok || u.Scheme == s
	}
	if !ok {
		return fmt.Errorf("--%s: scheme %q: want %s", flag, u.Scheme, strings.Join(schemes, " or "))
	}
	if !isLoopbackHost(u.Hostname()) {
		return fmt.Errorf("--%s: %q is not a loopback address (127.0.0.0/8, ::1 or localhost): herald bench only loads servers on this machine", flag, u.Hostname())
	}
	return nil
}
