package authtest

import (
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Request builds request texts for kemitest harnesses: a REGISTER from and
// to alice@example.com unless told otherwise, addressed from the client
// socket ({cport}), with a fresh Via branch and CSeq each time.
type Request struct {
	Method  string // REGISTER
	RURI    string // sip:example.com
	Headers []string
	Body    string
	From    string // <sip:alice@example.com>;tag=f1
	To      string // <sip:alice@example.com>
	CallID  string // call-1@test
}

var seq atomic.Int64

func (r Request) withDefaults() Request {
	if r.Method == "" {
		r.Method = "REGISTER"
	}
	if r.RURI == "" {
		r.RURI = "sip:example.com"
	}
	if r.From == "" {
		r.From = "<sip:alice@example.com>;tag=f1"
	}
	if r.To == "" {
		r.To = "<sip:alice@example.com>"
	}
	if r.CallID == "" {
		r.CallID = "call-1@test"
	}
	return r
}

// Text renders the request (LF line ends: the harness's Expand makes CRLF).
func (r Request) Text() string {
	r = r.withDefaults()
	n := strconv.FormatInt(seq.Add(1), 10)
	var b strings.Builder
	b.WriteString(r.Method + " " + r.RURI + " SIP/2.0\n")
	b.WriteString("Via: SIP/2.0/UDP 127.0.0.1:{cport};branch=z9hG4bK-" + n + "-" + strconv.FormatInt(time.Now().UnixNano(), 36) + ";rport\n")
	b.WriteString("From: " + r.From + "\nTo: " + r.To + "\nCall-ID: " + r.CallID + "\n")
	b.WriteString("CSeq: " + n + " " + r.Method + "\nMax-Forwards: 70\n")
	for _, x := range r.Headers {
		b.WriteString(x + "\n")
	}
	if r.Body != "" {
		b.WriteString("Content-Type: text/plain\n")
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(r.Body)) + "\n\n" + r.Body)
	return b.String()
}

// WithAnswer returns r with credentials for ch added (computed over r's
// method, R-URI and body).
func (r Request) WithAnswer(cl *Client, ch Challenge, qop string) Request {
	r = r.withDefaults()
	r.Headers = append(append([]string{}, r.Headers...), cl.Header(ch, Options{Method: r.Method, URI: r.RURI, Body: r.Body, QOP: qop}))
	return r
}

// Header returns the value of the first header named name in a message
// text ("" if none).
func Header(text, name string) string {
	for _, l := range strings.Split(text, "\r\n") {
		if l == "" {
			break
		}
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
