package topoh

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/luasbc/luasbc/core"
	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/transport"
	"github.com/luasbc/luasbc/modules/topoh/sipraw"
	"github.com/luasbc/luasbc/modules/topoh/thtest"
)

// The call benchmark runs the filters on the messages of one call as the
// core hands them over (INVITE sent; 180, 200 received and relayed; ACK and
// BYE received and sent; the BYE's 200 received and relayed: 13 runs), with
// Call-ID masking: what topoh adds to a call. No core: no Record-Route
// counts as ours, so every one is masked (the most work).

var benchSrc = netip.MustParseAddrPort("192.0.2.20:5060")

func benchTopoh(tb testing.TB) *Topoh {
	k := testMasker(tb, "bench key")
	return &Topoh{k: *k, maskCID: true, log: nopLog(), stMasked: counter(), stUnmasked: counter(), stForged: counter()}
}

func oneCall(t *Topoh, i int) bool {
	o := &core.Outgoing{Data: []byte(thtest.CallInvite(i, "TH: p\r\n"))}
	t.sending(o)
	inv := string(o.Data)
	for _, code := range []int{180, 200} {
		p := &transport.Packet{Data: []byte(thtest.ReplyTo(inv, code, "sip:bob@10.0.0.2:5060")), Src: benchSrc}
		if !t.received(p) {
			return false
		}
		o = &core.Outgoing{Data: []byte(thtest.Relayed(string(p.Data))), Reply: true}
		t.sending(o)
	}
	m, _ := sipraw.ParseString(string(o.Data))
	target := sipraw.URIOf(m.Items(msg.HContact)[0].Text)
	n := strconv.Itoa(i)
	for k, method := range []string{"ACK", "BYE"} {
		req := method + " " + target + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK" + method + n + "\r\n" +
			"From: \"Alice\" <sip:alice@example.com>;tag=ft" + n + "\r\nTo: <sip:bob@example.com>;tag=bt\r\n" +
			"Call-ID: call-" + n + "@198.51.100.7\r\nCSeq: " + strconv.Itoa(1+k) + " " + method + "\r\n" +
			"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
		p := &transport.Packet{Data: []byte(req), Src: benchSrc}
		if !t.received(p) || !strings.HasPrefix(string(p.Data), method+" sip:bob@10.0.0.2") {
			return false
		}
		o = &core.Outgoing{Data: []byte(thtest.Forwarded(string(p.Data), "z9hG4bKtm"+n+"y."+method))}
		t.sending(o)
	}
	p := &transport.Packet{Data: []byte(thtest.ReplyTo(string(o.Data), 200, "")), Src: benchSrc}
	if !t.received(p) {
		return false
	}
	o = &core.Outgoing{Data: []byte(thtest.Relayed(string(p.Data))), Reply: true}
	t.sending(o)
	return strings.Contains(string(o.Data), "Call-ID: call-"+n+"@")
}

func TestBenchCallFlow(t *testing.T) {
	th := benchTopoh(t)
	for i := 0; i < 3; i++ {
		if !oneCall(th, i) {
			t.Fatalf("call %d failed", i)
		}
	}
}

// BenchmarkCall is topoh's cost per call.
func BenchmarkCall(b *testing.B) {
	th := benchTopoh(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !oneCall(th, i) {
			b.Fatalf("call %d failed", i)
		}
	}
}

// BenchmarkSealOpen is one masked value written and read back.
func BenchmarkSealOpen(b *testing.B) {
	c, _ := newCodec("k")
	v := "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK776asdhds;rport=5060;received=198.51.100.7"
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := c.open(kindVia, c.seal(kindVia, v)); err != nil {
			b.Fatal(err)
		}
	}
}
