package sipraw

import "strings"

// NameAddr locates the URI of a name-addr or addr-spec header value
// (Contact, Route, Record-Route, From, Refer-To): v[start:end] is the URI;
// angle reports whether it is inside <>. Without <>, the URI ends at the
// first ';' (RFC 3261 §20: the parameters belong to the header). ok is false
// when no URI can be found (a "*" Contact, an unclosed <).
func NameAddr(v string) (start, end int, angle, ok bool) {
	quoted := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			j := strings.IndexByte(v[i+1:], '>')
			if j < 0 {
				return 0, 0, false, false
			}
			return i + 1, i + 1 + j, true, j > 0
		}
	}
	if quoted {
		return 0, 0, false, false
	}
	s := strings.TrimLeft(v, " \t")
	start = len(v) - len(s)
	end = start
	for end < len(v) && v[end] != ';' && v[end] != ' ' && v[end] != '\t' {
		end++
	}
	if end == start || v[start:end] == "*" {
		return 0, 0, false, false
	}
	return start, end, false, true
}

// URIOf returns the URI of a name-addr or addr-spec value ("" if none).
func URIOf(v string) string {
	s, e, _, ok := NameAddr(v)
	if !ok {
		return ""
	}
	return v[s:e]
}

// ReplaceURI puts uri where the URI of v was, adding <> when v had none (a
// new URI may carry parameters).
func ReplaceURI(v, uri string) (string, bool) {
	s, e, angle, ok := NameAddr(v)
	if !ok {
		return "", false
	}
	if angle {
		return v[:s] + uri + v[e:], true
	}
	return v[:s] + "<" + uri + ">" + v[e:], true
}

// HeaderParam returns a header parameter (after the URI) of a name-addr
// value, e.g. the tag of From/To; "" when absent.
func HeaderParam(v, name string) string {
	_, e, angle, ok := NameAddr(v)
	if !ok {
		return ""
	}
	rest := v[e:]
	if angle && rest != "" {
		rest = rest[1:] // '>'
	}
	val, _ := Param(rest, name)
	return val
}

// Param finds name in a ";a=b;c" parameter list (any case, blanks allowed
// around the separators); a parameter without value has value "".
func Param(params, name string) (string, bool) {
	for params != "" {
		i := strings.IndexByte(params, ';')
		if i < 0 {
			return "", false
		}
		params = params[i+1:]
		j := strings.IndexByte(params, ';')
		p := params
		if j >= 0 {
			p = params[:j]
		}
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v), true
		}
		if j < 0 {
			return "", false
		}
	}
	return "", false
}

// URI is a SIP URI split into its parts, each as written.
type URI struct {
	Scheme  string // "sip", "sips", ...
	User    string // user (and password) before '@', "" if none
	Host    string // with [] for IPv6
	Port    string // "" if none
	Params  string // ";a=b;c" up to the headers
	Headers string // "?h=v" or ""
}

// ParseURI splits a SIP URI; ok is false for anything without a scheme and
// a host.
func ParseURI(s string) (URI, bool) {
	var u URI
	colon := strings.IndexByte(s, ':')
	if colon <= 0 {
		return u, false
	}
	u.Scheme = s[:colon]
	for i := 0; i < len(u.Scheme); i++ {
		c := u.Scheme[i] | 0x20
		if !(c >= 'a' && c <= 'z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return URI{}, false
		}
	}
	rest := s[colon+1:]
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		u.Headers = rest[q:]
		rest = rest[:q]
	}
	// The user part may hold ';' (user parameters), so '@' decides first.
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		u.User = rest[:at]
		rest = rest[at+1:]
	}
	hp := rest
	if sc := strings.IndexByte(rest, ';'); sc >= 0 {
		hp = rest[:sc]
		u.Params = rest[sc:]
	}
	if strings.HasPrefix(hp, "[") {
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return URI{}, false
		}
		u.Host = hp[:end+1]
		if p := hp[end+1:]; p != "" {
			if p[0] != ':' {
				return URI{}, false
			}
			u.Port = p[1:]
		}
	} else if c := strings.IndexByte(hp, ':'); c >= 0 {
		u.Host, u.Port = hp[:c], hp[c+1:]
	} else {
		u.Host = hp
	}
	if u.Host == "" || strings.ContainsAny(u.Host, " \t<>\"") {
		return URI{}, false
	}
	for i := 0; i < len(u.Port); i++ {
		if u.Port[i] < '0' || u.Port[i] > '9' {
			return URI{}, false
		}
	}
	return u, true
}

// HostPort is "host" or "host:port".
func (u URI) HostPort() string {
	if u.Port == "" {
		return u.Host
	}
	return u.Host + ":" + u.Port
}

// Param returns a URI parameter.
func (u URI) Param(name string) (string, bool) { return Param(u.Params, name) }

// Transport is the transport parameter, lower case ("" when absent).
func (u URI) Transport() string {
	t, _ := u.Param("transport")
	return strings.ToLower(t)
}

// String renders the URI again.
func (u URI) String() string {
	var b strings.Builder
	b.WriteString(u.Scheme)
	b.WriteByte(':')
	if u.User != "" {
		b.WriteString(u.User)
		b.WriteByte('@')
	}
	b.WriteString(u.HostPort())
	b.WriteString(u.Params)
	b.WriteString(u.Headers)
	return b.String()
}

// SetParam returns params with name set to value (replacing an existing
// occurrence, else appended); value "" writes the bare name.
func SetParam(params, name, value string) string {
	p := ";" + name
	if value != "" {
		p += "=" + value
	}
	var b strings.Builder
	found := false
	rest := params
	for rest != "" {
		i := strings.IndexByte(rest, ';')
		if i < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		rest = rest[i+1:]
		j := strings.IndexByte(rest, ';')
		one := rest
		if j >= 0 {
			one = rest[:j]
			rest = rest[j:]
		} else {
			rest = ""
		}
		k, _, _ := strings.Cut(one, "=")
		if strings.EqualFold(strings.TrimSpace(k), name) {
			if !found {
				b.WriteString(p)
				found = true
			}
			continue
		}
		b.WriteByte(';')
		b.WriteString(one)
	}
	if !found {
		b.WriteString(p)
	}
	return b.String()
}

// IsURIChar reports whether c may appear unescaped in a SIP URI parameter
// value or user part as written by this package (a conservative set).
func IsURIChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0
}
