package siputils

import (
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

func rc(ok bool) int {
	if ok {
		return 1
	}
	return -1
}

func hasToTag(c *kemi.Ctx) int {
	to := c.M.SIP.To()
	if to == nil {
		return -1
	}
	t, ok := to.Params.Get("tag")
	return rc(ok && t != "")
}

// viaCount counts Via values across every Via header line.
func viaCount(m *msg.Msg) int {
	n := 0
	for i := range m.Hdrs {
		if m.Hdrs[i].Type == msg.HVia {
			n += len(msg.SplitComma(m.Hdrs[i].Value))
		}
	}
	return n
}

// firstHop estimates whether this server is the first hop after the
// originator: a request with a single Via; a reply whose top Record-Route is
// this server (mode 0 also needs an IP address there and refuses a reply
// coming from that very address, a local loop).
func firstHop(c *kemi.Ctx, mode int) int {
	m := c.M
	if m.Req != nil {
		return rc(viaCount(m) <= 1)
	}
	rr, ok := m.HeaderType(msg.HRecordRoute)
	if !ok {
		return 1
	}
	first := msg.SplitComma(rr)[0]
	if i := strings.IndexByte(first, '<'); i >= 0 {
		j := strings.IndexByte(first[i:], '>')
		if j < 0 {
			return -1
		}
		first = first[i+1 : i+j]
	}
	u, okU := parseURI(first)
	if !okU {
		return -1
	}
	var ip netip.Addr
	if mode == 0 {
		a, err := netip.ParseAddr(strings.Trim(u.Host, "[]"))
		if err != nil {
			return -1
		}
		ip = a.Unmap()
	}
	if !c.Core.IsMyself(u.Host, u.Port) {
		return -1
	}
	if mode == 0 && ip == m.Src.Addr().Unmap() {
		port := u.Port
		if port == 0 {
			port = 5060
		}
		proto := msg.UDP
		if t, ok := u.UriParams.Get("transport"); ok {
			proto, _ = msg.ParseProto(t)
		}
		if int(m.Src.Port()) == port && proto == m.Proto {
			return -1
		}
	}
	return 1
}

func isURI(s string) int {
	u := &sip.Uri{}
	if err := sip.ParseUri(strings.TrimSpace(s), u); err != nil || s == "" {
		return -1
	}
	switch strings.ToLower(u.Scheme) {
	case "sip", "sips":
		return rc(u.Host != "")
	case "tel", "tels", "urn":
		return rc(u.Raw() != "")
	}
	return -1
}

// Character-class tests keep Kamailio's codes: -2 for an empty or
// non-matching value, -3 for a character outside the class.
func isTelNumber(s string) int {
	if s == "" {
		return -2
	}
	i := 0
	if s[0] == '+' {
		if len(s) < 2 || s[1] < '1' || s[1] > '9' {
			return -2
		}
		i = 2
	}
	for ; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return -2
		}
	}
	return 1
}

func isNumeric(s string) int {
	if s == "" {
		return -2
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return -2
		}
	}
	return 1
}

func alnum(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

func isAlphanumEx(s, extra string) int {
	if s == "" {
		return -2
	}
	for i := 0; i < len(s); i++ {
		if !alnum(s[i]) && strings.IndexByte(extra, s[i]) < 0 {
			return -3
		}
	}
	return 1
}

// isUser compares the user part of the credentials' username. luasbc does
// not record which credentials were authorized, so the first Authorization
// (else Proxy-Authorization) header is used.
func isUser(c *kemi.Ctx, user string) int {
	v := c.GetPV("$au")
	if v.IsNil() || v.Text() == "" {
		return -1
	}
	return rc(v.Text() == user)
}

// hdrDateCheck is 1 when a Date header exists, parses, and is not older than
// tdiff seconds.
func hdrDateCheck(c *kemi.Ctx, tdiff int) int {
	v, ok := c.M.Header("Date")
	if !ok {
		return -1
	}
	t, err := http.ParseTime(strings.TrimSpace(v))
	if err != nil {
		return -1
	}
	if time.Now().Unix() > t.Unix()+int64(tdiff) {
		return -1
	}
	return 1
}
