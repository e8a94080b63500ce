package thtest

import (
	"strconv"
	"strings"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/modules/topoh/sipraw"
)

// The messages of one call as the core hands them to topology hiding, for
// the benchmarks of topoh and topos: the proxy is 192.0.2.1:5060, the caller
// 198.51.100.7, the callee 10.0.0.2.

// CallInvite is the INVITE of call i as the core sends it: our Via on top,
// the caller's Via, our Record-Route, extra header lines, a small body.
func CallInvite(i int, extra string) string {
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
		"Max-Forwards: 69\r\n" + extra +
		"Content-Type: application/sdp\r\nContent-Length: 10\r\n\r\nv=0\r\no=x\r\n"
}

// ReplyTo answers a request as its receiver would (Vias, From, To + tag,
// Call-ID, CSeq, Record-Route copied; contact as the answerer's Contact).
func ReplyTo(req string, code int, contact string) string {
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

// Relayed is a received reply as the core relays it: our Via gone.
func Relayed(rpl string) string {
	i := strings.Index(rpl, "\r\nVia:")
	j := strings.Index(rpl[i+2:], "\r\n")
	return rpl[:i] + rpl[i+2+j:]
}

// Forwarded puts our Via on a received request, as the core forwards it.
func Forwarded(req, branch string) string {
	first := strings.Index(req, "\r\n")
	return req[:first+2] + "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=" + branch + "\r\n" + req[first+2:]
}
