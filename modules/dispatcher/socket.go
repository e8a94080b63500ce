package dispatcher

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/luasbc/luasbc/core/msg"
)

// sockRef is a local socket named by a destination's socket= or sockname=
// attribute or by ds_default_socket. The list is first loaded before the
// listeners open, so the name is checked against the configured listen
// addresses at load and bound to the open socket when first used.
type sockRef struct {
	spec  string // as written
	proto msg.Proto
	addr  netip.AddrPort
	sock  atomic.Pointer[msg.Socket]
}

// parseSockSpec reads "proto:ip:port" (IPv6 in brackets); the port defaults
// to 5060 (5061 for tls), as Kamailio's parse_phostport.
func parseSockSpec(s string) (*sockRef, error) {
	p, rest, ok := strings.Cut(strings.TrimSpace(s), ":")
	proto, known := msg.ParseProto(p)
	if !ok || !known {
		return nil, fmt.Errorf("socket %q: want proto:ip:port", s)
	}
	host, port := rest, ""
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return nil, fmt.Errorf("socket %q: missing ]", s)
		}
		host, port = rest[1:end], strings.TrimPrefix(rest[end+1:], ":")
	} else if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		host, port = rest[:i], rest[i+1:]
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil, fmt.Errorf("socket %q: %q is not an IP address", s, host)
	}
	n := 5060
	if proto == msg.TLS {
		n = 5061
	}
	if port != "" {
		if n, err = strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("socket %q: bad port %q", s, port)
		}
	}
	return &sockRef{spec: s, proto: proto, addr: netip.AddrPortFrom(ip.Unmap(), uint16(n))}, nil
}

// localSocket describes a listening socket for the load-time check.
type localSocket struct {
	proto msg.Proto
	addr  netip.AddrPort // port 0: configured as "any port" (ephemeral)
}

// matches reports whether r names the local socket l.
func (r *sockRef) matches(l localSocket) bool {
	if r.proto != l.proto || r.addr.Addr() != l.addr.Addr() {
		return false
	}
	return l.addr.Port() == 0 || l.addr.Port() == r.addr.Port()
}

// get returns the open socket r names, nil if none is open (yet).
func (r *sockRef) get(open []*msg.Socket) *msg.Socket {
	if s := r.sock.Load(); s != nil {
		return s
	}
	for _, s := range open {
		if s.Proto == r.proto && s.Addr == r.addr {
			r.sock.Store(s)
			return s
		}
	}
	return nil
}
