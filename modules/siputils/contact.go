package siputils

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

// contactState holds the Contact values as rewritten so far in this message,
// so that successive contact_param_* calls stack, and the lump that carries
// them (replaced on each rewrite).
type contactState struct {
	values map[int]string
	lump   *msg.Lump
}

const contactKey = "siputils.contact"

func state(m *msg.Msg) *contactState {
	st, _ := m.GetExt(contactKey).(*contactState)
	if st == nil {
		st = &contactState{values: map[int]string{}}
		m.SetExt(contactKey, st)
	}
	return st
}

func (st *contactState) value(m *msg.Msg, i int) string {
	if v, ok := st.values[i]; ok {
		return v
	}
	return msg.Unfold(m.Hdrs[i].Value)
}

// uriSpan locates the URI inside one Contact value: between <> or, for a
// bare URI, up to the first ';' (what follows are header parameters).
func uriSpan(v string) (start, end int, bracketed bool) {
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return i + 1, i + j, true
		}
		return -1, -1, false
	}
	end = len(v)
	if i := strings.IndexByte(v, ';'); i >= 0 {
		end = i
	}
	return 0, end, false
}

// uriEdit returns the new URI and whether it changed.
type uriEdit func(uri string) (string, bool, error)

var errNoContact = errors.New("no Contact header")

// rewriteContacts applies f to every Contact URI (the "*" wildcard excluded)
// and replaces the Contact headers through one header lump.
func rewriteContacts(c *kemi.Ctx, f uriEdit) (changed bool, err error) {
	m := c.M
	st := state(m)
	newVals := map[int]string{}
	first := -1
	for i := range m.Hdrs {
		if m.Hdrs[i].Type != msg.HContact {
			continue
		}
		if first < 0 {
			first = i
		}
		elems := msg.SplitComma(st.value(m, i))
		lineChanged := false
		for k, e := range elems {
			if e == "*" || e == "" {
				continue
			}
			s, en, br := uriSpan(e)
			if s < 0 {
				return false, errors.New("malformed Contact value " + strconv.Quote(e))
			}
			nu, ch, err := f(strings.TrimSpace(e[s:en]))
			if err != nil {
				return false, err
			}
			if !ch {
				continue
			}
			if !br && strings.ContainsAny(nu, ";,?") {
				nu = "<" + nu + ">"
			}
			elems[k] = e[:s] + nu + e[en:]
			lineChanged = true
		}
		if lineChanged {
			newVals[i] = strings.Join(elems, ", ")
		}
	}
	if first < 0 {
		return false, errNoContact
	}
	if len(newVals) == 0 {
		return false, nil
	}
	var b strings.Builder
	for i := range m.Hdrs {
		if m.Hdrs[i].Type != msg.HContact {
			continue
		}
		v, ok := newVals[i]
		if !ok {
			v = st.value(m, i)
		}
		b.WriteString(m.Hdrs[i].Name + ": " + v + "\r\n")
	}
	text, err := msg.CheckHeaderText(b.String())
	if err != nil {
		return false, err
	}
	dropLump(m, st.lump)
	if err := m.AddLump(msg.LumpReplace, m.Hdrs[first].Name, text); err != nil {
		return false, err
	}
	added := m.Lumps[len(m.Lumps)-1]
	st.lump = &added
	for i, v := range newVals {
		st.values[i] = v
	}
	return true, nil
}

// dropLump removes the lump this module added before (by value: the slice
// may have been reallocated since).
func dropLump(m *msg.Msg, l *msg.Lump) {
	if l == nil {
		return
	}
	for i := range m.Lumps {
		if m.Lumps[i] == *l {
			m.Lumps = append(m.Lumps[:i:i], m.Lumps[i+1:]...)
			return
		}
	}
}

func b64dec(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return "", err
	}
	if err := msg.CheckValue(string(b)); err != nil {
		return "", err
	}
	return string(b), nil
}

// paramEncode replaces each Contact URI with saddr;pname=<base64url of the
// original URI> (plus, with alias, the source address as an alias param
// inside the encoded URI, so that it can be routed to after decoding).
func (s *siputils) paramEncode(c *kemi.Ctx, fn, pname, saddr string, alias bool) int {
	if pname == "" || strings.ContainsAny(pname, ";=<>,? \t\r\n") {
		c.Logger().Error("invalid parameter name", zap.String("function", "siputils."+fn))
		return -1
	}
	if _, ok := parseURI(saddr); !ok || msg.CheckValue(saddr) != nil {
		c.Logger().Error("invalid server address URI", zap.String("function", "siputils."+fn), zap.String("saddr", saddr))
		return -1
	}
	_, err := rewriteContacts(c, func(uri string) (string, bool, error) {
		if len(uri) <= 4 {
			return uri, false, nil
		}
		if alias {
			uri += ";alias=" + c.M.Src.Addr().Unmap().String() + "~" + strconv.Itoa(int(c.M.Src.Port())) +
				"~" + strconv.Itoa(int(c.M.Proto))
		}
		return saddr + ";" + pname + "=" + base64.RawURLEncoding.EncodeToString([]byte(uri)), true, nil
	})
	return s.contactResult(c, fn, err, 1)
}

func (s *siputils) contactResult(c *kemi.Ctx, fn string, err error, noContact int) int {
	switch {
	case errors.Is(err, errNoContact):
		return noContact
	case err != nil:
		c.Logger().Error("Contact rewrite failed", zap.String("function", "siputils."+fn), zap.Error(err))
		return -1
	}
	return 1
}

func decodedParam(uri, pname string) (string, bool, error) {
	p, ok := splitURI(uri)
	if !ok {
		return "", false, nil
	}
	v, hasVal, found, _ := p.param(pname, true)
	if !found || !hasVal {
		return "", false, nil
	}
	d, err := b64dec(v)
	if err == nil {
		err = checkURIText(d)
	}
	if err != nil {
		return "", false, errors.New("cannot decode parameter " + pname + ": " + err.Error())
	}
	return d, true, nil
}

func (s *siputils) paramDecode(c *kemi.Ctx, pname string) int {
	_, err := rewriteContacts(c, func(uri string) (string, bool, error) { return decodedParam(uri, pname) })
	return s.contactResult(c, "contact_param_decode", err, 1)
}

func (s *siputils) paramDecodeRURI(c *kemi.Ctx, pname string) int {
	if c.M.Req == nil {
		return -1
	}
	d, ok, err := decodedParam(c.M.RURIString(), pname)
	if err != nil {
		c.Logger().Error("R-URI decode failed", zap.String("function", "siputils.contact_param_decode_ruri"), zap.Error(err))
		return -1
	}
	if !ok {
		return 1
	}
	return setRURI(c, "contact_param_decode_ruri", d)
}

func (s *siputils) paramRm(c *kemi.Ctx, pname string) int {
	_, err := rewriteContacts(c, func(uri string) (string, bool, error) {
		p, ok := splitURI(uri)
		if !ok {
			return uri, false, nil
		}
		changed := false
		for {
			_, _, found, i := p.param(pname, true)
			if !found {
				break
			}
			p.remove(i)
			changed = true
		}
		return p.String(), changed, nil
	})
	return s.contactResult(c, "contact_param_rm", err, 1)
}

// paramCheck is 1 when any Contact URI of the received message carries the
// parameter (like the other checks it ignores this route's rewrites).
func (s *siputils) paramCheck(c *kemi.Ctx, pname string) int {
	for _, v := range c.M.Headers("Contact") {
		for _, e := range msg.SplitComma(msg.Unfold(v)) {
			st, en, _ := uriSpan(e)
			if st < 0 || e == "*" {
				continue
			}
			if p, ok := splitURI(strings.TrimSpace(e[st:en])); ok {
				if _, _, f, _ := p.param(pname, true); f {
					return 1
				}
			}
		}
	}
	return -1
}
