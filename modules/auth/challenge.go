package auth

import (
	"errors"
	"strings"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/modules/sl"
)

// Challenge flags of www_challenge / proxy_challenge / auth_challenge.
const (
	flagQOPAuth    = 1
	flagQOPAuthInt = 2
	flagNo500      = 4  // do not send 500 when the challenge cannot be built
	flagStale      = 16 // stale=true
)

// maxRealm bounds a realm put into a challenge.
const maxRealm = 256

var errRealm = errors.New("realm is empty, too long or has control characters")

// challengeOpts is what goes into one set of challenge headers.
type challengeOpts struct {
	realm string
	qop   string // "", "auth" or "auth-int"
	stale bool
	bind  bool // bind the nonce to the message (auth_checks_*)
}

// algsFor is the algorithm list of a request: auth_algorithm()'s, else the
// configured one.
func (a *Auth) algsFor(m *msg.Msg) []*Algorithm {
	if m != nil {
		if l, ok := m.GetExt(extAlgs).([]*Algorithm); ok {
			return l
		}
	}
	return a.algs
}

// challengeLines builds one challenge header per algorithm (RFC 8760 §2.4:
// in order of preference), each with its own nonce bound to the algorithm.
// Parameters are written as Kamailio does: realm, nonce, qop, stale,
// algorithm.
func (a *Auth) challengeLines(m *msg.Msg, hf HFType, o challengeOpts) (string, error) {
	realm := a.stripRealm(o.realm)
	if realm == "" || len(realm) > maxRealm {
		return "", errRealm
	}
	for i := 0; i < len(realm); i++ {
		if realm[i] < ' ' || realm[i] == 0x7f {
			return "", errRealm
		}
	}
	name := a.wwwHeader
	if hf == Proxy {
		name = a.proxyHeader
	}
	var checks uint8
	var f bindFields
	if o.bind && m != nil && m.Req != nil {
		checks, f = a.checksFor(m), fieldsOf(m)
	}
	now := a.now()
	var b strings.Builder
	for _, alg := range a.algsFor(m) {
		b.WriteString(name + ": Digest realm=" + quote(realm) + ", nonce=\"")
		b.WriteString(a.keys.issue(alg, checks, f, now, a.nonceExpire))
		b.WriteByte('"')
		if o.qop != "" {
			b.WriteString(", qop=\"" + o.qop + "\"")
		}
		if o.stale {
			b.WriteString(", stale=true")
		}
		b.WriteString(", algorithm=" + alg.Name + "\r\n")
	}
	return b.String(), nil
}

// qopOf picks the qop of challenge flags (auth-int wins, as in Kamailio),
// else the qop modparam.
func (a *Auth) qopOf(flags int) string {
	switch {
	case flags&flagQOPAuthInt != 0:
		return "auth-int"
	case flags&flagQOPAuth != 0:
		return "auth"
	}
	return a.qop
}

// isStale: stale=true is sent when flag 16 asks for it, and (luasbc) when
// this request's credentials had a stale nonce, so that a script that
// challenges with flags 0 after any failure still tells the client it need
// not ask the user again (RFC 7616 §3.3).
func isStale(m *msg.Msg, flags int) bool {
	if flags&flagStale != 0 {
		return true
	}
	s, _ := m.GetExt(extStale).(bool)
	return s
}

// challenge sends 401 (WWW) or 407 (Proxy) with the challenge headers:
// 1 sent; -2 the challenge could not be built (a 500 is sent unless flag
// 4); -3 the reply could not be sent.
func (a *Auth) challenge(c *kemi.Ctx, realm string, flags int, hf HFType) int {
	m := c.M
	if m.Req == nil {
		return -1
	}
	switch m.Method() {
	case "ACK", "CANCEL":
		return 1 // nothing can be challenged
	}
	if realm == "" {
		realm = defaultRealm(m)
	}
	lines, err := a.challengeLines(m, hf, challengeOpts{realm: realm, qop: a.qopOf(flags), stale: isStale(m, flags), bind: true})
	if err != nil {
		c.Logger().Error("auth: challenge not built", zap.String("realm", realm), zap.Error(err))
		if flags&flagNo500 == 0 {
			if a.reply(c, 500, "Internal Server Error", "") < 0 {
				return -4
			}
		}
		return -2
	}
	code, reason := 401, "Unauthorized"
	if hf == Proxy {
		code, reason = 407, "Proxy Authentication Required"
	}
	if a.reply(c, code, reason, lines) < 0 {
		return -3
	}
	a.stChallenges.Inc()
	return 1
}

// reply sends a local reply with extra header lines: through the
// transaction when one exists (unless force_stateless_reply), else through
// sl. The lines go in as reply lumps for this reply only.
func (a *Auth) reply(c *kemi.Ctx, code int, reason, lines string) int {
	m := c.M
	keep := len(m.ReplyLumps)
	if lines != "" {
		if err := m.AddReplyLump(lines); err != nil {
			c.Logger().Error("auth: challenge header refused", zap.Error(err))
			return -1
		}
	}
	defer func() { m.ReplyLumps = m.ReplyLumps[:keep] }()
	if !a.forceStateless {
		if rc, ok := sl.ReplyStateful(c, code, reason); ok {
			return rc
		}
	}
	if c.Engine != nil {
		if s, ok := c.Engine.Instance("sl").(*sl.SL); ok {
			return s.Reply(c, code, reason, 0)
		}
	}
	if err := c.Core.SendReply(m, msg.ReplyOpts{Code: code, Reason: reason}); err != nil {
		return -1
	}
	return 1
}

// defaultRealm is the realm used when none is given: the To host for
// REGISTER (the user being registered), the From host otherwise.
func defaultRealm(m *msg.Msg) string {
	if m.Method() == "REGISTER" {
		if to := m.SIP.To(); to != nil {
			return to.Address.Host
		}
		return ""
	}
	if fr := m.SIP.From(); fr != nil {
		return fr.Address.Host
	}
	return ""
}
