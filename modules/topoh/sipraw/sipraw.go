// Package sipraw reads and rewrites SIP messages as bytes, for the topology
// hiding modules (topoh, topos): they work on what arrives before the core
// parses it and on what leaves after the core built it, so they cannot use
// the parsed message of the core. Parsing is the core's header index
// (msg.IndexHeaders) plus small, allocation-light readers for the few
// values topology hiding needs (Via, Record-Route, Route, Contact, tags,
// Call-ID, CSeq). Every reader accepts any input without panicking: the
// bytes come from the network.
package sipraw

import (
	"errors"
	"strconv"
	"strings"

	"github.com/luasbc/luasbc/core/msg"
)

// Msg is one message as bytes with its header index.
type Msg struct {
	Buf      string
	Hdrs     []msg.Hdr
	FirstEnd int // offset after the CRLF of the first line
	BodyOff  int // offset of the body

	Request bool
	Method  string // request method
	RURI    string // Request-URI as written
	Status  int    // reply status
}

// Errors of Parse.
var (
	ErrFirstLine = errors.New("malformed first line")
)

// Parse indexes b (which it does not keep: the text is copied once).
func Parse(b []byte) (*Msg, error) {
	return ParseString(string(b))
}

// ParseString indexes s.
func ParseString(s string) (*Msg, error) {
	hdrs, fe, bo, err := msg.IndexHeaders(s, make([]msg.Hdr, 0, 16))
	if err != nil {
		return nil, err
	}
	m := &Msg{Buf: s, Hdrs: hdrs, FirstEnd: fe, BodyOff: bo}
	line := s[:fe-2]
	if rest, ok := strings.CutPrefix(line, "SIP/2.0 "); ok {
		if len(rest) < 3 {
			return nil, ErrFirstLine
		}
		code, err := strconv.Atoi(rest[:3])
		if err != nil || code < 100 || code > 699 {
			return nil, ErrFirstLine
		}
		m.Status = code
		return m, nil
	}
	sp1 := strings.IndexByte(line, ' ')
	sp2 := strings.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 <= sp1+1 || !msg.IsToken(line[:sp1]) {
		return nil, ErrFirstLine
	}
	m.Request = true
	m.Method = line[:sp1]
	m.RURI = line[sp1+1 : sp2]
	return m, nil
}

// Version is the SIP version of a request line ("SIP/2.0").
func (m *Msg) Version() string {
	if !m.Request {
		return "SIP/2.0"
	}
	line := m.Buf[:m.FirstEnd-2]
	return line[strings.LastIndexByte(line, ' ')+1:]
}

// Body is everything after the headers.
func (m *Msg) Body() string { return m.Buf[m.BodyOff:] }

// First returns the index of the first header of type t, -1 if none.
func (m *Msg) First(t msg.HType) int {
	for i := range m.Hdrs {
		if m.Hdrs[i].Type == t {
			return i
		}
	}
	return -1
}

// Last returns the index of the last header of type t, -1 if none.
func (m *Msg) Last(t msg.HType) int {
	for i := len(m.Hdrs) - 1; i >= 0; i-- {
		if m.Hdrs[i].Type == t {
			return i
		}
	}
	return -1
}

// Name is a header name prepared for matching without allocating per
// header (msg.Hdr.Is lower-cases the name it is given on every call): make
// one per constant name with NewName.
type Name struct {
	t     msg.HType
	canon string // lower-case full name, for HOther
}

// NewName prepares a header name (any case, compact or full).
func NewName(name string) Name { return matchName(name) }

type nameMatch = Name

func matchName(name string) nameMatch {
	t := msg.TypeOf(name)
	if t != msg.HOther {
		return nameMatch{t: t}
	}
	return nameMatch{canon: msg.CanonName(name)}
}

// Value returns the value of the first header with this name in m.
func (n Name) Value(m *Msg) (string, bool) {
	for i := range m.Hdrs {
		if n.is(&m.Hdrs[i]) {
			return m.Hdrs[i].Value, true
		}
	}
	return "", false
}

// Remove drops every header with this name.
func (n Name) Remove(e *Edit) {
	for i := range e.m.Hdrs {
		if n.is(&e.m.Hdrs[i]) {
			e.Remove(i)
		}
	}
}

func (n nameMatch) is(h *msg.Hdr) bool {
	if n.t != msg.HOther {
		return h.Type == n.t
	}
	if h.Type != msg.HOther {
		return false
	}
	if len(h.Name) == 1 { // a compact form
		return msg.CanonName(h.Name) == n.canon
	}
	return strings.EqualFold(h.Name, n.canon)
}

// Named returns the indexes of the headers named name (any case).
func (m *Msg) Named(name string) []int {
	var out []int
	nm := matchName(name)
	for i := range m.Hdrs {
		if nm.is(&m.Hdrs[i]) {
			out = append(out, i)
		}
	}
	return out
}

// HasNamed reports whether a header named name is present.
func (m *Msg) HasNamed(name string) bool {
	nm := matchName(name)
	for i := range m.Hdrs {
		if nm.is(&m.Hdrs[i]) {
			return true
		}
	}
	return false
}

// Value returns the value of the first header of type t.
func (m *Msg) Value(t msg.HType) (string, bool) {
	if i := m.First(t); i >= 0 {
		return m.Hdrs[i].Value, true
	}
	return "", false
}

// NamedValue returns the value of the first header named name.
func (m *Msg) NamedValue(name string) (string, bool) {
	nm := matchName(name)
	for i := range m.Hdrs {
		if nm.is(&m.Hdrs[i]) {
			return m.Hdrs[i].Value, true
		}
	}
	return "", false
}

// Line is the complete text of header i with its CRLF.
func (m *Msg) Line(i int) string { return m.Buf[m.Hdrs[i].Start:m.Hdrs[i].End] }

// Item is one comma-separated value of a header, with the header it is in.
type Item struct {
	Hdr  int
	Text string
}

// Items returns the comma-separated values of every header of type t, in
// order (Via, Record-Route, Route, Contact).
func (m *Msg) Items(t msg.HType) []Item {
	var out []Item
	for i := range m.Hdrs {
		if m.Hdrs[i].Type != t {
			continue
		}
		for _, v := range msg.SplitComma(msg.Unfold(m.Hdrs[i].Value)) {
			if v != "" {
				out = append(out, Item{Hdr: i, Text: v})
			}
		}
	}
	return out
}

// CallID is the Call-ID value.
func (m *Msg) CallID() string {
	v, _ := m.Value(msg.HCallID)
	return v
}

// CSeq returns the number and method of CSeq ("", "" when missing).
func (m *Msg) CSeq() (num, method string) {
	v, ok := m.Value(msg.HCSeq)
	if !ok {
		return "", ""
	}
	f := strings.Fields(v)
	if len(f) != 2 {
		return "", ""
	}
	return f[0], f[1]
}

// CSeqMethod is the method of CSeq.
func (m *Msg) CSeqMethod() string {
	_, meth := m.CSeq()
	return meth
}

// FromTag is the tag parameter of From.
func (m *Msg) FromTag() string {
	v, _ := m.Value(msg.HFrom)
	return HeaderParam(v, "tag")
}

// ToTag is the tag parameter of To.
func (m *Msg) ToTag() string {
	v, _ := m.Value(msg.HTo)
	return HeaderParam(v, "tag")
}

// InDialog reports whether a request carries a To tag.
func (m *Msg) InDialog() bool { return m.ToTag() != "" }

// TopViaBranch is the branch parameter of the first Via value.
func (m *Msg) TopViaBranch() string {
	i := m.First(msg.HVia)
	if i < 0 {
		return ""
	}
	return ViaParam(firstValue(m.Hdrs[i].Value), "branch")
}

// ViaCount is how many Via values the message carries.
func (m *Msg) ViaCount() int { return len(m.Items(msg.HVia)) }

// firstValue is the first comma-separated value of a header value.
func firstValue(v string) string {
	vals := msg.SplitComma(msg.Unfold(v))
	if len(vals) == 0 {
		return ""
	}
	return vals[0]
}

// MethodIs compares methods case-sensitively, as RFC 3261 §7.1 wants.
func MethodIs(method string, names ...string) bool {
	for _, n := range names {
		if method == n {
			return true
		}
	}
	return false
}

// ParseMethods reads a comma-separated method list ("BYE,CANCEL,PRACK").
func ParseMethods(s string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !msg.IsToken(f) {
			return nil, errors.New("not a method name: " + strconv.Quote(f))
		}
		out[strings.ToUpper(f)] = true
	}
	return out, nil
}
