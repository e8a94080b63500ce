package siputils

import (
	"strings"

	"github.com/emiago/sipgo/sip"
)

// uriParts is a URI split at the text level so that parameters can be tested
// and edited without re-rendering (and so re-ordering or re-quoting) the rest.
type uriParts struct {
	head    string // scheme:userinfo@host:port
	params  []string
	headers string // without the '?'
}

// splitURI splits a URI into head, ;params and ?headers. The user part may
// itself contain ';' and '?' (RFC 3261 user-unreserved), so the split starts
// after the '@' when the URI has a user.
func splitURI(s string) (uriParts, bool) {
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil {
		return uriParts{}, false
	}
	colon := strings.IndexByte(s, ':')
	if colon < 0 {
		return uriParts{}, false
	}
	start := colon + 1
	if u.User != "" {
		if at := strings.IndexByte(s, '@'); at >= 0 {
			start = at + 1
		}
	}
	rest := s[start:]
	var p uriParts
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		p.headers = rest[q+1:]
		rest = rest[:q]
	}
	if sc := strings.IndexByte(rest, ';'); sc >= 0 {
		for _, x := range strings.Split(rest[sc+1:], ";") {
			if x != "" {
				p.params = append(p.params, x)
			}
		}
		rest = rest[:sc]
	}
	p.head = s[:start] + rest
	return p, true
}

func (p uriParts) String() string {
	var b strings.Builder
	b.WriteString(p.head)
	for _, x := range p.params {
		b.WriteByte(';')
		b.WriteString(x)
	}
	if p.headers != "" {
		b.WriteByte('?')
		b.WriteString(p.headers)
	}
	return b.String()
}

// param finds a parameter; fold selects case-insensitive name matching.
func (p uriParts) param(name string, fold bool) (val string, hasVal, found bool, idx int) {
	for i, x := range p.params {
		k, v, eq := strings.Cut(x, "=")
		k = strings.TrimSpace(k)
		if k == name || fold && strings.EqualFold(k, name) {
			return strings.TrimSpace(v), eq && strings.TrimSpace(v) != "", true, i
		}
	}
	return "", false, false, -1
}

func (p *uriParts) remove(i int) {
	p.params = append(p.params[:i:i], p.params[i+1:]...)
}

// withDefaultScheme lets cmp_aor accept "user@host" as well as a full URI.
func withDefaultScheme(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, ':'); i > 0 {
		switch strings.ToLower(s[:i]) {
		case "sip", "sips", "tel", "tels", "urn":
			return s
		}
	}
	return "sip:" + s
}
