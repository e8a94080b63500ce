package siputils

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/kemi"
)

// encodeURI writes sip:user:pass@host:port;transport=p as
// sip:prefix*user*pass*host*port*proto@hostpart ('*' being the configured
// separator). Other URI parameters are dropped, as in Kamailio.
func encodeURI(uri, prefix, hostpart string, sep byte) (string, error) {
	u, ok := parseURI(uri)
	if !ok || !validHost(u.Host) || strings.ContainsAny(u.User+u.Password, ":@") || u.Port < 0 || u.Port > 65535 {
		return "", errors.New("cannot parse URI " + strconv.Quote(uri))
	}
	port := ""
	if u.Port != 0 {
		port = strconv.Itoa(u.Port)
	}
	proto := ""
	for _, kv := range u.UriParams {
		if strings.EqualFold(kv.K, "transport") {
			proto = kv.V
		}
	}
	s := string(sep)
	out := "sip:" + prefix + s + u.User + s + u.Password + s + escapeHost(u.Host) + s + port + s + proto + "@" + hostpart
	if err := checkURIText(out); err != nil {
		return "", errors.New("cannot encode URI " + strconv.Quote(uri) + ": " + err.Error())
	}
	return out, nil
}

// validHost accepts a host name, an IPv4 address or a bracketed IPv6 reference.
func validHost(h string) bool {
	if strings.HasPrefix(h, "[") {
		a, err := netip.ParseAddr(strings.TrimSuffix(h[1:], "]"))
		return err == nil && a.Is6() && strings.HasSuffix(h, "]")
	}
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// escapeHost makes a host fit into a user part: an IPv6 reference's ':' and
// brackets (and '%') are written as %XX escapes, which decodeURI reverses.
func escapeHost(h string) string {
	if !strings.ContainsAny(h, ":[]%") {
		return h
	}
	var b strings.Builder
	for i := 0; i < len(h); i++ {
		switch c := h[i]; c {
		case ':', '[', ']', '%':
			b.WriteString("%" + strings.ToUpper(strconv.FormatUint(uint64(c), 16)))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// unescapeHost reverses escapeHost (any %XX escape is decoded).
func unescapeHost(h string) (string, error) {
	if !strings.Contains(h, "%") {
		return h, nil
	}
	var b strings.Builder
	for i := 0; i < len(h); i++ {
		if h[i] != '%' {
			b.WriteByte(h[i])
			continue
		}
		if i+2 >= len(h) {
			return "", errors.New("bad escape in host " + strconv.Quote(h))
		}
		n, err := strconv.ParseUint(h[i+1:i+3], 16, 8)
		if err != nil {
			return "", errors.New("bad escape in host " + strconv.Quote(h))
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), nil
}

// checkURIText accepts what may be installed as the R-URI or spliced into a
// Contact header: a parseable URI without white space, control characters or
// the <>" that would end or open a name-addr.
func checkURIText(s string) error {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '"' {
			return errors.New("forbidden character " + strconv.QuoteRune(rune(c)) + " in URI")
		}
	}
	if _, ok := parseURI(s); !ok {
		return errors.New("not a URI")
	}
	return nil
}

// decodeURI reverses encodeURI; a URI whose user part does not hold the six
// fields is an error.
func decodeURI(uri string, sep byte) (string, error) {
	u, ok := parseURI(uri)
	if !ok {
		return "", errors.New("cannot parse URI " + strconv.Quote(uri))
	}
	f := strings.Split(u.User, string(sep))
	if len(f) != 6 || f[3] == "" {
		return "", errors.New("URI is not encoded: " + strconv.Quote(uri))
	}
	host, err := unescapeHost(f[3])
	if err != nil {
		return "", err
	}
	f[3] = host
	if f[4] != "" {
		if p, err := strconv.ParseUint(f[4], 10, 16); err != nil || p == 0 {
			return "", errors.New("bad port in encoded URI " + strconv.Quote(uri))
		}
	}
	var b strings.Builder
	b.WriteString("sip:")
	if f[1] != "" {
		b.WriteString(f[1])
		if f[2] != "" {
			b.WriteString(":" + f[2])
		}
		b.WriteString("@")
	}
	b.WriteString(f[3])
	if f[4] != "" {
		b.WriteString(":" + f[4])
	}
	if f[5] != "" {
		b.WriteString(";transport=" + f[5])
	}
	out := b.String()
	if err := checkURIText(out); err != nil {
		return "", errors.New("encoded URI " + strconv.Quote(uri) + " decodes to " + strconv.Quote(out) + ": " + err.Error())
	}
	return out, nil
}

// validEncodeArgs checks encode_contact's arguments: the prefix is a field of
// the user part (user characters only, no separator), the host part a host
// with an optional port.
func validEncodeArgs(prefix, hostpart string, sep byte) bool {
	for i := 0; i < len(prefix); i++ {
		c := prefix[i]
		if c == sep || !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-_.!~*'()&=+$/%", c) >= 0) {
			return false
		}
	}
	host, port := hostpart, ""
	if i := strings.LastIndexByte(hostpart, ':'); i >= 0 && !strings.HasSuffix(hostpart, "]") {
		host, port = hostpart[:i], hostpart[i+1:]
		if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
			return false
		}
	}
	return validHost(host)
}

func (s *siputils) encodeContact(c *kemi.Ctx, prefix, hostpart string) int {
	if !validEncodeArgs(prefix, hostpart, s.sep) {
		c.Logger().Error("invalid prefix or host", zap.String("function", "siputils.encode_contact"))
		return -1
	}
	_, err := rewriteContacts(c, func(uri string) (string, bool, error) {
		n, err := encodeURI(uri, prefix, hostpart, s.sep)
		return n, err == nil, err
	})
	return s.contactResult(c, "encode_contact", err, -1)
}

func (s *siputils) decodeContact(c *kemi.Ctx) int {
	if c.M.Req == nil {
		return -1
	}
	n, err := decodeURI(c.M.RURIString(), s.sep)
	if err != nil {
		c.Logger().Info("R-URI not decoded", zap.String("function", "siputils.decode_contact"), zap.Error(err))
		return -1
	}
	return setRURI(c, "decode_contact", n)
}

func (s *siputils) decodeContactHeader(c *kemi.Ctx) int {
	_, err := rewriteContacts(c, func(uri string) (string, bool, error) {
		n, err := decodeURI(uri, s.sep)
		return n, err == nil, err
	})
	return s.contactResult(c, "decode_contact_header", err, -1)
}
