package topos

import (
	"crypto/rand"
	"encoding/base32"
	"strings"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/modules/topoh/sipraw"
)

// A dialog id is 15 random bytes in lower-case base32: 24 characters that
// are safe in a URI user part, a URI parameter and a Redis key, and that
// nobody can guess. It is checked on the way in before it names a record.
const idLen = 24

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func newID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}

// validID reports whether s can be one of our ids.
func validID(s string) bool {
	if len(s) != idLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// keyOf finds our key in the R-URI of an in-dialog request: side 'a' when
// the request comes from the caller side (it targets the contact the caller
// got from us), 'b' from the callee side. ours is false for any other URI;
// id may then still be invalid (checked by the caller).
func (x *Topos) keyOf(ruri string) (side byte, id string, ours bool) {
	u, ok := sipraw.ParseURI(ruri)
	if !ok {
		return 0, "", false
	}
	var k string
	if x.contactMode == 1 {
		k, _ = u.Param(x.cparam)
	} else {
		k = u.User
		if i := strings.IndexByte(k, ';'); i >= 0 {
			k = k[:i]
		}
	}
	if len(k) < 6 || k[1:6] != "tpsh-" || (k[0] != 'a' && k[0] != 'b') {
		return 0, "", false
	}
	return k[0], k[6:], true
}

// where is the address a contact of ours names, taken from our
// Record-Route entry for that side (or our Via / socket without one).
type where struct {
	scheme    string // "sip" or "sips"
	hostport  string
	transport string // lower case, "" for UDP
}

// whereFromURI reads a Record-Route URI of ours.
func whereFromURI(uri string) (where, bool) {
	u, ok := sipraw.ParseURI(uri)
	if !ok {
		return where{}, false
	}
	w := where{scheme: strings.ToLower(u.Scheme), hostport: u.HostPort(), transport: u.Transport()}
	if w.transport == "udp" {
		w.transport = ""
	}
	if w.scheme != "sips" {
		w.scheme = "sip"
	}
	return w, true
}

// whereFromVia reads our own Via (sent-by and transport).
func whereFromVia(v string) (where, bool) {
	x, ok := sipraw.ParseVia(v)
	if !ok {
		return where{}, false
	}
	w := where{scheme: "sip", hostport: x.HostPort(), transport: strings.ToLower(x.Transport)}
	if w.transport == "udp" {
		w.transport = ""
	}
	if w.transport == "tls" || w.transport == "wss" {
		w.scheme = "sips"
		if w.transport == "tls" {
			w.transport = ""
		}
	}
	return w, true
}

// whereFromSocket reads a listening socket.
func whereFromSocket(s *msg.Socket) (where, bool) {
	if s == nil {
		return where{}, false
	}
	w := where{scheme: "sip", hostport: s.HostPort(), transport: s.Proto.String()}
	switch s.Proto {
	case msg.UDP:
		w.transport = ""
	case msg.TLS:
		w.scheme, w.transport = "sips", ""
	}
	return w, true
}

// contact renders our contact (as a name-addr) for side ('a': the one the
// caller side sees, 'b': the callee side's). user is the user part for
// contact_mode 1.
func (x *Topos) contact(side byte, id, user string, w where) string {
	key := string(side) + "tpsh-" + id
	hp := w.hostport
	if x.contactHost != "" {
		hp = x.contactHost
	}
	var b strings.Builder
	b.WriteString("<")
	b.WriteString(w.scheme)
	b.WriteString(":")
	if x.contactMode == 1 {
		if user != "" && isUserSafe(user) {
			b.WriteString(user)
			b.WriteString("@")
		}
	} else {
		b.WriteString(key)
		b.WriteString("@")
	}
	b.WriteString(hp)
	if w.transport != "" {
		b.WriteString(";transport=")
		b.WriteString(w.transport)
	}
	if x.contactMode == 1 {
		b.WriteString(";")
		b.WriteString(x.cparam)
		b.WriteString("=")
		b.WriteString(key)
	}
	b.WriteString(">")
	return b.String()
}

// isUserSafe accepts a user part copied into our contact (contact_mode 1):
// unreserved, user-unreserved and escaped characters only (RFC 3261 §25.1),
// so nothing of it can end the user part or add parameters.
func isUserSafe(u string) bool {
	if len(u) > 128 {
		return false
	}
	for i := 0; i < len(u); i++ {
		if c := u[i]; !sipraw.IsURIChar(c) && strings.IndexByte("%&=+$,?/", c) < 0 {
			return false
		}
	}
	return true
}

// userOf is the user part of a URI ("" if none).
func userOf(uri string) string {
	u, ok := sipraw.ParseURI(uri)
	if !ok {
		return ""
	}
	return u.User
}

// ownRoutes splits Record-Route values into ours (the leading ones naming
// this server: one, or the two of a double record-route) and the rest.
func (x *Topos) ownRoutes(vals []string) (own, rest []string) {
	for i, v := range vals {
		if i >= 2 || x.core == nil || !x.core.IsMyselfURI(sipraw.URIOf(v)) {
			return vals[:i], vals[i:]
		}
	}
	return vals, nil
}

// itemTexts returns the texts of items.
func itemTexts(items []sipraw.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Text
	}
	return out
}

// splitList splits a stored comma-separated list ("" is empty).
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return msg.SplitComma(s)
}

// reversed returns a reversed copy.
func reversed(v []string) []string {
	out := make([]string, len(v))
	for i := range v {
		out[len(v)-1-i] = v[i]
	}
	return out
}

// headerLines renders values as header lines: one line per value when
// split, else one comma-joined line.
func headerLines(name string, vals []string, split bool) string {
	if len(vals) == 0 {
		return ""
	}
	if !split {
		return name + ": " + strings.Join(vals, ", ") + "\r\n"
	}
	var b strings.Builder
	for _, v := range vals {
		b.WriteString(name + ": " + v + "\r\n")
	}
	return b.String()
}
