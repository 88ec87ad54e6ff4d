package wsgate

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// origins is the Origin allow-list, against cross-site WebSocket hijacking:
// a page on another site can open a WebSocket to us with the user's
// cookies or stored token, and only its Origin header tells us so.
// Immutable after New.
type origins struct {
	exact    map[string]struct{} // normalized scheme://host[:port]
	wildcard []wildcardOrigin
}

// wildcardOrigin is scheme://*.suffix[:port].
type wildcardOrigin struct {
	scheme, suffix, port string // suffix starts with "."
}

// CheckOrigin checks one entry of Options.AllowedOrigins.
func CheckOrigin(entry string) error {
	_, host, _, err := splitOrigin(entry)
	if err != nil {
		return err
	}
	return checkHostPattern(host)
}

// parseOrigins checks and normalizes the allow-list. Its errors quote the
// entry.
func parseOrigins(list []string) (*origins, error) {
	if len(list) == 0 {
		return nil, nil
	}
	o := &origins{exact: make(map[string]struct{}, len(list))}
	var errs []error
	for _, entry := range list {
		if err := CheckOrigin(entry); err != nil {
			errs = append(errs, fmt.Errorf("%q: %w", entry, err))
			continue
		}
		scheme, host, port, _ := splitOrigin(entry)
		if suffix, ok := strings.CutPrefix(host, "*"); ok {
			o.wildcard = append(o.wildcard, wildcardOrigin{scheme: scheme, suffix: suffix, port: port})
			continue
		}
		o.exact[joinOrigin(scheme, host, port)] = struct{}{}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return o, nil
}

// allows reports whether the Origin header value origin is on the list.
func (o *origins) allows(origin string) bool {
	scheme, host, port, err := splitOrigin(origin)
	if err != nil || strings.Contains(host, "*") {
		return false
	}
	if _, ok := o.exact[joinOrigin(scheme, host, port)]; ok {
		return true
	}
	for _, w := range o.wildcard {
		// The label before the suffix must not be empty: *.example.com
		// covers a.example.com, not example.com or .example.com.
		if w.scheme == scheme && w.port == port && len(host) > len(w.suffix) && strings.HasSuffix(host, w.suffix) {
			return true
		}
	}
	return false
}

// splitOrigin parses scheme://host[:port] and normalizes it: lower case,
// and no port when it is the scheme's default, as browsers send it.
func splitOrigin(s string) (scheme, host, port string, err error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", "", "", errors.New("must be scheme://host[:port]")
	case u.Scheme == "" || u.Opaque != "" || u.Hostname() == "":
		return "", "", "", errors.New("must be scheme://host[:port]")
	case u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "#"):
		return "", "", "", errors.New("must be scheme://host[:port] with no user, path, query or fragment")
	}
	scheme, host, port = u.Scheme, strings.ToLower(u.Hostname()), u.Port()
	if strings.HasSuffix(u.Host, ":") {
		return "", "", "", errors.New("empty port")
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", "", "", fmt.Errorf("port %q: must be 1 to 65535", port)
		}
		port = strconv.Itoa(n) // "0443" is 443
	}
	if port == defaultPorts[scheme] {
		port = ""
	}
	return scheme, host, port, nil
}

var defaultPorts = map[string]string{"http": "80", "https": "443", "ws": "80", "wss": "443"}

// checkHostPattern allows a '*' only as a whole first label followed by at
// least two more, so that *.com cannot open the gate to a whole TLD.
func checkHostPattern(host string) error {
	rest, wild := strings.CutPrefix(host, "*.")
	if strings.Contains(rest, "*") || (!wild && strings.Contains(host, "*")) {
		return errors.New(`"*" may only stand for the first label, as in https://*.example.com`)
	}
	if wild && (!strings.Contains(rest, ".") || strings.HasPrefix(rest, ".") || strings.HasSuffix(rest, ".")) {
		return errors.New("a wildcard needs a domain of at least two labels, as in https://*.example.com")
	}
	return nil
}

func joinOrigin(scheme, host, port string) string {
	if port != "" {
		return scheme + "://" + net.JoinHostPort(host, port)
	}
	if strings.Contains(host, ":") { // IPv6
		return scheme + "://[" + host + "]"
	}
	return scheme + "://" + host
}
