package rtpengine

import (
	"testing"
)

func TestParseSock(t *testing.T) {
	d, err := parseSock("udp:localhost:12221=2 udp:127.0.0.1:12222")
	if err != nil {
		t.Fatal(err)
	}
	if len(d) != 2 || d[0].URL != "udp:localhost:12221" || d[0].Weight != 2 || d[0].Set != 0 || d[1].Weight != 1 || d[1].Addr != "127.0.0.1:12222" {
		t.Fatalf("%+v", d)
	}
	d, err = parseSock("  7 ==  udp6:[::1]:2223=0 127.0.0.1:9")
	if err != nil {
		t.Fatal(err)
	}
	if len(d) != 2 || d[0].Set != 7 || d[0].Network != "udp6" || d[0].Addr != "[::1]:2223" || d[0].Weight != 0 || d[1].Network != "udp" {
		t.Fatalf("%+v", d)
	}
	if d, err := parseSock("udp6:fe80::1:22222"); err != nil || d[0].Addr != "[fe80::1]:22222" {
		t.Fatalf("bare IPv6: %+v %v", d, err)
	}
	for _, s := range []string{"", "x == udp:1.2.3.4:1", "-1 == udp:1.2.3.4:1", "udp:1.2.3.4", "udp:1.2.3.4:0",
		"udp:1.2.3.4:70000", "udp:1.2.3.4:1=x", "udp:1.2.3.4:1=-2", "ws://localhost:2222/", "wss://x:1/", "udp::1",
		"tcp:host:1:2", "udp:1.2.3.4:1=99999999"} {
		if d, err := parseSock(s); err == nil {
			t.Errorf("parseSock(%q) = %+v, want an error", s, d)
		}
	}
}

// FuzzSock: the rtpengine_sock parser never panics, and what it accepts
// names a port.
func FuzzSock(f *testing.F) {
	for _, s := range []string{"udp:localhost:12221=2 udp:localhost:12222=1", "1 == udp:127.0.0.1:1", "udp6:[::1]:9=0", "== =="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ds, err := parseSock(s)
		if err != nil {
			return
		}
		for _, d := range ds {
			if d.Addr == "" || d.URL == "" || d.Weight < 0 || d.Set < 0 {
				t.Fatalf("%q gave %+v", s, d)
			}
		}
	})
}
