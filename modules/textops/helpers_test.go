package textops_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/kemi/kemitest"
	_ "github.com/luasbc/luasbc/modules/sl"
	_ "github.com/luasbc/luasbc/modules/textops"
)

var mods = map[string]map[string]any{"sl": nil, "textops": nil}

// results runs the Lua expression list in the request route and returns the
// values joined by commas (sent back in an X-R reply header).
func results(t *testing.T, exprs, req string) string {
	t.Helper()
	h := kemitest.New(t, `
function ksr_request_route()
  local r = {`+exprs+`}
  for i = 1, #r do r[i] = tostring(r[i]) end
  KSR.hdr.append_to_reply("X-R: " .. table.concat(r, ",") .. "\r\n")
  KSR.sl.sl_send_reply(200, "OK")
end`, kemitest.Options{Modules: mods})
	rep := h.Exchange(req)
	i := strings.Index(rep, "X-R: ")
	if i < 0 {
		t.Fatalf("no result header in %q; logs %v", rep, h.Logs.All())
	}
	return rep[i+5 : i+strings.Index(rep[i:], "\r\n")]
}

// forwarded runs body in the request route, forwards the request to a local
// UDP socket and returns what arrived there, with the server's logs.
func forwarded(t *testing.T, body, req string) (string, *kemitest.Harness) {
	t.Helper()
	nh, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	port := nh.LocalAddr().(*net.UDPAddr).Port
	h := kemitest.New(t, `
function ksr_request_route()
`+body+`
  KSR.setdsturi("sip:127.0.0.1:`+itoa(port)+`")
  KSR.forward()
end`, kemitest.Options{Modules: mods})
	h.Send(req)
	_ = nh.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 65536)
	n, _, err := nh.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("nothing forwarded: %v; logs %v", err, h.Logs.All())
	}
	return string(buf[:n]), h
}

func itoa(n int) string {
	s := ""
	for n > 0 {
		s = string(rune('0'+n%10)) + s
		n /= 10
	}
	return s
}

// withBody puts a body and its Content-Type into a kemitest request.
func withBody(req, ctype, body string) string {
	return strings.Replace(req, "Content-Length: 0\n\n",
		"Content-Type: "+ctype+"\nContent-Length: "+itoa(len(body))+"\n\n"+body, 1)
}

// header returns the value of the first header named name in raw, "" if none.
func header(raw, name string) (string, int) {
	n := 0
	val := ""
	for _, l := range strings.Split(raw, "\r\n") {
		if l == "" {
			break
		}
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			if n == 0 {
				val = strings.TrimSpace(v)
			}
			n++
		}
	}
	return val, n
}

// bodyOf returns the body of raw and checks its Content-Length.
func bodyOf(t *testing.T, raw string) string {
	t.Helper()
	_, b, ok := strings.Cut(raw, "\r\n\r\n")
	if !ok {
		t.Fatalf("no body separator in %q", raw)
	}
	cl, _ := header(raw, "Content-Length")
	if cl != itoa(len(b)) && !(cl == "0" && b == "") {
		t.Fatalf("Content-Length %s for a body of %d bytes: %q", cl, len(b), raw)
	}
	return b
}
