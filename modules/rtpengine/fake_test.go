package rtpengine

import (
	"bytes"
	"net"
	"strconv"
	"sync"
	"testing"
)

// fakeNG is an rtpengine stand-in on a loopback UDP port: it decodes each
// command, records it and answers with what handle returns (nil: no
// answer at all). The default handler answers offer/answer with an SDP
// whose c= and m= carry its own marker address and port.
type fakeNG struct {
	t      *testing.T
	conn   *net.UDPConn
	mu     sync.Mutex
	cmds   []map[string]any
	handle func(cmd map[string]any) map[string]any
	raw    func(cookie string, cmd map[string]any) []byte // overrides handle
}

func newFakeNG(t *testing.T) *fakeNG {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeNG{t: t, conn: c}
	f.handle = f.defaultHandle
	t.Cleanup(func() { _ = c.Close() })
	go f.serve()
	return f
}

func (f *fakeNG) port() int { return f.conn.LocalAddr().(*net.UDPAddr).Port }

func (f *fakeNG) url() string { return "udp:127.0.0.1:" + strconv.Itoa(f.port()) }

// fakeSDP is what the fake answers offer/answer with.
func fakeSDP(port int) string {
	return "v=0\r\no=- 1 1 IN IP4 203.0.113.7\r\ns=-\r\nc=IN IP4 203.0.113.7\r\nt=0 0\r\nm=audio " +
		strconv.Itoa(port) + " RTP/AVP 0\r\n"
}

func (f *fakeNG) defaultHandle(cmd map[string]any) map[string]any {
	switch cmd["command"] {
	case "ping":
		return map[string]any{"result": "pong"}
	case "offer", "answer":
		return map[string]any{"result": "ok", "sdp": fakeSDP(40000 + f.port()%1000)}
	case "query":
		return map[string]any{"result": "ok", "totals": map[string]any{
			"RTP":  map[string]any{"bytes": int64(1000), "packets": int64(10), "errors": int64(0)},
			"RTCP": map[string]any{"bytes": int64(100), "packets": int64(1), "errors": int64(0)}}}
	case "play media":
		return map[string]any{"result": "ok", "duration": int64(2500)}
	}
	return map[string]any{"result": "ok"}
}

func (f *fakeNG) serve() {
	buf := make([]byte, 65536)
	for {
		n, from, err := f.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		i := bytes.IndexByte(buf[:n], ' ')
		if i < 0 {
			continue
		}
		cookie := string(buf[:i])
		v, err := decode(buf[i+1 : n])
		cmd, _ := v.(map[string]any)
		if err != nil || cmd == nil {
			continue
		}
		f.mu.Lock()
		f.cmds = append(f.cmds, cmd)
		h, raw := f.handle, f.raw
		f.mu.Unlock()
		var out []byte
		if raw != nil {
			out = raw(cookie, cmd)
		} else if r := h(cmd); r != nil {
			body, _ := encode(nil, r)
			out = append([]byte(cookie+" "), body...)
		}
		if out != nil {
			_, _ = f.conn.WriteToUDP(out, from)
		}
	}
}

// commands returns the commands received, except pings.
func (f *fakeNG) commands() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []map[string]any
	for _, c := range f.cmds {
		if c["command"] != "ping" {
			out = append(out, c)
		}
	}
	return out
}

// count returns how many commands named cmd arrived.
func (f *fakeNG) count(cmd string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.cmds {
		if c["command"] == cmd {
			n++
		}
	}
	return n
}

func (f *fakeNG) setHandle(h func(cmd map[string]any) map[string]any) {
	f.mu.Lock()
	f.handle = h
	f.mu.Unlock()
}

func (f *fakeNG) setRaw(r func(cookie string, cmd map[string]any) []byte) {
	f.mu.Lock()
	f.raw = r
	f.mu.Unlock()
}

// silent makes the fake receive but never answer.
func (f *fakeNG) silent() { f.setHandle(func(map[string]any) map[string]any { return nil }) }
