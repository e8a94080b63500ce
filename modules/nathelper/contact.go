package nathelper

import (
	"errors"
	"strings"

	"github.com/luasbc/luasbc/core/msg"
)

// contactElem is one comma-separated element of a Contact header value:
// a name-addr ("Bob" <sip:...>;params) or a bare addr-spec (sip:...;params).
type contactElem struct {
	text       string
	start, end int // the URI inside text
	bracketed  bool
}

// parseContactElem locates the URI of one Contact element. For a bare URI
// the header parameters begin at the first ';' (RFC 3261 §20.10), so a bare
// URI never has URI parameters of its own.
func parseContactElem(e string) (contactElem, bool) {
	c := contactElem{text: e}
	if i := strings.IndexByte(e, '<'); i >= 0 {
		j := strings.IndexByte(e[i:], '>')
		if j < 0 {
			return c, false
		}
		c.start, c.end, c.bracketed = i+1, i+j, true
		return c, true
	}
	c.end = len(e)
	if i := strings.IndexByte(e, ';'); i >= 0 {
		c.end = i
	}
	if strings.TrimSpace(e[:c.end]) == "" {
		return c, false
	}
	return c, true
}

func (c contactElem) uri() string { return strings.TrimSpace(c.text[c.start:c.end]) }

// withURI returns the element with its URI replaced; a bare URI that now
// carries parameters is put between <> so they stay URI parameters.
func (c contactElem) withURI(u string) string {
	if !c.bracketed && strings.ContainsAny(u, ";?,") {
		u = "<" + u + ">"
	}
	return c.text[:c.start] + u + c.text[c.end:]
}

// contactState is what this module did to the Contact headers of one
// message: their current values and the lump that carries them. It is never
// changed in place — tm's branch copies share per-message values — every
// edit stores a new one.
type contactState struct {
	names     []string // header names as written ("Contact", "m")
	values    []string // current values, one per Contact header line
	lump      *msg.Lump
	uriEdited bool // fix_nated_contact / *_contact_alias already rewrote the first URI
}

const extContact = "nathelper.contact"

var errNoContact = errors.New("no Contact header")

// currentContacts returns the Contact header lines as edits so far left
// them: this module's own state, else a Contact replacement another module
// queued (so that edits stack; none when the script removed the Contact
// headers), else the received headers.
func currentContacts(m *msg.Msg) *contactState {
	if st, ok := m.GetExt(extContact).(*contactState); ok {
		return st
	}
	st := &contactState{}
	for i := len(m.Lumps) - 1; i >= 0; i-- {
		l := m.Lumps[i]
		if l.Op == msg.LumpRemove && msg.TypeOf(l.Name) == msg.HContact {
			return st // removed by the script: no Contact to edit
		}
		if l.Op == msg.LumpReplace && msg.TypeOf(l.Name) == msg.HContact {
			for _, line := range strings.Split(strings.TrimSuffix(l.Text, "\r\n"), "\r\n") {
				name, v, ok := strings.Cut(line, ":")
				if ok && msg.TypeOf(strings.TrimSpace(name)) == msg.HContact {
					st.names = append(st.names, strings.TrimSpace(name))
					st.values = append(st.values, strings.TrimSpace(v))
				}
			}
			st.lump = &l
			return st
		}
	}
	for i := range m.Hdrs {
		if m.Hdrs[i].Type == msg.HContact {
			st.names = append(st.names, m.Hdrs[i].Name)
			st.values = append(st.values, msg.Unfold(m.Hdrs[i].Value))
		}
	}
	return st
}

// elemEdit rewrites one Contact element: the new text and whether it changed.
type elemEdit func(e contactElem) (string, bool, error)

// editContacts applies f to the Contact elements (only the first with
// firstOnly, as Kamailio's functions that work on "the" Contact) and queues
// one lump replacing every Contact header line. The "*" of a REGISTER is
// not a contact: a first-only edit fails on it, others skip it.
func editContacts(m *msg.Msg, firstOnly, uriEdit bool, f elemEdit) (changed bool, err error) {
	st := currentContacts(m)
	if len(st.values) == 0 {
		return false, errNoContact
	}
	if uriEdit && st.uriEdited {
		return false, errors.New("the Contact URI was already rewritten for this message (call only one of fix_nated_contact, add_contact_alias, set_contact_alias)")
	}
	vals := append([]string(nil), st.values...)
	idx := 0
	for li, v := range vals {
		// Elements are replaced in place: the text around them (separators,
		// elements not edited) goes out exactly as received.
		var b strings.Builder
		last := 0
		for _, sp := range commaSpans(v) {
			e := v[sp.start:sp.end]
			if e == "" {
				continue
			}
			if e == "*" {
				if firstOnly {
					return false, errors.New("Contact is the wildcard *")
				}
				continue
			}
			ce, ok := parseContactElem(e)
			if !ok {
				return false, errors.New("malformed Contact value")
			}
			ne, ch, err := f(ce)
			if err != nil {
				return false, err
			}
			idx++
			if ch {
				b.WriteString(v[last:sp.start])
				b.WriteString(ne)
				last = sp.end
			}
			if firstOnly {
				break
			}
		}
		if last > 0 {
			b.WriteString(v[last:])
			vals[li], changed = b.String(), true
		}
		if firstOnly && idx > 0 {
			break
		}
	}
	if !changed {
		return false, nil
	}
	var b strings.Builder
	for i, v := range vals {
		b.WriteString(st.names[i] + ": " + v + "\r\n")
	}
	text, err := msg.CheckHeaderText(b.String())
	if err != nil {
		return false, err
	}
	if st.lump != nil {
		dropLump(m, *st.lump)
	}
	if err := m.AddLump(msg.LumpReplace, st.names[0], text); err != nil {
		return false, err
	}
	l := m.Lumps[len(m.Lumps)-1]
	m.SetExt(extContact, &contactState{names: st.names, values: vals, lump: &l, uriEdited: st.uriEdited || uriEdit})
	return true, nil
}

// commaSpans locates the elements of a header value separated by
// top-level commas (not inside quotes or <>), without surrounding blanks.
func commaSpans(v string) []span {
	var out []span
	add := func(a, b int) {
		for a < b && (v[a] == ' ' || v[a] == '\t') {
			a++
		}
		for b > a && (v[b-1] == ' ' || v[b-1] == '\t') {
			b--
		}
		out = append(out, span{a, b})
	}
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			depth++
		case c == '>':
			if depth > 0 {
				depth--
			}
		case c == ',' && depth == 0:
			add(start, i)
			start = i + 1
		}
	}
	add(start, len(v))
	return out
}

// dropLump removes a queued lump, found by value (the slice may have been
// copied or reallocated since it was added).
func dropLump(m *msg.Msg, l msg.Lump) {
	for i := range m.Lumps {
		if m.Lumps[i] == l {
			m.Lumps = append(m.Lumps[:i:i], m.Lumps[i+1:]...)
			return
		}
	}
}

// firstContactURI is the first Contact URI of the message as received
// (the tests of nat_uac_test look at what the user agent sent).
func firstContactURI(m *msg.Msg) (sipURI, bool) {
	for i := range m.Hdrs {
		if m.Hdrs[i].Type != msg.HContact {
			continue
		}
		for _, e := range msg.SplitComma(msg.Unfold(m.Hdrs[i].Value)) {
			if e == "" {
				continue
			}
			if e == "*" {
				return sipURI{}, false
			}
			ce, ok := parseContactElem(e)
			if !ok {
				return sipURI{}, false
			}
			return parseSIPURI(ce.uri())
		}
	}
	return sipURI{}, false
}
