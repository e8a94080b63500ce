package msg

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes through the whole parse path and, for
// what parses, through the builders: nothing may panic, and a forwarded
// copy of a parsed request must parse again.
func FuzzParse(f *testing.F) {
	f.Add([]byte(invite))
	f.Add([]byte("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a:1;branch=z9hG4bK1, SIP/2.0/TCP b\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n"))
	if files, err := filepath.Glob("testdata/torture/*/*.dat"); err == nil {
		for _, fn := range files {
			if b, err := os.ReadFile(fn); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data, src, sock, UDP)
		if err != nil {
			return
		}
		var b Builder
		if m.Req != nil {
			_ = m.AddLump(LumpAppend, "", "X-F: 1\r\n")
			_ = m.AddLump(LumpRemove, "Route", "")
			m.BuildRequest(&b, ForwardOpts{RURI: m.RURIString(), Via: "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKf", MaxFwd: 10})
			if _, err := Parse(b.B, src, sock, UDP); err != nil {
				t.Fatalf("forwarded copy does not parse: %v\n%q", err, b.B)
			}
			m.BuildReply(&b, ReplyOpts{Code: 404, Reason: "Not Found", ToTag: "t"})
		} else {
			m.BuildReplyRelay(&b)
		}
	})
}

// FuzzCheckHeaderText: whatever passes the check must be header lines only.
func FuzzCheckHeaderText(f *testing.F) {
	for _, s := range []string{"X-A: 1\r\n", "X-A: 1\r\n\r\nx", "a:b\nc:d", "X: \x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := CheckHeaderText(s)
		if err != nil {
			return
		}
		hdrs, _, body, ierr := IndexHeaders("X / SIP/2.0\r\n"+out+"\r\n", nil)
		if ierr != nil || body != len("X / SIP/2.0\r\n"+out+"\r\n") || len(hdrs) == 0 {
			t.Fatalf("accepted text %q is not clean header lines (%v)", s, ierr)
		}
	})
}
