package transport

import (
	"strings"
	"testing"
)

const opt = "OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Length: 3\r\n\r\nabc"

func TestFrame(t *testing.T) {
	skip, n, ping, err := Frame([]byte("\r\n\r\n"+opt+opt[:10]), 65535)
	if err != nil || skip != 4 || n != len(opt) || !ping {
		t.Fatalf("skip=%d n=%d ping=%v err=%v", skip, n, ping, err)
	}
	if _, n, _, err := Frame([]byte(opt[:len(opt)-1]), 65535); n != 0 || err != nil {
		t.Fatalf("partial body framed: n=%d err=%v", n, err)
	}
	if _, _, _, err := Frame([]byte(strings.Replace(opt, "Content-Length: 3\r\n", "", 1)), 65535); err != ErrFrameNoLength {
		t.Fatalf("no Content-Length: %v", err)
	}
	if _, _, _, err := Frame([]byte(strings.Replace(opt, "3\r\n", "-1\r\n", 1)), 65535); err != ErrFrameBadHead {
		t.Fatalf("negative Content-Length: %v", err)
	}
	if _, _, _, err := Frame([]byte(strings.Replace(opt, "3\r\n", "99999999999999999999\r\n", 1)), 65535); err == nil {
		t.Fatal("overflowing Content-Length accepted")
	}
	if _, _, _, err := Frame([]byte(strings.Replace(opt, "3\r\n", "70000\r\n", 1)), 65535); err != ErrFrameTooLarge {
		t.Fatalf("oversized body: %v", err)
	}
	if _, _, _, err := Frame([]byte(strings.Repeat("A", 70000)), 65535); err != ErrFrameTooLarge {
		t.Fatalf("endless head: %v", err)
	}
}

func FuzzFrame(f *testing.F) {
	f.Add([]byte(opt))
	f.Add([]byte("\r\n\r\n" + opt + opt))
	f.Fuzz(func(t *testing.T, data []byte) {
		skip, n, _, err := Frame(data, 4096)
		if err != nil || n == 0 {
			return
		}
		if skip+n > len(data) || n > 4096 {
			t.Fatalf("frame out of bounds: skip=%d n=%d len=%d", skip, n, len(data))
		}
	})
}
