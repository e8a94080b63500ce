package nathelper

import (
	"errors"
	"net/netip"
	"strings"
)

// sdpConnAddrs returns the address of every c= line (session and media
// level) of an SDP text; a multicast TTL or address count is cut off.
func sdpConnAddrs(sdp string) []string {
	var out []string
	forLines(sdp, func(l string) {
		if strings.HasPrefix(l, "c=") {
			if f := strings.Fields(l[2:]); len(f) == 3 {
				a, _, _ := strings.Cut(f[2], "/")
				out = append(out, a)
			}
		}
	})
	return out
}

// forLines calls f for each line of s without its line break.
func forLines(s string, f func(line string)) {
	for s != "" {
		i := strings.IndexByte(s, '\n')
		line := s
		if i >= 0 {
			line, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		f(strings.TrimRight(line, "\r"))
	}
}

// sdpEdit says what fix_nated_sdp does to one SDP text.
type sdpEdit struct {
	media      bool   // flag 2: c= and a=rtcp addresses
	origin     bool   // flag 8: the o= address
	direction  bool   // flag 1: a=direction:active in each media section
	nortpproxy string // flag 4: this line (with CRLF), "" for none
	oldMediaIP bool   // append_sdp_oldmediaip: a=oldmediaip for each replaced c=/o= address
	ip         netip.Addr
}

// Errors of rewriteSDP.
var (
	errNoConn   = errors.New("no c= line in the SDP")
	errNoOrigin = errors.New("no o= line in the SDP")
	errBadLine  = errors.New("malformed c=, o= or a=rtcp line in the SDP")
)

// addrType is the SDP address type of ip.
func addrType(ip netip.Addr) string {
	if ip.Is4() {
		return "IP4"
	}
	return "IP6"
}

// newAddr decides the replacement of one address: null addresses (hold)
// and the address itself stay.
func (e *sdpEdit) newAddr(old string) (string, bool) {
	if isNullAddr(old) {
		return old, false
	}
	if ip, ok := parseHostIP(old); ok && ip == e.ip {
		return old, false
	}
	return e.ip.String(), true
}

// rewriteSDP applies e to one SDP text. It reports whether addresses were
// replaced (what fix_nated_sdp's return code says) and whether the text
// changed at all (lines added count too).
func rewriteSDP(sdp string, e sdpEdit) (out string, replaced, changed bool, err error) {
	var b strings.Builder
	b.Grow(len(sdp) + 64)
	var conns, origins int
	var oldIPs []string
	inMedia, hasDir := false, false
	// a=direction:active closes each media section (once).
	closeSection := func() {
		if e.direction && inMedia && !hasDir {
			b.WriteString("a=direction:active\r\n")
			changed = true
		}
	}
	rest := sdp
	for rest != "" {
		var line, eol string
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line, eol, rest = rest[:i], "\n", rest[i+1:]
			if strings.HasSuffix(line, "\r") {
				line, eol = line[:len(line)-1], "\r\n"
			}
		} else {
			line, rest = rest, ""
		}
		o := line
		switch {
		case strings.HasPrefix(line, "m="):
			closeSection()
			inMedia, hasDir = true, false
		case line == "a=direction:active":
			hasDir = true
		case e.media && strings.HasPrefix(line, "c="):
			f := strings.Fields(line[2:])
			if len(f) != 3 || (f[1] != "IP4" && f[1] != "IP6") {
				return "", false, false, errBadLine
			}
			conns++
			addr, suffix, _ := strings.Cut(f[2], "/")
			if na, ch := e.newAddr(addr); ch {
				if suffix != "" {
					na += "/" + suffix
				}
				o = "c=" + f[0] + " " + addrType(e.ip) + " " + na
				oldIPs = append(oldIPs, oldMediaLine(addr))
			}
		case e.media && strings.HasPrefix(line, "a=rtcp:"):
			f := strings.Fields(line[len("a=rtcp:"):])
			if len(f) == 4 {
				if f[2] != "IP4" && f[2] != "IP6" {
					return "", false, false, errBadLine
				}
				if na, ch := e.newAddr(f[3]); ch {
					o = "a=rtcp:" + f[0] + " " + f[1] + " " + addrType(e.ip) + " " + na
				}
			}
		case e.origin && strings.HasPrefix(line, "o="):
			f := strings.Fields(line[2:])
			if len(f) != 6 || (f[4] != "IP4" && f[4] != "IP6") {
				return "", false, false, errBadLine
			}
			origins++
			if na, ch := e.newAddr(f[5]); ch {
				oldIPs = append(oldIPs, oldMediaLine(f[5]))
				f[4], f[5] = addrType(e.ip), na
				o = "o=" + strings.Join(f, " ")
			}
		}
		if o != line {
			replaced = true
		}
		if eol == "" && rest == "" && e.direction && inMedia && !hasDir {
			eol = "\r\n" // the last line needs an end before a line follows
		}
		b.WriteString(o)
		b.WriteString(eol)
	}
	closeSection()
	if e.media && conns == 0 {
		return "", false, false, errNoConn
	}
	if e.origin && origins == 0 {
		return "", false, false, errNoOrigin
	}
	var add []string
	if e.oldMediaIP {
		add = append(add, oldIPs...)
	}
	if e.nortpproxy != "" {
		add = append(add, e.nortpproxy)
	}
	res := b.String()
	for _, l := range add {
		// Lines already there are not repeated (a second call, or a
		// previous proxy that did the same).
		if hasLine(res, strings.TrimSuffix(l, "\r\n")) {
			continue
		}
		if res != "" && !strings.HasSuffix(res, "\n") {
			res += "\r\n"
		}
		res += l
		changed = true
	}
	return res, replaced, changed || replaced, nil
}

// oldMediaLine records the address a c= line had before the rewrite.
func oldMediaLine(addr string) string {
	if ip, ok := parseHostIP(addr); ok && ip.Is6() {
		return "a=oldmediaip6:" + addr + "\r\n"
	}
	return "a=oldmediaip:" + addr + "\r\n"
}

func hasLine(sdp, line string) bool {
	found := false
	forLines(sdp, func(l string) {
		if l == line {
			found = true
		}
	})
	return found
}
