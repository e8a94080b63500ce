package rtpengine

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// nodeDef is one rtpengine instance as configured: its URL exactly as the
// operator wrote it (rtpengine.show/enable name it so), the set it belongs
// to and its weight.
type nodeDef struct {
	URL     string
	Set     int
	Weight  int
	Network string // "udp" or "udp6"
	Addr    string // host:port
}

// maxWeight keeps weights in a range where sums cannot overflow.
const maxWeight = 1 << 16

// parseSock parses one rtpengine_sock value: an optional "SETID ==" prefix
// and space-separated URLs, each "udp:HOST:PORT", "udp6:HOST:PORT" or
// "HOST:PORT" (UDP), with an optional "=WEIGHT" (default 1).
func parseSock(s string) ([]nodeDef, error) {
	set := 0
	rest := strings.TrimSpace(s)
	if i := strings.Index(rest, "=="); i >= 0 {
		id := strings.TrimSpace(rest[:i])
		n, err := strconv.Atoi(id)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("rtpengine_sock %q: set id %q is not a non-negative number", s, id)
		}
		set, rest = n, strings.TrimSpace(rest[i+2:])
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return nil, fmt.Errorf("rtpengine_sock %q: no rtpengine URL", s)
	}
	out := make([]nodeDef, 0, len(fields))
	for _, f := range fields {
		d, err := parseURL(f)
		if err != nil {
			return nil, fmt.Errorf("rtpengine_sock %q: %v", s, err)
		}
		d.Set = set
		out = append(out, d)
	}
	return out, nil
}

// parseURL parses "udp:host:port[=weight]".
func parseURL(f string) (nodeDef, error) {
	d := nodeDef{Weight: 1}
	u := f
	// The weight follows the last '=' after the port; IPv6 has no '='.
	if i := strings.LastIndexByte(f, '='); i >= 0 {
		w, err := strconv.Atoi(f[i+1:])
		if err != nil || w < 0 || w > maxWeight {
			return d, fmt.Errorf("%q: weight %q is not a number from 0 to %d", f, f[i+1:], maxWeight)
		}
		d.Weight, u = w, f[:i]
	}
	d.URL = u
	lower := strings.ToLower(u)
	switch {
	case strings.HasPrefix(lower, "ws://"), strings.HasPrefix(lower, "wss://"):
		return d, fmt.Errorf("%q: websocket control (wsapi) is not supported; use udp:HOST:PORT", f)
	case strings.HasPrefix(lower, "udp6:"):
		d.Network, u = "udp6", u[5:]
	case strings.HasPrefix(lower, "udp:"):
		d.Network, u = "udp", u[4:]
	default:
		if i := strings.Index(u, ":"); i > 0 && !strings.Contains(u[:i], ".") && net.ParseIP(u[:i]) == nil && strings.Count(u, ":") > 1 {
			return d, fmt.Errorf("%q: unknown scheme %q (want udp: or udp6:)", f, u[:i])
		}
		d.Network = "udp"
	}
	i := strings.LastIndexByte(u, ':')
	if i <= 0 {
		return d, fmt.Errorf("%q: want HOST:PORT", f)
	}
	host, port := strings.Trim(u[:i], "[]"), u[i+1:]
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 {
		return d, fmt.Errorf("%q: port %q is not 1-65535", f, port)
	}
	if host == "" || strings.ContainsAny(host, " /[]") {
		return d, fmt.Errorf("%q: bad host %q", f, host)
	}
	if d.Network == "udp" && strings.Contains(host, ":") && net.ParseIP(host) != nil {
		d.Network = "udp6"
	}
	d.Addr = net.JoinHostPort(host, port)
	return d, nil
}
