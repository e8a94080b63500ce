package registrar

import (
	"errors"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/luasbc/luasbc/core/msg"
)

// contactSpec is one contact of a REGISTER's Contact header fields.
type contactSpec struct {
	URI      string // without the angle brackets
	Expires  int64  // the expires parameter; -1 when absent or not a valid number
	Q        int    // q*1000; qAbsent when not given
	QBad     bool   // a q parameter that is not a qvalue (400)
	Instance string // +sip.instance, without its quotes
	RegID    int    // reg-id; 0 when absent
	RegIDBad bool   // a reg-id that is not a number 1..2^31-1 (400)
}

// qAbsent marks a contact without a q parameter.
const qAbsent = -2

// contactList is what the Contact header fields of a REGISTER say.
type contactList struct {
	Star     bool
	Contacts []contactSpec
}

// Contact parsing errors (all answered 400).
var (
	errStarMixed  = errors.New("star contact cannot be mixed with other contacts")
	errBadContact = errors.New("malformed contact")
)

// maxContacts bounds the contacts of one REGISTER: more is an attack.
const maxContactsPerRequest = 64

// parseContacts reads the values of every Contact header of a request
// (RFC 3261 §20.10 and §10.2: "*" alone, or a list of name-addr /
// addr-spec with parameters). Folding white space is allowed around
// separators; a value that cannot be read whole is an error, so that a
// registration is never saved from half a header.
func parseContacts(values []string) (contactList, error) {
	var out contactList
	for _, v := range values {
		for _, el := range msg.SplitComma(unfold(v)) {
			if el == "" {
				return out, errBadContact
			}
			if el == "*" {
				out.Star = true
				continue
			}
			c, err := parseContact(el)
			if err != nil {
				return out, err
			}
			if len(out.Contacts) >= maxContactsPerRequest {
				return out, errors.New("too many contacts in one request")
			}
			out.Contacts = append(out.Contacts, c)
		}
	}
	if out.Star && len(out.Contacts) > 0 {
		return out, errStarMixed
	}
	return out, nil
}

// unfold is msg.Unfold, trimmed.
func unfold(v string) string { return strings.TrimSpace(msg.Unfold(v)) }

func isLWS(c byte) bool { return c == ' ' || c == '\t' }

// parseContact reads one contact-param: [display-name] <URI> *(;param), or
// an addr-spec whose parameters (after the first ';') are header parameters.
func parseContact(el string) (contactSpec, error) {
	c := contactSpec{Expires: -1, Q: qAbsent}
	var uri, params string
	if lt := topLevelIndex(el, '<'); lt >= 0 {
		if err := checkDisplayName(strings.TrimSpace(el[:lt])); err != nil {
			return c, err
		}
		gt := strings.IndexByte(el[lt:], '>')
		if gt < 0 {
			return c, errBadContact
		}
		uri = el[lt+1 : lt+gt]
		params = strings.TrimLeft(el[lt+gt+1:], " \t")
		if params != "" && params[0] != ';' {
			return c, errBadContact
		}
	} else {
		uri, params, _ = strings.Cut(el, ";")
		uri = strings.TrimSpace(uri)
		if params != "" {
			params = ";" + params
		}
		if strings.ContainsAny(uri, "?\"") {
			return c, errBadContact
		}
	}
	if err := checkURI(uri); err != nil {
		return c, err
	}
	c.URI = uri
	for _, p := range splitParams(params) {
		name, val, hasVal := strings.Cut(p, "=")
		name = strings.TrimSpace(name)
		val = strings.TrimSpace(val)
		if !msg.IsToken(name) || hasVal && val == "" {
			return c, errBadContact
		}
		if strings.HasPrefix(val, "\"") {
			uq, ok := unquote(val)
			if !ok {
				return c, errBadContact
			}
			val = uq
		} else if strings.ContainsAny(val, " \t\"") {
			return c, errBadContact
		}
		switch strings.ToLower(name) {
		case "expires":
			c.Expires = parseDelta(val)
		case "q":
			if q, ok := parseQ(val); ok {
				c.Q = q
			} else {
				c.QBad = true
			}
		case "+sip.instance":
			c.Instance = val
		case "reg-id":
			if n, ok := parseRegID(val); ok {
				c.RegID = n
			} else {
				c.RegIDBad = true
			}
		}
	}
	return c, nil
}

// topLevelIndex finds b outside quoted strings.
func topLevelIndex(s string, b byte) int {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == b:
			return i
		}
	}
	return -1
}

// checkDisplayName accepts *(token LWS) or a quoted-string.
func checkDisplayName(s string) error {
	if s == "" {
		return nil
	}
	if s[0] == '"' {
		if _, ok := unquote(s); !ok {
			return errBadContact
		}
		return nil
	}
	for _, w := range strings.Fields(s) {
		if !msg.IsToken(w) {
			return errBadContact
		}
	}
	return nil
}

// unquote reads a whole quoted-string with backslash escapes.
func unquote(s string) (string, bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 >= len(s)-1 {
				return "", false
			}
			i++
			c = s[i]
		case c == '"':
			return "", false
		}
		if c < ' ' && c != '\t' || c == 0x7f {
			return "", false
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

// splitParams splits ";a=1;b="x;y"" into its parameters, honouring quotes.
func splitParams(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	quoted, start := false, 1
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == ';' && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// checkURI accepts a contact URI that can later be a Request-URI: a scheme,
// no white space or control characters, and for sip/sips a host.
func checkURI(uri string) error {
	if uri == "" {
		return errBadContact
	}
	for i := 0; i < len(uri); i++ {
		if c := uri[i]; c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '"' {
			return errBadContact
		}
	}
	scheme, rest, ok := strings.Cut(uri, ":")
	if !ok || rest == "" || !isScheme(scheme) {
		return errBadContact
	}
	if s := strings.ToLower(scheme); s == "sip" || s == "sips" {
		var u sip.Uri
		if err := sip.ParseUri(uri, &u); err != nil || u.Host == "" {
			return errBadContact
		}
	}
	return nil
}

func isScheme(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// maxDelta is the largest delta-seconds kept (RFC 3261 §20.19: 2^32-1).
const maxDelta = 1<<32 - 1

// parseDelta reads delta-seconds; -1 when s is not one. A number past
// 2^32-1 is refused rather than clamped, as Kamailio does (the default
// expiry then applies).
func parseDelta(s string) int64 {
	if s == "" || len(s) > 10 {
		return -1
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return -1
		}
		n = n*10 + int64(s[i]-'0')
	}
	if n > maxDelta {
		return -1
	}
	return n
}

// parseQ reads a qvalue (RFC 3261 §25.1: "0" ["." 0*3DIGIT] / "1" ["."
// 0*3("0")]) as q*1000.
func parseQ(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	whole, frac, _ := strings.Cut(s, ".")
	if whole != "0" && whole != "1" || len(frac) > 3 {
		return 0, false
	}
	q := int(whole[0]-'0') * 1000
	scale := 100
	for i := 0; i < len(frac); i++ {
		if frac[i] < '0' || frac[i] > '9' {
			return 0, false
		}
		q += int(frac[i]-'0') * scale
		scale /= 10
	}
	if q > 1000 {
		return 0, false
	}
	return q, true
}

// parseRegID reads a reg-id (RFC 5626: 1..2^31-1).
func parseRegID(s string) (int, bool) {
	if s == "" || len(s) > 10 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	if n < 1 || n > 1<<31-1 {
		return 0, false
	}
	return n, true
}
