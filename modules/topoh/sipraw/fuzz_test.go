package sipraw

import (
	"testing"

	"github.com/luasbc/luasbc/core/msg"
)

// FuzzParse runs every reader and an edit on anything that indexes as a
// message: nothing may panic, and an edited message must index again with
// the same body.
func FuzzParse(f *testing.F) {
	f.Add([]byte(invite))
	f.Add([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP [::1;branch=x\r\nRecord-Route: <sip:a\r\nContact: *\r\nCSeq: x\r\n\r\n"))
	f.Add([]byte("BYE sip:atpsh-abc@h;tps=btpsh-x SIP/2.0\r\nTo: \"a\\\"b\" <sip:x>;tag=1\r\nFrom: sip:a;tag\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		m.CSeq()
		m.FromTag()
		m.ToTag()
		m.TopViaBranch()
		m.Version()
		for _, ht := range []msg.HType{msg.HVia, msg.HRecordRoute, msg.HRoute, msg.HContact, msg.HFrom} {
			for _, it := range m.Items(ht) {
				u := URIOf(it.Text)
				if pu, ok := ParseURI(u); ok {
					_ = pu.String()
					pu.Transport()
				}
				if _, ok := ReplaceURI(it.Text, "sip:x"); !ok && u != "" {
					t.Fatalf("ReplaceURI refused a value URIOf read: %q", it.Text)
				}
				if v, ok := ParseVia(it.Text); ok {
					_ = v.HostPort()
				}
				ViaParam(it.Text, "branch")
			}
		}
		_, _ = ParseURI(m.RURI)
		e := NewEdit(m)
		if len(m.Hdrs) > 0 {
			e.Replace(0, "X-A: 1\r\n")
			e.InsertAfter(len(m.Hdrs)-1, "X-B: 2\r\n")
		}
		e.Append("X-C: 3\r\n")
		if m.Request {
			e.SetFirstLine(m.Method + " sip:x SIP/2.0")
		}
		n, err := Parse(e.Bytes())
		if err != nil {
			t.Fatalf("edited message does not parse: %v\n%q", err, e.Bytes())
		}
		if n.Body() != m.Body() {
			t.Fatalf("body changed")
		}
	})
}
