package rr

import (
	"strconv"
	"strings"

	"github.com/luasbc/luasbc/core/msg"
)

// rawURI is a SIP URI split into its textual parts, as written: nothing is
// unescaped or re-rendered, so what is copied on is what was received.
type rawURI struct {
	scheme string
	user   string // without the password
	host   string // IPv6 references keep their brackets
	port   string // "" when absent
	portNo int    // 0 when absent
	params string // URI parameters without the leading ';' (headers cut off)
}

// splitURI splits "scheme:[user[:pw]@]host[:port][;params][?headers]".
func splitURI(s string) (rawURI, bool) {
	var u rawURI
	colon := strings.IndexByte(s, ':')
	if colon <= 0 {
		return u, false
	}
	u.scheme, s = s[:colon], s[colon+1:]
	if q := strings.IndexByte(s, '?'); q >= 0 {
		s = s[:q]
	}
	// The user part cannot hold an unescaped '@' (it may hold ';'): the
	// first '@' ends it.
	if at := strings.IndexByte(s, '@'); at >= 0 {
		u.user = s[:at]
		if pw := strings.IndexByte(u.user, ':'); pw >= 0 {
			u.user = u.user[:pw]
		}
		s = s[at+1:]
	}
	hp := s
	if sc := strings.IndexByte(s, ';'); sc >= 0 {
		hp, u.params = s[:sc], s[sc+1:]
	}
	if strings.HasPrefix(hp, "[") {
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return u, false
		}
		u.host = hp[:end+1]
		rest := hp[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return u, false
			}
			u.port = rest[1:]
		}
	} else if c := strings.LastIndexByte(hp, ':'); c >= 0 {
		u.host, u.port = hp[:c], hp[c+1:]
	} else {
		u.host = hp
	}
	if u.host == "" {
		return u, false
	}
	if u.port != "" {
		n, err := strconv.Atoi(u.port)
		if err != nil || n <= 0 || n > 65535 {
			return u, false
		}
		u.portNo = n
	}
	return u, true
}

// proto is the transport the URI names by its transport parameter
// (ProtoNone when it names none or an unknown one).
func (u rawURI) proto() msg.Proto {
	if t, ok := paramValue(u.params, "transport", false); ok {
		if p, ok := msg.ParseProto(t); ok {
			return p
		}
	}
	return msg.ProtoNone
}

// forEachParam calls f with the name and value of every ';'-separated
// parameter of params (blanks around both trimmed, quotes kept), stopping
// when f returns false. A ';' inside double quotes does not separate.
func forEachParam(params string, f func(name, value string, hasValue bool) bool) {
	start, quoted := 0, false
	for i := 0; i <= len(params); i++ {
		if i < len(params) {
			switch c := params[i]; {
			case c == '\\' && quoted:
				if i+1 < len(params) {
					i++
				}
				continue
			case c == '"':
				quoted = !quoted
				continue
			case c != ';' || quoted:
				continue
			}
		}
		p := params[start:min(i, len(params))]
		start = i + 1
		name, value, hasValue := strings.Cut(p, "=")
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !f(name, strings.TrimSpace(value), hasValue) {
			return
		}
	}
}

// hasParam reports whether params holds a parameter named name (any case),
// with or without a value: how Kamailio finds "lr" and "r2".
func hasParam(params, name string) bool {
	found := false
	forEachParam(params, func(n, _ string, _ bool) bool {
		found = strings.EqualFold(n, name)
		return !found
	})
	return found
}

// paramValue returns the value of parameter name (surrounding quotes
// removed); caseSensitive matches the name exactly, as Kamailio's
// get_route_param does.
func paramValue(params, name string, caseSensitive bool) (string, bool) {
	var val string
	found := false
	forEachParam(params, func(n, v string, _ bool) bool {
		if n == name || !caseSensitive && strings.EqualFold(n, name) {
			if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
				v = v[1 : len(v)-1]
			}
			val, found = v, true
			return false
		}
		return true
	})
	return val, found
}

// nameAddrURI returns the URI of a name-addr ("Name" <uri>;params) or, for
// a bare addr-spec, the text up to its header parameters.
func nameAddrURI(v string) string {
	if lt := strings.IndexByte(v, '<'); lt >= 0 {
		if gt := strings.IndexByte(v[lt:], '>'); gt > 0 {
			return strings.TrimSpace(v[lt+1 : lt+gt])
		}
		return strings.TrimSpace(v[lt+1:])
	}
	return strings.TrimSpace(v)
}

// maddrURI applies a maddr parameter as Kamailio does for a next hop:
// "sip:" maddr [":" port]; uri itself when it has none.
func maddrURI(uri string, u rawURI) string {
	ma, ok := paramValue(u.params, "maddr", false)
	if !ok || ma == "" {
		return uri
	}
	out := "sip:" + ma
	if u.port != "" {
		out += ":" + u.port
	}
	return out
}
