package nathelper

import (
	"errors"
	"strconv"
	"strings"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

// fix_nated_sdp flags.
const (
	sdpAddDirection  = 0x01
	sdpFixMediaIP    = 0x02
	sdpAddNoRTPProxy = 0x04
	sdpFixOriginIP   = 0x08
)

// fixNatedSDP rewrites every SDP of the body (each application/sdp part of
// a multipart body) as flags say; ip replaces the source address when set.
// Edits stack on body changes made earlier in the route.
func (x *nathelper) fixNatedSDP(c *kemi.Ctx, flags int, ip string) int {
	m := c.M
	e := sdpEdit{
		media:      flags&sdpFixMediaIP != 0,
		origin:     flags&sdpFixOriginIP != 0,
		direction:  flags&sdpAddDirection != 0,
		oldMediaIP: x.oldMediaIP,
		ip:         m.Src.Addr().Unmap(),
	}
	if flags&sdpAddNoRTPProxy != 0 {
		e.nortpproxy = x.nortpproxy
	}
	if strings.TrimSpace(ip) != "" {
		a, ok := parseHostIP(ip)
		if !ok {
			return logFail(c, "fix_nated_sdp_ip", errors.New("invalid IP address "+strconv.Quote(ip)))
		}
		e.ip = a
	}
	body := currentBody(m)
	ct, _ := m.HeaderType(msg.HContentType)
	spans := sdpSpans(ct, body)
	if len(spans) == 0 {
		return logFail(c, "fix_nated_sdp", errors.New("no SDP body"))
	}
	var b strings.Builder
	last, replaced, changed := 0, false, false
	for _, s := range spans {
		out, rep, ch, err := rewriteSDP(body[s.start:s.end], e)
		if err != nil {
			return logFail(c, "fix_nated_sdp", err)
		}
		b.WriteString(body[last:s.start])
		b.WriteString(out)
		last = s.end
		replaced, changed = replaced || rep, changed || ch
	}
	if changed {
		b.WriteString(body[last:])
		nb := b.String()
		m.NewBody = &nb
	}
	// As Kamailio: 1 means addresses were replaced; added lines alone give 2.
	if replaced {
		return 1
	}
	return 2
}
