package e2e

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// wsPeer is a WebSocket client written from RFC 6455 for the tests: it
// upgrades with the "sip" subprotocol (RFC 7118), sends each message in a
// masked text frame and reads the server's frames.
type wsPeer struct {
	t    *testing.T
	c    net.Conn
	r    *bufio.Reader
	Addr string // local address (the server sees this as the source)
}

// dialWS connects (over TLS for wss) and upgrades; protocol is the
// Sec-WebSocket-Protocol offered.
func dialWS(t *testing.T, addr string, secure bool, ca *xport, protocol string) (*wsPeer, int, error) {
	t.Helper()
	var c net.Conn
	var err error
	if secure {
		c, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.CA.Pool, ServerName: "sbc.test"})
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		return nil, 0, err
	}
	t.Cleanup(func() { c.Close() })
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	k := base64.StdEncoding.EncodeToString(key)
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Origin: https://app.example.test\r\nSec-WebSocket-Key: " + k + "\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Protocol: " + protocol + "\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		return nil, 0, err
	}
	r := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode != 101 {
		return nil, resp.StatusCode, nil
	}
	sum := sha1.Sum([]byte(k + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		return nil, 101, errors.New("bad Sec-WebSocket-Accept")
	}
	if resp.Header.Get("Sec-WebSocket-Protocol") != "sip" {
		return nil, 101, fmt.Errorf("subprotocol %q", resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	return &wsPeer{t: t, c: c, r: r, Addr: c.LocalAddr().String()}, 101, nil
}

// frame renders one client frame; masked unless mask is false.
func wsFrame(fin bool, opcode byte, payload []byte, masked bool) []byte {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	mbit := byte(0)
	if masked {
		mbit = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		out = append(out, mbit|byte(n))
	case n < 65536:
		out = append(out, mbit|126, byte(n>>8), byte(n))
	default:
		out = append(out, mbit|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if !masked {
		return append(out, payload...)
	}
	key := make([]byte, 4)
	_, _ = rand.Read(key)
	out = append(out, key...)
	for i, c := range payload {
		out = append(out, c^key[i%4])
	}
	return out
}

// Send writes one SIP message in one masked text frame.
func (w *wsPeer) Send(s string) error {
	_ = w.c.SetWriteDeadline(time.Now().Add(3 * time.Second))
	_, err := w.c.Write(wsFrame(true, 1, []byte(s), true))
	return err
}

// readFrame reads one server frame (which must not be masked).
func (w *wsPeer) readFrame(d time.Duration) (byte, []byte, error) {
	_ = w.c.SetReadDeadline(time.Now().Add(d))
	var h [2]byte
	if _, err := io.ReadFull(w.r, h[:]); err != nil {
		return 0, nil, err
	}
	if h[1]&0x80 != 0 {
		return 0, nil, errors.New("masked frame from the server")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(w.r, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(w.r, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 1<<20 {
		return 0, nil, errors.New("frame too large")
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(w.r, p); err != nil {
		return 0, nil, err
	}
	return h[0] & 0x0f, p, nil
}

// Recv reads the next SIP message (text or binary frame).
func (w *wsPeer) Recv(d time.Duration) (*Msg, error) {
	deadline := time.Now().Add(d)
	for {
		op, p, err := w.readFrame(time.Until(deadline))
		if err != nil {
			return nil, err
		}
		switch op {
		case 1, 2:
			return ParseMsg(string(p))
		case 8:
			return nil, fmt.Errorf("closed by the server: %x", p)
		}
	}
}

// recvWS reads until ok accepts a message.
func recvWS(w *wsPeer, d time.Duration, ok func(*Msg) bool) (*Msg, []string, error) {
	deadline := time.Now().Add(d)
	var seen []string
	for {
		m, err := w.Recv(time.Until(deadline))
		if err != nil {
			return nil, seen, err
		}
		seen = append(seen, m.First)
		if ok(m) {
			return m, seen, nil
		}
	}
}

// wsInvite is what JsSIP sends: a Via with an .invalid host and no port, a
// Contact that cannot be resolved.
const wsRegister = `REGISTER sip:example.test SIP/2.0
Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch={branch}
From: <sip:alice@example.test>;tag=wsreg
To: <sip:alice@example.test>
Call-ID: {callid}
CSeq: 1 REGISTER
Contact: <sip:k8s3h2@df7jal23ls0d.invalid;transport=ws>;expires=600
Max-Forwards: 70
Content-Length: 0

`

const wsInvite = `INVITE sip:bob@example.test SIP/2.0
Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch={branch}
From: <sip:alice@example.test>;tag=wscaller
To: <sip:bob@example.test>
Call-ID: {callid}
CSeq: 1 INVITE
Contact: <sip:k8s3h2@df7jal23ls0d.invalid;transport=ws;ob>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: {cl}

v=0
o=- 1 1 IN IP4 df7jal23ls0d.invalid
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 9 UDP/TLS/RTP/SAVPF 111
`

// TestWSSCallerToUDPCallee: a browser-like client registers and calls a
// UDP callee over wss:, with the double Record-Route (transport=ws on the
// client side); the callee's BYE reaches the client over its connection.
func TestWSSCallerToUDPCallee(t *testing.T) {
	t.Parallel()
	callee := NewUDP(t)
	x := startXport(t, xportOpts{Script: "bridge.lua", WSS: true, WS: true, Replace: routes("bob", "sip:"+callee.Addr)})
	if _, code, _ := dialWS(t, x.WSSAddr, true, x, "chat"); code != 400 {
		t.Fatalf("upgrade without the sip subprotocol: %d", code)
	}
	w, code, err := dialWS(t, x.WSSAddr, true, x, "sip")
	if err != nil || code != 101 {
		t.Fatalf("wss upgrade: %d %v", code, err)
	}
	reg := NewReq(wsRegister, w.Addr, x.WSSAddr, "WSS")
	_ = w.Send(reg.Text)
	if r, _, err := recvWS(w, 3*time.Second, func(m *Msg) bool { return m.Code >= 200 }); err != nil || r.Code != 200 {
		t.Fatalf("REGISTER over wss: %v %v", r, err)
	}
	inv := NewReq(wsInvite, w.Addr, x.WSSAddr, "WSS")
	_ = w.Send(inv.Text)
	in, err := callee.RecvFor(inv.CallID, 3*time.Second)
	if err != nil || in.Method != "INVITE" {
		t.Fatalf("callee: %v %v\n%s", in, err, tail(x.Logs(), 2000))
	}
	rrs := in.All("record-route")
	if len(rrs) != 2 || !strings.Contains(rrs[0], x.Addr+";r2=on") || !strings.Contains(rrs[1], x.WSSAddr+";transport=ws;r2=on") {
		t.Fatalf("double Record-Route: %q", rrs)
	}
	vias := in.All("via")
	if len(vias) != 2 || !strings.Contains(vias[1], "SIP/2.0/WSS df7jal23ls0d.invalid") || !strings.Contains(vias[1], "received=127.0.0.1") {
		t.Errorf("Vias %q", vias)
	}
	ct := contactURI(in.Get("contact"))
	if !strings.HasSuffix(ct, ";transport=ws") || strings.Contains(ct, ".invalid") {
		t.Errorf("Contact towards the callee %q", ct)
	}
	callee.Send(x.Addr, replyFor(in, 180, "Ringing", "wscallee"))
	ok := strings.Replace(string(replyFor(in, 200, "OK", "wscallee")), "Content-Length: 0", "Contact: <sip:bob@"+callee.Addr+">\r\nContent-Length: 0", 1)
	callee.Send(x.Addr, []byte(ok))
	r200, seen, err := recvWS(w, 3*time.Second, func(m *Msg) bool { return m.Code >= 200 })
	if err != nil || r200.Code != 200 || len(seen) < 2 {
		t.Fatalf("caller over wss: %v %v %v", r200, seen, err)
	}
	from := "<sip:alice@example.test>;tag=wscaller"
	to := "<sip:bob@example.test>;tag=wscallee"
	ack := inDialog("ACK", "sip:bob@"+callee.Addr, "SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKack"+randHex(4),
		from, to, inv.CallID, 1, reversed(r200.All("record-route")), "")
	_ = w.Send(ack)
	if a, err := callee.RecvFor(inv.CallID, 3*time.Second); err != nil || a.Method != "ACK" {
		t.Fatalf("ACK at callee: %v %v", a, err)
	}
	bye := inDialog("BYE", ct, "SIP/2.0/UDP "+callee.Addr+";branch=z9hG4bKbye"+randHex(4), to, from, inv.CallID, 1, rrs, "")
	callee.Send(x.Addr, []byte(bye))
	b, _, err := recvWS(w, 3*time.Second, func(m *Msg) bool { return m.Method == "BYE" })
	if err != nil {
		t.Fatalf("BYE to the wss client: %v\n%s", err, tail(x.Logs(), 2000))
	}
	if v := b.All("via")[0]; !strings.HasPrefix(v, "SIP/2.0/WSS "+x.WSSAddr) {
		t.Errorf("BYE Via %q", v)
	}
	_ = w.Send(string(replyFor(b, 200, "OK", "")))
	if r, err := callee.RecvFor(inv.CallID, 3*time.Second); err != nil || r.Code != 200 {
		t.Fatalf("BYE 200 at callee: %v %v", r, err)
	}
	if x.Stat("websocket:ws_failed_handshakes") < 1 {
		t.Error("refused upgrade not counted")
	}
}

// TestWSBadFrames: unmasked, oversized and endlessly fragmented frames close
// their connection with a close frame, are counted and logged once, while a
// good client on the same listener keeps working.
func TestWSBadFrames(t *testing.T) {
	t.Parallel()
	x := startXport(t, xportOpts{Script: "bridge.lua", WS: true, Replace: routes(),
		Core: []string{"max_message_size: 8192", "tcp_msg_read_timeout: 1"}})
	good, _, err := dialWS(t, x.WSAddr, false, x, "sip")
	if err != nil {
		t.Fatal(err)
	}
	ping := func() {
		t.Helper()
		o := NewReq(optionsTmpl, good.Addr, x.WSAddr, "WS")
		_ = good.Send(o.Text)
		if r, _, err := recvWS(good, 3*time.Second, func(m *Msg) bool { return m.Code >= 200 }); err != nil || r.Code != 200 {
			t.Fatalf("good client: %v %v", r, err)
		}
	}
	ping()
	bad := func(name string, data []byte, reason string, wantCode uint16) {
		t.Helper()
		for i := 0; i < 3; i++ {
			w, _, err := dialWS(t, x.WSAddr, false, x, "sip")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = w.c.Write(data)
			start := time.Now()
			op, p, err := w.readFrame(4 * time.Second)
			if wantCode != 0 && (err != nil || op != 8 || len(p) < 2 || binary.BigEndian.Uint16(p) != wantCode) {
				t.Fatalf("%s: close frame op=%d payload=%x err=%v", name, op, p, err)
			}
			if _, _, err := w.readFrame(4 * time.Second); err == nil {
				t.Fatalf("%s: connection still open", name)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("%s: closed after %v", name, d)
			}
		}
		x.WaitLog(reason, 2*time.Second)
		if n := strings.Count(x.Logs(), reason); n != 1 {
			t.Errorf("%s: logged %d times, want once", name, n)
		}
		ping()
	}
	opt := []byte(NewReq(optionsTmpl, "127.0.0.1:1", x.WSAddr, "WS").Text)
	bad("unmasked", wsFrame(true, 1, opt, false), "not masked", 1002)
	bad("oversized", wsFrame(true, 1, make([]byte, 9000), true), "larger than the limit", 1009)
	var endless []byte
	endless = append(endless, wsFrame(false, 1, []byte("I"), true)...)
	for i := 0; i < 100; i++ {
		endless = append(endless, wsFrame(false, 0, []byte("N"), true)...)
	}
	bad("endless fragments", endless, "too many fragments", 1009)
	bad("unfinished fragment", wsFrame(false, 1, []byte("INVITE"), true), "tcp_msg_read_timeout", 0)
	if n := x.Stat("websocket:ws_bad_frames"); n < 9 {
		t.Errorf("websocket:ws_bad_frames = %d", n)
	}
}
