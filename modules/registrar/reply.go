package registrar

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/modules/sl"
	"github.com/luasbc/luasbc/modules/usrloc"
)

// regReply is a reply save built: sent at once, or kept for reg_send_reply
// (save flag 0x02).
type regReply struct {
	code   int
	reason string
	hdrs   []string // complete header lines with CRLF
}

// extReply keeps the reply a save with flag 0x02 prepared.
const extReply = "registrar.reply"

func unixNow() int64 { return time.Now().Unix() }

func itoa(n int) string { return strconv.Itoa(n) }

// reasons are the reason phrases of the replies save sends; the detail goes
// into P-Registrar-Error, as in Kamailio.
var reasons = map[int]string{
	200: "OK", 400: "Bad Request", 420: "Bad Extension", 421: "Extension Required", 423: "Interval Too Brief",
	439: "First Hop Lacks Outbound Support", 500: "Server Internal Error", 503: "Service Unavailable",
}

// qString renders q*1000 as a qvalue ("0.5", "1", "0.125").
func qString(q int) string {
	s := strconv.Itoa(q/1000) + "." + strconv.Itoa(1000 + q%1000)[1:]
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// contactHeader lists the bindings as the 200 OK does: one Contact header,
// each with its q, the seconds left, +sip.instance, reg-id, the received
// address and, for a client that supports gruu, its public GRUU.
func (r *Registrar) contactHeader(req *regRequest, cs []usrloc.Contact, now int64) string {
	if len(cs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("Contact: ")
	for i := range cs {
		c := &cs[i]
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("<" + c.Addr + ">")
		if c.Q != usrloc.QUnspecified {
			b.WriteString(";q=" + qString(c.Q))
		}
		if c.Expires != 0 {
			b.WriteString(";expires=" + strconv.FormatInt(c.ExpiresIn(now), 10))
		}
		if c.Instance != "" {
			b.WriteString(";+sip.instance=\"" + c.Instance + "\"")
			if c.RegID > 0 {
				b.WriteString(";reg-id=" + itoa(c.RegID))
			}
		}
		if c.Received != "" && r.cfg.receivedParam != "" {
			b.WriteString(";" + r.cfg.receivedParam + "=\"" + c.Received + "\"")
		}
		if req != nil && r.cfg.gruu && c.Instance != "" && req.supported["gruu"] {
			if g := pubGRUU(req.aorURI, c.Instance); g != "" {
				b.WriteString(";pub-gruu=\"" + g + "\"")
			}
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// pubGRUU is the public GRUU of an instance (RFC 5627 §3.1): the AoR URI
// with a gr parameter holding the instance URN.
func pubGRUU(aorURI, instance string) string {
	uri := strings.TrimSpace(aorURI)
	if lt := strings.IndexByte(uri, '<'); lt >= 0 {
		if gt := strings.IndexByte(uri[lt:], '>'); gt > 0 {
			uri = uri[lt+1 : lt+gt]
		}
	}
	if i := strings.IndexAny(uri, ";?"); i >= 0 {
		uri = uri[:i]
	}
	urn := strings.TrimSuffix(strings.TrimPrefix(instance, "<"), ">")
	if uri == "" || urn == "" || strings.ContainsAny(urn, "\";<> ") {
		return ""
	}
	return uri + ";gr=" + urn
}

// okReply is the 200 OK listing the bindings (RFC 3261 §10.3 step 8).
func (r *Registrar) okReply(req *regRequest, cs []usrloc.Contact) *regReply {
	rp := &regReply{code: 200, reason: "OK"}
	if h := r.contactHeader(req, cs, unixNow()); h != "" {
		rp.hdrs = append(rp.hdrs, h)
	}
	if req.path != "" && (r.cfg.pathMode == 2 || r.cfg.pathMode == 1 && req.supported["path"]) {
		rp.hdrs = append(rp.hdrs, "Path: "+req.path+"\r\n")
	}
	if r.cfg.flowTimer > 0 && req.supported["outbound"] {
		rp.hdrs = append(rp.hdrs, "Require: outbound\r\n", "Flow-Timer: "+itoa(r.cfg.flowTimer)+"\r\n")
	}
	rp.hdrs = append(rp.hdrs, "Date: "+time.Now().UTC().Format(http.TimeFormat)+"\r\n")
	return rp
}

// errorReply is the reply to a refused REGISTER: the code's reason phrase,
// P-Registrar-Error with the detail, the current bindings (as Kamailio),
// Min-Expires for 423 and Retry-After for 5xx.
func (r *Registrar) errorReply(re *regError, cur []usrloc.Contact) *regReply {
	reason := reasons[re.code]
	if reason == "" {
		reason = "Error"
	}
	rp := &regReply{code: re.code, reason: reason}
	if h := r.contactHeader(nil, cur, unixNow()); h != "" {
		rp.hdrs = append(rp.hdrs, h)
	}
	rp.hdrs = append(rp.hdrs, "P-Registrar-Error: "+re.text+"\r\n")
	rp.hdrs = append(rp.hdrs, re.hdrs...)
	if re.code >= 500 && r.cfg.retryAfter > 0 {
		rp.hdrs = append(rp.hdrs, "Retry-After: "+itoa(r.cfg.retryAfter)+"\r\n")
	}
	return rp
}

// reply sends rp now, or with flag 0x02 keeps it for reg_send_reply (and
// with 0x10 puts its headers into the reply lumps).
func (r *Registrar) reply(c *kemi.Ctx, rp *regReply, flags int) {
	if flags&saveNoReply == 0 {
		r.send(c, rp)
		return
	}
	c.M.SetExt(extReply, rp)
	if flags&saveReplyHdrs != 0 {
		for _, h := range rp.hdrs {
			if err := c.M.AddReplyLump(h); err != nil {
				c.Logger().Error("registrar: reply header refused", zap.Error(err))
			}
		}
	}
}

// sendPrepared is reg_send_reply.
func (r *Registrar) sendPrepared(c *kemi.Ctx) int {
	rp, ok := c.M.GetExt(extReply).(*regReply)
	if !ok {
		c.Logger().Error("registrar: reg_send_reply without a prepared reply (save with flag 0x02)")
		return -1
	}
	c.M.SetExt(extReply, nil)
	return r.send(c, rp)
}

// send sends a reply with the registrar's headers: statefully when tm has
// a transaction for the request, else statelessly. The headers ride on the
// reply lumps for this reply only.
func (r *Registrar) send(c *kemi.Ctx, rp *regReply) int {
	m := c.M
	if m.FinalReplied != 0 {
		return -1
	}
	n := len(m.ReplyLumps)
	defer func() { m.ReplyLumps = m.ReplyLumps[:n:n] }()
	for _, h := range rp.hdrs {
		if err := m.AddReplyLump(h); err != nil {
			c.Logger().Error("registrar: reply header refused", zap.Error(err))
		}
	}
	if rc, ok := sl.ReplyStateful(c, rp.code, rp.reason); ok {
		return rc
	}
	if c.Core == nil {
		return -1
	}
	if err := c.Core.SendReply(m, msg.ReplyOpts{Code: rp.code, Reason: rp.reason}); err != nil {
		c.Logger().Debug("registrar: reply not sent", zap.Error(err))
		return -1
	}
	return 1
}
