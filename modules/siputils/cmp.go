package siputils

import (
	"net/url"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/luasbc/luasbc/core/msg"
)

// Comparison results, as Kamailio's cmp_* functions return them.
const (
	cmpEqual = 1
	cmpDiff  = -1
	cmpError = -2
)

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

func parseURI(s string) (*sip.Uri, bool) {
	u := &sip.Uri{}
	if err := sip.ParseUri(strings.TrimSpace(s), u); err != nil {
		return nil, false
	}
	return u, true
}

// paramMap lower-cases names; values of the RFC 3261 §19.1.4 special
// parameters compare case-insensitively, so they are lower-cased too.
func paramMap(hp sip.HeaderParams) map[string]string {
	m := make(map[string]string, len(hp))
	for _, kv := range hp {
		m[strings.ToLower(kv.K)] = unescape(kv.V)
	}
	return m
}

// cmpURI compares two URIs by RFC 3261 §19.1.4: user and password are case
// sensitive (after unescaping), host and scheme are not, an absent port
// differs from an explicit one, user/ttl/method/maddr/transport must match
// when either has them, other parameters only when both have them, and
// headers must be the same set.
func cmpURI(a, b string) int {
	ua, ok1 := parseURI(a)
	ub, ok2 := parseURI(b)
	if !ok1 || !ok2 {
		return cmpError
	}
	if !strings.EqualFold(ua.Scheme, ub.Scheme) || ua.Raw() != ub.Raw() ||
		unescape(ua.User) != unescape(ub.User) || unescape(ua.Password) != unescape(ub.Password) ||
		!strings.EqualFold(ua.Host, ub.Host) || ua.Port != ub.Port {
		return cmpDiff
	}
	pa, pb := paramMap(ua.UriParams), paramMap(ub.UriParams)
	for k, va := range pa {
		vb, ok := pb[k]
		switch k {
		case "user", "ttl", "method", "maddr", "transport":
			if !ok || !strings.EqualFold(va, vb) {
				return cmpDiff
			}
		default:
			if ok && !strings.EqualFold(va, vb) {
				return cmpDiff
			}
		}
	}
	for _, k := range []string{"user", "ttl", "method", "maddr", "transport"} {
		if _, ok := pb[k]; ok {
			if _, ok := pa[k]; !ok {
				return cmpDiff
			}
		}
	}
	ha, hb := paramMap(ua.Headers), paramMap(ub.Headers)
	if len(ha) != len(hb) {
		return cmpDiff
	}
	for k, v := range ha {
		if w, ok := hb[k]; !ok || w != v {
			return cmpDiff
		}
	}
	return cmpEqual
}

// cmpAOR compares address-of-record identity only: user, host and port (an
// absent port being the scheme default); parameters are ignored.
func cmpAOR(a, b string) int {
	ua, ok1 := parseURI(withDefaultScheme(a))
	ub, ok2 := parseURI(withDefaultScheme(b))
	if !ok1 || !ok2 {
		return cmpError
	}
	port := func(u *sip.Uri) int {
		if u.Port != 0 {
			return u.Port
		}
		if strings.EqualFold(u.Scheme, "sips") {
			return 5061
		}
		return 5060
	}
	if unescape(ua.User) != unescape(ub.User) || !strings.EqualFold(ua.Host, ub.Host) || port(ua) != port(ub) {
		return cmpDiff
	}
	return cmpEqual
}

// cmpHdrName compares header names case-insensitively with compact forms
// equal to their long forms ("f" == "From").
func cmpHdrName(a, b string) int {
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if a == "" || b == "" {
		return cmpError
	}
	if msg.CanonName(a) == msg.CanonName(b) {
		return cmpEqual
	}
	return cmpDiff
}
