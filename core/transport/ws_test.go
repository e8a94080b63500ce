package transport

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/msg"
)

// wsClient opens a WebSocket to addr offering protocols and returns the
// connection and the status line.
func wsClient(t *testing.T, addr, protocols string) (net.Conn, *bufio.Reader, int) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	k := base64.StdEncoding.EncodeToString(key)
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + k + "\r\nSec-WebSocket-Version: 13\r\n"
	if protocols != "" {
		req += "Sec-WebSocket-Protocol: " + protocols + "\r\n"
	}
	_, _ = c.Write([]byte(req + "\r\n"))
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("handshake response: %v", err)
	}
	if resp.StatusCode == 101 {
		if resp.Header.Get("Sec-WebSocket-Accept") != wsAccept(k) || resp.Header.Get("Sec-WebSocket-Protocol") != "sip" {
			t.Fatalf("bad 101: %v", resp.Header)
		}
	}
	return c, br, resp.StatusCode
}

var mask = []byte{1, 2, 3, 4}

// readFrame reads one server frame.
func readFrame(t *testing.T, c net.Conn, br *bufio.Reader) WSFrame {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	var buf []byte
	tmp := make([]byte, 4096)
	for {
		if f, n, err := ParseWSFrame(buf, 1<<20, false); err != nil {
			t.Fatalf("server frame: %v", err)
		} else if n > 0 {
			return f
		}
		n, err := br.Read(tmp)
		if err != nil {
			t.Fatalf("read frame: %v", err)
		}
		buf = append(buf, tmp[:n]...)
	}
}

func TestWebSocketSIP(t *testing.T) {
	tl := newTestLayer(t, Options{})
	s, err := tl.ListenWS(loop)
	if err != nil {
		t.Fatal(err)
	}
	tl.Start()
	c, br, code := wsClient(t, s.Addr.String(), "chat, sip")
	if code != 101 {
		t.Fatalf("status %d", code)
	}
	// One SIP message per text frame; fragments joined; pings answered.
	_, _ = c.Write(AppendWSFrame(nil, wsText, []byte(optMsg), mask))
	p := tl.next(t)
	if string(p.Data) != optMsg || p.Sock.Proto != msg.WS {
		t.Fatalf("got %q over %s", p.Data, p.Sock.Proto)
	}
	half := len(optMsg) / 2
	frag := []byte{0x01, 0x80 | byte(half)}
	frag = append(frag, mask...)
	for i, b := range []byte(optMsg[:half]) {
		frag = append(frag, b^mask[i&3])
	}
	_, _ = c.Write(frag)
	_, _ = c.Write(AppendWSFrame(nil, wsPing, []byte("hi"), mask))
	last := AppendWSFrame(nil, wsCont, []byte(optMsg[half:]), mask)
	_, _ = c.Write(last)
	if f := readFrame(t, c, br); f.Opcode != wsPong || string(f.Payload) != "hi" {
		t.Fatalf("pong %+v", f)
	}
	if p := tl.next(t); string(p.Data) != optMsg {
		t.Fatalf("fragmented message %q", p.Data)
	}
	// Replies go back on the connection in an unmasked text frame.
	if _, err := tl.Send(msg.WS, p.Src, []byte("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"), SendOpts{}); err != nil {
		t.Fatal(err)
	}
	if f := readFrame(t, c, br); f.Opcode != wsText || !bytes.HasPrefix(f.Payload, []byte("SIP/2.0 200")) {
		t.Fatalf("reply frame %+v", f)
	}
	// Never dial a WebSocket.
	if _, err := tl.Send(msg.WS, netipMust("127.0.0.1:9"), []byte("x"), SendOpts{}); err != ErrNoConnection {
		t.Fatalf("ws dial: %v", err)
	}
	// A close frame is answered and ends the connection.
	_, _ = c.Write(AppendWSFrame(nil, wsClose, []byte{0x03, 0xe8}, mask))
	if f := readFrame(t, c, br); f.Opcode != wsClose {
		t.Fatalf("close answer %+v", f)
	}
}

func TestWebSocketRefusals(t *testing.T) {
	tl := newTestLayer(t, Options{MaxMessage: 4096, FirstDataTimeout: 400 * time.Millisecond, MsgReadTimeout: 300 * time.Millisecond})
	s, _ := tl.ListenWS(loop)
	tl.Start()
	addr := s.Addr.String()
	if _, _, code := wsClient(t, addr, "chat"); code != 400 {
		t.Fatalf("no sip subprotocol: %d", code)
	}
	tl.waitBad(t, "subprotocol sip not offered", time.Second)

	expectClose := func(name string, frames []byte, code int, reason string) {
		t.Helper()
		c, br, st := wsClient(t, addr, "sip")
		if st != 101 {
			t.Fatalf("%s: status %d", name, st)
		}
		_, _ = c.Write(AppendWSFrame(nil, wsText, []byte(optMsg), mask))
		tl.next(t)
		_, _ = c.Write(frames)
		f := readFrame(t, c, br)
		if f.Opcode != wsClose || len(f.Payload) < 2 || int(binary.BigEndian.Uint16(f.Payload)) != code {
			t.Fatalf("%s: close frame %+v", name, f)
		}
		tl.waitBad(t, reason, time.Second)
	}
	unmasked := AppendWSFrame(nil, wsText, []byte(optMsg), nil)
	expectClose("unmasked", unmasked, wsCloseProtocol, "not masked")
	big := []byte{0x81, 0x80 | 127, 0, 0, 0, 0, 0x10, 0, 0, 0}
	expectClose("oversized", big, wsCloseTooBig, "larger than the limit")
	var endless []byte
	endless = append(endless, 0x01, 0x80|1, 1, 2, 3, 4, 'x'^1)
	for i := 0; i < wsMaxFragments+1; i++ {
		endless = append(endless, 0x00, 0x80|1, 1, 2, 3, 4, 'x'^1)
	}
	expectClose("endless fragments", endless, wsCloseTooBig, "too many fragments")
	var growing []byte
	growing = append(growing, AppendWSFrame(nil, wsText, make([]byte, 3000), mask)...)
	growing[0] = 0x01 // not final
	growing = append(growing, AppendWSFrame(nil, wsCont, make([]byte, 3000), mask)...)
	expectClose("fragments over the limit", growing, wsCloseTooBig, "larger than the limit")

	// A fragment that never gets its continuation: closed at tcp_msg_read_timeout.
	c, _, _ := wsClient(t, addr, "sip")
	_, _ = c.Write(AppendWSFrame(nil, wsText, []byte(optMsg), mask))
	tl.next(t)
	open := AppendWSFrame(nil, wsText, []byte("INVITE"), mask)
	open[0] = 0x01
	_, _ = c.Write(open)
	tl.waitBad(t, "tcp_msg_read_timeout", 2*time.Second)
	// A client that never upgrades.
	raw, _ := net.Dial("tcp", addr)
	defer raw.Close()
	_, _ = raw.Write([]byte("GET / HTTP/1.1\r\n"))
	tl.waitBad(t, "websocket handshake", 2*time.Second)
	if strings.Count(strings.Join(tl.badReasons(), "\n"), "not masked") != 1 {
		t.Fatalf("reasons %q", tl.badReasons())
	}
}

func TestWSFrameRoundTrip(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536, 70000} {
		p := bytes.Repeat([]byte{'a'}, n)
		fr := AppendWSFrame(nil, wsBinary, p, mask)
		f, used, err := ParseWSFrame(fr, 1<<20, true)
		if err != nil || used != len(fr) || !bytes.Equal(f.Payload, p) || !f.Fin || f.Opcode != wsBinary {
			t.Fatalf("n=%d used=%d err=%v", n, used, err)
		}
		for cut := 0; cut < len(fr) && cut < 20; cut++ {
			if _, used, err := ParseWSFrame(fr[:cut], 1<<20, true); used != 0 || err != nil {
				t.Fatalf("n=%d partial %d: used=%d err=%v", n, cut, used, err)
			}
		}
	}
	if _, _, err := ParseWSFrame([]byte{0x81, 126, 0, 5}, 100, false); err != ErrWSBadLength {
		t.Fatalf("non-minimal length: %v", err)
	}
	if _, _, err := ParseWSFrame([]byte{0x89, 126, 0, 200}, 1000, false); err != ErrWSControl {
		t.Fatalf("long ping: %v", err)
	}
	if _, _, err := ParseWSFrame([]byte{0xC1, 0}, 100, false); err != ErrWSReserved {
		t.Fatalf("rsv bit: %v", err)
	}
	if _, _, err := ParseWSFrame([]byte{0x81, 0x80, 1, 2, 3, 4}, 100, false); err != ErrWSMasked {
		t.Fatalf("masked from server: %v", err)
	}
}

func FuzzParseWSFrame(f *testing.F) {
	f.Add(AppendWSFrame(nil, wsText, []byte(optMsg), mask), true)
	f.Add(AppendWSFrame(nil, wsBinary, make([]byte, 300), nil), false)
	f.Add([]byte{0x81, 0x80 | 127, 0, 0, 0, 0, 0x10, 0, 0, 0}, true)
	f.Add([]byte{0x01, 0x81, 1, 2, 3, 4, 'x', 0x80, 0x81, 1, 2, 3, 4, 'y'}, true)
	f.Fuzz(func(t *testing.T, data []byte, fromClient bool) {
		asm := &wsAssembler{max: 1024}
		buf := append([]byte(nil), data...)
		for len(buf) > 0 {
			fr, n, err := ParseWSFrame(buf, 1024, fromClient)
			if err != nil || n == 0 {
				return
			}
			if n > len(buf) || len(fr.Payload) > 1024 {
				t.Fatalf("frame out of bounds: n=%d len=%d payload=%d", n, len(buf), len(fr.Payload))
			}
			ev, err := asm.frame(fr, time.Now())
			if err != nil {
				return
			}
			if len(ev.message) > 1024 {
				t.Fatalf("message of %d bytes over the limit", len(ev.message))
			}
			buf = buf[n:]
		}
	})
}

func netipMust(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// fakeConn reads from a buffer and collects what is written.
type fakeConn struct {
	net.Conn
	r   *bytes.Reader
	out bytes.Buffer
}

func (f *fakeConn) Read(b []byte) (int, error)  { return f.r.Read(b) }
func (f *fakeConn) Write(b []byte) (int, error) { return f.out.Write(b) }

func FuzzWSUpgrade(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n\r\n\x81\x80abcd"))
	f.Add([]byte("GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &fakeConn{r: bytes.NewReader(data)}
		rest, err := wsUpgrade(c)
		out := c.out.String()
		if err == nil {
			if !strings.HasPrefix(out, "HTTP/1.1 101 ") || !strings.Contains(out, "Sec-WebSocket-Protocol: sip\r\n") {
				t.Fatalf("accepted with %q", out)
			}
			if len(rest) > len(data) {
				t.Fatal("more left over than read")
			}
			return
		}
		if strings.HasPrefix(out, "HTTP/1.1 101") {
			t.Fatalf("refused after a 101: %v", err)
		}
	})
}

func TestWebSocketTrickledFrame(t *testing.T) {
	tl := newTestLayer(t, Options{MsgReadTimeout: 300 * time.Millisecond})
	s, _ := tl.ListenWS(loop)
	tl.Start()
	c, _, _ := wsClient(t, s.Addr.String(), "sip")
	_, _ = c.Write(AppendWSFrame(nil, wsText, []byte(optMsg), mask))
	tl.next(t)
	// One byte of a frame every 100 ms: the frame must complete within
	// tcp_msg_read_timeout however steadily it trickles.
	fr := AppendWSFrame(nil, wsText, []byte(optMsg), mask)
	start := time.Now()
	for i := 0; i < len(fr) && time.Since(start) < 2*time.Second; i++ {
		if _, err := c.Write(fr[i : i+1]); err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	tl.waitBad(t, "tcp_msg_read_timeout", time.Second)
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("trickled frame closed after %v", d)
	}
}
