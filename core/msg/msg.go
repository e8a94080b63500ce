// Package msg is the message context every worker, module and script callback
// works on: the parsed SIP message, where it came from, and the edits the script
// asked for (R-URI and $du rewrites, header additions and removals, flags).
//
// Edits are kept as lumps against the received buffer and applied only when a
// message is built for sending, as Kamailio does: reads in the same route see
// the original message.
package msg

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Proto is a transport protocol.
type Proto uint8

// Transport protocols, with Kamailio's numbering order.
const (
	ProtoNone Proto = iota
	UDP
	TCP
	TLS
	SCTP
	WS
	WSS
)

var protoNames = [...]string{"none", "udp", "tcp", "tls", "sctp", "ws", "wss"}

func (p Proto) String() string {
	if int(p) < len(protoNames) {
		return protoNames[p]
	}
	return "none"
}

// Upper is the protocol as written in a Via ("UDP", "TCP").
func (p Proto) Upper() string { return strings.ToUpper(p.String()) }

// Stream reports whether the protocol is connection-oriented.
func (p Proto) Stream() bool { return p == TCP || p == TLS || p == WS || p == WSS }

// ParseProto parses a transport name in any case.
func ParseProto(s string) (Proto, bool) {
	for i, n := range protoNames {
		if i > 0 && strings.EqualFold(n, s) {
			return Proto(i), true
		}
	}
	return ProtoNone, false
}

// Socket is a local listening socket.
type Socket struct {
	Proto Proto
	Addr  netip.AddrPort
	Name  string // "udp:127.0.0.1:5060"
	// Advertised host and port written in Via and Record-Route (defaults: Addr).
	AdvHost string
	AdvPort int
}

// HostPort is what this socket writes into a Via sent-by.
func (s *Socket) HostPort() string {
	h := s.AdvHost
	if h == "" {
		h = s.Addr.Addr().String()
		if s.Addr.Addr().Is6() {
			h = "[" + h + "]"
		}
	}
	p := s.AdvPort
	if p == 0 {
		p = int(s.Addr.Port())
	}
	return h + ":" + strconv.Itoa(p)
}

// LumpOp is the kind of a header edit.
type LumpOp uint8

// Header edit kinds.
const (
	LumpAppend       LumpOp = iota // after the last header
	LumpInsert                     // before the first header
	LumpAppendAfter                // after the first header named Name (or at the end)
	LumpInsertBefore               // before the first header named Name (or at the end)
	LumpRemove                     // drop every header named Name
	LumpReplace                    // drop every header named Name, put Text where the first was (or at the end)
)

// Lump is one pending header edit.
type Lump struct {
	Op   LumpOp
	Name string // header name for the positional ops and removes
	Text string // complete header lines with CRLF
}

// Branch is one entry of the destination set beyond the R-URI
// (append_branch, lookup of several contacts): tm sends one copy per entry.
type Branch struct {
	URI    string
	DstURI string
	Path   string
	Q      int // q * 1000; -1 when not given
	Flags  Flags
	Socket *Socket
	// Instance and RegID identify a registration flow (RFC 5626).
	Instance string
	RegID    int
	Ruid     string
}

// Flags are message/script/branch flag words (bits 0..31).
type Flags uint32

// Msg is one received SIP message and the routing state attached to it.
type Msg struct {
	ID       uint64
	Buf      string // received bytes
	SIP      sip.Message
	Req      *sip.Request  // nil for replies
	Res      *sip.Response // nil for requests
	Hdrs     []Hdr
	FirstEnd int // offset after the first line
	BodyOff  int // offset of the body
	BodyLen  int // body length as framed by Content-Length
	Rcv      *Socket
	Src      netip.AddrPort
	Proto    Proto
	ConnID   uint64 // stream connection id, 0 for UDP
	Time     time.Time

	ruri    *sip.Uri // rewritten R-URI; nil = unchanged
	ruriStr string
	DstURI  string // $du

	Flags  Flags // message flags (setflag)
	SFlags Flags // script flags
	BFlags Flags // branch flags of branch 0
	// Branches is the destination set beyond the R-URI; tm consumes it.
	Branches []Branch

	ForceRport, AddLocalRport        bool
	ReplyNoConnect, ForwardNoConnect bool
	ReplyClose, ForwardClose         bool
	Lumps                            []Lump
	ReplyLumps                       []string // header text for locally generated replies
	NewBody                          *string
	NewBodyType                      string
	FinalReplied                     int // status of the final reply sent locally, 0 if none
	ForceSocket                      *Socket
	AdvAddr                          string
	AdvPort                          string
	AVPs                             map[string][]any
	Ext                              map[string]any // per-message data of modules
	Drop                             bool           // KSR.x.drop / KSR.set_drop
	SendTo                           *SendInfo      // destination while in onsend route
	RouteType                        RouteType
	FakeMessage                      bool
	ErrCode                          int // last internal error, for sl_reply_error
	// Script is the Lua state running for this message; nested callbacks
	// (onsend, branch) run on it instead of taking another from the pool.
	Script any
}

// SendInfo describes where the message being sent goes ($sndto).
type SendInfo struct {
	Proto Proto
	Addr  netip.AddrPort
}

// RouteType says which callback is running (tmx t_is_*_route, drop semantics).
type RouteType uint8

// Route types.
const (
	RouteRequest RouteType = iota + 1
	RouteReply
	RouteOnsend
	RouteFailure
	RouteBranch
	RouteTmReply
	RouteEvent
	RouteBranchFailure // tm's t_on_branch_failure callback
)

// ParseError carries why a buffer is not a SIP message.
type ParseError struct {
	Reason string
	Err    error
}

func (e *ParseError) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

func (e *ParseError) Unwrap() error { return e.Err }

var parser = sip.NewParser()

// Parse builds a Msg from received bytes. The message is fully indexed and
// parsed before any worker sees it; a ParseError says what is wrong.
func Parse(buf []byte, src netip.AddrPort, rcv *Socket, proto Proto) (*Msg, error) {
	m := &Msg{Buf: string(buf), Src: src, Rcv: rcv, Proto: proto, Time: time.Now()}
	if err := m.index(); err != nil {
		return nil, err
	}
	isReq, err := checkFirstLine(m.Buf[:m.FirstEnd-2])
	if err != nil {
		return nil, err
	}
	sm, err := parser.ParseSIP(buf)
	if err != nil {
		return nil, &ParseError{Reason: "parse", Err: err}
	}
	// sipgo classifies the first line by its own rules (a one-word reason
	// starting with "sip" makes a status line look like a request to it,
	// which today then fails its URI parse): refuse any other reading.
	if _, ok := sm.(*sip.Request); ok != isReq {
		return nil, &ParseError{Reason: "first line read ambiguously"}
	}
	m.SIP = sm
	// Both parsers must agree where the body starts; extra bytes after
	// Content-Length are left for sanity's Content-Length check.
	if b := sm.Body(); len(b) > len(buf)-m.BodyOff || string(b) != m.Buf[m.BodyOff:m.BodyOff+len(b)] {
		return nil, &ParseError{Reason: "headers framed ambiguously"}
	}
	m.BodyLen = len(sm.Body())
	switch v := sm.(type) {
	case *sip.Request:
		m.Req = v
		// Methods are case-sensitive (RFC 3261 §7.1); sipgo upper-cases
		// them, which would make "invite" an INVITE and rewrite it on the way.
		if sp := strings.IndexByte(m.Buf[:m.FirstEnd], ' '); sp > 0 {
			v.Method = sip.RequestMethod(m.Buf[:sp])
		}
		// Unknown schemes pass: sanity answers 416 for them.
		if v.Recipient.Host == "" && isSIPScheme(v.Recipient.Scheme) {
			return nil, &ParseError{Reason: "request URI without host"}
		}
	case *sip.Response:
		m.Res = v
	}
	if sm.CSeq() == nil || sm.CallID() == nil || sm.From() == nil || sm.To() == nil || sm.Via() == nil {
		return nil, &ParseError{Reason: "missing mandatory header (Via, From, To, Call-ID or CSeq)"}
	}
	if sm.Via().Host == "" {
		return nil, &ParseError{Reason: "top Via without host"}
	}
	return m, nil
}

// checkFirstLine validates the raw start line (without its CRLF) with RFC 3261
// §7.1/§7.2 syntax: "Method SP Request-URI SP SIP/2.0" or "SIP/2.0 SP
// Status-Code SP Reason-Phrase", single spaces, a token method, a Request-URI
// without white space or control characters, a three-digit status code in
// 100..699 and a reason phrase without control characters other than HTAB.
//
// The version must be "SIP/2.0" exactly, uppercase; a reply with any other is
// refused. A request with another well-formed version ("SIP/3.0", uppercase
// "SIP", digits on both sides of one dot) passes, so that sanity_check can
// answer 505 Version Not Supported as Kamailio and RFC 4475 §3.1.2.16 expect:
// the core cannot address a reply to a request it refuses for its version.
func checkFirstLine(line string) (isRequest bool, err error) {
	if rest, ok := strings.CutPrefix(line, "SIP/2.0 "); ok {
		if len(rest) < 4 || rest[3] != ' ' {
			return false, &ParseError{Reason: "status line: status code must be three digits followed by one space"}
		}
		for i := 0; i < 3; i++ {
			if rest[i] < '0' || rest[i] > '9' {
				return false, &ParseError{Reason: "status line: status code must be three digits followed by one space"}
			}
		}
		if rest[0] < '1' || rest[0] > '6' {
			return false, &ParseError{Reason: "status line: status code outside 100-699"}
		}
		for i := 4; i < len(rest); i++ {
			if c := rest[i]; c < ' ' && c != '\t' || c == 0x7f {
				return false, &ParseError{Reason: "status line: control character in reason phrase"}
			}
		}
		return false, nil
	}
	// "/" is no token character: this is a status line with another version.
	if len(line) >= 4 && strings.EqualFold(line[:4], "SIP/") {
		return false, &ParseError{Reason: "status line: SIP version is not SIP/2.0"}
	}
	sp1 := strings.IndexByte(line, ' ')
	if sp1 < 0 {
		return true, &ParseError{Reason: "request line: not Method SP Request-URI SP SIP-Version"}
	}
	sp2 := strings.LastIndexByte(line, ' ')
	if sp2 == sp1 {
		return true, &ParseError{Reason: "request line: not Method SP Request-URI SP SIP-Version"}
	}
	method, uri, version := line[:sp1], line[sp1+1:sp2], line[sp2+1:]
	if strings.HasPrefix(uri, " ") || strings.HasSuffix(uri, " ") || version == "" {
		return true, &ParseError{Reason: "request line: parts not separated by exactly one SP"}
	}
	if method == "" {
		return true, &ParseError{Reason: "request line: empty method"}
	}
	if !IsToken(method) {
		return true, &ParseError{Reason: "request line: method is not a token"}
	}
	if version != "SIP/2.0" && !isOtherSIPVersion(version) {
		return true, &ParseError{Reason: "request line: SIP version is not SIP/2.0"}
	}
	if uri == "" {
		return true, &ParseError{Reason: "request line: empty Request-URI"}
	}
	for i := 0; i < len(uri); i++ {
		if c := uri[i]; c <= ' ' || c == 0x7f {
			return true, &ParseError{Reason: "request line: white space or control character in Request-URI"}
		}
	}
	return true, nil
}

// isOtherSIPVersion reports whether v is "SIP/" 1*DIGIT "." 1*DIGIT.
func isOtherSIPVersion(v string) bool {
	rest, ok := strings.CutPrefix(v, "SIP/")
	if !ok {
		return false
	}
	major, minor, ok := strings.Cut(rest, ".")
	return ok && isDigits(major) && isDigits(minor)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isSIPScheme(s string) bool { return strings.EqualFold(s, "sip") || strings.EqualFold(s, "sips") }

func isNonHostScheme(s string) bool {
	s = strings.ToLower(s)
	return s == "tel" || s == "tels" || s == "urn"
}

func (m *Msg) index() error {
	hdrs, fe, bo, err := IndexHeaders(m.Buf, make([]Hdr, 0, 16))
	if err != nil {
		return &ParseError{Reason: "headers", Err: err}
	}
	m.Hdrs, m.FirstEnd, m.BodyOff = hdrs, fe, bo
	// Duplicated single-instance headers make the message ambiguous: refuse.
	var seen [32]uint8
	for i := range hdrs {
		switch t := hdrs[i].Type; t {
		case HCallID, HCSeq, HFrom, HTo, HContentLength, HMaxForwards:
			seen[t]++
			if seen[t] > 1 {
				return &ParseError{Reason: "duplicated " + hdrs[i].Name + " header"}
			}
		}
	}
	return nil
}

// IsRequest reports whether the message is a request.
func (m *Msg) IsRequest() bool { return m.Req != nil }

// Method is the request method, or the CSeq method of a reply.
func (m *Msg) Method() string {
	if m.Req != nil {
		return string(m.Req.Method)
	}
	if c := m.SIP.CSeq(); c != nil {
		return string(c.MethodName)
	}
	return ""
}

// Status is the reply code, -1 for requests.
func (m *Msg) Status() int {
	if m.Res != nil {
		return m.Res.StatusCode
	}
	return -1
}

// CallID returns the Call-ID value.
func (m *Msg) CallID() string {
	if c := m.SIP.CallID(); c != nil {
		return string(*c)
	}
	return ""
}

// Body is the received body as framed by Content-Length (RFC 3261 §18.3:
// bytes past it in a datagram are not part of the message).
func (m *Msg) Body() string {
	return m.Buf[m.BodyOff : m.BodyOff+m.BodyLen]
}

// RawBody is everything after the headers, for Content-Length checks.
func (m *Msg) RawBody() string { return m.Buf[m.BodyOff:] }

// Header returns the value of the first header named name.
func (m *Msg) Header(name string) (string, bool) {
	for i := range m.Hdrs {
		if m.Hdrs[i].Is(name) {
			return m.Hdrs[i].Value, true
		}
	}
	return "", false
}

// HeaderType returns the value of the first header of type t.
func (m *Msg) HeaderType(t HType) (string, bool) {
	for i := range m.Hdrs {
		if m.Hdrs[i].Type == t {
			return m.Hdrs[i].Value, true
		}
	}
	return "", false
}

// Headers returns the values of every header named name, in order.
func (m *Msg) Headers(name string) []string {
	var out []string
	for i := range m.Hdrs {
		if m.Hdrs[i].Is(name) {
			out = append(out, m.Hdrs[i].Value)
		}
	}
	return out
}

// RURI returns the current Request-URI (rewritten or original); nil for replies.
func (m *Msg) RURI() *sip.Uri {
	if m.ruri != nil {
		return m.ruri
	}
	if m.Req == nil {
		return nil
	}
	return &m.Req.Recipient
}

// RURIString renders the current Request-URI.
func (m *Msg) RURIString() string {
	if m.ruri != nil {
		if m.ruriStr == "" {
			m.ruriStr = m.ruri.String()
		}
		return m.ruriStr
	}
	if m.Req == nil {
		return ""
	}
	// The original text as received, not a re-rendering.
	line := m.Buf[:m.FirstEnd]
	if a := strings.IndexByte(line, ' '); a > 0 {
		if b := strings.LastIndexByte(line, ' '); b > a {
			return line[a+1 : b]
		}
	}
	return m.Req.Recipient.String()
}

// OrigRURIString is the R-URI as received ($ou).
func (m *Msg) OrigRURIString() string {
	save, saveStr := m.ruri, m.ruriStr
	m.ruri, m.ruriStr = nil, ""
	s := m.RURIString()
	m.ruri, m.ruriStr = save, saveStr
	return s
}

// SetRURI rewrites the Request-URI; the text is parsed and must be a valid URI.
func (m *Msg) SetRURI(s string) error {
	if m.Req == nil {
		return errors.New("not a request")
	}
	if err := CheckValue(s); err != nil {
		return err
	}
	if strings.ContainsAny(s, " \t") {
		return fmt.Errorf("white space in URI %q", s)
	}
	u := &sip.Uri{}
	if err := sip.ParseUri(s, u); err != nil {
		return fmt.Errorf("bad URI %q: %v", s, err)
	}
	if u.Host == "" && !isNonHostScheme(u.Scheme) {
		return fmt.Errorf("URI %q has no host", s)
	}
	m.ruri, m.ruriStr = u, s
	return nil
}

// EditRURI applies f to a copy of the current R-URI and installs it.
func (m *Msg) EditRURI(f func(u *sip.Uri)) error {
	cur := m.RURI()
	if cur == nil {
		return errors.New("not a request")
	}
	u := cur.Clone()
	f(u)
	if err := CheckValue(u.User + u.Host); err != nil {
		return err
	}
	m.ruri, m.ruriStr = u, ""
	return nil
}

// ResetRURI restores the received Request-URI.
func (m *Msg) ResetRURI() { m.ruri, m.ruriStr = nil, "" }

// RURIChanged reports whether the script rewrote the R-URI.
func (m *Msg) RURIChanged() bool { return m.ruri != nil }

// SetDst sets $du after checking it parses as a URI ("" clears it).
func (m *Msg) SetDst(s string) error {
	if s == "" {
		m.DstURI = ""
		return nil
	}
	if err := CheckValue(s); err != nil {
		return err
	}
	u := &sip.Uri{}
	if err := sip.ParseUri(s, u); err != nil || u.Host == "" {
		return fmt.Errorf("bad destination URI %q", s)
	}
	m.DstURI = s
	return nil
}

// NextHop returns $du if set, else the current R-URI.
func (m *Msg) NextHop() string {
	if m.DstURI != "" {
		return m.DstURI
	}
	return m.RURIString()
}

// AddLump queues a header edit after validating its text.
func (m *Msg) AddLump(op LumpOp, name, text string) error {
	if op != LumpRemove {
		t, err := CheckHeaderText(text)
		if err != nil {
			return err
		}
		text = t
	}
	if name != "" {
		if err := CheckValue(name); err != nil {
			return err
		}
	}
	m.Lumps = append(m.Lumps, Lump{Op: op, Name: name, Text: text})
	return nil
}

// AddReplyLump queues header text for the next locally generated reply.
func (m *Msg) AddReplyLump(text string) error {
	t, err := CheckHeaderText(text)
	if err != nil {
		return err
	}
	m.ReplyLumps = append(m.ReplyLumps, t)
	return nil
}

// TopVia returns the parsed top Via.
func (m *Msg) TopVia() *sip.ViaHeader { return m.SIP.Via() }

// FlagOK reports whether i is a valid flag index.
func FlagOK(i int) bool { return i >= 0 && i < 32 }

// Set sets bit i.
func (f *Flags) Set(i int) { *f |= 1 << uint(i) }

// Reset clears bit i.
func (f *Flags) Reset(i int) { *f &^= 1 << uint(i) }

// IsSet tests bit i.
func (f Flags) IsSet(i int) bool { return f&(1<<uint(i)) != 0 }

// SetExt stores per-message module data.
func (m *Msg) SetExt(key string, v any) {
	if m.Ext == nil {
		m.Ext = make(map[string]any, 2)
	}
	m.Ext[key] = v
}

// GetExt loads per-message module data.
func (m *Msg) GetExt(key string) any { return m.Ext[key] }

// Short describes the message for logs without its payload.
func (m *Msg) Short() string {
	if m.Req != nil {
		return string(m.Req.Method) + " " + m.RURIString()
	}
	if m.Res != nil {
		return strconv.Itoa(m.Res.StatusCode) + " " + m.Method()
	}
	return "?"
}
