package nathelper

import (
	"strconv"
	"strings"
)

// sipURI is a sip:/sips: URI split at the text level, so that the host,
// port and parameters can be replaced without re-rendering (and so
// re-ordering or re-escaping) the rest of what the user agent wrote.
type sipURI struct {
	scheme   string   // as written ("sip", "SIPS")
	userinfo string   // "alice:pw@" with its '@', or ""
	host     string   // as written; IPv6 keeps its brackets
	port     string   // digits, "" when absent
	params   []string // "name" or "name=value", without the ';'
	headers  string   // after '?', without it; "" when absent
}

// unsafeURIByte reports bytes that never belong in a URI we splice into a
// header or install as the R-URI: white space, controls and the characters
// that end or open a name-addr or a quoted string.
func unsafeURIByte(c byte) bool {
	return c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '"' || c == ','
}

// parseSIPURI splits s. It refuses anything but a sip:/sips: URI with a
// host, a port of 1-65535 when present, and no unsafe bytes.
func parseSIPURI(s string) (sipURI, bool) {
	var u sipURI
	for i := 0; i < len(s); i++ {
		if unsafeURIByte(s[i]) {
			return u, false
		}
	}
	colon := strings.IndexByte(s, ':')
	if colon < 0 {
		return u, false
	}
	u.scheme = s[:colon]
	if !strings.EqualFold(u.scheme, "sip") && !strings.EqualFold(u.scheme, "sips") {
		return u, false
	}
	rest := s[colon+1:]
	// As sipgo reads it: the user part ends at the first '@' unless an IPv6
	// host starts first. The user part may hold ';' and '?' (RFC 3261
	// user-unreserved), so the parameters are looked for after it.
	if at := strings.IndexByte(rest, '@'); at >= 0 {
		if br := strings.IndexByte(rest, '['); br < 0 || br > at {
			u.userinfo, rest = rest[:at+1], rest[at+1:]
		}
	}
	// A second '@' (in a parameter, or after an IPv6 host) would move the
	// user/host boundary once the host is replaced: refuse it.
	if strings.IndexByte(rest, '@') >= 0 {
		return u, false
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		u.headers, rest = rest[q+1:], rest[:q]
		if u.headers == "" {
			return u, false
		}
	}
	hostport := rest
	if sc := strings.IndexByte(rest, ';'); sc >= 0 {
		hostport = rest[:sc]
		for _, p := range strings.Split(rest[sc+1:], ";") {
			if p == "" {
				return u, false
			}
			u.params = append(u.params, p)
		}
	}
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return u, false
		}
		u.host, hostport = hostport[:end+1], hostport[end+1:]
		if hostport != "" && hostport[0] != ':' {
			return u, false
		}
		if hostport != "" {
			u.port = hostport[1:]
			if u.port == "" {
				return u, false
			}
		}
	} else {
		h, p, hasPort := strings.Cut(hostport, ":")
		u.host, u.port = h, p
		if hasPort && p == "" {
			return u, false
		}
	}
	if !validHost(u.host) {
		return u, false
	}
	if u.port != "" {
		if n, err := strconv.Atoi(u.port); err != nil || n < 1 || n > 65535 || u.port[0] == '+' || u.port[0] == '-' {
			return u, false
		}
	}
	return u, true
}

// validHost accepts a bracketed IPv6 address or a name / IPv4 address made
// of letters, digits, '-', '.' and '_' (seen in the wild).
func validHost(h string) bool {
	if strings.HasPrefix(h, "[") {
		ip, ok := parseHostIP(h)
		return ok && ip.Is6()
	}
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

func (u sipURI) String() string {
	var b strings.Builder
	b.WriteString(u.scheme)
	b.WriteByte(':')
	b.WriteString(u.userinfo)
	b.WriteString(u.host)
	if u.port != "" {
		b.WriteByte(':')
		b.WriteString(u.port)
	}
	for _, p := range u.params {
		b.WriteByte(';')
		b.WriteString(p)
	}
	if u.headers != "" {
		b.WriteByte('?')
		b.WriteString(u.headers)
	}
	return b.String()
}

// portNum is the port, 0 when the URI has none.
func (u sipURI) portNum() int {
	n, _ := strconv.Atoi(u.port)
	return n
}

// param finds a parameter by name (case-insensitive, RFC 3261 §19.1.4).
// With last the last occurrence is returned. idx is -1 when absent.
func (u sipURI) param(name string, last bool) (val string, idx int) {
	idx = -1
	for i, p := range u.params {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), name) {
			val, idx = strings.TrimSpace(v), i
			if !last {
				break
			}
		}
	}
	return val, idx
}

// withoutParam returns a copy without parameter i.
func (u sipURI) withoutParam(i int) sipURI {
	ps := make([]string, 0, len(u.params))
	ps = append(ps, u.params[:i]...)
	u.params = append(ps, u.params[i+1:]...)
	return u
}

// withoutParams returns a copy without any parameter named name.
func (u sipURI) withoutParams(name string) sipURI {
	ps := make([]string, 0, len(u.params))
	for _, p := range u.params {
		k, _, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(k), name) {
			ps = append(ps, p)
		}
	}
	u.params = ps
	return u
}

// withParam returns a copy with ";p" appended to the parameters (before any
// headers, where URI parameters belong).
func (u sipURI) withParam(p string) sipURI {
	ps := make([]string, 0, len(u.params)+1)
	u.params = append(append(ps, u.params...), p)
	return u
}

// withFirstParam returns a copy with ";p" as the first parameter.
func (u sipURI) withFirstParam(p string) sipURI {
	ps := make([]string, 0, len(u.params)+1)
	u.params = append(append(ps, p), u.params...)
	return u
}

// transport is the value of the transport parameter, lower-cased ("" when absent).
func (u sipURI) transport() string {
	v, _ := u.param("transport", false)
	return strings.ToLower(v)
}
