package textops

import (
	"encoding/hex"
	"errors"
	"mime"
	"strconv"
	"strings"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

var (
	errEmptyBody = errors.New("empty body (textopsx.remove_body removes a body)")
	errBadType   = errors.New("invalid content type")
	errNotMulti  = errors.New("body is not multipart")
)

// mediaType is the lower-cased type/subtype of a Content-Type value.
func mediaType(v string) string {
	t, _, err := mime.ParseMediaType(v)
	if err != nil {
		t, _, _ = strings.Cut(v, ";")
	}
	return strings.ToLower(strings.TrimSpace(t))
}

// contentType is the received media type; a message with a body and no
// Content-Type is taken as application/sdp, as Kamailio does.
func contentType(m *msg.Msg) string {
	if v, ok := m.HeaderType(msg.HContentType); ok {
		return mediaType(v)
	}
	return "application/sdp"
}

// hasBody looks at the received message: a body, and no Content-Length: 0.
func hasBody(m *msg.Msg) bool {
	if m.Body() == "" {
		return false
	}
	if v, ok := m.HeaderType(msg.HContentLength); ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n == 0 {
			return false
		}
	}
	return true
}

// setBody replaces the body and the Content-Type headers.
func setBody(c *kemi.Ctx, fn, b, ctype string) int {
	if b == "" {
		return logErr(c, fn, errEmptyBody)
	}
	ctype = strings.TrimSpace(ctype)
	if ctype != "" && (msg.CheckValue(ctype) != nil || mediaType(ctype) == "") {
		return logErr(c, fn, errBadType)
	}
	m := c.M
	st := getState(m)
	lines := map[int]string{}
	first := true
	if ctype != "" {
		for i := range m.Hdrs {
			if m.Hdrs[i].Type != msg.HContentType {
				continue
			}
			lines[i] = ""
			if first {
				lines[i] = "Content-Type: " + ctype + "\r\n"
				first = false
			}
		}
	}
	if err := commit(m, st, lines, &b); err != nil {
		return logErr(c, fn, err)
	}
	if ctype != "" && first { // no Content-Type received: add one
		if old, ok := st.lumps[addedCT]; ok {
			dropLump(m, old)
		}
		if err := m.AddLump(msg.LumpAppend, "", "Content-Type: "+ctype+"\r\n"); err != nil {
			return logErr(c, fn, err)
		}
		st.lumps[addedCT] = m.Lumps[len(m.Lumps)-1]
	}
	return 1
}

// addedCT keys the lump of a Content-Type added to a message that had none.
const addedCT = "\x00content-type"

func setBodyHex(c *kemi.Ctx, h, ctype string) int {
	b, err := hex.DecodeString(strings.Join(strings.Fields(h), ""))
	if err != nil {
		return logErr(c, "set_body_hex", err)
	}
	return setBody(c, "set_body_hex", string(b), ctype)
}

// part is one body part of a multipart body.
type part struct {
	start, end int    // raw span: delimiter line to the end of the content
	ctype      string // media type of the part
	content    string
}

// multipartParts splits the body at the boundary of the received
// Content-Type; errNotMulti when the message is not multipart.
func multipartParts(m *msg.Msg, b string) ([]part, error) {
	v, ok := m.HeaderType(msg.HContentType)
	if !ok {
		return nil, errNotMulti
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil || !strings.HasPrefix(strings.ToLower(mt), "multipart/") || params["boundary"] == "" {
		return nil, errNotMulti
	}
	return splitMultipart(params["boundary"], b), nil
}

// splitMultipart splits a body at a boundary (RFC 2046 §5.1.1): delimiters
// start a line, and the CRLF before a delimiter belongs to it.
func splitMultipart(boundary, b string) []part {
	delim := "--" + boundary
	var starts []int
	for pos := 0; pos < len(b); {
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
	var parts []part
	for k, s := range starts {
		if strings.HasPrefix(b[s+len(delim):], "--") || k+1 >= len(starts) {
			break
		}
		end := starts[k+1]
		if end > s && b[end-1] == '\n' {
			end--
			if end > s && b[end-1] == '\r' {
				end--
			}
		}
		seg := b[s:end]
		nl := strings.IndexByte(seg, '\n')
		if nl < 0 {
			continue
		}
		parts = append(parts, parsePart(s, end, seg[nl+1:]))
	}
	return parts
}

// parsePart reads the part headers (only Content-Type matters) and content.
func parsePart(start, end int, rest string) part {
	p := part{start: start, end: end, ctype: "text/plain"}
	var hdrs string
	switch {
	case strings.HasPrefix(rest, "\r\n"):
		p.content = rest[2:]
	case strings.HasPrefix(rest, "\n"):
		p.content = rest[1:]
	default:
		var found bool
		if hdrs, p.content, found = strings.Cut(rest, "\r\n\r\n"); !found {
			hdrs, p.content, _ = strings.Cut(rest, "\n\n")
		}
	}
	for _, l := range strings.Split(hdrs, "\n") {
		if k, val, ok := strings.Cut(strings.TrimRight(l, "\r"), ":"); ok && msg.CanonName(k) == "content-type" {
			p.ctype = mediaType(val)
		}
	}
	return p
}

func findPart(parts []part, ctype string) (part, bool) {
	want := mediaType(ctype)
	for _, p := range parts {
		if p.ctype == want {
			return p, true
		}
	}
	return part{}, false
}

// filterBody keeps only the content of the first part of type ctype.
func filterBody(c *kemi.Ctx, ctype string) int {
	parts, err := multipartParts(c.M, body(c.M))
	if err != nil {
		return -1
	}
	p, ok := findPart(parts, ctype)
	if !ok {
		return -1
	}
	if err := commit(c.M, getState(c.M), nil, &p.content); err != nil {
		return logErr(c, "filter_body", err)
	}
	return 1
}

func getBodyPart(c *kemi.Ctx, fn, ctype, pv string, raw bool) int {
	b := c.M.Body()
	parts, err := multipartParts(c.M, b)
	if err != nil {
		return -1
	}
	p, ok := findPart(parts, ctype)
	if !ok {
		return -1
	}
	v := p.content
	if raw {
		v = b[p.start:p.end]
	}
	if err := c.SetPV(pv, kemi.StrV(v)); err != nil {
		return logErr(c, fn, err)
	}
	return 1
}

// removeBodyPart drops the first part of type ctype with its delimiter line.
func removeBodyPart(c *kemi.Ctx, ctype string) int {
	b := body(c.M)
	parts, err := multipartParts(c.M, b)
	if err != nil {
		return -1
	}
	p, ok := findPart(parts, ctype)
	if !ok {
		return -1
	}
	end := p.end
	if strings.HasPrefix(b[end:], "\r\n") {
		end += 2
	} else if strings.HasPrefix(b[end:], "\n") {
		end++
	}
	nb := b[:p.start] + b[end:]
	if err := commit(c.M, getState(c.M), nil, &nb); err != nil {
		return logErr(c, "remove_body_part", err)
	}
	return 1
}
