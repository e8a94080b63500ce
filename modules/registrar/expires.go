package registrar

import (
	"math/rand/v2"
	"strings"

	"github.com/luasbc/luasbc/core/msg"
)

// Save flags (Kamailio's REG_SAVE_*_FL).
const (
	saveMemOnly   = 0x01 // contacts kept in memory only, never written to the database
	saveNoReply   = 0x02 // no reply now: reg_send_reply sends it
	saveOneAoR    = 0x04 // one contact per AoR: the others are removed
	saveNoRange   = 0x08 // expires_range and default_expires_range do not apply
	saveReplyHdrs = 0x10 // with 0x02: the reply headers go to the reply lumps
)

// expiresHeader reads the Expires header: the value, or -1 when there is
// none or it is not delta-seconds (the default then applies, as in Kamailio).
func expiresHeader(m *msg.Msg) int64 {
	v, ok := m.HeaderType(msg.HExpires)
	if !ok {
		return -1
	}
	return parseDelta(strings.TrimSpace(unfold(v)))
}

// lowerBy takes a random part of up to pct percent off e.
func lowerBy(e int64, pct int) int64 {
	if pct <= 0 || e <= 0 {
		return e
	}
	span := e * int64(pct) / 100
	if span <= 0 {
		return e
	}
	return e - rand.Int64N(span+1)
}

// expiresFor computes the expiry (seconds from now) of one contact: the
// xavp_cfg override, else its expires parameter, else the Expires header,
// else default_expires; then min_expires, the ranges and max_expires for a
// non-zero value. tooBrief is true when min_expires_mode=1 refuses it (423).
// min_expires is checked on the value the client asked for, before
// expires_range lowers it, and the lowered value is kept at min_expires or
// above, so that asking for exactly min_expires is never refused by chance.
func (r *Registrar) expiresFor(c *contactSpec, hdr int64, flags int, override int64) (e int64, tooBrief bool) {
	e = c.Expires
	if e < 0 {
		e = hdr
	}
	pct := r.cfg.expiresRange
	switch {
	case override >= 0:
		e, pct = override, 0
	case e < 0:
		e, pct = int64(r.cfg.defaultExpires), r.cfg.defaultRange
	}
	if e == 0 {
		return 0, false
	}
	min := int64(r.cfg.minExpires)
	if min > 0 && e < min {
		if r.cfg.minMode423 {
			return e, true
		}
		e = min
	}
	if flags&saveNoRange == 0 {
		e = max(lowerBy(e, pct), min, 1)
	}
	if m := int64(r.cfg.maxExpires); m > 0 && e > m {
		e = m
	}
	return e, false
}
