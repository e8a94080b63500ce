package dispatcher

import (
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// hashStrings is the hash of the hashing algorithms (0, 1, 2, 3, 5, 7) and
// of dispatcher.hash. It is the same function as Kamailio's dispatcher, so
// a key picks the same slot of a set as there: each string is taken in
// big-endian 32-bit words whose bytes are signed (as C chars are on x86),
// every word w adds w ^ (w >> 3), the last partial word likewise, and the
// sum is folded with shifts of 11, 13 and 23. 0 is never returned.
func hashStrings(x, y string, hasY bool) uint32 {
	var h uint32
	h = hashAdd(h, x)
	if hasY {
		h = hashAdd(h, y)
	}
	h = (h + (h >> 11)) + ((h >> 13) + (h >> 23))
	if h == 0 {
		return 1
	}
	return h
}

func hashAdd(h uint32, s string) uint32 {
	sb := func(i int) uint32 { return uint32(int32(int8(s[i]))) }
	i := 0
	for ; i+4 <= len(s); i += 4 {
		v := sb(i)<<24 + sb(i+1)<<16 + sb(i+2)<<8 + sb(i+3)
		h += v ^ (v >> 3)
	}
	var v uint32
	for ; i < len(s); i++ {
		v <<= 8
		v += sb(i)
	}
	return h + (v ^ (v >> 3))
}

// uriHashKeys are the two strings a URI is hashed by: the user, and the
// host with ":port" when the URI gives a port other than the default (5060,
// 5061 for sips). With userOnly (flags bit 1) only the user counts.
func uriHashKeys(u *sip.Uri, userOnly bool) (string, string, bool) {
	if userOnly {
		return u.User, "", false
	}
	host := u.Host
	if u.Port != 0 {
		def := 5060
		if strings.EqualFold(u.Scheme, "sips") {
			def = 5061
		}
		if u.Port != def {
			host += ":" + strconv.Itoa(u.Port)
		}
	}
	return u.User, host, true
}
