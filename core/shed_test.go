package core

import (
	"strings"
	"testing"
)

func TestTopViaBranch(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKabc;rport\r\nVia: SIP/2.0/UDP 5.6.7.8;branch=z9hG4bKdef\r\n\r\n", "z9hG4bKabc"},
		{"INVITE sip:a@b SIP/2.0\r\nFrom: <sip:x>;tag=1\r\nv: SIP/2.0/UDP 1.2.3.4 ; BRANCH=z9hG4bK1, SIP/2.0/UDP 9.9.9.9;branch=2\r\n\r\n", "z9hG4bK1"},
		{"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4\r\n\r\nVia: SIP/2.0/UDP x;branch=body\r\n", ""},
		{"INVITE sip:a@b SIP/2.0\r\nContent-Type: text/plain\r\n\r\n", ""},
		{"garbage", ""},
	} {
		if got := topViaBranch([]byte(tc.in)); got != tc.want {
			t.Errorf("topViaBranch(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzTopViaBranch: the scan runs on raw network input before any parsing.
func FuzzTopViaBranch(f *testing.F) {
	f.Add([]byte("INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKabc\r\n\r\n"))
	f.Add([]byte("X\r\nv:branch=\r\n"))
	f.Add([]byte("\r\n\r\n"))
	f.Fuzz(func(t *testing.T, d []byte) {
		b := topViaBranch(d)
		if strings.ContainsAny(b, "\r\n;, \t") {
			t.Fatalf("branch %q holds a separator", b)
		}
		if b != "" && !strings.Contains(string(d), b) {
			t.Fatalf("branch %q is not in the input", b)
		}
	})
}
