package core

import (
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/luasbc/luasbc/core/msg"
)

// BadRequestReply builds a 400 reply for a request that failed to parse, from
// its raw text alone, when enough of it is readable to address the reply: a
// request line (not ACK) and a top Via with a usable sent-by. It copies the
// Via, From, To, Call-ID and CSeq lines as received (RFC 3261 §8.2.6.2).
func BadRequestReply(data []byte, src netip.AddrPort, reason string) ([]byte, netip.AddrPort, bool) {
	s := string(data)
	if len(s) > 8192 {
		s = s[:8192]
	}
	if i := strings.Index(s, "\r\n\r\n"); i >= 0 {
		s = s[:i+2]
	}
	lines := strings.Split(s, "\r\n")
	if len(lines) < 2 {
		return nil, netip.AddrPort{}, false
	}
	f := strings.Fields(lines[0])
	if len(f) != 3 || f[2] != "SIP/2.0" || f[0] == "ACK" || !msg.IsToken(f[0]) {
		return nil, netip.AddrPort{}, false
	}
	var via, from, to, callid, cseq string
	for _, l := range lines[1:] {
		name, val, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		// Never echo control characters: the reply must stay well formed.
		if strings.ContainsAny(val, "\x00\r\n") || len(val) > 1024 {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "v":
			if via == "" {
				via = val
			}
		case "from", "f":
			if from == "" {
				from = val
			}
		case "to", "t":
			if to == "" {
				to = val
			}
		case "call-id", "i":
			if callid == "" {
				callid = val
			}
		case "cseq":
			if cseq == "" {
				cseq = val
			}
		}
	}
	if via == "" {
		return nil, netip.AddrPort{}, false
	}
	top := strings.TrimSpace(strings.Split(via, ",")[0])
	if strings.ContainsAny(top, "\r\n") {
		return nil, netip.AddrPort{}, false
	}
	hs, err := sip.HeadersParser(sip.DefaultHeadersParser()).ParseHeader(nil, []byte("Via: "+top))
	if err != nil || len(hs) == 0 {
		return nil, netip.AddrPort{}, false
	}
	vh, ok := hs[0].(*sip.ViaHeader)
	if !ok || vh.Host == "" || strings.ContainsAny(vh.Value(), "\x00\r\n") {
		return nil, netip.AddrPort{}, false
	}
	dst := src
	if r, ok := vh.Params.Get("rport"); !ok || r != "" {
		port := vh.Port
		if port <= 0 || port > 65535 {
			port = 5060
		}
		dst = netip.AddrPortFrom(src.Addr(), uint16(port))
	}
	var b strings.Builder
	b.WriteString("SIP/2.0 400 " + reason + "\r\n")
	// Rebuild the Via without received/rport, then add ours.
	vh.Params.Remove("received")
	r, wantRport := vh.Params.Get("rport")
	wantRport = wantRport && r == ""
	vh.Params.Remove("rport")
	b.WriteString("Via: " + vh.Value() + ";received=" + src.Addr().String())
	if wantRport {
		b.WriteString(";rport=" + strconv.Itoa(int(src.Port())))
	}
	b.WriteString("\r\n")
	for _, h := range [][2]string{{"From", from}, {"To", to}, {"Call-ID", callid}, {"CSeq", cseq}} {
		if h[1] != "" {
			b.WriteString(h[0] + ": " + h[1] + "\r\n")
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return []byte(b.String()), dst, true
}

// logReason strips quoted message text from a parser error: the log names
// the reason, never the payload.
func logReason(err error) string {
	s := err.Error()
	var b strings.Builder
	quote := byte(0)
	for i := 0; i < len(s) && b.Len() < 120; i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
				b.WriteString("...")
				b.WriteByte(c)
			}
		case c == '"' || c == '\'':
			quote = c
			b.WriteByte(c)
		case c < ' ' || c > '~':
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// badLog remembers which (source, reason) pairs were logged recently so a
// flood of garbage from one source produces one log line, not thousands.
type badLog struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func (b *badLog) first(src netip.Addr, reason string) bool {
	key := src.String() + "|" + reason
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen == nil || len(b.seen) > 10000 {
		b.seen = map[string]time.Time{}
	}
	if t, ok := b.seen[key]; ok && now.Sub(t) < time.Minute {
		return false
	}
	b.seen[key] = now
	return true
}
