package auth

import (
	"strings"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

// Flags of pv_*_authenticate and pv_auth_check.
const (
	pvFlagHA1         = 1  // the password argument is an HA1
	pvFlagChallenge   = 2  // on failure, put a challenge without qop into challenge_attr
	pvFlagChalAuth    = 4  // ... with qop=auth
	pvFlagChalAuthInt = 8  // ... with qop=auth-int
	pvFlagStale       = 16 // ... with stale=true
)

// Exports implements kemi.Instance: Kamailio's KEMI exports of auth, with
// their signatures (Appendix A of the reference).
func (a *Auth) Exports() []kemi.Export {
	ssi := []kemi.ParamType{kemi.Str, kemi.Str, kemi.Int}
	intRet := func(name, doc string, params []kemi.ParamType, f func(c *kemi.Ctx, a *kemi.Args) int) kemi.Export {
		return kemi.Fn(name, params, kemi.RetInt, doc, func(c *kemi.Ctx, args *kemi.Args) kemi.Value {
			return kemi.IntV(f(c, args))
		})
	}
	return []kemi.Export{
		kemi.FnStrInt("auth_algorithm",
			"Digest algorithm(s) for the challenges of this request: MD5, SHA-256, SHA-512-256, a -sess variant, or (luasbc) a comma-separated list. 1 ok, -1 unknown.",
			a.kiAlgorithm),
		kemi.FnStrIntInt("auth_challenge",
			"401 with WWW-Authenticate for REGISTER, 407 with Proxy-Authenticate otherwise. flags: 1 qop=auth, 2 qop=auth-int, 4 no automatic 500, 16 stale=true. 1 sent, -2 challenge not built, -3 reply not sent.",
			func(c *kemi.Ctx, realm string, flags int) int {
				hf := Proxy
				if c.M.Method() == "REGISTER" {
					hf = WWW
				}
				return a.challenge(c, realm, flags, hf)
			}),
		kemi.FnStrIntInt("www_challenge", "401 with WWW-Authenticate (flags as auth_challenge).",
			func(c *kemi.Ctx, realm string, flags int) int { return a.challenge(c, realm, flags, WWW) }),
		kemi.FnStrIntInt("proxy_challenge", "407 with Proxy-Authenticate (flags as auth_challenge).",
			func(c *kemi.Ctx, realm string, flags int) int { return a.challenge(c, realm, flags, Proxy) }),
		intRet("auth_get_www_authenticate",
			"Put a WWW-Authenticate header line (name and CRLF included; one line per algorithm) into the variable pvdest, without sending anything. 1 ok, -1 bad variable, -2 not built.",
			[]kemi.ParamType{kemi.Str, kemi.Int, kemi.Str}, func(c *kemi.Ctx, args *kemi.Args) int {
				return a.getWWWAuthenticate(c, args.S[0], int(args.I[1]), args.S[2])
			}),
		kemi.Fn0Int("consume_credentials",
			"Remove the credentials header the last authentication used from the forwarded request. 1 ok, -1 none authorized.",
			a.consumeCredentials),
		kemi.FnStrInt("has_credentials",
			"1 if a Proxy-Authorization or Authorization header has Digest credentials for realm, else -1.",
			a.hasCredentials),
		intRet("pv_www_authenticate",
			"Verify the Authorization credentials for realm against passwd. flags: 1 passwd is HA1; 2/4/8 on failure put a challenge (no qop / auth / auth-int) into challenge_attr; 16 with stale=true. 1 ok; -1 error; -2 wrong password; -4 stale nonce; -5 no credentials; -6 nonce reused.",
			ssi, func(c *kemi.Ctx, args *kemi.Args) int {
				return a.pvAuthenticate(c, args.S[0], args.S[1], int(args.I[2]), WWW, "")
			}),
		intRet("pv_www_authenticate_method",
			"pv_www_authenticate with the method used in the digest (instead of the request's).",
			[]kemi.ParamType{kemi.Str, kemi.Str, kemi.Int, kemi.Str}, func(c *kemi.Ctx, args *kemi.Args) int {
				if args.S[3] == "" {
					c.Logger().Error("pv_www_authenticate_method: empty method")
					return Error
				}
				return a.pvAuthenticate(c, args.S[0], args.S[1], int(args.I[2]), WWW, args.S[3])
			}),
		intRet("pv_proxy_authenticate",
			"As pv_www_authenticate, with the Proxy-Authorization credentials.",
			ssi, func(c *kemi.Ctx, args *kemi.Args) int {
				return a.pvAuthenticate(c, args.S[0], args.S[1], int(args.I[2]), Proxy, "")
			}),
		intRet("pv_auth_check",
			"pv_www_authenticate for REGISTER, pv_proxy_authenticate otherwise; checks 1: the auth user must be the To user (REGISTER, PUBLISH) or From user (-8 otherwise).",
			[]kemi.ParamType{kemi.Str, kemi.Str, kemi.Int, kemi.Int}, func(c *kemi.Ctx, args *kemi.Args) int {
				return a.pvAuthCheck(c, args.S[0], args.S[1], int(args.I[2]), int(args.I[3]))
			}),
	}
}

func (a *Auth) kiAlgorithm(c *kemi.Ctx, s string) int {
	algs, err := ParseAlgorithms(s)
	if err != nil || strings.TrimSpace(s) == "" {
		c.Logger().Error("auth_algorithm: invalid algorithm", zap.String("algorithm", s))
		return -1
	}
	c.M.SetExt(extAlgs, algs)
	return 1
}

func (a *Auth) getWWWAuthenticate(c *kemi.Ctx, realm string, flags int, dst string) int {
	if realm == "" {
		c.Logger().Error("auth_get_www_authenticate: empty realm")
		return -1
	}
	// As Kamailio, the nonce is not bound to this message: the header may
	// be used for another one.
	lines, err := a.challengeLines(c.M, WWW, challengeOpts{realm: realm, qop: a.qopOf(flags), stale: flags&flagStale != 0})
	if err != nil {
		c.Logger().Error("auth_get_www_authenticate: challenge not built", zap.Error(err))
		return -2
	}
	if err := c.SetPV(dst, kemi.StrV(lines)); err != nil {
		c.Logger().Error("auth_get_www_authenticate: cannot set variable", zap.String("pv", dst), zap.Error(err))
		return -1
	}
	return 1
}

// pvAuthenticate is pv_www_authenticate / pv_proxy_authenticate: the
// password (or HA1) comes from the script.
func (a *Auth) pvAuthenticate(c *kemi.Ctx, realm, passwd string, flags int, hf HFType, method string) int {
	code, _ := a.pvAuth(c, realm, passwd, flags, hf, method)
	return code
}

func (a *Auth) pvAuth(c *kemi.Ctx, realm, passwd string, flags int, hf HFType, method string) (int, *Credentials) {
	if realm == "" || passwd == "" {
		// An unset variable must never authenticate against "".
		c.Logger().Error("pv authentication: empty realm or password")
		return Error, nil
	}
	code, cred := a.Authenticate(c, realm, hf, method, func(*Credentials, string) (Secret, bool, error) {
		if flags&pvFlagHA1 != 0 {
			return Secret{HA1: passwd}, true, nil
		}
		return Secret{Password: passwd}, true, nil
	})
	if code < 0 && flags&(pvFlagChallenge|pvFlagChalAuth|pvFlagChalAuthInt) != 0 {
		a.challengeToAVP(c, realm, flags, hf)
	}
	return code, cred
}

// challengeToAVP puts a challenge header into challenge_attr, for the
// script to send with append_to_reply and its own reply.
func (a *Auth) challengeToAVP(c *kemi.Ctx, realm string, flags int, hf HFType) {
	qop := ""
	switch {
	case flags&pvFlagChalAuthInt != 0:
		qop = "auth-int"
	case flags&pvFlagChalAuth != 0:
		qop = "auth"
	}
	lines, err := a.challengeLines(c.M, hf, challengeOpts{realm: realm, qop: qop, stale: isStale(c.M, flags&pvFlagStale), bind: true})
	if err == nil {
		err = c.SetPV(a.challengeAVP, kemi.StrV(lines))
	}
	if err != nil {
		c.Logger().Error("auth: challenge not stored", zap.String("avp", a.challengeAVP), zap.Error(err))
	}
}

func (a *Auth) pvAuthCheck(c *kemi.Ctx, realm, passwd string, flags, checks int) int {
	m := c.M
	if m.Req == nil {
		return Error
	}
	switch m.Method() {
	case "ACK", "CANCEL":
		return OK
	}
	hf := Proxy
	if m.Method() == "REGISTER" {
		hf = WWW
	}
	code, cred := a.pvAuth(c, realm, passwd, flags, hf, "")
	if code != OK || checks&1 == 0 {
		return code
	}
	if rc := CheckIdentity(m, cred, a.useDomain, false); rc != OK {
		if rc == UserMismatch {
			a.fail(c, cred, rc, "auth user is not the From/To user")
		}
		return rc
	}
	return OK
}

func (a *Auth) consumeCredentials(c *kemi.Ctx) int {
	m := c.M
	if m.Req == nil {
		return -1
	}
	switch m.Method() {
	case "ACK", "CANCEL", "PRACK":
		return -1
	}
	au, _ := m.GetExt(extAuthorized).(*authorized)
	if au == nil {
		c.Logger().Error("consume_credentials: no authorized credentials (authenticate first)")
		return -1
	}
	if done, _ := m.GetExt(extConsumed).(bool); done {
		return 1
	}
	if err := removeHeaderAt(m, au.idx); err != nil {
		c.Logger().Error("consume_credentials: cannot remove the header", zap.Error(err))
		return -1
	}
	m.SetExt(extConsumed, true)
	return 1
}

// removeHeaderAt removes header idx from the forwarded message and keeps
// the other headers of the same name: header lumps act on every header of
// a name, so those are written back (unfolded) where the first one was.
func removeHeaderAt(m *msg.Msg, idx int) error {
	h := m.Hdrs[idx]
	var keep strings.Builder
	for i := range m.Hdrs {
		if i == idx || m.Hdrs[i].Type != h.Type {
			continue
		}
		keep.WriteString(m.Hdrs[i].Name + ": " + msg.Unfold(m.Hdrs[i].Value) + "\r\n")
	}
	if keep.Len() == 0 {
		return m.AddLump(msg.LumpRemove, h.Name, "")
	}
	return m.AddLump(msg.LumpReplace, h.Name, keep.String())
}

func (a *Auth) hasCredentials(c *kemi.Ctx, realm string) int {
	if c.M.Req == nil {
		return -1
	}
	for _, hf := range []HFType{Proxy, WWW} {
		if _, _, found, err := findCredentials(c.M, hf, realm); err == nil && found {
			return 1
		}
	}
	return -1
}
