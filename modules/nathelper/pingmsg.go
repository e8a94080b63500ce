package nathelper

import (
	"errors"
	"strings"

	"github.com/luasbc/luasbc/core/msg"
)

// pingRequest is the text of one SIP keepalive.
type pingRequest struct {
	method, ruri, from, route string
	via, callID, tag          string
	userAgent                 string // "User-Agent: ..." line without CRLF, or ""
}

// buildPing renders a SIP keepalive, stateless like Kamailio's: the contact
// is both R-URI and To, CSeq 1. The contact and Path come from REGISTER
// requests, so they are checked before they become header text.
func buildPing(r pingRequest) ([]byte, error) {
	u, ok := parseSIPURI(r.ruri)
	if !ok {
		return nil, errors.New("contact is not a sip: URI")
	}
	ruri := u.String()
	if r.route != "" && msg.CheckValue(r.route) != nil {
		return nil, errors.New("bad Path")
	}
	var b strings.Builder
	b.WriteString(r.method + " " + ruri + " SIP/2.0\r\n")
	b.WriteString("Via: " + r.via + "\r\n")
	if r.route != "" {
		b.WriteString("Route: " + r.route + "\r\n")
	}
	b.WriteString("Max-Forwards: 70\r\n")
	b.WriteString("From: <" + r.from + ">;tag=" + r.tag + "\r\n")
	b.WriteString("To: <" + ruri + ">\r\n")
	b.WriteString("Call-ID: " + r.callID + "\r\n")
	b.WriteString("CSeq: 1 " + r.method + "\r\n")
	if r.userAgent != "" {
		b.WriteString(r.userAgent + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return []byte(b.String()), nil
}
