package msg

import (
	"errors"
	"strings"
)

// HType identifies the header types the core looks at often; everything else is HOther.
type HType uint8

// Well-known header types.
const (
	HOther HType = iota
	HVia
	HFrom
	HTo
	HCallID
	HCSeq
	HContact
	HMaxForwards
	HContentLength
	HContentType
	HRoute
	HRecordRoute
	HExpires
	HUserAgent
	HServer
	HProxyRequire
	HRequire
	HSupported
	HAuthorization
	HProxyAuthorization
	HEvent
)

var htypeByName = map[string]HType{
	"via": HVia, "v": HVia,
	"from": HFrom, "f": HFrom,
	"to": HTo, "t": HTo,
	"call-id": HCallID, "i": HCallID,
	"cseq":    HCSeq,
	"contact": HContact, "m": HContact,
	"max-forwards":   HMaxForwards,
	"content-length": HContentLength, "l": HContentLength,
	"content-type": HContentType, "c": HContentType,
	"route":         HRoute,
	"record-route":  HRecordRoute,
	"expires":       HExpires,
	"user-agent":    HUserAgent,
	"server":        HServer,
	"proxy-require": HProxyRequire,
	"require":       HRequire,
	"supported":     HSupported, "k": HSupported,
	"authorization":       HAuthorization,
	"proxy-authorization": HProxyAuthorization,
	"event":               HEvent, "o": HEvent,
}

// compact forms of RFC 3261 §7.3.3 and later RFCs, for name matching.
var compact = map[string]string{
	"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length",
	"c": "content-type", "e": "content-encoding", "k": "supported", "s": "subject", "o": "event",
	"r": "refer-to", "b": "referred-by", "u": "allow-events", "x": "session-expires", "y": "identity",
	"a": "accept-contact", "j": "reject-contact", "d": "request-disposition", "n": "identity-info",
}

// CanonName lower-cases a header name and expands its compact form.
func CanonName(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	if full, ok := compact[n]; ok {
		return full
	}
	return n
}

// TypeOf returns the HType of a header name (any case, compact or full).
func TypeOf(name string) HType {
	if t, ok := htypeByName[name]; ok {
		return t
	}
	return htypeByName[strings.ToLower(name)]
}

// Hdr is one header line of the received buffer.
type Hdr struct {
	Type  HType
	Name  string // as written
	Value string // trimmed value, folding left as received
	Start int    // offset of the line in the buffer
	End   int    // offset after its line terminator
}

// Is reports whether the header is named name (any case, compact forms equal).
func (h *Hdr) Is(name string) bool {
	if t := TypeOf(name); t != HOther {
		return h.Type == t
	}
	return h.Type == HOther && CanonName(h.Name) == CanonName(name)
}

// Index limits: more headers than this is treated as an attack, not a message.
const (
	MaxHeaders    = 256
	MaxHeaderLine = 16384
)

// Errors of IndexHeaders.
var (
	ErrNoHeaderEnd    = errors.New("no empty line after the headers")
	ErrTooManyHeaders = errors.New("too many headers")
	ErrHeaderTooLong  = errors.New("header line too long")
	ErrBadHeaderLine  = errors.New("malformed header line")
	ErrBareLF         = errors.New("line not ended by CRLF")
)

// IndexHeaders finds the first line, every header line and the body offset of
// a SIP message in s. Folded lines (RFC 3261 §7.3.1) are part of their header.
func IndexHeaders(s string, out []Hdr) (hdrs []Hdr, firstLineEnd, bodyStart int, err error) {
	hdrs = out[:0]
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return hdrs, 0, 0, ErrNoHeaderEnd
	}
	if i == 0 || s[i-1] != '\r' {
		return hdrs, 0, 0, ErrBareLF
	}
	firstLineEnd = i + 1
	pos := firstLineEnd
	for {
		if pos >= len(s) {
			return hdrs, firstLineEnd, 0, ErrNoHeaderEnd
		}
		// Only CRLF CRLF ends the headers: a parser that accepted bare LF here
		// could frame the message differently from sipgo (request smuggling).
		if s[pos] == '\n' {
			return hdrs, firstLineEnd, 0, ErrBareLF
		}
		if s[pos] == '\r' && pos+1 < len(s) && s[pos+1] == '\n' {
			return hdrs, firstLineEnd, pos + 2, nil
		}
		start := pos
		end := start
		for {
			nl := strings.IndexByte(s[end:], '\n')
			if nl < 0 {
				return hdrs, firstLineEnd, 0, ErrNoHeaderEnd
			}
			if end+nl == 0 || s[end+nl-1] != '\r' {
				return hdrs, firstLineEnd, 0, ErrBareLF
			}
			end += nl + 1
			if end < len(s) && (s[end] == ' ' || s[end] == '\t') {
				continue // folded
			}
			break
		}
		if end-start > MaxHeaderLine {
			return hdrs, firstLineEnd, 0, ErrHeaderTooLong
		}
		if len(hdrs) >= MaxHeaders {
			return hdrs, firstLineEnd, 0, ErrTooManyHeaders
		}
		line := s[start:end]
		colon := strings.IndexByte(line, ':')
		if colon <= 0 {
			return hdrs, firstLineEnd, 0, ErrBadHeaderLine
		}
		name := strings.TrimRight(line[:colon], " \t")
		if name == "" || !IsToken(name) {
			return hdrs, firstLineEnd, 0, ErrBadHeaderLine
		}
		hdrs = append(hdrs, Hdr{
			Type:  TypeOf(name),
			Name:  name,
			Value: strings.Trim(line[colon+1:], " \t\r\n"),
			Start: start,
			End:   end,
		})
		pos = end
	}
}

// IsToken reports whether s is an RFC 3261 token (alphanum / "-" / "." / "!"
// / "%" / "*" / "_" / "+" / "`" / "'" / "~"): methods and header names.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-.!%*_+`'~", c) >= 0) {
			return false
		}
	}
	return true
}

// CheckHeaderText validates header text that a script wants to add: one or more
// "Name: value" lines, each ended by CRLF (a missing final CRLF is added). CR, LF
// or NUL inside a value, an empty line or a line without a name is refused, so a
// script cannot be tricked into injecting headers or a body.
func CheckHeaderText(txt string) (string, error) {
	if txt == "" {
		return "", errors.New("empty header text")
	}
	if strings.IndexByte(txt, 0) >= 0 {
		return "", errors.New("NUL byte in header text")
	}
	if !strings.HasSuffix(txt, "\r\n") {
		if strings.HasSuffix(txt, "\n") || strings.HasSuffix(txt, "\r") {
			return "", errors.New("header text must end with CRLF")
		}
		txt += "\r\n"
	}
	rest := txt
	for rest != "" {
		i := strings.Index(rest, "\r\n")
		line := rest[:i]
		rest = rest[i+2:]
		if line == "" {
			return "", errors.New("empty line in header text")
		}
		if strings.ContainsAny(line, "\r\n") {
			return "", errors.New("bare CR or LF in header text")
		}
		colon := strings.IndexByte(line, ':')
		// A leading blank would fold the line into the previous header.
		if colon <= 0 || line[0] == ' ' || line[0] == '\t' || !IsToken(strings.TrimRight(line[:colon], " \t")) {
			return "", errors.New("header line without a valid name: " + quoteShort(line))
		}
	}
	return txt, nil
}

// CheckValue refuses CR, LF and NUL in a single header value or URI.
func CheckValue(v string) error {
	if strings.ContainsAny(v, "\r\n\x00") {
		return errors.New("CR, LF or NUL in value " + quoteShort(v))
	}
	return nil
}

func quoteShort(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return "\"" + strings.NewReplacer("\r", "\\r", "\n", "\\n", "\x00", "\\0").Replace(s) + "\""
}

// Unfold turns header line folding (RFC 3261 §7.3.1: CRLF followed by white
// space) into one space, so a value can be parsed, or written back as one
// line that passes CheckValue.
func Unfold(v string) string {
	if !strings.ContainsAny(v, "\r\n") {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\r' || c == '\n' {
			for i+1 < len(v) && (v[i+1] == '\r' || v[i+1] == '\n' || v[i+1] == ' ' || v[i+1] == '\t') {
				i++
			}
			b.WriteByte(' ')
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// SplitComma splits a header value at top-level commas (not inside quotes or <>).
func SplitComma(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			depth++
		case c == '>':
			if depth > 0 {
				depth--
			}
		case c == ',' && depth == 0:
			out = append(out, strings.TrimSpace(v[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(v[start:]))
}
