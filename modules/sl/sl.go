// Package sl sends stateless replies (Kamailio's sl module).
package sl

import (
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
			{Name: "default_code", Default: 500, Doc: "Code of sl_reply_error when no internal error is known."},
			{Name: "default_reason", Default: "Internal Server Error", Doc: "Reason of sl_reply_error when no internal error is known."},
			{Name: "bind_tm", Default: 1, Doc: "Use tm for send_reply when a transaction exists."},
			{Name: "rich_redirect", Default: 0, Doc: "Extra data in 3xx Contacts: 1 branch flags, 2 path.", Ignored: true},
			{Name: "event_callback_fl_ack", Default: "", Doc: "Lua function called with \"sl:filtered-ack\" for an absorbed ACK."},
			{Name: "event_callback_lres_sent", Default: "", Doc: "Lua function called with \"sl:local-response\" after a local reply."},
		},
		New: newSL,
	})
}

// Stateful is set by tm: it sends a stateful reply when m has a transaction
// and reports whether it did.
var Stateful func(c *kemi.Ctx, code int, reason string) (int, bool)

// SL is the module instance.
type SL struct {
	env                   *kemi.Env
	defCode               int
	defReason             string
	bindTM                bool
	evFilteredACK, evSent string
	st                    map[string]*stats.Counter
	filtered              *stats.Counter
}

func newSL(env *kemi.Env) (kemi.Instance, error) {
	s := &SL{env: env, defCode: env.Params.Int("default_code"), defReason: env.Params.Str("default_reason"),
		bindTM: env.Params.Bool("bind_tm"), evFilteredACK: env.Params.Str("event_callback_fl_ack"),
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

// ErrorReply maps the last internal error to a reply, as sl_reply_error.
func (s *SL) ErrorReply(c *kemi.Ctx) (int, string) {
	switch c.M.ErrCode {
	case 477:
		return 477, "Unfortunately error on sending to next hop occurred"
	case 478:
		return 478, "Unresolvable destination"
	case 479:
		return 479, "Regretfully, we were not able to process the URI"
	case 400:
		return 400, "Bad Request"
	case 487:
		return 487, "Transaction canceled"
	case 0:
		return s.defCode, s.defReason
	}
	return 500, "I'm terribly sorry, server error occurred"
}

func (s *SL) stateful(c *kemi.Ctx, code int, reason string) (int, bool) {
	if s.bindTM && Stateful != nil {
		return Stateful(c, code, reason)
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
		kemi.Fn0Int("sl_reply_error", "Reply with the last internal error. -2 if a final reply was already sent.",
			func(c *kemi.Ctx) int {
				if c.M.FinalReplied != 0 {
					return -2
				}
				code, reason := s.ErrorReply(c)
				return s.Reply(c, code, reason+" (sl)", 0)
			}),
		kemi.Fn0Int("send_reply_error", "As sl_reply_error, statefully when a transaction exists.",
			func(c *kemi.Ctx) int {
				if c.M.FinalReplied != 0 {
					return -2
				}
				code, reason := s.ErrorReply(c)
				if rc, ok := s.stateful(c, code, reason); ok {
					return rc
				}
				return s.Reply(c, code, reason+" (sl)", 0)
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
	if code != "" {
		n := 0
		for _, ch := range code {
			if ch < '0' || ch > '9' {
				return -1
			}
			n = n*10 + int(ch-'0')
		}
		if n/100 != m.Res.StatusCode/100 || n < 100 || n > 699 {
			c.Logger().Error("sl_forward_reply: code must stay in the same class", zap.Int("code", n))
			return -1
		}
		if reason == "" {
			reason = m.Res.Reason
		}
		if msg.CheckValue(reason) != nil {
			return -1
		}
		first := "SIP/2.0 " + code + " " + reason + "\r\n"
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
