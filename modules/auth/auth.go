package auth

import (
	"crypto/rand"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/stats"
	"github.com/luasbc/luasbc/kemi"
)

// HFType says which pair of headers an authentication uses.
type HFType uint8

// Header types: WWW is Authorization / WWW-Authenticate / 401 (registrars),
// Proxy is Proxy-Authorization / Proxy-Authenticate / 407 (proxies).
const (
	WWW HFType = iota + 1
	Proxy
)

// Result codes of the authentication functions (Kamailio's auth_cfg_result_t).
const (
	OK              = 1
	Error           = -1 // generic error, malformed credentials, forged nonce, backend error
	InvalidPassword = -2
	UserUnknown     = -3
	StaleNonce      = -4 // expired, or bound to other message parts, or forgotten by the replay table
	NoCredentials   = -5
	NonceReused     = -6
	UserMismatch    = -8 // the auth user is not the From/To user
)

// Auth is a configured auth module.
type Auth struct {
	log *zap.Logger

	keys            nonceKeys
	nonceExpire     uint32
	maxDrift        uint32
	checksRegister  uint8
	checksNoDlg     uint8
	checksInDlg     uint8
	qop             string
	ncEnabled       bool
	otnEnabled      bool
	table           *nonceTable // nil unless nonce_count or one_time_nonce
	forceStateless  bool
	realmPrefix     string
	useDomain       bool
	algs            []*Algorithm
	addAuthInfo     bool
	challengeAVP    string
	wwwHeader       string
	proxyHeader     string
	failures        *failureTracker
	skew            atomic.Int64 // seconds added to the clock (tests)
	stChallenges    *stats.Counter
	stOK, stFailed  *stats.Counter
	stStale         *stats.Counter
	stBadCredential *stats.Counter
}

func newAuth(env *kemi.Env) (kemi.Instance, error) {
	a := &Auth{log: env.Log}
	if a.log == nil {
		a.log = zap.NewNop()
	}
	if err := a.configure(env.Params); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *Auth) configure(ps kemi.Params) error {
	a.stChallenges = stats.New("auth", "challenges", "401/407 challenges sent")
	a.stOK = stats.New("auth", "success", "successful digest authentications")
	a.stFailed = stats.New("auth", "failures", "failed digest authentications (wrong password, unknown user, replay, bad credentials)")
	a.stStale = stats.New("auth", "stale", "credentials with an expired nonce")
	a.stBadCredential = stats.New("auth", "bad_credentials", "malformed credentials or nonces not issued with the secret")
	for _, name := range []string{"auth_checks_register", "auth_checks_no_dlg", "auth_checks_in_dlg"} {
		if v := ps.Int(name); v < 0 || v > checkAll {
			return fmt.Errorf("%s %d: want a sum of 1, 2, 4 and 8", name, v)
		}
	}
	a.checksRegister = uint8(ps.Int("auth_checks_register"))
	a.checksNoDlg = uint8(ps.Int("auth_checks_no_dlg"))
	a.checksInDlg = uint8(ps.Int("auth_checks_in_dlg"))
	switch q := strings.ToLower(strings.TrimSpace(ps.Str("qop"))); q {
	case "", "auth", "auth-int":
		a.qop = q
	default:
		return fmt.Errorf("qop %q: want \"auth\", \"auth-int\" or \"\"", ps.Str("qop"))
	}
	exp := ps.Int("nonce_expire")
	if exp <= 0 || exp > 7*86400 {
		return fmt.Errorf("nonce_expire %d: want 1 to 604800 seconds", exp)
	}
	a.nonceExpire = uint32(exp)
	drift := ps.Int("nonce_auth_max_drift")
	if drift < 0 || drift > 86400 {
		return fmt.Errorf("nonce_auth_max_drift %d: want 0 to 86400 seconds", drift)
	}
	a.maxDrift = uint32(drift)
	a.ncEnabled, a.otnEnabled = ps.Bool("nonce_count"), ps.Bool("one_time_nonce")
	if a.ncEnabled || a.otnEnabled {
		n, err := tableSize(ps, a.ncEnabled, a.otnEnabled)
		if err != nil {
			return err
		}
		a.table = newNonceTable(n)
	}
	a.forceStateless = ps.Bool("force_stateless_reply")
	a.realmPrefix = ps.Str("realm_prefix")
	a.useDomain = ps.Bool("use_domain")
	algs, err := ParseAlgorithms(ps.Str("algorithm"))
	if err != nil {
		return fmt.Errorf("algorithm: %w", err)
	}
	a.algs = algs
	a.addAuthInfo = ps.Bool("add_authinfo_hdr")
	avp, err := avpName(ps.Str("challenge_attr"))
	if err != nil {
		return fmt.Errorf("challenge_attr: %w", err)
	}
	a.challengeAVP = avp
	a.wwwHeader, a.proxyHeader = ps.Str("www_challenge_header"), ps.Str("proxy_challenge_header")
	for name, v := range map[string]string{"www_challenge_header": a.wwwHeader, "proxy_challenge_header": a.proxyHeader} {
		if !msg.IsToken(v) {
			return fmt.Errorf("%s %q: not a header name", name, v)
		}
	}
	size, expire := ps.Int("failure_track_size"), ps.Int("failure_track_expire")
	if size < 0 || size > 1000000 || expire <= 0 {
		return fmt.Errorf("failure_track_size %d / failure_track_expire %d: want 0 to 1000000 pairs and a positive number of seconds", size, expire)
	}
	a.failures = newFailureTracker(size, time.Duration(expire)*time.Second)
	return a.configureSecret(ps.Str("secret"))
}

// configureSecret derives the nonce keys. Without a secret every start makes
// a random one: nonces then die with the process and no other node accepts
// them.
func (a *Auth) configureSecret(secret string) error {
	if secret == "" {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("random secret: %w", err)
		}
		a.keys = deriveKeys(b[:])
		a.log.Info("auth: no secret set, nonces are valid on this node until it restarts; " +
			"set the same secret on every node that must accept them")
		return nil
	}
	if len(secret) < 16 {
		a.log.Warn("auth: secret is short; use 32 characters or more")
	}
	a.keys = deriveKeys([]byte(secret))
	return nil
}

// tableSize is the number of nonces the replay table tracks: the larger of
// the sizes of the enabled features, each given directly or as a power of two.
func tableSize(ps kemi.Params, nc, otn bool) (int, error) {
	size := func(no, order string) (int, error) {
		if n := ps.Int(no); n != 0 {
			if n < 0 || n > 1<<28 {
				return 0, fmt.Errorf("%s %d: want 1 to 268435456", no, n)
			}
			return n, nil
		}
		k := ps.Int(order)
		if k < 3 || k > 28 {
			return 0, fmt.Errorf("%s %d: want 3 to 28", order, k)
		}
		return 1 << k, nil
	}
	n := 0
	if nc {
		v, err := size("nc_array_size", "nc_array_order")
		if err != nil {
			return 0, err
		}
		n = v
	}
	if otn {
		v, err := size("otn_in_flight_no", "otn_in_flight_order")
		if err != nil {
			return 0, err
		}
		n = max(n, v)
	}
	return n, nil
}

// avpName turns Kamailio's challenge_attr ("$digest_challenge", an AVP
// alias, or "$avp(name)") into a $avp(...) spec.
func avpName(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "$avp(") && strings.HasSuffix(s, ")") && len(s) > 6:
		return s, nil
	case len(s) > 1 && s[0] == '$' && msg.IsToken(s[1:]):
		return "$avp(" + s[1:] + ")", nil
	}
	return "", fmt.Errorf("%q: want $name or $avp(name)", s)
}

// now is the clock nonces are judged by, in Unix seconds.
func (a *Auth) now() uint32 { return uint32(time.Now().Unix() + a.skew.Load()) }

// stripRealm removes realm_prefix from the front of a realm.
func (a *Auth) stripRealm(realm string) string {
	if a.realmPrefix != "" && len(realm) > len(a.realmPrefix) && strings.HasPrefix(realm, a.realmPrefix) {
		return realm[len(a.realmPrefix):]
	}
	return realm
}

// checksFor is the auth_checks_* value for a request: REGISTER, in dialog
// (To tag present) or not.
func (a *Auth) checksFor(m *msg.Msg) uint8 {
	if m.Req == nil {
		return 0
	}
	if m.Method() == "REGISTER" {
		return a.checksRegister
	}
	if to := m.SIP.To(); to != nil {
		if tag, ok := to.Params.Get("tag"); ok && tag != "" {
			return a.checksInDlg
		}
	}
	return a.checksNoDlg
}

// fieldsOf gathers the parts a nonce may be bound to.
func fieldsOf(m *msg.Msg) bindFields {
	f := bindFields{callID: m.CallID(), srcIP: m.Src.Addr().Unmap().String()}
	if m.Req != nil {
		f.uri = m.OrigRURIString()
	}
	if fr := m.SIP.From(); fr != nil {
		f.fromTag, _ = fr.Params.Get("tag")
	}
	return f
}
