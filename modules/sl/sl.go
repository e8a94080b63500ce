// Package sl sends stateless replies (Kamailio's sl module).
package sl

import (
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core"
	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/stats"
	"github.com/luasbc/luasbc/kemi"
)

func init() {
	kemi.RegisterModule(&kemi.Module{
		Name: "sl",
		Doc:  "Stateless replies. Locally generated replies carry the reply lumps and the Server header; ACKs to them are absorbed.",
		Params: []kemi.ParamDef{
			{Name: "default_code", Default: 500, Doc: "Native cfg only: code used when sl_send_reply's code cannot be evaluated.", Ignored: true},
			{Name: "default_reason", Default: "Internal Server Error", Doc: "Native cfg only: reason used when sl_send_reply's reason cannot be evaluated.", Ignored: true},
			{Name: "bind_tm", Default: 1, Doc: "Use tm for send_reply when a transaction exists."},
			{Name: "rich_redirect", Default: 0, Doc: "Extra data in 3xx Contacts: 1 branch flags, 2 path.", Ignored: true},
			{Name: "event_callback_fl_ack", Default: "", Doc: "Lua function called with \"sl:filtered-ack\" for an absorbed ACK."},
			{Name: "event_callback_lres_sent", Default: "", Doc: "Lua function called with \"sl:local-response\" after a local reply."},
		},
		New: newSL,
	})
}

// StatefulReplier is what tm offers sl (and auth, registrar): a reply sent
// through the message's transaction, and whether there was one. It is
// looked up per engine, not kept in a package variable, so two servers in
// one process (tests) each reply through their own tm.
type StatefulReplier interface {
	StatefulReply(c *kemi.Ctx, code int, reason string) (int, bool)
}

// ReplyStateful replies through the message's transaction when the engine
// has tm and the message a transaction, and reports whether it did.
func ReplyStateful(c *kemi.Ctx, code int, reason string) (int, bool) {
	if c.Engine == nil {
		return 0, false
	}
	r, ok := c.Engine.Instance("tm").(StatefulReplier)
	if !ok {
		return 0, false
	}
	return r.StatefulReply(c, code, reason)
}

// SL is the module instance.
type SL struct {
	env                   *kemi.Env
	bindTM                bool
	evFilteredACK, evSent string
	st                    map[string]*stats.Counter
	filtered              *stats.Counter
}

func newSL(env *kemi.Env) (kemi.Instance, error) {
	s := &SL{env: env, bindTM: env.Params.Bool("bind_tm"), evFilteredACK: env.Params.Str("event_callback_fl_ack"),
		evSent: env.Params.Str("event_callback_lres_sent"), st: map[string]*stats.Counter{}}
	for _, k := range []string{"1xx_replies", "200_replies", "202_replies", "2xx_replies", "300_replies", "301_replies",
		"302_replies", "3xx_replies", "400_replies", "401_replies", "403_replies", "404_replies", "407_replies",
		"408_replies", "483_replies", "4xx_replies", "500_replies", "5xx_replies", "6xx_replies", "xxx_replies",
		"sent_replies", "sent_err_replies", "failures"} {
		s.st[k] = stats.New("sl", k, "stateless replies: "+k)
	}
	s.filtered = stats.New("sl", "filtered_acks", "ACKs to local replies absorbed")
	if env.Core != nil {
		env.Core.RequestFilters = append(env.Core.RequestFilters, s.filterACK)
	}
	return s, nil
}

// filterACK absorbs an ACK for a reply we generated (its To-tag is ours).
func (s *SL) filterACK(m *msg.Msg) bool {
	if m.Req == nil || m.Req.Method != sip.ACK {
		return false
	}
	to := m.SIP.To()
	if to == nil {
		return false
	}
	tag, _ := to.Params.Get("tag")
	if !strings.HasPrefix(tag, "lsbc.") || tag != core.LocalTag(m) {
		return false
	}
	s.filtered.Inc()
	if s.evFilteredACK != "" && s.env.Engine != nil {
		s.env.Engine.CallEvent(m, s.evFilteredACK, "sl:filtered-ack")
	}
	return true
}

func (s *SL) count(code int) {
	key := ""
	switch code {
	case 200, 202, 300, 301, 302, 400, 401, 403, 404, 407, 408, 483, 500:
		key = itoa(code) + "_replies"
	default:
		key = string(rune('0'+code/100)) + "xx_replies"
	}
	if c := s.st[key]; c != nil {
		c.Inc()
	}
}

func itoa(n int) string {
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}

// Reply sends a stateless reply: 1 sent, -1 error.
func (s *SL) Reply(c *kemi.Ctx, code int, reason string, mode int) int {
	m := c.M
	if m.Req == nil || m.Req.Method == sip.ACK || code < 100 || code > 699 {
		s.st["failures"].Inc()
		return -1
	}
	if err := msg.CheckValue(reason); err != nil {
		c.Logger().Error("reply reason refused", zap.Error(err))
		return -1
	}
	if mode&1 != 0 {
		m.ReplyNoConnect = true
	}
	if mode&2 != 0 {
		m.ReplyClose = true
	}
	o := msg.ReplyOpts{Code: code, Reason: reason}
	if code >= 300 && code < 400 && m.RURIChanged() {
		o.Headers = append(o.Headers, "Contact: <"+m.RURIString()+">\r\n")
	}
	if err := c.Core.SendReply(m, o); err != nil {
		s.st["failures"].Inc()
		return -1
	}
	s.st["sent_replies"].Inc()
	if code >= 300 {
		s.st["sent_err_replies"].Inc()
	}
	s.count(code)
	if s.evSent != "" {
		c.Engine.Call(m, s.evSent, "sl:local-response")
	}
	return 1
}

// Internal error numbers (Kamailio's E_* values, negated) that m.ErrCode may
// hold; 0 means none was recorded, which Kamailio reports as E_UNSPEC.
const (
	eUnspec          = 1
	eOutOfMem        = 2
	eBadTupel        = 9
	eExec            = 11
	eTooManyBranches = 12
	eBadTo           = 13
	eQInvChar        = 15
	eQEmpty          = 16
	eQTooBig         = 17
	eQDecMissing     = 18
	eBadReq          = 400
	eSend            = 477
	eBadAddress      = 478
	eBadURI          = 479
	eCanceled        = 487
)

// ErrorReply maps the last internal error to the reply sl_reply_error sends,
// as Kamailio's err2reason_phrase: the reason carries " (<errno>/<sig>)",
// e.g. "Unresolvable destination (478/SL)".
func ErrorReply(errno int, sig string) (int, string) {
	if errno == 0 {
		errno = eUnspec
	}
	code, text := 500, "I'm terribly sorry, server error occurred"
	switch errno {
	case eSend:
		code, text = eSend, "Unfortunately error on sending to next hop occurred"
	case eBadAddress:
		code, text = eBadAddress, "Unresolvable destination"
	case eBadReq:
		code, text = eBadReq, "Bad Request"
	case eBadURI:
		code, text = eBadURI, "Regretfully, we were not able to process the URI"
	case eBadTupel:
		code, text = 400, "Transaction tuple incomplete"
	case eBadTo:
		code, text = 400, "Bad To"
	case eExec:
		text = "Error in external logic"
	case eTooManyBranches:
		text = "Forking capacity exceeded"
	case eQInvChar:
		code, text = 400, "Invalid character in q parameter"
	case eQEmpty:
		code, text = 400, "Empty q parameter"
	case eQTooBig:
		code, text = 400, "Q parameter too big"
	case eQDecMissing:
		code, text = 400, "Decimal part missing in q"
	case eCanceled:
		code, text = eCanceled, "Transaction canceled"
	case eOutOfMem:
		text = "Internal processing error"
	}
	return code, text + " (" + strconv.Itoa(errno) + "/" + sig + ")"
}

func (s *SL) stateful(c *kemi.Ctx, code int, reason string) (int, bool) {
	if s.bindTM {
		return ReplyStateful(c, code, reason)
	}
	return 0, false
}

// Exports implements kemi.Instance.
func (s *SL) Exports() []kemi.Export {
	return []kemi.Export{
		kemi.FnIntStrInt("sl_send_reply", "Send a reply statelessly. 3xx: the new R-URI becomes a Contact. 1 ok, -1 error (also for ACK).",
			func(c *kemi.Ctx, code int, reason string) int { return s.Reply(c, code, reason, 0) }),
		kemi.FnIntStrInt("send_reply", "Reply statefully when a transaction exists (tm), else statelessly.",
			func(c *kemi.Ctx, code int, reason string) int {
				if rc, ok := s.stateful(c, code, reason); ok {
					return rc
				}
				return s.Reply(c, code, reason, 0)
			}),
		kemi.Fn("send_reply_mode", []kemi.ParamType{kemi.Int, kemi.Str, kemi.Int}, kemi.RetInt,
			"As send_reply; mode 1 = no new connection for the reply, 2 = close the connection after it.",
			func(c *kemi.Ctx, a *kemi.Args) kemi.Value {
				if a.I[2]&1 != 0 {
					c.M.ReplyNoConnect = true
				}
				if a.I[2]&2 != 0 {
					c.M.ReplyClose = true
				}
				if rc, ok := s.stateful(c, int(a.I[0]), a.S[1]); ok {
					return kemi.IntV(rc)
				}
				return kemi.IntV(s.Reply(c, int(a.I[0]), a.S[1], int(a.I[2])))
			}),
		kemi.Fn0Int("sl_reply_error", "Reply with the last internal error, reason \"<text> (<errno>/SL)\". -2 if a final reply was already sent.",
			func(c *kemi.Ctx) int {
				if c.M.FinalReplied != 0 {
					return -2
				}
				code, reason := ErrorReply(c.M.ErrCode, "SL")
				return s.Reply(c, code, reason, 0)
			}),
		kemi.Fn0Int("send_reply_error", "As sl_reply_error, statefully when a transaction exists.",
			func(c *kemi.Ctx) int {
				if c.M.FinalReplied != 0 {
					return -2
				}
				// tm signs its error replies "TM" (kill_transaction in Kamailio's tm).
				code, reason := ErrorReply(c.M.ErrCode, "TM")
				if rc, ok := s.stateful(c, code, reason); ok {
					return rc
				}
				code, reason = ErrorReply(c.M.ErrCode, "SL")
				return s.Reply(c, code, reason, 0)
			}),
		kemi.FnStrStrInt("sl_forward_reply", "Reply route: relay the received reply now, optionally with another code of the same class and reason.",
			func(c *kemi.Ctx, code, reason string) int { return s.forwardReply(c, code, reason) }),
	}
}

func (s *SL) forwardReply(c *kemi.Ctx, code, reason string) int {
	m := c.M
	if m.Res == nil {
		return -1
	}
	n := m.Res.StatusCode
	if code != "" {
		// As Kamailio: exactly three digits, in the class of the received code.
		if len(code) != 3 || code[0] != byte('0'+m.Res.StatusCode/100) ||
			code[1] < '0' || code[1] > '9' || code[2] < '0' || code[2] > '9' {
			c.Logger().Error("sl_forward_reply: invalid code or class changed", zap.String("code", code))
			return -1
		}
		n = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	}
	if reason == "" {
		reason = m.Res.Reason
	} else if msg.CheckValue(reason) != nil {
		c.Logger().Error("sl_forward_reply: reason refused", zap.String("reason", reason))
		return -1
	}
	if n != m.Res.StatusCode || reason != m.Res.Reason {
		first := "SIP/2.0 " + strconv.Itoa(n) + " " + reason + "\r\n"
		m.Buf = first + m.Buf[m.FirstEnd:]
		delta := len(first) - m.FirstEnd
		m.FirstEnd = len(first)
		m.BodyOff += delta
		for i := range m.Hdrs {
			m.Hdrs[i].Start += delta
			m.Hdrs[i].End += delta
		}
		m.Res.StatusCode, m.Res.Reason = n, reason
	}
	c.Core.RelayReply(m)
	m.Drop = true // already relayed: the core must not relay it again
	return 1
}
