// Package thtest is a tiny SIP user agent over loopback UDP for the tests of
// the topology hiding modules: a caller and a callee talk through a proxy
// under test, and every test can look at exactly what each side received.
package thtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/modules/topoh/sipraw"
)

// ProxyScript is a stateful, record-routing proxy in the style of
// Kamailio's example script: initial requests are record-routed and relayed
// to the address in their X-Dst header; in-dialog requests follow their
// Route set (loose_route). With an X-Dst2 header the request forks to both.
// Modules: sl, tm, rr, siputils, corex.
const ProxyScript = `
function ksr_request_route()
  if KSR.is_CANCEL() then
    if KSR.tm.t_check_trans() > 0 then KSR.tm.t_relay() end
    return 1
  end
  if not KSR.is_ACK() then
    if KSR.tm.t_check_trans() == 0 then return 1 end
  end
  if KSR.siputils.has_totag() > 0 then
    if KSR.rr.loose_route() > 0 then
      if KSR.tm.t_relay() < 0 then KSR.sl.sl_reply_error() end
      return 1
    end
    if KSR.is_ACK() then
      if KSR.tm.t_check_trans() > 0 then KSR.tm.t_relay() end
      return 1
    end
    KSR.sl.sl_send_reply(404, "Not here")
    return 1
  end
  KSR.hdr.remove("Route")
  if not KSR.is_method_in("R") then KSR.rr.record_route() end
  local dst = KSR.hdr.get("X-Dst")
  if dst == nil then
    KSR.sl.sl_send_reply(404, "No X-Dst")
    return 1
  end
  local dst2 = KSR.hdr.get("X-Dst2")
  KSR.hdr.remove("X-Dst")
  KSR.hdr.remove("X-Dst2")
  if dst2 ~= nil then
    if KSR.corex.append_branch_uri(dst2) < 0 then
      KSR.sl.sl_send_reply(500, "Fork Failed")
      return 1
    end
  end
  KSR.setdsturi(dst)
  if KSR.tm.t_relay() < 0 then KSR.sl.sl_reply_error() end
end
`

// ProxyModules are the modules ProxyScript needs (kemitest.Options.Modules).
func ProxyModules() map[string]map[string]any {
	return map[string]map[string]any{"sl": nil, "tm": {"fr_timer": 3000, "fr_inv_timer": 5000}, "rr": nil,
		"siputils": nil, "corex": nil}
}

// Msg is a received message.
type Msg struct {
	*sipraw.Msg
	Raw string
}

// Get returns the first value of a header.
func (m *Msg) Get(name string) string {
	v, _ := m.NamedValue(name)
	return v
}

// All returns the comma-separated values of every header named name.
func (m *Msg) All(name string) []string {
	var out []string
	for _, i := range m.Named(name) {
		out = append(out, msg.SplitComma(m.Hdrs[i].Value)...)
	}
	return out
}

// Peer is a user agent on a loopback UDP socket.
type Peer struct {
	t    testing.TB
	Conn *net.UDPConn
	Addr string // 127.0.0.1:port
	Name string
}

// NewPeer opens a socket on an ephemeral loopback port.
func NewPeer(t testing.TB, name string) *Peer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &Peer{t: t, Conn: c, Addr: c.LocalAddr().String(), Name: name}
}

// Port is the peer's port.
func (p *Peer) Port() int { return p.Conn.LocalAddr().(*net.UDPAddr).Port }

// Send sends text (LF or CRLF line ends; Content-Length is filled in when
// the text has "{cl}") to addr.
func (p *Peer) Send(addr, text string) {
	p.t.Helper()
	text = CRLF(text)
	if strings.Contains(text, "{cl}") {
		body := ""
		if _, b, ok := strings.Cut(text, "\r\n\r\n"); ok {
			body = b
		}
		text = strings.Replace(text, "{cl}", strconv.Itoa(len(body)), 1)
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.Conn.WriteToUDP([]byte(text), ua); err != nil {
		p.t.Fatalf("%s: send: %v", p.Name, err)
	}
}

// CRLF turns bare LF line ends into CRLF.
func CRLF(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// Recv returns the next message within d, nil on timeout.
func (p *Peer) Recv(d time.Duration) *Msg {
	buf := make([]byte, 65536)
	_ = p.Conn.SetReadDeadline(time.Now().Add(d))
	n, _, err := p.Conn.ReadFromUDP(buf)
	if err != nil {
		return nil
	}
	m, err := sipraw.Parse(buf[:n])
	if err != nil {
		p.t.Fatalf("%s received an unparsable message (%v):\n%s", p.Name, err, buf[:n])
	}
	return &Msg{Msg: m, Raw: string(buf[:n])}
}

// Expect waits (up to 3 s) for a message whose first line starts with
// prefix ("INVITE ", "SIP/2.0 200"), skipping 100 Trying; anything else
// fails the test.
func (p *Peer) Expect(prefix string) *Msg {
	p.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		m := p.Recv(time.Until(deadline))
		if m == nil {
			p.t.Fatalf("%s: no %q within 3 s", p.Name, prefix)
		}
		first := m.Buf[:m.FirstEnd-2]
		if strings.HasPrefix(first, prefix) {
			return m
		}
		if m.Status == 100 && !strings.HasPrefix(prefix, "SIP/2.0 100") {
			continue
		}
		p.t.Fatalf("%s: want %q, got:\n%s", p.Name, prefix, m.Raw)
	}
}

// ExpectNothing requires that nothing but 100 Trying arrives within d.
func (p *Peer) ExpectNothing(d time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		m := p.Recv(time.Until(deadline))
		if m == nil {
			return
		}
		if m.Status != 100 {
			p.t.Fatalf("%s: want nothing, got:\n%s", p.Name, m.Raw)
		}
	}
}

// RandHex returns n random bytes as hex.
func RandHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Invite is an initial INVITE from p to the proxy, for user "bob", relayed
// to dst (X-Dst). extra are header lines.
func (p *Peer) Invite(proxy, dst string, extra ...string) string {
	return p.Initial("INVITE", proxy, dst, extra...)
}

// Initial is an initial request (new Call-ID and tag).
func (p *Peer) Initial(method, proxy, dst string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s sip:bob@%s SIP/2.0\n", method, proxy)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\n", p.Addr, RandHex(6))
	fmt.Fprintf(&b, "From: \"Alice\" <sip:alice@caller.invalid>;tag=%s\n", RandHex(4))
	b.WriteString("To: <sip:bob@callee.invalid>\n")
	fmt.Fprintf(&b, "Call-ID: %s@%s.invalid\n", RandHex(8), p.Name)
	fmt.Fprintf(&b, "CSeq: 1 %s\n", method)
	fmt.Fprintf(&b, "Contact: <sip:%s@%s>\n", p.Name, p.Addr)
	b.WriteString("Max-Forwards: 70\n")
	fmt.Fprintf(&b, "X-Dst: sip:%s\n", dst)
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	b.WriteString("Content-Length: 0\n\n")
	return b.String()
}

// Reply answers a received request: Via, From, To (with toTag when set),
// Call-ID and CSeq copied, Record-Route too for 1xx/2xx, a Contact of p
// when contact is not "" ("-" = none).
func (p *Peer) Reply(req *Msg, code int, reason, toTag, contact string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\n", code, reason)
	for i := range req.Hdrs {
		h := &req.Hdrs[i]
		switch h.Type {
		case msg.HVia, msg.HFrom, msg.HCallID, msg.HCSeq:
			b.WriteString(strings.TrimRight(req.Line(i), "\r\n") + "\n")
		case msg.HRecordRoute:
			if code > 100 && code < 300 {
				b.WriteString(strings.TrimRight(req.Line(i), "\r\n") + "\n")
			}
		case msg.HTo:
			line := strings.TrimRight(req.Line(i), "\r\n")
			if toTag != "" && sipraw.HeaderParam(h.Value, "tag") == "" {
				line += ";tag=" + toTag
			}
			b.WriteString(line + "\n")
		}
	}
	switch contact {
	case "-":
	case "":
		fmt.Fprintf(&b, "Contact: <sip:%s@%s>\n", p.Name, p.Addr)
	default:
		fmt.Fprintf(&b, "Contact: <%s>\n", contact)
	}
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	b.WriteString("Content-Length: 0\n\n")
	return b.String()
}

// Dialog is one side's view of a dialog.
type Dialog struct {
	Me      *Peer
	CallID  string
	Local   string // our From value (with our tag)
	Remote  string // our To value (with the other tag)
	Target  string // remote target
	Routes  []string
	CSeq    int
	Contact string // our Contact URI
}

// UACDialog is the caller's dialog from the request it sent and a 1xx/2xx.
func UACDialog(me *Peer, reply *Msg, cseq int) *Dialog {
	d := &Dialog{Me: me, CallID: reply.CallID(), CSeq: cseq, Contact: "sip:" + me.Name + "@" + me.Addr}
	d.Local, _ = reply.Value(msg.HFrom)
	d.Remote, _ = reply.Value(msg.HTo)
	d.Target = sipraw.URIOf(reply.Get("Contact"))
	rr := reply.All("Record-Route")
	for i := len(rr) - 1; i >= 0; i-- {
		d.Routes = append(d.Routes, rr[i])
	}
	return d
}

// UASDialog is the callee's dialog from the received initial request and
// the To tag it answered with.
func UASDialog(me *Peer, req *Msg, toTag string, cseq int) *Dialog {
	d := &Dialog{Me: me, CallID: req.CallID(), CSeq: cseq, Contact: "sip:" + me.Name + "@" + me.Addr}
	to, _ := req.Value(msg.HTo)
	d.Local = to + ";tag=" + toTag
	d.Remote, _ = req.Value(msg.HFrom)
	d.Target = sipraw.URIOf(req.Get("Contact"))
	d.Routes = req.All("Record-Route")
	return d
}

// Request is an in-dialog request (next CSeq unless method is ACK).
func (d *Dialog) Request(method string, extra ...string) string {
	if method != "ACK" && method != "CANCEL" {
		d.CSeq++
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\n", method, d.Target)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\n", d.Me.Addr, RandHex(6))
	for _, r := range d.Routes {
		fmt.Fprintf(&b, "Route: %s\n", r)
	}
	fmt.Fprintf(&b, "From: %s\nTo: %s\nCall-ID: %s\nCSeq: %d %s\n", d.Local, d.Remote, d.CallID, d.CSeq, method)
	if method != "BYE" && method != "ACK" && method != "CANCEL" {
		hasContact := false
		for _, e := range extra {
			if strings.HasPrefix(strings.ToLower(e), "contact:") {
				hasContact = true
			}
		}
		if !hasContact {
			fmt.Fprintf(&b, "Contact: <%s>\n", d.Contact)
		}
	}
	b.WriteString("Max-Forwards: 70\n")
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	b.WriteString("Content-Length: 0\n\n")
	return b.String()
}

// AckFor is the ACK of a non-2xx final reply to the INVITE text sent: the
// same Via, From, Call-ID and CSeq number, the To of the reply.
func AckFor(invite string, reply *Msg) string {
	var b strings.Builder
	lines := strings.Split(strings.ReplaceAll(invite, "\r\n", "\n"), "\n")
	b.WriteString(strings.Replace(lines[0], "INVITE", "ACK", 1) + "\n")
	for _, l := range lines[1:] {
		switch {
		case strings.HasPrefix(l, "Via:"), strings.HasPrefix(l, "From:"), strings.HasPrefix(l, "Call-ID:"),
			strings.HasPrefix(l, "Max-Forwards:"):
			b.WriteString(l + "\n")
		case strings.HasPrefix(l, "CSeq:"):
			f := strings.Fields(l)
			b.WriteString("CSeq: " + f[1] + " ACK\n")
		}
	}
	to, _ := reply.Value(msg.HTo)
	b.WriteString("To: " + to + "\nContent-Length: 0\n\n")
	return b.String()
}
