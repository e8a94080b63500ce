package permissions

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

// The rule-file checks: pairs of (From, R-URI of each branch) for
// allow_routing, (To, each Contact) for allow_register, (From, a URI) for
// allow_uri. A pair is allowed when the allow file matches it; else denied
// when the deny file matches it; else allowed. Two empty (or missing) files
// allow everything.

// maxURILen bounds the texts matched against rules, as Kamailio's
// EXPRESSION_LENGTH buffers do (longer URIs fail the check).
const maxURILen = 1024

// checkPairs applies the rules to left with each of rights; -1 as soon as
// one is denied.
func checkPairs(allow, deny *ruleSet, left string, rights []string) int {
	for _, r := range rights {
		if allow.matches(left, r) {
			continue
		}
		if deny.matches(left, r) {
			return -1
		}
	}
	return 1
}

// allowRouting is allow_routing: the From URI with the R-URI and, with
// check_all_branches, every branch added to the destination set.
func (p *Permissions) allowRouting(c *kemi.Ctx, allowPath, denyPath string) int {
	allow, deny, err := p.rulesFor(allowPath, denyPath)
	if err != nil {
		return -1
	}
	if allow.empty() && deny.empty() {
		return 1
	}
	m := c.M
	from, err := headerURI(m, msg.HFrom)
	if err != nil {
		c.Logger().Error("allow_routing: From", zap.Error(err))
		return -1
	}
	if m.Req == nil {
		c.Logger().Error("allow_routing: not a request")
		return -1
	}
	u := m.RURI()
	rights := []string{plainFromParsed(u)}
	if p.checkAllBranches {
		for _, b := range m.Branches {
			pl, err := plainURI(b.URI)
			if err != nil {
				c.Logger().Error("allow_routing: branch URI", zap.Error(err))
				return -1
			}
			rights = append(rights, pl)
		}
	}
	return checkPairs(allow, deny, from, rights)
}

// allowRegister is allow_register: the To URI with each Contact URI. A
// REGISTER without Contact (a query) or with "*" is allowed.
func (p *Permissions) allowRegister(c *kemi.Ctx, allowPath, denyPath string) int {
	allow, deny, err := p.rulesFor(allowPath, denyPath)
	if err != nil {
		return -1
	}
	if allow.empty() && deny.empty() {
		return 1
	}
	m := c.M
	to, err := headerURI(m, msg.HTo)
	if err != nil {
		c.Logger().Error("allow_register: To", zap.Error(err))
		return -1
	}
	var rights []string
	for i := range m.Hdrs {
		if m.Hdrs[i].Type != msg.HContact {
			continue
		}
		for _, ct := range msg.SplitComma(m.Hdrs[i].Value) {
			if ct == "*" {
				return 1
			}
			raw, err := addrSpec(ct)
			if err == nil {
				raw, err = plainURI(raw)
			}
			if err != nil {
				c.Logger().Error("allow_register: Contact", zap.Error(err))
				return -1
			}
			rights = append(rights, raw)
		}
	}
	return checkPairs(allow, deny, to, rights)
}

// allowURI is allow_uri: the From URI with the value of a pseudo-variable
// (the documented form, "$rt", "$avp(x)") or, since a URI never starts
// with '$', with the URI itself when a script passes the value.
func (p *Permissions) allowURI(c *kemi.Ctx, basename, pv string) int {
	allow, deny, err := p.rulesFor(p.path(basename+p.allowSuffix), p.path(basename+p.denySuffix))
	if err != nil {
		return -1
	}
	if allow.empty() && deny.empty() {
		return 1
	}
	from, err := headerURI(c.M, msg.HFrom)
	if err != nil {
		c.Logger().Error("allow_uri: From", zap.Error(err))
		return -1
	}
	uri := pv
	if strings.HasPrefix(pv, "$") {
		v := c.GetPV(pv)
		if v.IsNil() || v.K != kemi.KStr {
			c.Logger().Error("allow_uri: the pseudo-variable has no string value", zap.String("pv", pv))
			return -1
		}
		uri = v.S
	}
	if len(uri) > maxURILen {
		c.Logger().Error("allow_uri: URI too long", zap.Int("length", len(uri)))
		return -1
	}
	return checkPairs(allow, deny, from, []string{uri})
}

// testURI is the permissions.testUri RPC: the pair (uri, contact) against
// basename's files.
func (p *Permissions) testURI(basename, uri, contact string) (bool, error) {
	allow, deny, err := p.rules.pair(p.path(basename+p.allowSuffix), p.path(basename+p.denySuffix))
	if err != nil {
		return false, err
	}
	if allow.matches(uri, contact) {
		return true, nil
	}
	return !deny.matches(uri, contact), nil
}

// rulesFor loads a pair of rule files ("" = not loaded, empty).
func (p *Permissions) rulesFor(allowPath, denyPath string) (allow, deny *ruleSet, err error) {
	if allowPath != "" {
		if allow, err = p.rules.get(allowPath); err != nil {
			return nil, nil, err
		}
	}
	if denyPath != "" {
		if deny, err = p.rules.get(denyPath); err != nil {
			return nil, nil, err
		}
	}
	return allow, deny, nil
}

// headerURI is the URI of the From or To header exactly as written (the
// rules are regular expressions over the text, so it is not re-rendered).
func headerURI(m *msg.Msg, t msg.HType) (string, error) {
	v, ok := m.HeaderType(t)
	if !ok {
		return "", errors.New("header missing")
	}
	u, err := addrSpec(v)
	if err != nil {
		return "", err
	}
	if len(u) > maxURILen {
		return "", fmt.Errorf("URI longer than %d characters", maxURILen)
	}
	return u, nil
}

// addrSpec extracts the URI of a name-addr or addr-spec header value:
// between '<' and '>', or up to the first ';' (header parameters).
func addrSpec(v string) (string, error) {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			return "", errors.New("'<' without '>'")
		}
		v = v[i+1 : i+j]
	} else if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return "", errors.New("empty URI")
	}
	return v, nil
}

// plainURI reduces a URI to "sip:user@host" (or "sip:host"), the form
// Kamailio matches R-URIs, branches and Contacts in: no scheme variants,
// port or parameters.
func plainURI(s string) (string, error) {
	if len(s) > maxURILen {
		return "", fmt.Errorf("URI longer than %d characters", maxURILen)
	}
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil {
		return "", fmt.Errorf("URI %q: %v", s, err)
	}
	return plainFromParsed(&u), nil
}

func plainFromParsed(u *sip.Uri) string {
	if u.User != "" {
		return "sip:" + u.User + "@" + u.Host
	}
	return "sip:" + u.Host
}
