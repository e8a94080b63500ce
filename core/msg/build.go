package msg

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
)

// Builder writes outgoing messages into a reusable byte slice.
type Builder struct{ B []byte }

func (b *Builder) s(x string) { b.B = append(b.B, x...) }

// lumpsFor returns what to write before and after header h, and whether h is removed.
type lumpPlan struct {
	removed map[int]bool
	before  map[int][]string
	after   map[int][]string
	insert  []string
	appendT []string
}

func (m *Msg) planLumps(skip func(i int) bool) *lumpPlan {
	p := &lumpPlan{}
	if len(m.Lumps) == 0 {
		return p
	}
	first := func(name string) int {
		for i := range m.Hdrs {
			if !skip(i) && m.Hdrs[i].Is(name) && !p.removed[i] {
				return i
			}
		}
		return -1
	}
	add := func(mp *map[int][]string, i int, t string) {
		if *mp == nil {
			*mp = map[int][]string{}
		}
		(*mp)[i] = append((*mp)[i], t)
	}
	for _, l := range m.Lumps {
		switch l.Op {
		case LumpAppend:
			p.appendT = append(p.appendT, l.Text)
		case LumpInsert:
			p.insert = append(p.insert, l.Text)
		case LumpAppendAfter, LumpInsertBefore:
			i := first(l.Name)
			switch {
			case i < 0:
				p.appendT = append(p.appendT, l.Text)
			case l.Op == LumpAppendAfter:
				add(&p.after, i, l.Text)
			default:
				add(&p.before, i, l.Text)
			}
		case LumpRemove, LumpReplace:
			at := -1
			for i := range m.Hdrs {
				if m.Hdrs[i].Is(l.Name) {
					if p.removed == nil {
						p.removed = map[int]bool{}
					}
					if at < 0 && !p.removed[i] {
						at = i
					}
					p.removed[i] = true
				}
			}
			if l.Op == LumpReplace {
				if at < 0 {
					p.appendT = append(p.appendT, l.Text)
				} else {
					add(&p.before, at, l.Text)
				}
			}
		}
	}
	return p
}

// writeHeaders copies the received headers, applying lumps; skip filters out
// headers the caller rewrites itself (e.g. the Via it pops). With markVia the
// first Via gets received/rport (RFC 3261 §18.2.1, RFC 3581) as the request
// goes on.
func (m *Msg) writeHeaders(b *Builder, skip func(i int) bool, bodyLen int, rewriteCL, markVia bool) {
	p := m.planLumps(skip)
	for _, t := range p.insert {
		b.s(t)
	}
	sawCL := false
	for i := range m.Hdrs {
		for _, t := range p.before[i] {
			b.s(t)
		}
		h := &m.Hdrs[i]
		if !skip(i) && !p.removed[i] {
			if markVia && h.Type == HVia {
				markVia = false
				m.writeMarkedVia(b, h)
			} else if h.Type == HContentLength && rewriteCL {
				b.s("Content-Length: ")
				b.s(strconv.Itoa(bodyLen))
				b.s("\r\n")
				sawCL = true
			} else {
				b.s(m.Buf[h.Start:h.End])
				if h.Type == HContentLength {
					sawCL = true
				}
			}
		}
		for _, t := range p.after[i] {
			b.s(t)
		}
	}
	for _, t := range p.appendT {
		b.s(t)
	}
	if !sawCL && (rewriteCL || m.Proto.Stream()) {
		b.s("Content-Length: ")
		b.s(strconv.Itoa(bodyLen))
		b.s("\r\n")
	}
}

func noSkip(int) bool { return false }

// ForwardOpts describes how a request is sent on.
type ForwardOpts struct {
	RURI   string // Request-URI to write
	Via    string // complete Via value (without "Via: ") to put on top; "" for none
	MaxFwd int    // new Max-Forwards value; <0 keeps whatever the lumps did
	Body   *string
}

// BuildRequest renders the request with lumps applied and a new top Via.
func (m *Msg) BuildRequest(b *Builder, o ForwardOpts) {
	b.B = b.B[:0]
	b.s(string(m.Req.Method))
	b.s(" ")
	b.s(o.RURI)
	b.s(" SIP/2.0\r\n")
	if o.Via != "" {
		b.s("Via: ")
		b.s(o.Via)
		b.s("\r\n")
	}
	body := m.Body()
	rewriteCL := false
	if o.Body != nil {
		body, rewriteCL = *o.Body, true
	} else if m.NewBody != nil {
		body, rewriteCL = *m.NewBody, true
	}
	skip := noSkip
	if o.MaxFwd >= 0 {
		skip = func(i int) bool { return m.Hdrs[i].Type == HMaxForwards }
	}
	m.writeHeaders(b, skip, len(body), rewriteCL, true)
	if o.MaxFwd >= 0 {
		b.s("Max-Forwards: ")
		b.s(strconv.Itoa(o.MaxFwd))
		b.s("\r\n")
	}
	b.s("\r\n")
	b.s(body)
}

// BuildReplyRelay renders a received reply without its top Via value (ours),
// for sending it on to the next Via.
func (m *Msg) BuildReplyRelay(b *Builder) bool {
	b.B = b.B[:0]
	b.s(m.Buf[:m.FirstEnd])
	top := -1
	for i := range m.Hdrs {
		if m.Hdrs[i].Type == HVia {
			top = i
			break
		}
	}
	if top < 0 {
		return false
	}
	vals := SplitComma(m.Hdrs[top].Value)
	skip := func(i int) bool { return i == top }
	// Keep what the first Via line carried after our value.
	if len(vals) > 1 {
		b.s(m.Hdrs[top].Name)
		b.s(": ")
		b.s(strings.Join(vals[1:], ", "))
		b.s("\r\n")
	}
	body := m.Body()
	if m.NewBody != nil {
		body = *m.NewBody
	}
	m.writeHeaders(b, skip, len(body), m.NewBody != nil, false)
	b.s("\r\n")
	b.s(body)
	return true
}

// SecondVia returns the second Via value of a message (the hop a reply goes
// back to after ours is removed).
func (m *Msg) SecondVia() (string, bool) {
	n := 0
	for i := range m.Hdrs {
		if m.Hdrs[i].Type != HVia {
			continue
		}
		for _, v := range SplitComma(m.Hdrs[i].Value) {
			if n == 1 {
				return v, true
			}
			n++
		}
	}
	return "", false
}

// ReplyOpts describes a locally generated reply.
type ReplyOpts struct {
	Code     int
	Reason   string
	ToTag    string   // added to To when it has none and Code > 100
	Headers  []string // extra header text (with CRLF), e.g. reply lumps
	Server   string   // "Server: ..." line without CRLF, or ""
	Body     string
	BodyType string
}

// BuildReply renders a reply to this request (RFC 3261 §8.2.6): Vias copied
// (the top one with received/rport per RFC 3581), From, To (+tag), Call-ID,
// CSeq, and Record-Route for dialog-creating replies.
func (m *Msg) BuildReply(b *Builder, o ReplyOpts) {
	b.B = b.B[:0]
	b.s("SIP/2.0 ")
	b.s(strconv.Itoa(o.Code))
	b.s(" ")
	b.s(o.Reason)
	b.s("\r\n")
	firstVia := true
	copyRR := o.Code > 100 && o.Code < 300 && m.Req != nil && m.Req.Method != "REGISTER"
	for i := range m.Hdrs {
		h := &m.Hdrs[i]
		switch h.Type {
		case HVia:
			if firstVia {
				firstVia = false
				m.writeMarkedVia(b, h)
				continue
			}
			b.s(m.Buf[h.Start:h.End])
		case HTo:
			if o.Code > 100 && o.ToTag != "" && !hasTag(h.Value) {
				b.s("To: ")
				b.s(h.Value)
				b.s(";tag=")
				b.s(o.ToTag)
				b.s("\r\n")
				continue
			}
			b.s(m.Buf[h.Start:h.End])
		case HFrom, HCallID, HCSeq:
			b.s(m.Buf[h.Start:h.End])
		case HRecordRoute:
			if copyRR {
				b.s(m.Buf[h.Start:h.End])
			}
		}
	}
	for _, t := range o.Headers {
		b.s(t)
	}
	if o.Server != "" {
		b.s(o.Server)
		b.s("\r\n")
	}
	if o.Body != "" && o.BodyType != "" {
		b.s("Content-Type: ")
		b.s(o.BodyType)
		b.s("\r\n")
	}
	b.s("Content-Length: ")
	b.s(strconv.Itoa(len(o.Body)))
	b.s("\r\n\r\n")
	b.s(o.Body)
}

// writeMarkedVia writes Via header h with received/rport on its first value.
func (m *Msg) writeMarkedVia(b *Builder, h *Hdr) {
	vals := SplitComma(h.Value)
	b.s("Via: ")
	b.s(m.viaWithReceived(vals[0]))
	for _, v := range vals[1:] {
		b.s(", ")
		b.s(v)
	}
	b.s("\r\n")
}

// viaWithReceived adds received= (when the sent-by host is not the source IP,
// or rport is asked for) and fills an empty rport with the source port.
func (m *Msg) viaWithReceived(v string) string {
	via := m.TopVia()
	if via == nil {
		return v
	}
	srcIP := m.Src.Addr().Unmap().String()
	rportVal, hasRport := via.Params.Get("rport")
	wantRport := (hasRport && rportVal == "") || m.ForceRport
	needRecv := strings.Trim(via.Host, "[]") != srcIP || wantRport
	if !needRecv {
		return v
	}
	// Strip existing received/rport and write ours.
	parts := strings.Split(v, ";")
	var sb strings.Builder
	sb.WriteString(parts[0])
	for _, p := range parts[1:] {
		k, _, _ := strings.Cut(p, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if k == "received" || (k == "rport" && wantRport) {
			continue
		}
		sb.WriteString(";")
		sb.WriteString(p)
	}
	sb.WriteString(";received=")
	sb.WriteString(srcIP)
	if wantRport {
		sb.WriteString(";rport=")
		sb.WriteString(strconv.Itoa(int(m.Src.Port())))
	}
	return sb.String()
}

func hasTag(v string) bool {
	// The tag param is outside the <> of the URI.
	rest := v
	if i := strings.LastIndexByte(v, '>'); i >= 0 {
		rest = v[i:]
	}
	for _, p := range strings.Split(rest, ";")[1:] {
		k, _, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "tag") {
			return true
		}
	}
	return false
}

// RandomTag returns a fresh tag for To headers.
func RandomTag() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
