package transport

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/luasbc/luasbc/core/msg"
)

// maxAliases bounds the aliases one connection may collect.
const maxAliases = 8

// AddAlias makes stream connection id reachable at the remote IP and port
// as well (Kamailio's add_tcp_alias): a request to the Contact port of a
// client whose connection comes from another port then reuses the
// connection. It reports false when the connection is gone.
func (l *Layer) AddAlias(id uint64, port uint16) bool {
	l.mu.Lock()
	c := l.conns[id]
	l.mu.Unlock()
	if c == nil || port == 0 {
		return false
	}
	l.addAlias(c, netip.AddrPortFrom(c.remote.Addr(), port))
	return true
}

func (l *Layer) addAlias(c *conn, a netip.AddrPort) {
	if a == c.remote {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.conns[c.id]; !ok {
		return
	}
	for _, x := range c.aliases {
		if x == a {
			l.byAddr[connKey{c.proto, a}] = c
			return
		}
	}
	if len(c.aliases) >= maxAliases {
		old := c.aliases[0]
		if k := (connKey{c.proto, old}); l.byAddr[k] == c {
			delete(l.byAddr, k)
		}
		c.aliases = c.aliases[1:]
	}
	c.aliases = append(c.aliases, a)
	// The newest connection wins an alias: an older one holding it is
	// likely a stale NAT binding of the same client.
	l.byAddr[connKey{c.proto, a}] = c
}

// viaAlias returns the sent-by port of the top Via of a request when that
// Via carries the "alias" parameter.
func viaAlias(data []byte) (int, bool) {
	if len(data) < 4 || string(data[:4]) == "SIP/" {
		return 0, false // a reply
	}
	head := string(data)
	if end := strings.Index(head, "\r\n\r\n"); end >= 0 {
		head = head[:end+4]
	}
	hdrs, _, _, err := msg.IndexHeaders(head, nil)
	if err != nil {
		return 0, false
	}
	for i := range hdrs {
		if hdrs[i].Type != msg.HVia {
			continue
		}
		v := hdrs[i].Value
		if c := strings.IndexByte(v, ','); c >= 0 {
			v = v[:c]
		}
		parts := strings.Split(v, ";")
		found := false
		for _, p := range parts[1:] {
			if strings.EqualFold(strings.TrimSpace(p), "alias") {
				found = true
			}
		}
		if !found {
			return 0, false
		}
		return sentByPort(parts[0])
	}
	return 0, false
}

// sentByPort is the port of "SIP/2.0/TCP host:port".
func sentByPort(v string) (int, bool) {
	f := strings.Fields(v)
	if len(f) < 2 {
		return 0, false
	}
	hp := strings.Join(f[1:], "")
	i := strings.LastIndexByte(hp, ':')
	if i < 0 || strings.HasSuffix(hp, "]") {
		return 0, false
	}
	p, err := strconv.Atoi(hp[i+1:])
	if err != nil || p <= 0 || p > 65535 {
		return 0, false
	}
	return p, true
}
