package core

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/luasbc/luasbc/core/msg"
)

var src = netip.MustParseAddrPort("192.0.2.1:40000")

func TestBadRequestReply(t *testing.T) {
	raw := "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h.example:5070;branch=z9hG4bK1;rport;received=9.9.9.9\r\n" +
		"From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: notanumber INVITE\r\nContent-Length: 0\r\n\r\n"
	out, dst, ok := BadRequestReply([]byte(raw), src, "Bad Request")
	if !ok || dst != src {
		t.Fatalf("ok=%v dst=%v", ok, dst)
	}
	s := string(out)
	for _, want := range []string{"SIP/2.0 400 Bad Request\r\n", "CSeq: notanumber INVITE\r\n", "Call-ID: c\r\n", ";received=192.0.2.1;rport=40000\r\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q in %q", want, s)
		}
	}
	if strings.Count(s, "rport") != 1 || strings.Contains(s, "9.9.9.9") {
		t.Fatalf("Via params: %q", s)
	}
	// Without rport the reply goes to the Via port.
	_, dst, _ = BadRequestReply([]byte(strings.Replace(raw, ";rport", "", 1)), src, "Bad Request")
	if dst.Port() != 5070 {
		t.Fatalf("dst %v", dst)
	}
	for _, bad := range []string{"ACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=1\r\n\r\n", "garbage", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n\r\n", "INVITE sip:a@b SIP/2.0\r\nFrom: x\r\n\r\n"} {
		if _, _, ok := BadRequestReply([]byte(bad), src, "Bad Request"); ok {
			t.Errorf("answered %q", bad)
		}
	}
}

func FuzzBadRequestReply(f *testing.F) {
	f.Add([]byte("INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h:1;branch=z9hG4bK1;rport\r\nCSeq: x\r\n\r\n"))
	f.Add([]byte("OPTIONS sip:a SIP/2.0\r\nv: SIP/2.0/TCP [::1]:5060, SIP/2.0/UDP x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, _, ok := BadRequestReply(data, src, "Bad Request")
		if !ok {
			return
		}
		// What we send must itself be a well-formed head.
		if _, _, _, err := msg.IndexHeaders(string(out), nil); err != nil {
			t.Fatalf("reply not well formed (%v): %q", err, out)
		}
	})
}

func TestViaDest(t *testing.T) {
	for v, want := range map[string]string{
		"SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK1":                           "udp 10.0.0.1:5070",
		"SIP/2.0/UDP host.example;branch=1;received=10.0.0.2":                 "udp 10.0.0.2:5060",
		"SIP/2.0/TCP host.example:5080;received=10.0.0.3;rport=6000;branch=1": "tcp 10.0.0.3:6000",
		"SIP/2.0/UDP [2001:db8::1]:5062;branch=1":                             "udp [2001:db8::1]:5062",
	} {
		p, dst, err := ViaDest(v)
		if err != nil || p.String()+" "+dst.String() != want {
			t.Errorf("%s: %v %v %v, want %s", v, p, dst, err, want)
		}
	}
	if _, _, err := ViaDest("SIP/2.0/UDP name.only.example;branch=1"); err == nil {
		t.Error("a Via with a name and no received must not resolve to an address")
	}
}

func TestLogReasonHidesPayload(t *testing.T) {
	r := logReason(errString(`transmission beginning 'SECRET payload' is not a SIP message: "more SECRET"`))
	if strings.Contains(r, "SECRET") {
		t.Fatalf("payload in log reason: %q", r)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
