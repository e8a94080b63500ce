package auth

import (
	"errors"
	"strings"

	"github.com/luasbc/luasbc/core/msg"
)

// Per-message state, kept in msg.Ext.
const (
	extParsed     = "auth.parsed"     // *credCache
	extAuthorized = "auth.authorized" // *authorized
	extStale      = "auth.stale"      // true after a -4 on this request
	extAlgs       = "auth.algs"       // []*Algorithm set by auth_algorithm()
	extConsumed   = "auth.consumed"   // true after consume_credentials()
)

// maxCredHeaders bounds how many credentials headers of one type a request
// may carry; more is refused as malformed (a real request has one or two).
const maxCredHeaders = 8

var errTooManyHeaders = errors.New("too many credentials headers")

// credCache holds the parse result of each credentials header of a message
// by its index in m.Hdrs, so that the several functions and variables that
// read them parse each once.
type credCache struct {
	idx  []int
	cred []*Credentials
	err  []error
}

// parsedAt parses header i of m (an Authorization or Proxy-Authorization).
func parsedAt(m *msg.Msg, i int) (*Credentials, error) {
	cc, _ := m.GetExt(extParsed).(*credCache)
	if cc == nil {
		cc = &credCache{}
		m.SetExt(extParsed, cc)
	}
	for k, j := range cc.idx {
		if j == i {
			return cc.cred[k], cc.err[k]
		}
	}
	c, err := ParseCredentials(m.Hdrs[i].Value)
	cc.idx, cc.cred, cc.err = append(cc.idx, i), append(cc.cred, c), append(cc.err, err)
	return c, err
}

func hdrType(hf HFType) msg.HType {
	if hf == Proxy {
		return msg.HProxyAuthorization
	}
	return msg.HAuthorization
}

// findCredentials returns the first Digest credentials of type hf whose
// realm equals realm (ignoring case), with the header's index. found is
// false when there are none; err is set when a header of that type is
// malformed or there are too many: as Kamailio, a malformed header is an
// error even when another one would match.
func findCredentials(m *msg.Msg, hf HFType, realm string) (idx int, c *Credentials, found bool, err error) {
	t := hdrType(hf)
	n := 0
	for i := range m.Hdrs {
		if m.Hdrs[i].Type != t {
			continue
		}
		if n++; n > maxCredHeaders {
			return 0, nil, false, errTooManyHeaders
		}
		cred, perr := parsedAt(m, i)
		switch {
		case errors.Is(perr, ErrNotDigest):
			continue
		case perr != nil:
			return 0, nil, false, perr
		}
		if !found && strings.EqualFold(cred.Realm, realm) {
			idx, c, found = i, cred, true
		}
	}
	return idx, c, found, nil
}

// firstDigest is the first parseable Digest credentials of type hf (for
// the variables), or nil.
func firstDigest(m *msg.Msg, hf HFType) (int, *Credentials) {
	t := hdrType(hf)
	n := 0
	for i := range m.Hdrs {
		if m.Hdrs[i].Type != t {
			continue
		}
		if n++; n > maxCredHeaders {
			return 0, nil
		}
		if c, err := parsedAt(m, i); err == nil {
			return i, c
		}
	}
	return 0, nil
}

// authorized marks the credentials an authentication used (Kamailio's
// "authorized credentials"): consume_credentials removes that header and the
// variables read it first.
type authorized struct {
	hf   HFType
	idx  int
	cred *Credentials
}

func markAuthorized(m *msg.Msg, hf HFType, idx int, c *Credentials) {
	m.SetExt(extAuthorized, &authorized{hf: hf, idx: idx, cred: c})
}

// Authorized returns the credentials the last authentication of m used, or
// nil (for other modules: the authenticated user is Authorized(m).Username).
func Authorized(m *msg.Msg) *Credentials {
	if au, _ := m.GetExt(extAuthorized).(*authorized); au != nil {
		return au.cred
	}
	return nil
}

// currentCredentials is what the auth variables read: the authorized
// credentials, else (as Kamailio) the first Proxy-Authorization when there
// is one, else the first Authorization.
func currentCredentials(m *msg.Msg) *Credentials {
	if m.Req == nil {
		return nil
	}
	switch m.Method() {
	case "ACK", "CANCEL":
		return nil
	}
	if c := Authorized(m); c != nil {
		return c
	}
	if _, c := firstDigest(m, Proxy); c != nil {
		return c
	}
	_, c := firstDigest(m, WWW)
	return c
}
