package siputils

import (
	"errors"
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
	if !ok || u.Host == "" {
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
	return "sip:" + prefix + s + u.User + s + u.Password + s + u.Host + s + port + s + proto + "@" + hostpart, nil
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
	return b.String(), nil
}

func (s *siputils) encodeContact(c *kemi.Ctx, prefix, hostpart string) int {
	if hostpart == "" || strings.ContainsAny(prefix+hostpart, " \t\r\n\x00<>;@,?") {
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
