package sanity

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// The parsers here read the raw header values kept by the message index. The
// sipgo parser accepts most of RFC 4475's invalid messages and normalises
// what it parses, so judging syntax from its structures would pass garbage.
// They validate rather than decode, and must survive any input
// (FuzzSanity exercises them).

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlnum(c byte) bool { return isAlpha(c) || isDigit(c) }
func isHex(c byte) bool   { return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'f' }

// isTokenChar: RFC 3261 token.
func isTokenChar(c byte) bool {
	return isAlnum(c) || strings.IndexByte("-.!%*_+`'~", c) >= 0
}

// isUnreserved: RFC 3261 unreserved (alphanum / mark).
func isUnreserved(c byte) bool {
	return isAlnum(c) || strings.IndexByte("-_.!~*'()", c) >= 0
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// parseUint32 accepts 1*DIGIT up to 2^32-1: RFC 3261 bounds CSeq and
// delta-seconds to 32 bits, and anything longer is an overflow attempt.
func parseUint32(s string) (uint64, bool) {
	if !isDigits(s) {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		n = n*10 + uint64(s[i]-'0')
		if n > 1<<32-1 {
			return 0, false
		}
	}
	return n, true
}

// validChars reports whether s is made of unreserved characters, valid
// escapes and the bytes in extra.
func validChars(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
			i += 2
		case isUnreserved(c), strings.IndexByte(extra, c) >= 0:
		default:
			return false
		}
	}
	return true
}

// unfold turns header folding (CRLF or LF followed by white space, all the
// index leaves inside a value) into spaces so LWS rules apply uniformly. A
// lone CR stays and fails the character checks.
func unfold(v string) string {
	if strings.IndexByte(v, '\n') < 0 {
		return v
	}
	b := []byte(v)
	for i := range b {
		if b[i] == '\n' || b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n' {
			b[i] = ' '
		}
	}
	return string(b)
}

func isLWS(c byte) bool { return c == ' ' || c == '\t' }

func trimLWS(s string) string { return strings.Trim(s, " \t") }

func skipLWS(s string) string { return strings.TrimLeft(s, " \t") }

// short quotes a value for a log line without letting a hostile message
// fill the log.
func short(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// URI syntax (RFC 3261 §19.1, §25.1; RFC 3966 for tel, RFC 8141 for urn).

const (
	userExtra   = "&=+$,;?/"
	passExtra   = "&=+$,"
	paramExtra  = "[]/:&+$"
	headerExtra = "[]/?:+$"
)

// validateURI checks a URI as Kamailio's parser would accept it: sip, sips,
// tel, tels and urn, nothing else. allowHeaders is false for the R-URI,
// where RFC 3261 Table 1 forbids the ?headers part.
func validateURI(s string, allowHeaders bool) error {
	colon := strings.IndexByte(s, ':')
	if colon <= 0 {
		return errors.New("no URI scheme")
	}
	scheme := s[:colon]
	if !isAlpha(scheme[0]) {
		return errors.New("bad URI scheme")
	}
	for i := 1; i < len(scheme); i++ {
		if c := scheme[i]; !isAlnum(c) && c != '+' && c != '-' && c != '.' {
			return errors.New("bad URI scheme")
		}
	}
	rest := s[colon+1:]
	switch strings.ToLower(scheme) {
	case "sip", "sips":
		return validateSIPURI(rest, allowHeaders)
	case "tel", "tels":
		return validateTelURI(rest)
	case "urn":
		return validateURN(rest)
	}
	return fmt.Errorf("unsupported URI scheme %s", short(scheme))
}

func validateSIPURI(rest string, allowHeaders bool) error {
	if rest == "" {
		return errors.New("empty SIP URI")
	}
	// '@' appears in no other part of a SIP URI unescaped, so the first one
	// ends the userinfo even when the user contains ';' or '?'.
	hostPart := rest
	if at := strings.IndexByte(rest, '@'); at >= 0 {
		if strings.IndexByte(rest[at+1:], '@') >= 0 {
			return errors.New("more than one @ in URI")
		}
		user, pass, hasPass := strings.Cut(rest[:at], ":")
		if user == "" {
			return errors.New("empty user part")
		}
		if !validChars(user, userExtra) {
			return errors.New("bad character in user part")
		}
		if hasPass && !validChars(pass, passExtra) {
			return errors.New("bad character in password")
		}
		hostPart = rest[at+1:]
	}
	hp, tail := hostPart, ""
	if i := strings.IndexAny(hostPart, ";?"); i >= 0 {
		hp, tail = hostPart[:i], hostPart[i:]
	}
	if err := validateHostPort(hp); err != nil {
		return err
	}
	params, headers, hasHeaders := strings.Cut(tail, "?")
	for _, p := range strings.Split(params, ";") {
		// Empty parameters (";;" or a trailing ';') are tolerated: common in
		// the wild and harmless.
		if p == "" {
			continue
		}
		name, val, hasVal := strings.Cut(p, "=")
		if name == "" || !validChars(name, paramExtra) || hasVal && (val == "" || !validChars(val, paramExtra)) {
			return fmt.Errorf("bad URI parameter %s", short(p))
		}
	}
	if !hasHeaders {
		return nil
	}
	if !allowHeaders {
		return errors.New("headers not allowed in this URI")
	}
	for _, h := range strings.Split(headers, "&") {
		name, val, ok := strings.Cut(h, "=")
		if !ok || name == "" || !validChars(name, headerExtra) || !validChars(val, headerExtra) {
			return fmt.Errorf("bad URI header %s", short(h))
		}
	}
	return nil
}

// validateHostPort checks host [":" port] with host a hostname, an IPv4
// address or a bracketed IPv6 address.
func validateHostPort(hp string) error {
	if hp == "" {
		return errors.New("empty host")
	}
	host, port, hasPort := hp, "", false
	if hp[0] == '[' {
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return errors.New("unterminated IPv6 reference")
		}
		host = hp[:end+1]
		if r := hp[end+1:]; r != "" {
			if r[0] != ':' {
				return errors.New("garbage after IPv6 reference")
			}
			port, hasPort = r[1:], true
		}
	} else if i := strings.LastIndexByte(hp, ':'); i >= 0 {
		host, port, hasPort = hp[:i], hp[i+1:], true
	}
	if err := validateHost(host); err != nil {
		return err
	}
	if hasPort {
		if len(port) > 5 || !isDigits(port) {
			return fmt.Errorf("bad port %s", short(port))
		}
		if n, _ := parseUint32(port); n > 65535 {
			return fmt.Errorf("port %s out of range", port)
		}
	}
	return nil
}

// validateHost accepts hostname / IPv4address / IPv6reference. Hostnames
// may contain '_' (seen in real deployments) and need not end in an
// alphabetic label; an all-numeric name must be a valid IPv4 address.
func validateHost(h string) error {
	if h == "" {
		return errors.New("empty host")
	}
	if h[0] == '[' {
		if len(h) < 3 || h[len(h)-1] != ']' {
			return errors.New("bad IPv6 reference")
		}
		a, err := netip.ParseAddr(h[1 : len(h)-1])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return fmt.Errorf("bad IPv6 address %s", short(h))
		}
		return nil
	}
	if len(h) > 255 {
		return errors.New("host name too long")
	}
	name := strings.TrimSuffix(h, ".")
	numeric := true
	labels := 0
	for _, l := range strings.Split(name, ".") {
		labels++
		if l == "" || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("bad host %s", short(h))
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !isAlnum(c) && c != '-' && c != '_' {
				return fmt.Errorf("bad host %s", short(h))
			}
			if !isDigit(c) {
				numeric = false
			}
		}
	}
	if numeric {
		if a, err := netip.ParseAddr(name); labels != 4 || err != nil || !a.Is4() {
			return fmt.Errorf("bad IPv4 address %s", short(h))
		}
	}
	return nil
}

func validateTelURI(rest string) error {
	num, params, _ := strings.Cut(rest, ";")
	if num == "" {
		return errors.New("empty telephone number")
	}
	global := num[0] == '+'
	if global {
		num = num[1:]
	}
	digits := 0
	for i := 0; i < len(num); i++ {
		c := num[i]
		switch {
		case strings.IndexByte("-.()", c) >= 0:
		case isDigit(c):
			digits++
		case !global && (isHex(c) || c == '*' || c == '#'):
			digits++
		default:
			return fmt.Errorf("bad character in telephone number %s", short(num))
		}
	}
	if digits == 0 {
		return errors.New("telephone number without digits")
	}
	for _, p := range strings.Split(params, ";") {
		if p == "" {
			continue
		}
		name, val, hasVal := strings.Cut(p, "=")
		if !isToken(name) || hasVal && !validChars(val, paramExtra) {
			return fmt.Errorf("bad tel URI parameter %s", short(p))
		}
	}
	return nil
}

func validateURN(rest string) error {
	nid, nss, ok := strings.Cut(rest, ":")
	if !ok || nid == "" || nss == "" {
		return errors.New("bad URN")
	}
	for i := 0; i < len(nid); i++ {
		if !isAlnum(nid[i]) && nid[i] != '-' {
			return errors.New("bad URN namespace")
		}
	}
	if !validChars(nss, "+,;$@:=&/?#[]") {
		return errors.New("bad character in URN")
	}
	return nil
}

// nameAddr is a From/To/Contact/Route value split into its parts.
type nameAddr struct {
	uri    string
	angle  bool // URI was enclosed in <>
	params []param
}

type param struct{ name, value string }

// parseNameAddr splits ( name-addr / addr-spec ) *( SEMI param ).
func parseNameAddr(v string) (nameAddr, error) {
	var na nameAddr
	v = trimLWS(unfold(v))
	if v == "" {
		return na, errors.New("empty value")
	}
	var rest string
	if v[0] == '"' {
		end := quotedEnd(v)
		if end < 0 {
			return na, errors.New("unterminated quoted display name")
		}
		v = skipLWS(v[end:])
		if v == "" || v[0] != '<' {
			return na, errors.New("display name without <URI>")
		}
	}
	if lt := strings.IndexByte(v, '<'); lt >= 0 {
		// Unquoted display names are taken as they come (UTF-8 included):
		// real user agents put anything there, and it is never routed on.
		for i := 0; i < lt; i++ {
			if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f || c == '"' || c == '>' {
				return na, errors.New("bad display name")
			}
		}
		gt := strings.IndexByte(v[lt:], '>')
		if gt < 0 {
			return na, errors.New("missing '>'")
		}
		na.uri, na.angle = v[lt+1:lt+gt], true
		rest = v[lt+gt+1:]
	} else {
		// addr-spec: RFC 3261 §20.10 puts any ';' after the URI into the
		// header parameters, and forbids ',' and '?' outside <>.
		na.uri, rest = v, ""
		if i := strings.IndexByte(v, ';'); i >= 0 {
			na.uri, rest = trimLWS(v[:i]), v[i:]
		}
		if strings.ContainsAny(na.uri, ",? \t") {
			return na, errors.New("URI with '?', ',' or space must be enclosed in <>")
		}
	}
	ps, err := parseParams(rest)
	if err != nil {
		return na, err
	}
	na.params = ps
	return na, nil
}

// quotedEnd returns the index after the closing quote of the quoted
// string s starts with, or -1.
func quotedEnd(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		case '\r', '\n', 0:
			return -1
		}
	}
	return -1
}

// parseParams reads *( SEMI generic-param ) with
// generic-param = token [ EQUAL ( token / host / quoted-string ) ].
func parseParams(s string) ([]param, error) {
	var out []param
	s = skipLWS(s)
	for s != "" {
		if s[0] != ';' {
			return nil, fmt.Errorf("expected ';' at %s", short(s))
		}
		s = skipLWS(s[1:])
		i := 0
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		if i == 0 {
			return nil, errors.New("empty parameter name")
		}
		p := param{name: s[:i]}
		s = skipLWS(s[i:])
		if s != "" && s[0] == '=' {
			s = skipLWS(s[1:])
			switch {
			case s != "" && s[0] == '"':
				end := quotedEnd(s)
				if end < 0 {
					return nil, errors.New("unterminated quoted parameter value")
				}
				p.value, s = s[:end], s[end:]
			case s != "" && s[0] == '[':
				end := strings.IndexByte(s, ']')
				if end < 0 || validateHost(s[:end+1]) != nil {
					return nil, errors.New("bad IPv6 parameter value")
				}
				p.value, s = s[:end+1], s[end+1:]
			default:
				j := 0
				for j < len(s) && isTokenChar(s[j]) {
					j++
				}
				if j == 0 {
					return nil, fmt.Errorf("empty value of parameter %s", short(p.name))
				}
				p.value, s = s[:j], s[j:]
			}
			s = skipLWS(s)
		}
		out = append(out, p)
	}
	return out, nil
}

// uriParamNames lists the names of the ;parameters of a URI (not of the
// header), lower-cased.
func uriParamNames(uri string) []string {
	_, rest, ok := strings.Cut(uri, ":")
	if !ok {
		return nil
	}
	if at := strings.IndexByte(rest, '@'); at >= 0 {
		rest = rest[at+1:]
	}
	rest, _, _ = strings.Cut(rest, "?")
	parts := strings.Split(rest, ";")
	out := make([]string, 0, len(parts)-1)
	for _, p := range parts[1:] {
		name, _, _ := strings.Cut(p, "=")
		out = append(out, strings.ToLower(name))
	}
	return out
}

// Via (RFC 3261 §20.42): sent-protocol LWS sent-by *( SEMI via-params ).
type via struct {
	transport string
	host      string
	port      string
	params    []param
}

func (v *via) param(name string) (string, bool) {
	for _, p := range v.params {
		if strings.EqualFold(p.name, name) {
			return p.value, true
		}
	}
	return "", false
}

// parseVia parses one via-parm.
func parseVia(s string) (*via, error) {
	s = trimLWS(s)
	var parts [3]string
	for i := range parts {
		if i > 0 {
			s = skipLWS(s)
			if s == "" || s[0] != '/' {
				return nil, errors.New("bad sent-protocol")
			}
			s = skipLWS(s[1:])
		}
		j := 0
		for j < len(s) && isTokenChar(s[j]) {
			j++
		}
		if j == 0 {
			return nil, errors.New("bad sent-protocol")
		}
		parts[i], s = s[:j], s[j:]
	}
	if !strings.EqualFold(parts[0], "SIP") || parts[1] != "2.0" {
		return nil, fmt.Errorf("unsupported protocol %s/%s", short(parts[0]), parts[1])
	}
	if s == "" || !isLWS(s[0]) {
		return nil, errors.New("no white space before sent-by")
	}
	s = skipLWS(s)
	v := &via{transport: parts[2]}
	hostEnd := strings.IndexAny(s, " \t;:")
	if s != "" && s[0] == '[' {
		hostEnd = strings.IndexByte(s, ']') + 1
		if hostEnd == 0 {
			return nil, errors.New("unterminated IPv6 reference")
		}
	}
	if hostEnd < 0 {
		hostEnd = len(s)
	}
	v.host, s = s[:hostEnd], skipLWS(s[hostEnd:])
	if err := validateHost(v.host); err != nil {
		return nil, err
	}
	if s != "" && s[0] == ':' {
		s = skipLWS(s[1:])
		j := 0
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		v.port, s = s[:j], s[j:]
		if n, ok := parseUint32(v.port); !ok || n > 65535 || len(v.port) > 5 {
			return nil, fmt.Errorf("bad port %s", short(v.port))
		}
	}
	ps, err := parseParams(s)
	if err != nil {
		return nil, err
	}
	v.params = ps
	return v, nil
}

// parseCredentials parses credentials = auth-scheme LWS auth-params, the
// params being comma-separated name=(token / quoted-string) pairs. Names
// are lower-cased; quoted values keep their quotes off and escapes removed.
func parseCredentials(v string) (scheme string, params map[string]string, err error) {
	s := trimLWS(unfold(v))
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	if i == 0 {
		return "", nil, errors.New("no authentication scheme")
	}
	scheme, s = s[:i], s[i:]
	if s != "" && !isLWS(s[0]) {
		return scheme, nil, errors.New("bad authentication scheme")
	}
	params = map[string]string{}
	s = skipLWS(s)
	for s != "" {
		j := 0
		for j < len(s) && isTokenChar(s[j]) {
			j++
		}
		if j == 0 {
			return scheme, nil, fmt.Errorf("bad auth parameter at %s", short(s))
		}
		name := strings.ToLower(s[:j])
		s = skipLWS(s[j:])
		if s == "" || s[0] != '=' {
			return scheme, nil, fmt.Errorf("auth parameter %s without value", short(name))
		}
		s = skipLWS(s[1:])
		var val string
		if s != "" && s[0] == '"' {
			end := quotedEnd(s)
			if end < 0 {
				return scheme, nil, fmt.Errorf("unterminated value of %s", short(name))
			}
			val, s = unquote(s[1:end-1]), s[end:]
		} else {
			k := 0
			for k < len(s) && isTokenChar(s[k]) {
				k++
			}
			if k == 0 {
				return scheme, nil, fmt.Errorf("empty value of %s", short(name))
			}
			val, s = s[:k], s[k:]
		}
		if _, dup := params[name]; dup {
			return scheme, nil, fmt.Errorf("duplicated auth parameter %s", short(name))
		}
		params[name] = val
		s = skipLWS(s)
		if s == "" {
			break
		}
		if s[0] != ',' {
			return scheme, nil, fmt.Errorf("expected ',' at %s", short(s))
		}
		s = skipLWS(s[1:])
		if s == "" {
			return scheme, nil, errors.New("trailing ',' in credentials")
		}
	}
	return scheme, params, nil
}

func unquote(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
