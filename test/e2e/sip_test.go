package e2e

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Msg is a SIP message as received by a test peer.
type Msg struct {
	Raw    string
	First  string // first line
	Method string // requests
	RURI   string // requests
	Code   int    // replies
	Reason string // replies
	Hdrs   [][2]string
	Body   string
}

var compact = map[string]string{"v": "via", "f": "from", "t": "to", "i": "call-id", "l": "content-length",
	"m": "contact", "c": "content-type", "k": "supported", "s": "subject", "e": "content-encoding"}

func canon(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	if c, ok := compact[n]; ok {
		return c
	}
	return n
}

// ParseMsg splits a message into first line, headers and body.
func ParseMsg(raw string) (*Msg, error) {
	m := &Msg{Raw: raw}
	head, body, ok := strings.Cut(raw, "\r\n\r\n")
	if !ok {
		return nil, fmt.Errorf("no end of headers in %q", clip(raw, 200))
	}
	m.Body = body
	lines := strings.Split(head, "\r\n")
	m.First = lines[0]
	if strings.HasPrefix(m.First, "SIP/2.0 ") {
		f := strings.SplitN(m.First, " ", 3)
		code, err := strconv.Atoi(f[1])
		if err != nil {
			return nil, fmt.Errorf("bad status line %q", m.First)
		}
		m.Code = code
		if len(f) == 3 {
			m.Reason = f[2]
		}
	} else {
		f := strings.Fields(m.First)
		if len(f) != 3 {
			return nil, fmt.Errorf("bad request line %q", m.First)
		}
		m.Method, m.RURI = f[0], f[1]
	}
	for _, l := range lines[1:] {
		if (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && len(m.Hdrs) > 0 {
			m.Hdrs[len(m.Hdrs)-1][1] += " " + strings.TrimSpace(l)
			continue
		}
		n, v, ok := strings.Cut(l, ":")
		if !ok {
			return nil, fmt.Errorf("bad header line %q", l)
		}
		m.Hdrs = append(m.Hdrs, [2]string{canon(n), strings.TrimSpace(v)})
	}
	return m, nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Get returns the first value of a header ("" when missing).
func (m *Msg) Get(name string) string {
	v, _ := m.Lookup(name)
	return v
}

// Lookup returns the first value of a header.
func (m *Msg) Lookup(name string) (string, bool) {
	n := canon(name)
	for _, h := range m.Hdrs {
		if h[0] == n {
			return h[1], true
		}
	}
	return "", false
}

// All returns every value of a header, comma-separated values split.
func (m *Msg) All(name string) []string {
	n := canon(name)
	var out []string
	for _, h := range m.Hdrs {
		if h[0] == n {
			for _, v := range strings.Split(h[1], ",") {
				out = append(out, strings.TrimSpace(v))
			}
		}
	}
	return out
}

func (m *Msg) String() string {
	if m == nil {
		return "<none>"
	}
	return m.First
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Req is a request rendered from a template.
type Req struct {
	Text   string
	CallID string
	Branch string
}

// NewReq renders a message template: "\n" becomes CRLF and the placeholders
// {me} (the sender's host:port), {srv} (the server's host:port), {proto}
// (UDP/TCP), {branch} (z9hG4bK…), {callid}, {tag} and {cl} (the body length)
// are filled in.
func NewReq(tmpl, me, srv, proto string) Req {
	r := Req{CallID: "e2e-" + randHex(8), Branch: "z9hG4bK" + randHex(8)}
	s := strings.ReplaceAll(tmpl, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\n", "\r\n")
	s = strings.NewReplacer("{me}", me, "{srv}", srv, "{proto}", proto, "{branch}", r.Branch,
		"{callid}", r.CallID, "{tag}", randHex(4)).Replace(s)
	if strings.Contains(s, "{cl}") {
		body := ""
		if _, b, ok := strings.Cut(s, "\r\n\r\n"); ok {
			body = b
		}
		s = strings.Replace(s, "{cl}", strconv.Itoa(len(body)), 1)
	}
	r.Text = s
	return r
}

const optionsTmpl = `OPTIONS sip:{srv} SIP/2.0
Via: SIP/2.0/{proto} {me};branch={branch}
From: <sip:tester@{me}>;tag={tag}
To: <sip:{srv}>
Call-ID: {callid}
CSeq: 1 OPTIONS
Max-Forwards: 70
User-Agent: luasbc-e2e
Content-Length: 0

`

// UDPClient is a test peer on a loopback UDP socket.
type UDPClient struct {
	t    testing.TB
	Conn *net.UDPConn
	Addr string
}

// NewUDP opens a UDP socket on an ephemeral loopback port.
func NewUDP(t testing.TB) *UDPClient {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadBuffer(4 << 20)
	t.Cleanup(func() { c.Close() })
	return &UDPClient{t: t, Conn: c, Addr: c.LocalAddr().String()}
}

// Send writes one datagram.
func (c *UDPClient) Send(dst string, b []byte) {
	c.t.Helper()
	ua, err := net.ResolveUDPAddr("udp", dst)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.Conn.WriteToUDP(b, ua); err != nil {
		c.t.Fatalf("send to %s: %v", dst, err)
	}
}

// RecvRaw reads the next datagram.
func (c *UDPClient) RecvRaw(d time.Duration) ([]byte, *net.UDPAddr, error) {
	buf := make([]byte, 70000)
	_ = c.Conn.SetReadDeadline(time.Now().Add(d))
	n, from, err := c.Conn.ReadFromUDP(buf)
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return nil, nil, errTimeout
		}
		return nil, nil, err
	}
	return buf[:n], from, nil
}

// Recv reads datagrams until one parses, or d passes.
func (c *UDPClient) Recv(d time.Duration) (*Msg, error) {
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, errTimeout
		}
		b, _, err := c.RecvRaw(left)
		if err != nil {
			return nil, err
		}
		m, err := ParseMsg(string(b))
		if err != nil {
			return nil, fmt.Errorf("unparsable datagram: %v", err)
		}
		return m, nil
	}
}

// RecvFor reads until a message with the given Call-ID (others are skipped).
func (c *UDPClient) RecvFor(callID string, d time.Duration) (*Msg, error) {
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, errTimeout
		}
		m, err := c.Recv(left)
		if err != nil {
			return nil, err
		}
		if m.Get("call-id") == callID {
			return m, nil
		}
	}
}

// Exchange sends a request and waits for its final reply (1xx are skipped).
func (c *UDPClient) Exchange(dst string, r Req, d time.Duration) (*Msg, error) {
	c.Send(dst, []byte(r.Text))
	deadline := time.Now().Add(d)
	for {
		m, err := c.RecvFor(r.CallID, time.Until(deadline))
		if err != nil {
			return nil, err
		}
		if m.Code >= 200 {
			return m, nil
		}
	}
}

// ExpectNothing requires that no datagram arrives within d.
func (c *UDPClient) ExpectNothing(t testing.TB, d time.Duration, what string) {
	t.Helper()
	b, _, err := c.RecvRaw(d)
	if err == nil {
		t.Errorf("%s: expected no reply, got %q", what, clip(string(b), 300))
	}
}

// TCPClient is a test peer on one TCP connection.
type TCPClient struct {
	t    testing.TB
	Conn net.Conn
	r    *bufio.Reader
	Addr string
}

// DialTCP connects to the server.
func DialTCP(t testing.TB, srv string) *TCPClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", srv, 3*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", srv, err)
	}
	t.Cleanup(func() { c.Close() })
	return &TCPClient{t: t, Conn: c, r: bufio.NewReaderSize(c, 70000), Addr: c.LocalAddr().String()}
}

// Send writes bytes on the connection.
func (c *TCPClient) Send(b []byte) error {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(3 * time.Second))
	_, err := c.Conn.Write(b)
	return err
}

// Recv reads one framed message (Content-Length required).
func (c *TCPClient) Recv(d time.Duration) (*Msg, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(d))
	var head strings.Builder
	for {
		line, err := c.r.ReadString('\n')
		head.WriteString(line)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return nil, errTimeout
			}
			return nil, err
		}
		if line == "\r\n" && head.Len() > 2 {
			break
		}
		if head.Len() > 65536 {
			return nil, fmt.Errorf("header too long")
		}
	}
	m, err := ParseMsg(head.String())
	if err != nil {
		return nil, err
	}
	cl, ok := m.Lookup("content-length")
	if !ok {
		return m, fmt.Errorf("reply over TCP without Content-Length: %q", m.First)
	}
	n, err := strconv.Atoi(cl)
	if err != nil || n < 0 {
		return m, fmt.Errorf("bad Content-Length %q", cl)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return m, err
	}
	m.Body = string(body)
	m.Raw += string(body)
	return m, nil
}

// Exchange sends a request and waits for its final reply on the same connection.
func (c *TCPClient) Exchange(r Req, d time.Duration) (*Msg, error) {
	if err := c.Send([]byte(r.Text)); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(d)
	for {
		m, err := c.Recv(time.Until(deadline))
		if err != nil {
			return nil, err
		}
		if m.Get("call-id") == r.CallID && m.Code >= 200 {
			return m, nil
		}
	}
}

// WaitClosed waits until the server closes the connection (read gives EOF or reset).
func (c *TCPClient) WaitClosed(d time.Duration) error {
	_ = c.Conn.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	for {
		_, err := c.r.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return errTimeout
		}
		return nil
	}
}
