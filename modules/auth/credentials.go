package auth

import (
	"errors"
	"strconv"
	"strings"
)

// Credentials is a parsed Digest Authorization or Proxy-Authorization value
// (RFC 3261 §25.1 credentials, RFC 7616 §3.4).
type Credentials struct {
	Username     string // as sent; may be "user@domain"
	User, Domain string // Username split at its first '@' (Domain "" without one)
	Realm        string
	Nonce        string
	URI          string
	Response     string // hex, as sent
	Alg          *Algorithm
	AlgParam     string // the algorithm parameter as sent ("" when absent)
	CNonce       string
	Opaque       string
	QOP          string // "auth", "auth-int" or "" (RFC 2069 form)
	NC           string // as sent, 8 hex digits ("" without qop)
	NCValue      uint32
	realmSeen    bool
}

// Parser limits. A value beyond them is refused, not truncated: nothing a
// real user agent sends comes close, and the limits bound the work an
// attacker can cause per header.
const (
	maxCredLen    = 4096 // the whole header value
	maxCredParams = 24   // parameters, known and unknown
	maxParamValue = 1024 // one decoded value
	maxNonceLen   = 256
	maxUserLen    = 256
)

// Errors of ParseCredentials. ErrNotDigest marks another scheme (Basic,
// Bearer...): such a header is not ours and is skipped, while every other
// error makes the credentials unusable.
var (
	ErrNotDigest     = errors.New("not Digest credentials")
	errTooLong       = errors.New("credentials too long")
	errSyntax        = errors.New("malformed credentials")
	errDuplicate     = errors.New("duplicated parameter in credentials")
	errTooManyParams = errors.New("too many parameters in credentials")
	errMissing       = errors.New("credentials lack username, realm, nonce, uri or response")
	errAlgorithm     = errors.New("unsupported digest algorithm")
	errQOP           = errors.New("unsupported qop value")
	errNC            = errors.New("nonce count is not 8 hex digits")
	errCNonce        = errors.New("qop without cnonce or nc")
	errResponse      = errors.New("response is not a hash of the algorithm")
	errUserhash      = errors.New("userhash is not supported")
)

// ParseCredentials parses a credentials header value strictly: the scheme,
// then comma-separated name=value pairs where a value is a token or a
// quoted-string, with optional linear white space around '=' and ','.
// Refused: empty or trailing list elements, a parameter given twice,
// unbalanced quotes, control characters (other than LWS folding outside
// quotes), values beyond the limits above, and the Digest fields being
// missing or out of their grammar (response of the wrong length, nc not
// 8 hex digits, qop without cnonce, unknown algorithm or qop).
func ParseCredentials(v string) (*Credentials, error) {
	if len(v) > maxCredLen {
		return nil, errTooLong
	}
	p := credParser{s: v}
	scheme := p.token()
	if scheme == "" {
		return nil, errSyntax
	}
	if !strings.EqualFold(scheme, "Digest") {
		return nil, ErrNotDigest
	}
	if !p.lws() {
		return nil, errSyntax
	}
	c := &Credentials{}
	var seen [maxCredParams]string
	n := 0
	var qop, nc, alg, userhash string
	var haveQOP, haveNC, haveAlg bool
	for {
		name := p.token()
		if name == "" {
			return nil, errSyntax
		}
		p.lws()
		if !p.eat('=') {
			return nil, errSyntax
		}
		p.lws()
		val, err := p.value()
		if err != nil {
			return nil, err
		}
		lname := strings.ToLower(name)
		for _, s := range seen[:n] {
			if s == lname {
				return nil, errDuplicate
			}
		}
		if n == len(seen) {
			return nil, errTooManyParams
		}
		seen[n] = lname
		n++
		switch lname {
		case "username":
			c.Username = val
		case "realm":
			c.Realm, c.realmSeen = val, true
		case "nonce":
			c.Nonce = val
		case "uri":
			c.URI = val
		case "response":
			c.Response = val
		case "algorithm":
			alg, haveAlg = val, true
		case "cnonce":
			c.CNonce = val
		case "opaque":
			c.Opaque = val
		case "qop":
			qop, haveQOP = val, true
		case "nc":
			nc, haveNC = val, true
		case "userhash":
			userhash = val
		}
		p.lws()
		if p.done() {
			break
		}
		if !p.eat(',') {
			return nil, errSyntax
		}
		p.lws()
		if p.done() {
			return nil, errSyntax // trailing comma
		}
	}
	if err := c.complete(qop, nc, alg, userhash, haveQOP, haveNC, haveAlg); err != nil {
		return nil, err
	}
	return c, nil
}

// complete checks the Digest fields and fills the derived ones.
func (c *Credentials) complete(qop, nc, alg, userhash string, haveQOP, haveNC, haveAlg bool) error {
	if c.Username == "" || c.Nonce == "" || c.URI == "" || c.Response == "" || !c.hasRealm() {
		return errMissing
	}
	if strings.EqualFold(userhash, "true") {
		return errUserhash
	}
	if len(c.Username) > maxUserLen || len(c.Nonce) > maxNonceLen {
		return errTooLong
	}
	c.Alg = AlgMD5
	if haveAlg {
		c.AlgParam = alg
		if c.Alg = AlgorithmByName(alg); c.Alg == nil {
			return errAlgorithm
		}
	}
	if len(c.Response) != c.Alg.HexLen || !isHex(c.Response) {
		return errResponse
	}
	switch {
	case haveQOP:
		switch {
		case strings.EqualFold(qop, "auth"):
			c.QOP = "auth"
		case strings.EqualFold(qop, "auth-int"):
			c.QOP = "auth-int"
		default:
			return errQOP
		}
		if !haveNC || c.CNonce == "" {
			return errCNonce
		}
		if len(nc) != 8 || !isHex(nc) {
			return errNC
		}
		v, _ := strconv.ParseUint(nc, 16, 32)
		c.NC, c.NCValue = nc, uint32(v)
	case haveNC:
		return errSyntax // nc only goes with qop (RFC 7616 §3.4)
	case c.Alg.Sess && c.CNonce == "":
		return errCNonce // -sess hashes the cnonce into HA1
	}
	c.User, c.Domain, _ = strings.Cut(c.Username, "@")
	return nil
}

// hasRealm is set by the parser through realmSeen; an empty realm="" is
// present (and simply never matches a configured realm).
func (c *Credentials) hasRealm() bool { return c.realmSeen }

// String renders the credentials in canonical form (used by the fuzz
// round-trip and by tests).
func (c *Credentials) String() string {
	var b strings.Builder
	b.WriteString("Digest username=" + quote(c.Username) + ", realm=" + quote(c.Realm) +
		", nonce=" + quote(c.Nonce) + ", uri=" + quote(c.URI) + ", response=" + quote(c.Response))
	if c.AlgParam != "" {
		b.WriteString(", algorithm=" + c.Alg.Name)
	}
	if c.CNonce != "" {
		b.WriteString(", cnonce=" + quote(c.CNonce))
	}
	if c.Opaque != "" {
		b.WriteString(", opaque=" + quote(c.Opaque))
	}
	if c.QOP != "" {
		b.WriteString(", qop=" + c.QOP + ", nc=" + c.NC)
	}
	return b.String()
}

// quote renders s as a quoted-string, escaping '"' and '\'.
func quote(s string) string {
	if !strings.ContainsAny(s, "\"\\") {
		return "\"" + s + "\""
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return s != ""
}

// credParser walks a credentials value.
type credParser struct {
	s string
	i int
}

func (p *credParser) done() bool { return p.i >= len(p.s) }

func (p *credParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// lws skips linear white space: SP, HTAB and CRLF followed by SP or HTAB
// (a folded line). It reports whether anything was skipped.
func (p *credParser) lws() bool {
	start := p.i
	for p.i < len(p.s) {
		switch c := p.s[p.i]; {
		case c == ' ' || c == '\t':
			p.i++
		case c == '\r' && p.i+2 < len(p.s) && p.s[p.i+1] == '\n' && (p.s[p.i+2] == ' ' || p.s[p.i+2] == '\t'):
			p.i += 3
		default:
			return p.i > start
		}
	}
	return p.i > start
}

// token reads an RFC 3261 token ("" if none).
func (p *credParser) token() string {
	start := p.i
	for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// value reads a token or a quoted-string (unescaped).
func (p *credParser) value() (string, error) {
	if !p.eat('"') {
		t := p.token()
		if t == "" {
			return "", errSyntax
		}
		if len(t) > maxParamValue {
			return "", errTooLong
		}
		return t, nil
	}
	start := p.i
	var b []byte // only allocated when an escape is seen
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			var out string
			if b == nil {
				out = p.s[start:p.i]
			} else {
				out = string(b)
			}
			p.i++
			if len(out) > maxParamValue {
				return "", errTooLong
			}
			return out, nil
		case c == '\\':
			// quoted-pair: an escaped control character is refused like
			// a literal one, so no value ever carries CR, LF or NUL.
			if p.i+1 >= len(p.s) {
				return "", errSyntax
			}
			e := p.s[p.i+1]
			if e < ' ' && e != '\t' || e == 0x7f {
				return "", errSyntax
			}
			if b == nil {
				b = append(make([]byte, 0, len(p.s)-start), p.s[start:p.i]...)
			}
			b = append(b, e)
			p.i += 2
		case c < ' ' && c != '\t' || c == 0x7f:
			return "", errSyntax // control characters, CR and LF included
		default:
			if b != nil {
				b = append(b, c)
			}
			p.i++
		}
	}
	return "", errSyntax // unbalanced quote
}

// isTokenChar: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~".
func isTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("-.!%*_+`'~", c) >= 0
}
