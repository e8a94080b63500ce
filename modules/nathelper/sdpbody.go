package nathelper

import (
	"mime"
	"strings"

	"github.com/luasbc/luasbc/core/msg"
)

// span is a byte range of a body.
type span struct{ start, end int }

// maxSDPParts bounds the parts of a multipart body looked at.
const maxSDPParts = 16

// sdpSpans finds the SDP in a body: the whole body when its type is
// application/sdp (a body without Content-Type counts as SDP, as in
// Kamailio's SDP parser), else each application/sdp part of a multipart body.
func sdpSpans(ctype, body string) []span {
	if strings.TrimSpace(body) == "" {
		return nil
	}
	ctype = strings.TrimSpace(ctype)
	if ctype == "" {
		return []span{{0, len(body)}}
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return nil
	}
	mt = strings.ToLower(mt)
	if mt == "application/sdp" {
		return []span{{0, len(body)}}
	}
	if strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" {
		return multipartSDP(params["boundary"], body)
	}
	return nil
}

// multipartSDP returns the content of each application/sdp part (RFC 2046
// §5.1.1: a delimiter starts a line, and the line break before it belongs
// to the delimiter).
func multipartSDP(boundary, b string) []span {
	delim := "--" + boundary
	var starts []int
	for pos := 0; pos < len(b) && len(starts) <= maxSDPParts; {
		i := strings.Index(b[pos:], delim)
		if i < 0 {
			break
		}
		at := pos + i
		if at == 0 || b[at-1] == '\n' {
			starts = append(starts, at)
		}
		pos = at + len(delim)
	}
	var out []span
	for k := 0; k+1 < len(starts); k++ {
		if strings.HasPrefix(b[starts[k]+len(delim):], "--") {
			break // close delimiter
		}
		nl := strings.IndexByte(b[starts[k]:], '\n')
		if nl < 0 {
			break
		}
		ps, pe := starts[k]+nl+1, starts[k+1]
		if pe > ps && b[pe-1] == '\n' {
			pe--
			if pe > ps && b[pe-1] == '\r' {
				pe--
			}
		}
		if ps >= pe {
			continue
		}
		hdrs, content, ok := cutPartHeaders(b[ps:pe])
		if !ok || partType(hdrs) != "application/sdp" {
			continue
		}
		out = append(out, span{ps + content, pe})
	}
	return out
}

// cutPartHeaders splits a body part at its empty line; content is the
// offset of the part's content.
func cutPartHeaders(p string) (hdrs string, content int, ok bool) {
	if strings.HasPrefix(p, "\r\n") {
		return "", 2, true
	}
	if strings.HasPrefix(p, "\n") {
		return "", 1, true
	}
	if i := strings.Index(p, "\r\n\r\n"); i >= 0 {
		return p[:i], i + 4, true
	}
	if i := strings.Index(p, "\n\n"); i >= 0 {
		return p[:i], i + 2, true
	}
	return "", 0, false
}

// partType is the media type a part's headers give (text/plain by default,
// RFC 2046 §5.1).
func partType(hdrs string) string {
	for _, l := range strings.Split(hdrs, "\n") {
		name, v, ok := strings.Cut(l, ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "content-type") {
			continue
		}
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(v))
		if err != nil {
			return ""
		}
		return strings.ToLower(mt)
	}
	return "text/plain"
}

// receivedSDP returns the SDP parts of the message as received.
func receivedSDP(m *msg.Msg) []string {
	ct, _ := m.HeaderType(msg.HContentType)
	b := m.Body()
	var out []string
	for _, s := range sdpSpans(ct, b) {
		out = append(out, b[s.start:s.end])
	}
	return out
}

// currentBody is the body as edits so far left it.
func currentBody(m *msg.Msg) string {
	if m.NewBody != nil {
		return *m.NewBody
	}
	return m.Body()
}
