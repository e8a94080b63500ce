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

func benchInvite(i int) string {
	n := strconv.Itoa(i)
	return "INVITE sip:bob@10.0.0.2:5060 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKtm" + n + "x.0\r\n" +
		"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK" + n + ";rport=5060;received=198.51.100.7\r\n" +
		"Record-Route: <sip:192.0.2.1:5060;lr;ftag=ft" + n + ">\r\n" +
		"From: \"Alice\" <sip:alice@example.com>;tag=ft" + n + "\r\n" +
		"To: <sip:bob@example.com>\r\n" +
		"Call-ID: call-" + n + "@198.51.100.7\r\n" +
		"CSeq: 1 INVITE\r\n" +
		"Contact: <sip:alice@198.51.100.7:5060>\r\n" +
		"Max-Forwards: 69\r\n" +
		"TH: p\r\n" +
		"Content-Type: application/sdp\r\nContent-Length: 10\r\n\r\nv=0\r\no=x\r\n"
}

// replyTo answers a request as its receiver would.
func replyTo(req string, code int, contact string) string {
	m, _ := sipraw.ParseString(req)
	var b strings.Builder
	b.WriteString("SIP/2.0 " + strconv.Itoa(code) + " X\r\n")
	for i := range m.Hdrs {
		switch m.Hdrs[i].Type {
		case msg.HVia, msg.HFrom, msg.HCallID, msg.HCSeq, msg.HRecordRoute:
			b.WriteString(m.Line(i))
		case msg.HTo:
			line := m.Line(i)
			if !strings.Contains(line, "tag=") {
				line = strings.TrimRight(line, "\r\n") + ";tag=bt\r\n"
			}
			b.WriteString(line)
		}
	}
	if contact != "" {
		b.WriteString("Contact: <" + contact + ">\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

// relayed drops our Via, as the core relays a reply.
func relayed(rpl string) string {
	i := strings.Index(rpl, "\r\nVia:")
	j := strings.Index(rpl[i+2:], "\r\n")
	return rpl[:i] + rpl[i+2+j:]
}

// forwarded puts our Via on a received request, as the core forwards it.
func forwarded(req, branch string) string {
	first := strings.Index(req, "\r\n")
	return req[:first+2] + "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=" + branch + "\r\n" + req[first+2:]
}

func oneCall(t *Topoh, i int) bool {
	o := &core.Outgoing{Data: []byte(benchInvite(i))}
	t.sending(o)
	inv := string(o.Data)
	for _, code := range []int{180, 200} {
		p := &transport.Packet{Data: []byte(replyTo(inv, code, "sip:bob@10.0.0.2:5060")), Src: benchSrc}
		if !t.received(p) {
			return false
		}
		o = &core.Outgoing{Data: []byte(relayed(string(p.Data))), Reply: true}
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
		o = &core.Outgoing{Data: []byte(forwarded(string(p.Data), "z9hG4bKtm"+n+"y."+method))}
		t.sending(o)
	}
	p := &transport.Packet{Data: []byte(replyTo(string(o.Data), 200, "")), Src: benchSrc}
	if !t.received(p) {
		return false
	}
	o = &core.Outgoing{Data: []byte(relayed(string(p.Data))), Reply: true}
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
