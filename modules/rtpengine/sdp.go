package rtpengine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// maxSDP bounds the SDP sent to rtpengine: one UDP datagram carries the
// whole request.
const maxSDP = 60000

// checkSDP refuses a body that is not a session description rtpengine can
// work on (RFC 4566): "v=0" first, one "type=value" per line, o=, s= and at
// least one m= line with a numeric port, and a c= line for the session or
// for every media description. What it does not know it leaves to
// rtpengine, which answers an error for the rest.
func checkSDP(body string) error {
	if body == "" {
		return errors.New("no SDP body")
	}
	if len(body) > maxSDP {
		return fmt.Errorf("SDP of %d bytes (at most %d)", len(body), maxSDP)
	}
	lines := strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n")
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	if len(lines) == 0 || lines[0] != "v=0" {
		return errors.New("SDP does not start with v=0")
	}
	var haveO, haveS, sessionC bool
	media, mediaWithC := 0, 0
	cInMedia := false
	for i, l := range lines {
		if len(l) < 2 || l[1] != '=' || l[0] < 'a' || l[0] > 'z' {
			return fmt.Errorf("SDP line %d is not type=value", i+1)
		}
		for j := 0; j < len(l); j++ {
			if c := l[j]; c < 0x20 && c != '\t' || c == 0x7f {
				return fmt.Errorf("SDP line %d: control character", i+1)
			}
		}
		v := l[2:]
		switch l[0] {
		case 'o':
			if len(strings.Fields(v)) != 6 {
				return fmt.Errorf("SDP line %d: o= needs 6 fields", i+1)
			}
			haveO = true
		case 's':
			haveS = true
		case 'c':
			f := strings.Fields(v)
			if len(f) != 3 || f[0] != "IN" || (f[1] != "IP4" && f[1] != "IP6") {
				return fmt.Errorf("SDP line %d: c= is not \"IN IP4|IP6 address\"", i+1)
			}
			if media == 0 {
				sessionC = true
			} else if !cInMedia {
				cInMedia = true
				mediaWithC++
			}
		case 'm':
			f := strings.Fields(v)
			if len(f) < 4 {
				return fmt.Errorf("SDP line %d: m= needs media, port, protocol and formats", i+1)
			}
			port, _, _ := strings.Cut(f[1], "/")
			if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
				return fmt.Errorf("SDP line %d: m= port %q", i+1, f[1])
			}
			media++
			cInMedia = false
		}
	}
	switch {
	case !haveO:
		return errors.New("SDP without o= line")
	case !haveS:
		return errors.New("SDP without s= line")
	case media == 0:
		return errors.New("SDP without m= line")
	case !sessionC && mediaWithC < media:
		return errors.New("SDP media without connection address (c=)")
	}
	return nil
}

// isSDPType reports whether a Content-Type value is application/sdp.
func isSDPType(ct string) bool {
	t, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(t), "application/sdp")
}
