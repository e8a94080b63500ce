package textops

import (
	"strings"

	"github.com/luasbc/luasbc/core/msg"
)

// Hold types returned by is_audio_on_hold.
const (
	holdRFC2543 = 1 // connection address 0.0.0.0
	holdRFC3264 = 2 // a=sendonly or a=inactive
)

// sdpBody is the SDP of the received message: the body itself, or the first
// application/sdp part of a multipart body.
func sdpBody(m *msg.Msg) (string, bool) {
	if !hasBody(m) {
		return "", false
	}
	b := m.Body()
	if parts, err := multipartParts(m, b); err == nil {
		p, ok := findPart(parts, "application/sdp")
		return p.content, ok
	}
	return b, contentType(m) == "application/sdp"
}

// audioHold reports the hold type of the first audio stream on hold, 0 if
// none is. Session-level c= and direction lines apply to streams that do not
// carry their own.
func audioHold(sdp string) int {
	var sessConn, sessDir string
	inMedia, audio := false, false
	var conn, dir string
	result := 0
	check := func() {
		if !inMedia || !audio || result != 0 {
			return
		}
		c, d := conn, dir
		if c == "" {
			c = sessConn
		}
		if d == "" {
			d = sessDir
		}
		switch {
		case c == "0.0.0.0":
			result = holdRFC2543
		case d == "sendonly" || d == "inactive":
			result = holdRFC3264
		}
	}
	for _, l := range strings.Split(sdp, "\n") {
		l = strings.TrimRight(l, "\r")
		if len(l) < 2 || l[1] != '=' {
			continue
		}
		val := l[2:]
		switch l[0] {
		case 'm':
			check()
			inMedia = true
			audio = strings.HasPrefix(strings.ToLower(val), "audio ")
			conn, dir = "", ""
		case 'c':
			f := strings.Fields(val)
			addr := ""
			if len(f) == 3 {
				addr, _, _ = strings.Cut(f[2], "/")
			}
			if inMedia {
				conn = addr
			} else {
				sessConn = addr
			}
		case 'a':
			switch a := strings.ToLower(strings.TrimSpace(val)); a {
			case "sendonly", "inactive", "recvonly", "sendrecv":
				if inMedia {
					dir = a
				} else {
					sessDir = a
				}
			}
		}
	}
	check()
	return result
}

// isPrivacy tests the received Privacy header values (RFC 3323: separated
// by ';'), case-insensitively.
func isPrivacy(m *msg.Msg, want string) bool {
	want = strings.TrimSpace(want)
	for _, v := range m.Headers("Privacy") {
		for _, p := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == ',' }) {
			if strings.EqualFold(strings.TrimSpace(p), want) {
				return true
			}
		}
	}
	return false
}
