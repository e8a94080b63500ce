package sipraw

import (
	"strings"

	"github.com/luasbc/luasbc/core/msg"
)

// Edit collects changes to a message's first line and headers and renders
// the new message. The body is copied as it is, so Content-Length stays
// right. Text given to Edit is complete header lines ending in CRLF; callers
// build it from values that came out of SIP messages or configuration and
// hold no CR or LF of their own (Line refuses those).
type Edit struct {
	m     *Msg
	first string // new first line without CRLF, "" keeps it
	ops   []hdrOp
	tail  string // text after the last header
	dirty bool
}

// hdrOp is what happens to one header.
type hdrOp struct {
	drop          bool
	repl          string // replacement text (with drop set)
	before, after string // text inserted around the header
}

// NewEdit starts an edit of m.
func NewEdit(m *Msg) *Edit {
	return &Edit{m: m, ops: make([]hdrOp, len(m.Hdrs))}
}

// Line renders "Name: value\r\n"; ok is false when the value holds CR, LF
// or NUL (it could then inject headers).
func Line(name, value string) (string, bool) {
	if strings.ContainsAny(value, "\r\n\x00") {
		return "", false
	}
	return name + ": " + value + "\r\n", true
}

// SetFirstLine replaces the first line (without CRLF).
func (e *Edit) SetFirstLine(s string) { e.first, e.dirty = s, true }

// Remove drops header i.
func (e *Edit) Remove(i int) { e.ops[i].drop, e.ops[i].repl, e.dirty = true, "", true }

// RemoveType drops every header of type t.
func (e *Edit) RemoveType(t msg.HType) {
	for i := range e.m.Hdrs {
		if e.m.Hdrs[i].Type == t {
			e.Remove(i)
		}
	}
}

// RemoveNamed drops every header named name.
func (e *Edit) RemoveNamed(name string) {
	nm := matchName(name)
	for i := range e.m.Hdrs {
		if nm.is(&e.m.Hdrs[i]) {
			e.Remove(i)
		}
	}
}

// Replace puts text (zero or more header lines) where header i was.
func (e *Edit) Replace(i int, text string) { e.ops[i].drop, e.ops[i].repl, e.dirty = true, text, true }

// InsertBefore adds text before header i.
func (e *Edit) InsertBefore(i int, text string) { e.ops[i].before += text; e.dirty = true }

// InsertAfter adds text after header i.
func (e *Edit) InsertAfter(i int, text string) { e.ops[i].after += text; e.dirty = true }

// Append adds text after the last header.
func (e *Edit) Append(text string) { e.tail += text; e.dirty = true }

// Changed reports whether anything was changed.
func (e *Edit) Changed() bool { return e.dirty }

// Bytes renders the edited message.
func (e *Edit) Bytes() []byte {
	m := e.m
	if !e.dirty {
		return []byte(m.Buf)
	}
	n := len(m.Buf) + len(e.first) + len(e.tail) + 64
	for i := range e.ops {
		n += len(e.ops[i].repl) + len(e.ops[i].before) + len(e.ops[i].after)
	}
	b := make([]byte, 0, n)
	if e.first != "" {
		b = append(b, e.first...)
		b = append(b, "\r\n"...)
	} else {
		b = append(b, m.Buf[:m.FirstEnd]...)
	}
	for i := range m.Hdrs {
		op := &e.ops[i]
		b = append(b, op.before...)
		if op.drop {
			b = append(b, op.repl...)
		} else {
			b = append(b, m.Buf[m.Hdrs[i].Start:m.Hdrs[i].End]...)
		}
		b = append(b, op.after...)
	}
	b = append(b, e.tail...)
	b = append(b, "\r\n"...)
	b = append(b, m.Buf[m.BodyOff:]...)
	return b
}
