package registrar

import (
	"errors"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// maxAOR bounds an address-of-record (Kamailio's MAX_AOR_LEN).
const maxAOR = 256

var (
	errAORParse = errors.New("error while parsing AOR")
	errAORLen   = errors.New("address of record too long")
)

// aorFromString extracts the address-of-record key from a URI given as
// text (save_uri, lookup_uri, the To or R-URI of a message).
func (r *Registrar) aorFromString(s string, useDomain bool) (string, error) {
	s = strings.TrimSpace(s)
	if lt := strings.IndexByte(s, '<'); lt >= 0 {
		gt := strings.IndexByte(s[lt:], '>')
		if gt < 0 {
			return "", errAORParse
		}
		s = s[lt+1 : lt+gt]
	}
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || !isScheme(scheme) {
		return "", errAORParse
	}
	switch strings.ToLower(scheme) {
	case "sip", "sips":
		var u sip.Uri
		if err := sip.ParseUri(s, &u); err != nil || u.Host == "" {
			return "", errAORParse
		}
		return r.aorFromParts(u.User, u.Host, useDomain)
	default:
		// tel: and other schemes: the part before the first ';' is the user.
		user, _, _ := strings.Cut(rest, ";")
		user, _, _ = strings.Cut(user, "?")
		if user == "" {
			return "", errAORParse
		}
		return r.aorFromParts(user, "", useDomain)
	}
}

// aorFromParts builds the AoR as Kamailio's extract_aor: the unescaped user,
// with use_domain "@" and the host (realm_prefix stripped); a URI without a
// user gives its host. Without case_sensitive it is lower-cased.
func (r *Registrar) aorFromParts(user, host string, useDomain bool) (string, error) {
	u, ok := unescape(user)
	if !ok {
		return "", errAORParse
	}
	host = strings.Trim(host, "[]")
	if p := r.cfg.realmPrefix; p != "" && len(host) > len(p) && strings.EqualFold(host[:len(p)], p) {
		host = host[len(p):]
	}
	aor := u
	switch {
	case u == "" && host == "":
		return "", errAORParse
	case u == "":
		aor = host
	case useDomain && host != "":
		aor = u + "@" + host
	}
	if len(aor) > maxAOR {
		return "", errAORLen
	}
	for i := 0; i < len(aor); i++ {
		if aor[i] < ' ' || aor[i] == 0x7f {
			return "", errAORParse
		}
	}
	if !r.cfg.caseSensitive {
		aor = asciiLower(aor)
	}
	return aor, nil
}

// asciiLower lower-cases ASCII letters only, byte by byte as Kamailio does:
// other bytes (UTF-8, or escaped binary) stay as they are.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// unescape decodes %XX escapes of a URI user part.
func unescape(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		h, l := unhex(s[i+1]), unhex(s[i+2])
		if h < 0 || l < 0 {
			return "", false
		}
		b.WriteByte(byte(h<<4 | l))
		i += 2
	}
	return b.String(), true
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
