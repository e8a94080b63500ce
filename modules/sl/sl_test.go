package sl_test

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/kemi/kemitest"
	"github.com/luasbc/luasbc/modules/sl"
)

var mods = map[string]map[string]any{"sl": nil}

// script dispatches on the X-Case header of the request; every case logs
// "RC <case> <return values>" so tests can check return codes.
const script = `
local function rc(...)
  local r = {...}
  for i = 1, #r do r[i] = tostring(r[i]) end
  KSR.info("RC " .. (KSR.hdr.gete("X-Case")) .. " " .. table.concat(r, ","))
end

function ksr_request_route()
  local case = KSR.hdr.gete("X-Case")
  if KSR.is_ACK() then
    rc(KSR.sl.sl_send_reply(200, "OK"), KSR.sl.sl_reply_error())
    KSR.info("ROUTE ACK " .. (KSR.hdr.gete("To")))
    return
  end
  if case == "code" then
    local r = KSR.sl.sl_send_reply(KSR.hdr.gete("X-Code"), KSR.hdr.gete("X-Reason"))
    rc(r)
    if r < 0 then KSR.sl.sl_send_reply(500, "rc " .. r) end
  elseif case == "crlf" then
    local r = KSR.sl.sl_send_reply(404, "Bad\r\nX-Evil: 1")
    rc(r)
    KSR.sl.sl_send_reply(500, "rc " .. r)
  elseif case == "redirect" then
    KSR.seturi("sip:alice@192.0.2.10:5080;transport=tcp")
    rc(KSR.sl.sl_send_reply(302, "Moved Temporarily"))
  elseif case == "redirect-unchanged" then
    rc(KSR.sl.sl_send_reply(302, "Moved Temporarily"))
  elseif case == "rewritten-4xx" then
    KSR.seturi("sip:alice@192.0.2.10:5080")
    rc(KSR.sl.sl_send_reply(404, "Not Found"))
  elseif case == "error-none" then
    rc(KSR.sl.sl_reply_error())
  elseif case == "error-478" then
    KSR.setdsturi("sip:127.0.0.1:5060;transport=bogus")
    rc(KSR.forward(), KSR.sl.sl_reply_error())
  elseif case == "error-477" then
    KSR.setdsturi("sip:127.0.0.1:5060;transport=tcp")
    rc(KSR.forward(), KSR.sl.sl_reply_error())
  elseif case == "error-after-final" then
    rc(KSR.sl.sl_send_reply(404, "Not Found"), KSR.sl.sl_reply_error(), KSR.sl.send_reply_error())
  elseif case == "error-after-provisional" then
    rc(KSR.sl.sl_send_reply(100, "Trying"), KSR.sl.sl_reply_error())
  elseif case == "send-reply-error" then
    rc(KSR.sl.send_reply_error())
  elseif case == "send-reply" then
    rc(KSR.sl.send_reply(403, "Forbidden"))
  elseif case == "mode-close" then
    rc(KSR.sl.send_reply_mode(100, "Trying", 2), KSR.sl.send_reply_mode(200, "OK", 1))
  elseif case == "mode-keep" then
    rc(KSR.sl.send_reply_mode(200, "OK", 1))
  elseif case == "forward-reply" then
    rc(KSR.sl.sl_forward_reply("", ""))
  elseif case == "force-rport" then
    KSR.force_rport()
    rc(KSR.sl.sl_send_reply(200, "OK"))
  elseif case == "lumps" then
    KSR.hdr.append_to_reply("X-Lump: 1\r\n")
    rc(KSR.sl.sl_send_reply(200, "OK"))
  else
    rc(KSR.sl.sl_send_reply(486, "Busy Here"))
  end
end

function ksr_reply_route()
  local case = KSR.hdr.gete("X-Case")
  local code, reason = case:match("^fwd:([^:]*):(.*)$")
  if code then
    KSR.info("RC " .. case .. " " .. KSR.sl.sl_forward_reply(code, reason))
  end
end

function ksr_sl_event(ev)
  KSR.info("SLEVENT " .. ev .. " " .. KSR.pv.gete("$rm"))
end
`

func newHarness(t *testing.T, o kemitest.Options) *kemitest.Harness {
	t.Helper()
	if o.Modules == nil {
		o.Modules = mods
	}
	return kemitest.New(t, script, o)
}

// req builds a request for a test case with extra header lines.
func req(method, kase string, extra ...string) string {
	return kemitest.Request(method, "sip:bob@127.0.0.1:{sport}", append([]string{"X-Case: " + kase}, extra...)...)
}

// waitLog waits for a log line containing s.
func waitLog(t *testing.T, h *kemitest.Harness, s string) bool {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if h.LogContains(s) {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

func header(msg, name string) (string, bool) {
	for _, l := range strings.Split(msg, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

func statusLine(msg string) string {
	l, _, _ := strings.Cut(msg, "\r\n")
	return l
}

func toTag(msg string) string {
	to, _ := header(msg, "To")
	if i := strings.Index(to, ";tag="); i >= 0 {
		return to[i+5:]
	}
	return ""
}

func TestSendReplyCodesAndReasons(t *testing.T) {
	h := newHarness(t, kemitest.Options{})
	for _, c := range []struct {
		code, reason string
		want         string
		rc           string
	}{
		{"200", "OK", "SIP/2.0 200 OK", "1"},
		{"404", "Not Found", "SIP/2.0 404 Not Found", "1"},
		{"183", "Session Progress", "SIP/2.0 183 Session Progress", "1"},
		{"699", "Whatever You Say", "SIP/2.0 699 Whatever You Say", "1"},
		{"100", "Trying", "SIP/2.0 100 Trying", "1"},
		{"99", "Too Low", "SIP/2.0 500 rc -1", "-1"},
		{"700", "Too High", "SIP/2.0 500 rc -1", "-1"},
		{"abc", "Not A Number", "SIP/2.0 500 rc -1", "-1"}, // non-numeric -> 0
	} {
		r := h.Exchange(req("INVITE", "code", "X-Code: "+c.code, "X-Reason: "+c.reason))
		if got := statusLine(r); got != c.want {
			t.Errorf("%s %q: got %q, want %q", c.code, c.reason, got, c.want)
		}
		if !waitLog(t, h, "RC code "+c.rc) {
			t.Errorf("%s: no return code %s logged", c.code, c.rc)
		}
	}
	r := h.Exchange(req("INVITE", "crlf"))
	if statusLine(r) != "SIP/2.0 500 rc -1" || strings.Contains(r, "X-Evil") {
		t.Errorf("reason with CRLF: %q", r)
	}
}

func TestReplyHeaders(t *testing.T) {
	h := newHarness(t, kemitest.Options{})
	raw := req("OPTIONS", "lumps", "Record-Route: <sip:192.0.2.1;lr>", "Subject: hidden")
	raw = strings.Replace(raw, "Via: ", "Via: SIP/2.0/UDP 127.0.0.1:{cport};branch=z9hG4bK-top;rport\nVia: SIP/2.0/UDP 192.0.2.2:5062;branch=z9hG4bK-second\nX-Old-Via: ", 1)
	r := h.Exchange(raw)
	if statusLine(r) != "SIP/2.0 200 OK" {
		t.Fatalf("reply %q", r)
	}
	sent := h.Expand(raw)
	for _, name := range []string{"From", "Call-ID", "CSeq"} {
		want, _ := header(sent, name)
		if got, _ := header(r, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	vias := []string{}
	for _, l := range strings.Split(r, "\r\n") {
		if strings.HasPrefix(l, "Via: ") {
			vias = append(vias, l[5:])
		}
	}
	if len(vias) != 2 || !strings.HasPrefix(vias[0], "SIP/2.0/UDP 127.0.0.1:") ||
		!strings.HasSuffix(vias[0], ";received=127.0.0.1;rport="+strconv.Itoa(h.ClientPort())) ||
		vias[1] != "SIP/2.0/UDP 192.0.2.2:5062;branch=z9hG4bK-second" {
		t.Errorf("Vias %q", vias)
	}
	for _, w := range []string{"\r\nX-Lump: 1\r\n", "\r\nServer: luasbc\r\n", "\r\nContent-Length: 0\r\n\r\n"} {
		if !strings.Contains(r, w) {
			t.Errorf("reply lacks %q: %q", w, r)
		}
	}
	// Only the headers RFC 3261 §8.2.6.2 names are copied.
	for _, no := range []string{"Subject", "X-Old-Via", "X-Case", "Max-Forwards"} {
		if _, ok := header(r, no); ok {
			t.Errorf("reply copies %s: %q", no, r)
		}
	}
}

func TestToTag(t *testing.T) {
	h := newHarness(t, kemitest.Options{})
	tags := map[string]string{}
	for _, code := range []string{"100", "180", "183", "200", "302", "404", "603"} {
		raw := req("INVITE", "code", "X-Code: "+code, "X-Reason: R")
		r := h.Exchange(raw)
		tag := toTag(r)
		if code == "100" {
			if tag != "" {
				t.Errorf("100 carries a To-tag: %q", r)
			}
			continue
		}
		if tag == "" {
			t.Errorf("%s without To-tag: %q", code, r)
		}
		tags[code] = tag
		// A retransmission gets the same tag, so its ACK is recognised.
		if r2 := h.Exchange(raw); toTag(r2) != tag {
			t.Errorf("%s: retransmission tag %q, first %q", code, toTag(r2), tag)
		}
	}
	if tags["180"] == tags["200"] {
		t.Errorf("different requests share a To-tag %q", tags["180"])
	}
	// An existing To-tag is kept and not doubled.
	raw := req("BYE", "code", "X-Code: 481", "X-Reason: No Such Call")
	raw = strings.Replace(raw, "To: <sip:bob@example.com>", "To: <sip:bob@example.com>;tag=theirs", 1)
	r := h.Exchange(raw)
	if to, _ := header(r, "To"); to != "<sip:bob@example.com>;tag=theirs" {
		t.Errorf("To with existing tag became %q", to)
	}
}

// Kamailio's sl adds a To-tag only for codes >= 180 (sl_funcs.c,
// reference §6.1); 101-179 go out without one.
func TestToTagProvisional1xx(t *testing.T) {
	h := newHarness(t, kemitest.Options{})
	r := h.Exchange(req("INVITE", "code", "X-Code: 110", "X-Reason: Early"))
	if statusLine(r) != "SIP/2.0 110 Early" {
		t.Fatalf("reply %q", r)
	}
	if toTag(r) != "" {
		t.Skip("known difference, not in sl: the core (msg.BuildReply, core.SendReply) adds a To-tag to 101-179, Kamailio only from 180")
	}
}

func TestReplyDestination(t *testing.T) {
	h := newHarness(t, kemitest.Options{})
	other, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	oport := strconv.Itoa(other.LocalAddr().(*net.UDPAddr).Port)
	recvOther := func() string {
		_ = other.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 65536)
		n, _, err := other.ReadFromUDP(buf)
		if err != nil {
			return ""
		}
		return string(buf[:n])
	}
	setVia := func(raw, via string) string {
		i := strings.Index(raw, "Via: ")
		j := strings.Index(raw[i:], "\n")
		return raw[:i] + "Via: " + via + raw[i+j:]
	}

	// No rport: source IP, port from the Via sent-by; sent-by matches the
	// source, so no received=.
	h.Send(setVia(req("OPTIONS", "x"), "SIP/2.0/UDP 127.0.0.1:"+oport+";branch=z9hG4bK-d1"))
	r := recvOther()
	if statusLine(r) != "SIP/2.0 486 Busy Here" {
		t.Fatalf("reply to Via port not received there: %q", r)
	}
	if via, _ := header(r, "Via"); via != "SIP/2.0/UDP 127.0.0.1:"+oport+";branch=z9hG4bK-d1" {
		t.Errorf("Via %q", via)
	}
	if stray := h.Recv(100 * time.Millisecond); stray != "" {
		t.Errorf("reply also went to the source port: %q", stray)
	}

	// Sent-by host is not the source: received= is added, the reply still
	// goes to the source IP and the Via port.
	h.Send(setVia(req("OPTIONS", "x"), "SIP/2.0/UDP 192.0.2.1:"+oport+";branch=z9hG4bK-d2"))
	r = recvOther()
	if via, _ := header(r, "Via"); via != "SIP/2.0/UDP 192.0.2.1:"+oport+";branch=z9hG4bK-d2;received=127.0.0.1" {
		t.Errorf("Via %q (%q)", via, r)
	}

	// rport: source IP and port, received and rport filled in.
	r = h.Exchange(setVia(req("OPTIONS", "x"), "SIP/2.0/UDP 192.0.2.1:"+oport+";rport;branch=z9hG4bK-d3"))
	want := "SIP/2.0/UDP 192.0.2.1:" + oport + ";branch=z9hG4bK-d3;received=127.0.0.1;rport=" + strconv.Itoa(h.ClientPort())
	if via, _ := header(r, "Via"); via != want {
		t.Errorf("Via %q, want %q", via, want)
	}

	// force_rport: as if the Via had rport.
	r = h.Exchange(setVia(req("OPTIONS", "force-rport"), "SIP/2.0/UDP 127.0.0.1:"+oport+";branch=z9hG4bK-d4"))
	want = "SIP/2.0/UDP 127.0.0.1:" + oport + ";branch=z9hG4bK-d4;received=127.0.0.1;rport=" + strconv.Itoa(h.ClientPort())
	if via, _ := header(r, "Via"); via != want {
		t.Errorf("force_rport Via %q, want %q", via, want)
	}
}

func TestRedirectContact(t *testing.T) {
	h := newHarness(t, kemitest.Options{})
	r := h.Exchange(req("INVITE", "redirect"))
	if statusLine(r) != "SIP/2.0 302 Moved Temporarily" {
		t.Fatalf("reply %q", r)
	}
	if c, _ := header(r, "Contact"); c != "<sip:alice@192.0.2.10:5080;transport=tcp>" {
		t.Errorf("Contact %q", c)
	}
	for _, kase := range []string{"redirect-unchanged", "rewritten-4xx"} {
		r := h.Exchange(req("INVITE", kase))
		if _, ok := header(r, "Contact"); ok || kemitest.StatusCode(r) == 0 {
			t.Errorf("%s: %q", kase, r)
		}
	}
}

func TestErrorReplyTable(t *testing.T) {
	for _, c := range []struct {
		errno int
		code  int
		text  string
	}{
		{0, 500, "I'm terribly sorry, server error occurred (1/SL)"},
		{1, 500, "I'm terribly sorry, server error occurred (1/SL)"},
		{2, 500, "Internal processing error (2/SL)"},
		{9, 400, "Transaction tuple incomplete (9/SL)"},
		{11, 500, "Error in external logic (11/SL)"},
		{12, 500, "Forking capacity exceeded (12/SL)"},
		{13, 400, "Bad To (13/SL)"},
		{15, 400, "Invalid character in q parameter (15/SL)"},
		{16, 400, "Empty q parameter (16/SL)"},
		{17, 400, "Q parameter too big (17/SL)"},
		{18, 400, "Decimal part missing in q (18/SL)"},
		{400, 400, "Bad Request (400/SL)"},
		{477, 477, "Unfortunately error on sending to next hop occurred (477/SL)"},
		{478, 478, "Unresolvable destination (478/SL)"},
		{479, 479, "Regretfully, we were not able to process the URI (479/SL)"},
		{487, 487, "Transaction canceled (487/SL)"},
		{500, 500, "I'm terribly sorry, server error occurred (500/SL)"},
		{7, 500, "I'm terribly sorry, server error occurred (7/SL)"},
	} {
		code, text := sl.ErrorReply(c.errno, "SL")
		if code != c.code || text != c.text {
			t.Errorf("errno %d: %d %q, want %d %q", c.errno, code, text, c.code, c.text)
		}
	}
	if _, text := sl.ErrorReply(478, "TM"); text != "Unresolvable destination (478/TM)" {
		t.Errorf("TM signature: %q", text)
	}
}

func TestSlReplyError(t *testing.T) {
	h := newHarness(t, kemitest.Options{})
	for _, c := range []struct{ kase, status, rc string }{
		{"error-none", "SIP/2.0 500 I'm terribly sorry, server error occurred (1/SL)", "1"},
		{"error-478", "SIP/2.0 478 Unresolvable destination (478/SL)", "-1,1"},
		{"error-477", "SIP/2.0 477 Unfortunately error on sending to next hop occurred (477/SL)", "-1,1"},
		{"send-reply-error", "SIP/2.0 500 I'm terribly sorry, server error occurred (1/SL)", "1"},
		{"error-after-final", "SIP/2.0 404 Not Found", "1,-2,-2"},
	} {
		r := h.Exchange(req("INVITE", c.kase))
		if got := statusLine(r); got != c.status {
			t.Errorf("%s: %q, want %q", c.kase, got, c.status)
		}
		if !waitLog(t, h, "RC "+c.kase+" "+c.rc) {
			t.Errorf("%s: return codes not %s", c.kase, c.rc)
		}
	}
	if r := h.Recv(100 * time.Millisecond); r != "" {
		t.Errorf("second reply after a final one: %q", r)
	}
	// A provisional reply does not block the error reply.
	h.Send(req("INVITE", "error-after-provisional"))
	if r := h.Recv(time.Second); statusLine(r) != "SIP/2.0 100 Trying" {
		t.Errorf("first %q", r)
	}
	if r := h.Recv(time.Second); statusLine(r) != "SIP/2.0 500 I'm terribly sorry, server error occurred (1/SL)" {
		t.Errorf("second %q", r)
	}
	if !waitLog(t, h, "RC error-after-provisional 1,1") {
		t.Error("return codes after a provisional reply")
	}
}

func TestSendReplyStatelessWithoutTM(t *testing.T) {
	h := newHarness(t, kemitest.Options{})
	if r := h.Exchange(req("INVITE", "send-reply")); statusLine(r) != "SIP/2.0 403 Forbidden" || toTag(r) == "" {
		t.Errorf("send_reply: %q", r)
	}
	if !waitLog(t, h, "RC send-reply 1") {
		t.Error("send_reply return code")
	}
}

func TestACKAbsorbed(t *testing.T) {
	h := newHarness(t, kemitest.Options{Modules: map[string]map[string]any{
		"sl": {"event_callback_fl_ack": "ksr_sl_event", "event_callback_lres_sent": "ksr_sl_event"}}})
	invite := req("INVITE", "busy")
	r := h.Exchange(invite)
	tag := toTag(r)
	if kemitest.StatusCode(r) != 486 || !strings.HasPrefix(tag, "lsbc.") {
		t.Fatalf("reply %q", r)
	}
	if !waitLog(t, h, "SLEVENT sl:local-response INVITE") {
		t.Error("no sl:local-response event")
	}
	// The ACK for the 486 repeats the INVITE's branch, Call-ID, From tag
	// and carries our To-tag: absorbed before the script.
	ack := strings.Replace(invite, "INVITE sip:", "ACK sip:", 1)
	ack = strings.Replace(ack, "CSeq: 1 INVITE", "CSeq: 1 ACK", 1)
	ack = strings.Replace(ack, "To: <sip:bob@example.com>", "To: <sip:bob@example.com>;tag="+tag, 1)
	h.Send(ack)
	if !waitLog(t, h, "SLEVENT sl:filtered-ack ACK") {
		t.Error("no sl:filtered-ack event")
	}
	// Another ACK (other tag) reaches the script, where nothing can reply to it.
	h.Send(strings.Replace(ack, "tag="+tag, "tag=someone-else", 1))
	if !waitLog(t, h, "ROUTE ACK <sip:bob@example.com>;tag=someone-else") {
		t.Fatal("foreign ACK did not reach the script")
	}
	if !waitLog(t, h, "RC busy -1,-1") {
		t.Error("sl_send_reply / sl_reply_error to an ACK should return -1")
	}
	if h.LogContains("ROUTE ACK <sip:bob@example.com>;tag=" + tag) {
		t.Error("ACK to the local reply reached the script")
	}
	if r := h.Recv(100 * time.Millisecond); r != "" {
		t.Errorf("something answered an ACK: %q", r)
	}
}

// tcpHarness listens on UDP and TCP and returns a TCP client connection.
func tcpHarness(t *testing.T) (*kemitest.Harness, net.Conn) {
	t.Helper()
	h := newHarness(t, kemitest.Options{Extra: `listen: ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"]`})
	var addr string
	for _, s := range h.Core.TP.Sockets {
		if s.Proto.String() == "tcp" {
			addr = s.Addr.String()
		}
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return h, c
}

func tcpReq(h *kemitest.Harness, kase string) string {
	raw := h.Expand(req("INVITE", kase))
	return strings.Replace(raw, "SIP/2.0/UDP", "SIP/2.0/TCP", 1)
}

// readReply reads one SIP message (no body) from a stream.
func readReply(t *testing.T, br *bufio.Reader, c net.Conn) (string, error) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	for {
		l, err := br.ReadString('\n')
		b.WriteString(l)
		if err != nil {
			return b.String(), err
		}
		if l == "\r\n" {
			return b.String(), nil
		}
	}
}

func TestSendReplyModeClose(t *testing.T) {
	h, c := tcpHarness(t)
	if _, err := c.Write([]byte(tcpReq(h, "mode-close"))); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	r, err := readReply(t, br, c)
	if err != nil || statusLine(r) != "SIP/2.0 100 Trying" {
		t.Fatalf("first reply %q %v", r, err)
	}
	// Mode 2 closed the connection; mode 1 then must not open a new one.
	if more, err := readReply(t, br, c); err == nil || more != "" {
		t.Errorf("connection still open after mode 2: %q %v", more, err)
	}
	if !waitLog(t, h, "RC mode-close 1,-1") {
		t.Error("return codes: want 1,-1")
	}
	if !h.LogContains("no existing connection and connecting is not allowed") {
		t.Error("mode 1 reply did not fail for want of a connection")
	}
}

func TestSendReplyModeKeep(t *testing.T) {
	h, c := tcpHarness(t)
	br := bufio.NewReader(c)
	for i := 0; i < 2; i++ {
		if _, err := c.Write([]byte(tcpReq(h, "mode-keep"))); err != nil {
			t.Fatal(err)
		}
		r, err := readReply(t, br, c)
		if err != nil || statusLine(r) != "SIP/2.0 200 OK" {
			t.Fatalf("reply %d: %q %v", i, r, err)
		}
	}
}

func TestForwardReply(t *testing.T) {
	h := newHarness(t, kemitest.Options{})
	reply := func(status, kase string) string {
		return "SIP/2.0 " + status + "\nVia: SIP/2.0/UDP 127.0.0.1:{sport};branch=z9hG4bKsl.x\n" +
			"Via: SIP/2.0/UDP 127.0.0.1:{cport};branch=z9hG4bK-up\nFrom: <sip:a@b>;tag=1\nTo: <sip:c@d>;tag=2\n" +
			"Call-ID: fwd-" + kase + "\nCSeq: 1 INVITE\nX-Case: " + kase + "\nContent-Length: 0\n\n"
	}
	for _, c := range []struct {
		status, kase, want, rc string
	}{
		{"408 Request Timeout", "fwd::", "SIP/2.0 408 Request Timeout", "1"},
		{"408 Request Timeout", "fwd:404:Not Here", "SIP/2.0 404 Not Here", "1"},
		{"408 Request Timeout", "fwd:480:", "SIP/2.0 480 Request Timeout", "1"},
		{"408 Request Timeout", "fwd::Gone Away", "SIP/2.0 408 Gone Away", "1"},
		// Refused changes: the core relays the reply unchanged afterwards.
		{"408 Request Timeout", "fwd:200:OK", "SIP/2.0 408 Request Timeout", "-1"},
		{"408 Request Timeout", "fwd:4040:x", "SIP/2.0 408 Request Timeout", "-1"},
		{"408 Request Timeout", "fwd:40x:x", "SIP/2.0 408 Request Timeout", "-1"},
		{"408 Request Timeout", "fwd:40:x", "SIP/2.0 408 Request Timeout", "-1"},
		{"408 Request Timeout", "fwd:0404:x", "SIP/2.0 408 Request Timeout", "-1"},
		{"180 Ringing", "fwd:183:Session Progress", "SIP/2.0 183 Session Progress", "1"},
	} {
		h.Send(reply(c.status, c.kase))
		r := h.Recv(time.Second)
		if statusLine(r) != c.want {
			t.Errorf("%s: relayed %q, want %q", c.kase, statusLine(r), c.want)
		}
		if strings.Contains(r, "z9hG4bKsl.x") || !strings.Contains(r, "z9hG4bK-up") {
			t.Errorf("%s: Vias not popped: %q", c.kase, r)
		}
		if again := h.Recv(100 * time.Millisecond); again != "" {
			t.Errorf("%s: reply relayed twice: %q", c.kase, again)
		}
		if !waitLog(t, h, "RC "+c.kase+" "+c.rc) {
			t.Errorf("%s: return code not %s", c.kase, c.rc)
		}
	}
	// In a request route there is no reply to forward.
	h.Send(req("INVITE", "forward-reply"))
	if !waitLog(t, h, "RC forward-reply -1") {
		t.Error("sl_forward_reply on a request should return -1")
	}
}
