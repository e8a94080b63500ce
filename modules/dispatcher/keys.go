package dispatcher

import (
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

// msgKeys gives the hashing algorithms their input from the message.
type msgKeys struct {
	c *kemi.Ctx
	d *Dispatcher
}

func (k msgKeys) callID() string { return k.c.M.CallID() }

func (k msgKeys) isInvite() bool { return k.c.M.Req != nil && k.c.M.Req.Method == sip.INVITE }

func (k msgKeys) uriKeys(alg int) (string, string, bool, bool) {
	m := k.c.M
	var u *sip.Uri
	switch alg {
	case algFrom:
		if f := m.SIP.From(); f != nil {
			u = &f.Address
		}
	case algTo:
		if t := m.SIP.To(); t != nil {
			u = &t.Address
		}
	default:
		u = m.RURI()
	}
	if u == nil || u.Host == "" {
		return "", "", false, false
	}
	x, y, hasY := uriHashKeys(u, k.d.cfg.hashUserOnly)
	return x, y, hasY, true
}

// authUser is the user part of the username of the Proxy-Authorization,
// else Authorization, credentials (as Kamailio's algorithm 5).
func (k msgKeys) authUser() (string, bool) {
	for _, t := range []msg.HType{msg.HProxyAuthorization, msg.HAuthorization} {
		v, ok := k.c.M.HeaderType(t)
		if !ok {
			continue
		}
		_, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
		for _, kv := range msg.SplitComma(rest) {
			name, val, _ := strings.Cut(kv, "=")
			if strings.EqualFold(strings.TrimSpace(name), "username") {
				u := strings.Trim(strings.TrimSpace(val), "\"")
				u, _, _ = strings.Cut(u, "@")
				return u, u != ""
			}
		}
	}
	return "", false
}

func (k msgKeys) pvText() (string, bool) {
	if k.d.cfg.hashPvar == "" || k.d.eng == nil {
		k.d.warnOnce("alg", "algorithm 7 needs hash_pvar", 7)
		return "", false
	}
	k.d.hashFmtOnce.Do(func() { k.d.hashFmt = k.d.eng.ParseFormat(k.d.cfg.hashPvar) })
	return k.d.hashFmt.Expand(k.c), true
}
