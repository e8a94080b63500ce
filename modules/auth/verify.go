package auth

import (
	"crypto/hmac"
	"crypto/subtle"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/kemi"
)

// Secret is what a storage module knows about a subscriber: the password,
// or a precomputed HA1 (H(username:realm:password) with the credentials'
// algorithm, without the -sess step).
type Secret struct {
	Password string // used when HA1 is ""
	HA1      string
}

// Lookup finds the secret of the user the credentials name, for realm (the
// realm argument with realm_prefix stripped). found false is -3 (user
// unknown); an error is -1 and is logged by the caller of Authenticate.
type Lookup func(c *Credentials, realm string) (s Secret, found bool, err error)

// Authenticate verifies the credentials of type hf for realm against the
// secret lookup returns, with method in A2 ("" is the request's method).
// It returns one of the result codes and the credentials it used (nil
// when there were none or they could not be parsed).
//
// ACK, CANCEL and PRACK are authenticated without credentials (they cannot
// be challenged). The steps, as Kamailio's pre_auth/post_auth: find the
// credentials of the realm (-5 none, -1 malformed); mark them authorized;
// check the nonce (-1 forged or for another algorithm, -4 expired or bound to
// other message parts, -6 replayed); look the user up (-3); compare the
// response (-2); record the nonce use (-6 if a concurrent request used it
// first).
func (a *Auth) Authenticate(c *kemi.Ctx, realm string, hf HFType, method string, lookup Lookup) (int, *Credentials) {
	m := c.M
	if m == nil || m.Req == nil {
		return Error, nil
	}
	switch m.Method() {
	case "ACK", "CANCEL", "PRACK":
		return OK, nil
	}
	realm = a.stripRealm(realm)
	idx, cred, found, err := findCredentials(m, hf, realm)
	if err != nil {
		a.stBadCredential.Inc()
		a.fail(c, nil, Error, err.Error())
		return Error, nil
	}
	if !found {
		return NoCredentials, nil
	}
	markAuthorized(m, hf, idx, cred)
	ni, code, why := a.checkNonce(c, cred)
	switch code {
	case 0:
	case StaleNonce:
		a.stStale.Inc()
		m.SetExt(extStale, true)
		c.Logger().Debug("auth: stale nonce", zap.String("user", cred.Username), zap.String("why", why))
		return code, cred
	case NonceReused:
		a.fail(c, cred, code, why)
		return code, cred
	default:
		a.stBadCredential.Inc()
		a.fail(c, cred, code, why)
		return code, cred
	}
	sec, ok, err := lookup(cred, realm)
	if err != nil {
		c.Logger().Error("auth: subscriber lookup failed", zap.String("user", cred.Username), zap.Error(err))
		return Error, cred
	}
	if !ok {
		a.fail(c, cred, UserUnknown, "unknown user")
		return UserUnknown, cred
	}
	ha1, err := effectiveHA1(cred, sec)
	if err != nil {
		c.Logger().Error("auth: unusable secret", zap.String("user", cred.Username), zap.Error(err))
		return Error, cred
	}
	if method == "" {
		method = m.Method()
	}
	var bodyHash string
	if cred.QOP == "auth-int" {
		bodyHash = cred.Alg.BodyHash(m.Body())
	}
	want := cred.Alg.Response(ha1, cred.Nonce, cred.NC, cred.CNonce, cred.QOP, method, cred.URI, bodyHash)
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(cred.Response))) != 1 {
		a.fail(c, cred, InvalidPassword, "wrong response")
		return InvalidPassword, cred
	}
	if code := a.commitNonce(ni, cred); code != 0 {
		a.fail(c, cred, code, "nonce used concurrently")
		if code == StaleNonce {
			m.SetExt(extStale, true)
		}
		return code, cred
	}
	if a.addAuthInfo {
		a.addAuthenticationInfo(c, cred, ha1)
	}
	a.stOK.Inc()
	return OK, cred
}

// checkNonce judges the nonce of cred for this request: 0 when usable, else
// a result code and why.
func (a *Auth) checkNonce(c *kemi.Ctx, cred *Credentials) (nonceInfo, int, string) {
	ni, err := a.keys.open(cred.Nonce)
	if err != nil {
		return ni, Error, err.Error()
	}
	if ni.alg != cred.Alg {
		// The nonce was issued with a challenge for another algorithm:
		// answering it with a weaker one is a downgrade.
		return ni, Error, "algorithm " + cred.Alg.Name + " answers a " + ni.alg.Name + " challenge"
	}
	now := a.now()
	if ni.issued > now+a.maxDrift {
		return ni, StaleNonce, "nonce issued in the future"
	}
	if now > ni.expires {
		return ni, StaleNonce, "nonce expired"
	}
	if want := a.checksFor(c.M); ni.checks != want {
		return ni, StaleNonce, "nonce bound to other message parts"
	} else if want != 0 {
		b := a.keys.binding(want, fieldsOf(c.M))
		if !hmac.Equal(b[:], ni.binding[:]) {
			return ni, StaleNonce, "message parts bound into the nonce changed"
		}
	}
	if counted, tracked := a.tracking(cred); tracked {
		switch a.table.check(ni.id, ni.expires, cred.NCValue, counted) {
		case ncReused:
			return ni, NonceReused, "nonce reused"
		case ncForgotten:
			return ni, StaleNonce, "nonce no longer tracked"
		}
	}
	return ni, 0, ""
}

// tracking says whether the replay table judges this use, and whether by
// nonce count (nonce_count with qop) or as a one-time nonce.
func (a *Auth) tracking(cred *Credentials) (counted, tracked bool) {
	switch {
	case a.ncEnabled && cred.QOP != "":
		return true, true
	case a.otnEnabled:
		return false, true
	}
	return false, false
}

// commitNonce records a successful use in the replay table.
func (a *Auth) commitNonce(ni nonceInfo, cred *Credentials) int {
	counted, tracked := a.tracking(cred)
	if !tracked {
		return 0
	}
	switch a.table.commit(ni.id, ni.expires, cred.NCValue, counted, a.now()) {
	case ncReused:
		return NonceReused
	case ncForgotten:
		return StaleNonce
	}
	return 0
}

// effectiveHA1 is the HA1 the response is computed with: from the password,
// or the stored HA1 (which must be a hash of the credentials' algorithm),
// then the -sess step.
func effectiveHA1(cred *Credentials, s Secret) (string, error) {
	var ha1 string
	if s.HA1 != "" {
		ha1 = strings.ToLower(strings.TrimSpace(s.HA1))
		if len(ha1) != cred.Alg.HexLen || !isHex(ha1) {
			return "", fmt.Errorf("stored HA1 has %d characters, %s needs %d hex digits", len(ha1), cred.Alg.Name, cred.Alg.HexLen)
		}
	} else {
		if s.Password == "" {
			return "", fmt.Errorf("empty password")
		}
		ha1 = cred.Alg.HA1(cred.Username, cred.Realm, s.Password)
	}
	return cred.Alg.SessHA1(ha1, cred.Nonce, cred.CNonce), nil
}

// addAuthenticationInfo queues Authentication-Info for the local reply
// (mutual authentication, RFC 7616 §3.5): rspauth proves the server knows
// the secret; nextnonce is a fresh nonce with one_time_nonce, else the
// current one.
func (a *Auth) addAuthenticationInfo(c *kemi.Ctx, cred *Credentials, ha1 string) {
	next := cred.Nonce
	if a.otnEnabled {
		next = a.keys.issue(cred.Alg, a.checksFor(c.M), fieldsOf(c.M), a.now(), a.nonceExpire)
	}
	var bodyHash string
	if cred.QOP == "auth-int" {
		bodyHash = cred.Alg.BodyHash("")
	}
	rspauth := cred.Alg.Response(ha1, cred.Nonce, cred.NC, cred.CNonce, cred.QOP, "", cred.URI, bodyHash)
	line := "Authentication-Info: nextnonce=\"" + next + "\""
	if cred.QOP != "" {
		line += ", qop=" + cred.QOP + ", rspauth=\"" + rspauth + "\", cnonce=" + quote(cred.CNonce) + ", nc=" + cred.NC
	} else {
		line += ", rspauth=\"" + rspauth + "\""
	}
	if err := c.M.AddReplyLump(line + "\r\n"); err != nil {
		c.Logger().Error("auth: Authentication-Info refused", zap.Error(err))
	}
}

// fail counts a failed authentication and records it for auth.failures.
func (a *Auth) fail(c *kemi.Ctx, cred *Credentials, code int, why string) {
	a.stFailed.Inc()
	user := ""
	if cred != nil {
		user = cred.Username
	}
	a.failures.record(c.M.Src.Addr(), user, code, time.Now())
	c.Logger().Info("auth: authentication failed", zap.String("user", user), zap.Int("code", code), zap.String("why", why))
}

// RecordFailure lets other modules (auth_db's identity checks) count a
// failure the same way.
func (a *Auth) RecordFailure(c *kemi.Ctx, cred *Credentials, code int, why string) {
	a.fail(c, cred, code, why)
}
