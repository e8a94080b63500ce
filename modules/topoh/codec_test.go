package topoh

import (
	"net/netip"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/stats"
	"github.com/luasbc/luasbc/core/transport"
	"github.com/luasbc/luasbc/modules/topoh/sipraw"
)

func testMasker(t testing.TB, key string) *masker {
	c, err := newCodec(key)
	if err != nil {
		t.Fatal(err)
	}
	return &masker{c: c, ip: "127.0.0.8", uparam: "line", uprefix: "sr-", vparam: "branch", vprefix: "z9hG4bKsr-", cidPrefix: "!!:"}
}

func TestCodecRoundTrip(t *testing.T) {
	c, _ := newCodec("k1")
	for _, v := range []string{"", "x", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport=5060;received=1.2.3.4", strings.Repeat("é", 500)} {
		s := c.seal(kindVia, v)
		if strings.ContainsAny(s, "+/=;,@ ") {
			t.Errorf("sealed text %q has characters not safe in SIP tokens", s)
		}
		got, err := c.open(kindVia, s)
		if err != nil || got != v {
			t.Errorf("round trip %q: %q %v", v, got, err)
		}
		if c.seal(kindVia, v) != s {
			t.Errorf("sealing is not deterministic")
		}
		if _, err := c.open(kindURI, s); err == nil {
			t.Errorf("a Via value opened as a URI")
		}
	}
	other, _ := newCodec("k2")
	if _, err := other.open(kindCallID, c.seal(kindCallID, "abc")); err == nil {
		t.Errorf("another key opened the value")
	}
}

// Every single-character change and every truncation of a masked value is
// refused.
func TestCodecTamper(t *testing.T) {
	c, _ := newCodec("k")
	s := c.seal(kindURI, "sip:alice@192.0.2.1:5060")
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := 0; i < len(s); i++ {
		for _, r := range []byte{alphabet[(strings.IndexByte(alphabet, s[i])+1)%64], alphabet[(strings.IndexByte(alphabet, s[i])+17)%64]} {
			bad := s[:i] + string(r) + s[i+1:]
			if got, err := c.open(kindURI, bad); err == nil && got != "sip:alice@192.0.2.1:5060" {
				t.Fatalf("changed value %q opened to %q", bad, got)
			}
		}
	}
	for n := 0; n < len(s); n++ {
		if _, err := c.open(kindURI, s[:n]); err == nil {
			t.Fatalf("truncated value (%d chars) opened", n)
		}
	}
	if _, err := c.open(kindURI, strings.Repeat("A", maxMasked+1)); err != errMaskedTooLong {
		t.Errorf("oversized value: %v", err)
	}
}

func TestMaskShapes(t *testing.T) {
	k := testMasker(t, "k")
	via := "SIP/2.0/TCP 10.1.1.1:5060;branch=z9hG4bK77;rport"
	mv := k.maskVia(via, "ignored")
	if !strings.HasPrefix(mv, "SIP/2.0/UDP 127.0.0.8;branch=z9hG4bKsr-") {
		t.Errorf("masked Via %q", mv)
	}
	if orig, masked, err := k.unmaskVia(mv); !masked || err != nil || orig != via {
		t.Errorf("unmaskVia: %q %v %v", orig, masked, err)
	}
	if _, masked, _ := k.unmaskVia(via); masked {
		t.Errorf("a plain Via looked masked")
	}
	uri := "sips:bob@10.2.2.2:5061;transport=tls"
	mu := k.maskURI(uri, "")
	if !strings.HasPrefix(mu, "sips:127.0.0.8;line=sr-") {
		t.Errorf("masked URI %q", mu)
	}
	if orig, masked, err := k.unmaskURI(mu); !masked || err != nil || orig != uri {
		t.Errorf("unmaskURI: %q %v %v", orig, masked, err)
	}
	if _, masked, err := k.unmaskURI("sip:127.0.0.8;line=sr-AAAA"); !masked || err == nil {
		t.Errorf("a made-up masked URI: masked %v err %v", masked, err)
	}
	k.uriPrefixChecks = true
	if k.isMaskedURI("sip:127.0.0.8;lr;line=sr-" + strings.Repeat("A", 40)) {
		t.Errorf("uri_prefix_checks: a URI not starting as we write it counted as masked")
	}
	if !k.isMaskedURI(mu) {
		t.Errorf("uri_prefix_checks: our own URI not recognised")
	}
	cid := "a84b4c76e66710@pc33.atlanta.example.com"
	mc := k.maskCallID(cid)
	if orig, masked, err := k.unmaskCallID(mc); !masked || err != nil || orig != cid || !strings.HasPrefix(mc, "!!:") {
		t.Errorf("Call-ID: %q -> %q: %v %v", mc, orig, masked, err)
	}
}

// FuzzUnmask feeds arbitrary text to every decoder: nothing may panic, and
// nothing that was not sealed with the key may open.
func FuzzUnmask(f *testing.F) {
	k := testMasker(f, "fuzz key")
	f.Add("SIP/2.0/UDP 127.0.0.8;branch=z9hG4bKsr-AQ", "sip:127.0.0.8;line=sr-AQID", "!!:AQID")
	f.Add(k.maskVia("SIP/2.0/UDP a:1;branch=z9hG4bKx", ""), k.maskURI("sip:a@b", ""), k.maskCallID("c@d"))
	f.Add("SIP/2.0/UDP [::1]:5060;branch=z9hG4bKsr-", "sip:[::1;line=sr-x", "!!:")
	f.Fuzz(func(t *testing.T, via, uri, cid string) {
		for _, s := range []string{via, uri, cid} {
			// Only what was sealed opens: opening and sealing again gives
			// the same text back.
			if o, masked, err := k.unmaskVia(s); masked && err == nil {
				if val := sipraw.ViaParam(s, "branch"); "z9hG4bKsr-"+k.c.seal(kindVia, o) != val {
					t.Fatalf("Via %q opened to %q, which does not seal back to it", s, o)
				}
			}
			if o, masked, err := k.unmaskURI(s); masked && err == nil && strings.ContainsAny(o, "\r\n") {
				t.Fatalf("unmasked URI with CR/LF: %q", o)
			}
			if o, masked, err := k.unmaskCallID(s); masked && err == nil && strings.ContainsAny(o, "\r\n ") {
				t.Fatalf("unmasked Call-ID with blanks: %q", o)
			}
		}
	})
}

// FuzzReceived runs the receive and send filters (without a core) on any
// input: no panic, and whatever they let through still indexes.
func FuzzReceived(f *testing.F) {
	k := testMasker(f, "fuzz key")
	th := &Topoh{k: *k, maskCID: true, log: nopLog(), stMasked: counter(), stUnmasked: counter(), stForged: counter()}
	f.Add([]byte("BYE " + k.maskURI("sip:bob@10.0.0.2", "") + " SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1\r\n" +
		"Route: <sip:1.1.1.1;lr>, <" + k.maskURI("sip:p.example;lr", "") + ">\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\n" +
		"Call-ID: " + k.maskCallID("x@y") + "\r\nCSeq: 2 BYE\r\nTH: m\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.1.1.1;branch=z9hG4bKtm1.0\r\nVia: " + k.maskVia("SIP/2.0/UDP a:1;branch=z9hG4bKx", "") +
		"\r\nRecord-Route: <" + k.maskURI("sip:p;lr", "") + ">\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n"))
	src := netip.MustParseAddrPort("192.0.2.1:5060")
	f.Fuzz(func(t *testing.T, data []byte) {
		p := &transport.Packet{Data: data, Src: src}
		if th.received(p) {
			if _, _, _, err := msg.IndexHeaders(string(p.Data), nil); err != nil {
				if _, _, _, err0 := msg.IndexHeaders(string(data), nil); err0 == nil {
					t.Fatalf("receive filter broke a message: %v\n%q", err, p.Data)
				}
			}
		}
		m, err := sipraw.Parse(data)
		if err != nil {
			return
		}
		e := sipraw.NewEdit(m)
		if m.Request {
			th.maskRequest(m, e, "p")
		} else {
			th.maskRecordRoutes(m, e, "h", 1)
			th.maskContacts(m, e, "h")
		}
		if _, err := sipraw.Parse(e.Bytes()); err != nil {
			t.Fatalf("masked message does not parse: %v\n%q", err, e.Bytes())
		}
	})
}

func nopLog() *zap.Logger { return zap.NewNop() }

func counter() *stats.Counter { return &stats.Counter{} }
