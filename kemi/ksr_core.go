package kemi

import (
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/luasbc/luasbc/core/msg"
)

func coreExports() []*Export {
	var out []*Export
	add := func(mod string, xs ...Export) {
		for _, x := range xs {
			x := x
			x.Module = mod
			out = append(out, &x)
		}
	}
	add("", logExports()...)
	add("", methodExports()...)
	add("", protoExports()...)
	add("", myselfExports()...)
	add("", flagExports()...)
	add("", uriExports()...)
	add("x", xExports()...)
	add("hdr", hdrExports()...)
	add("pv", pvExports()...)
	return out
}

func logAt(c *Ctx, lvl zapcore.Level, text string) {
	if ce := c.Logger().Check(lvl, strings.TrimRight(text, "\n")); ce != nil {
		ce.Write(zap.String("from", "lua"))
	}
}

// levelByName maps KSR.log / xlog level names to zap levels.
func levelByName(s string) zapcore.Level {
	switch strings.ToLower(strings.TrimPrefix(strings.ToUpper(s), "L_")) {
	case "dbg", "debug":
		return zapcore.DebugLevel
	case "info", "notice":
		return zapcore.InfoLevel
	case "warn":
		return zapcore.WarnLevel
	case "crit", "alert", "bug":
		return zapcore.DPanicLevel - 1 // error level, never panics
	}
	return zapcore.ErrorLevel
}

func logExports() []Export {
	lv := func(name string, l zapcore.Level) Export {
		return Export{Name: name, Params: []ParamType{Str}, Ret: RetNone, NoMsg: true,
			Doc: "Log the text at " + name + " level (no PV substitution).",
			Fn:  func(c *Ctx, a *Args) Value { logAt(c, l, a.S[0]); return None }}
	}
	return []Export{
		lv("dbg", zapcore.DebugLevel), lv("info", zapcore.InfoLevel), lv("notice", zapcore.InfoLevel),
		lv("warn", zapcore.WarnLevel), lv("err", zapcore.ErrorLevel), lv("crit", zapcore.ErrorLevel),
		{Name: "log", Params: []ParamType{Str, Str}, Ret: RetNone, NoMsg: true,
			Doc: "Log text at a level given by name: dbg, info, notice, warn, err, crit.",
			Fn:  func(c *Ctx, a *Args) Value { logAt(c, levelByName(a.S[0]), a.S[1]); return None }},
		Fn0Int("get_debug", "Current log level as Kamailio's debug number (3 = debug, 2 = info, 1 = notice, 0 = warn, -1 = err).",
			func(c *Ctx) int {
				switch {
				case c.Log.Core().Enabled(zapcore.DebugLevel):
					return 3
				case c.Log.Core().Enabled(zapcore.InfoLevel):
					return 2
				case c.Log.Core().Enabled(zapcore.WarnLevel):
					return 0
				}
				return -1
			}),
	}
}

// methodLetters are KSR.is_method_in's letters.
var methodLetters = map[byte]string{
	'I': "INVITE", 'A': "ACK", 'B': "BYE", 'C': "CANCEL", 'M': "MESSAGE", 'R': "REGISTER", 'E': "PRACK",
	'P': "PUBLISH", 'S': "SUBSCRIBE", 'N': "NOTIFY", 'O': "OPTIONS", 'F': "REFER", 'G': "GET", 'U': "UPDATE",
	'K': "KDMQ", 'D': "DELETE", 'T': "POST", 'V': "PUT",
}

var standardMethods = map[string]bool{
	"INVITE": true, "ACK": true, "BYE": true, "CANCEL": true, "MESSAGE": true, "REGISTER": true, "PRACK": true,
	"PUBLISH": true, "SUBSCRIBE": true, "NOTIFY": true, "OPTIONS": true, "REFER": true, "INFO": true,
	"UPDATE": true, "KDMQ": true, "GET": true, "POST": true, "PUT": true, "DELETE": true,
}

// IsMethod implements KSR.is_method: a |-separated list of standard methods,
// or one exact (case-insensitive) method name.
func IsMethod(m *msg.Msg, list string) bool {
	method := m.Method()
	if !strings.Contains(list, "|") {
		return strings.EqualFold(method, list)
	}
	for _, p := range strings.Split(list, "|") {
		p = strings.TrimSpace(p)
		if standardMethods[strings.ToUpper(p)] && strings.EqualFold(method, p) {
			return true
		}
	}
	return false
}

func methodExports() []Export {
	out := []Export{
		FnStrBool("is_method", "True if the method (CSeq method for replies) is the given one, or one of a |-separated list of standard methods.",
			func(c *Ctx, s string) bool { return IsMethod(c.M, s) }),
		FnStrBool("is_method_in", "True if the method matches one of the letters I A B C M R E P S N O F G U K D T V.",
			func(c *Ctx, s string) bool {
				method := c.M.Method()
				for i := 0; i < len(s); i++ {
					ch := s[i]
					if ch >= 'a' && ch <= 'z' {
						ch -= 32
					}
					if methodLetters[ch] == method {
						return true
					}
				}
				return false
			}),
	}
	for _, name := range []string{"INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "SUBSCRIBE", "PUBLISH",
		"NOTIFY", "REFER", "INFO", "UPDATE", "PRACK", "MESSAGE", "KDMQ", "GET", "POST", "PUT", "DELETE"} {
		name := name
		out = append(out, Fn0Bool("is_"+name, "True if the method is "+name+" (CSeq method for replies).",
			func(c *Ctx) bool { return c.M.Method() == name }))
	}
	return out
}

// NextHopProto returns the transport and address family of the next hop: $du,
// else the R-URI; for replies the second Via.
func NextHopProto(c *Ctx) (msg.Proto, bool, bool) {
	m := c.M
	if m.Req == nil {
		v, ok := m.SecondVia()
		if !ok {
			return msg.ProtoNone, false, false
		}
		p, dst, err := viaDestLoose(v)
		if err != nil {
			return p, false, false
		}
		return p, dst, true
	}
	u := &sip.Uri{}
	if err := sip.ParseUri(m.NextHop(), u); err != nil {
		return msg.ProtoNone, false, false
	}
	p := msg.UDP
	if t, ok := u.UriParams.Get("transport"); ok {
		p, _ = msg.ParseProto(t)
	} else if strings.EqualFold(u.Scheme, "sips") {
		p = msg.TLS
	}
	return p, strings.Contains(u.Host, ":"), true
}

func viaDestLoose(v string) (msg.Proto, bool, error) {
	hs, err := sip.HeadersParser(sip.DefaultHeadersParser()).ParseHeader(nil, []byte("Via: "+v))
	if err != nil || len(hs) == 0 {
		return msg.ProtoNone, false, err
	}
	vh := hs[0].(*sip.ViaHeader)
	p, _ := msg.ParseProto(vh.Transport)
	return p, strings.Contains(vh.Host, ":"), nil
}

func protoExports() []Export {
	is := func(name string, f func(p msg.Proto) bool) Export {
		return Fn0Bool("is_"+name, "True if the message was received over "+name+".", func(c *Ctx) bool { return f(c.M.Proto) })
	}
	to := func(name string, f func(p msg.Proto, v6 bool) bool) Export {
		return Fn0Bool("to_"+name, "True if the next hop ($du, else R-URI; 2nd Via for replies) uses "+name+".",
			func(c *Ctx) bool {
				p, v6, ok := NextHopProto(c)
				return ok && f(p, v6)
			})
	}
	letters := map[byte]msg.Proto{'u': msg.UDP, 't': msg.TCP, 'e': msg.TLS, 's': msg.SCTP, 'v': msg.WS, 'w': msg.WSS}
	return []Export{
		is("UDP", func(p msg.Proto) bool { return p == msg.UDP }),
		is("TCP", func(p msg.Proto) bool { return p == msg.TCP }),
		is("TLS", func(p msg.Proto) bool { return p == msg.TLS }),
		is("WS", func(p msg.Proto) bool { return p == msg.WS }),
		is("WSS", func(p msg.Proto) bool { return p == msg.WSS }),
		is("SCTP", func(p msg.Proto) bool { return p == msg.SCTP }),
		is("TCPX", func(p msg.Proto) bool { return p.Stream() }),
		is("WSX", func(p msg.Proto) bool { return p == msg.WS || p == msg.WSS }),
		FnStrBool("is_proto", "True if the receiving transport matches one of the letters u t e s v w.", func(c *Ctx, s string) bool {
			for i := 0; i < len(s); i++ {
				if letters[s[i]|0x20] == c.M.Proto {
					return true
				}
			}
			return false
		}),
		Fn0Bool("is_IPv4", "True if received on an IPv4 socket.", func(c *Ctx) bool { return c.M.Rcv != nil && c.M.Rcv.Addr.Addr().Is4() }),
		Fn0Bool("is_IPv6", "True if received on an IPv6 socket.", func(c *Ctx) bool { return c.M.Rcv != nil && c.M.Rcv.Addr.Addr().Is6() }),
		to("UDP", func(p msg.Proto, _ bool) bool { return p == msg.UDP }),
		to("TCP", func(p msg.Proto, _ bool) bool { return p == msg.TCP }),
		to("TLS", func(p msg.Proto, _ bool) bool { return p == msg.TLS }),
		to("SCTP", func(p msg.Proto, _ bool) bool { return p == msg.SCTP }),
		to("WS", func(p msg.Proto, _ bool) bool { return p == msg.WS }),
		to("WSS", func(p msg.Proto, _ bool) bool { return p == msg.WSS }),
		to("WSX", func(p msg.Proto, _ bool) bool { return p == msg.WS || p == msg.WSS }),
		to("IPv4", func(_ msg.Proto, v6 bool) bool { return !v6 }),
		to("IPv6", func(_ msg.Proto, v6 bool) bool { return v6 }),
		FnIntBool("is_src_port", "True if the source port is the given one.", func(c *Ctx, p int) bool { return int(c.M.Src.Port()) == p }),
		FnIntBool("is_dst_port", "True if the local receiving port is the given one.", func(c *Ctx, p int) bool {
			return c.M.Rcv != nil && int(c.M.Rcv.Addr.Port()) == p
		}),
	}
}

func headerURI(m *msg.Msg, t msg.HType) string {
	switch t {
	case msg.HFrom:
		if f := m.SIP.From(); f != nil {
			return f.Address.String()
		}
	case msg.HTo:
		if f := m.SIP.To(); f != nil {
			return f.Address.String()
		}
	}
	return ""
}

func myselfExports() []Export {
	return []Export{
		FnStrBool("is_myself", "True if the URI or host[:port] is one of our addresses or aliases.", func(c *Ctx, s string) bool {
			return c.Core.IsMyselfURI(s)
		}),
		Fn0Bool("is_myself_ruri", "True if the (new) R-URI is local; false for replies.", func(c *Ctx) bool {
			return c.M.Req != nil && c.Core.IsMyselfURI(c.M.RURIString())
		}),
		Fn0Bool("is_myself_duri", "True if $du is set and local.", func(c *Ctx) bool {
			return c.M.DstURI != "" && c.Core.IsMyselfURI(c.M.DstURI)
		}),
		Fn0Bool("is_myself_nhuri", "True if the next hop ($du, else R-URI) is local.", func(c *Ctx) bool {
			return c.M.Req != nil && c.Core.IsMyselfURI(c.M.NextHop())
		}),
		Fn0Bool("is_myself_furi", "True if the From URI is local.", func(c *Ctx) bool { return c.Core.IsMyselfURI(headerURI(c.M, msg.HFrom)) }),
		Fn0Bool("is_myself_turi", "True if the To URI is local.", func(c *Ctx) bool { return c.Core.IsMyselfURI(headerURI(c.M, msg.HTo)) }),
		Fn0Bool("is_myself_suri", "True if the source address (as URI) is local.", func(c *Ctx) bool {
			return c.Core.IsMyself(c.M.Src.Addr().String(), int(c.M.Src.Port()))
		}),
		Fn0Bool("is_myself_srcip", "True if the source IP is one of ours.", func(c *Ctx) bool { return c.Core.IsMyIP(c.M.Src.Addr()) }),
	}
}

func flagExports() []Export {
	flagOp := func(name, doc string, f func(c *Ctx, i int) bool) Export {
		return FnIntBool(name, doc, func(c *Ctx, i int) bool {
			if !msg.FlagOK(i) {
				c.Logger().Error("flag index out of range", zap.String("function", name), zap.Int("flag", i))
				return false
			}
			return f(c, i)
		})
	}
	biOp := func(name, doc string, f func(c *Ctx, fl *msg.Flags, i int) bool) Export {
		return Fn(name, []ParamType{Int, Int}, RetBool, doc, func(c *Ctx, a *Args) Value {
			i, b := int(a.I[0]), int(a.I[1])
			if !msg.FlagOK(i) || b < 0 {
				c.Logger().Error("flag or branch index out of range", zap.String("function", name), zap.Int("flag", i), zap.Int("branch", b))
				return False
			}
			fl := branchFlags(c, b)
			if fl == nil {
				return False
			}
			return BoolV(f(c, fl, i))
		})
	}
	return []Export{
		flagOp("setflag", "Set message flag i (0..31).", func(c *Ctx, i int) bool { c.M.Flags.Set(i); return true }),
		flagOp("resetflag", "Reset message flag i.", func(c *Ctx, i int) bool { c.M.Flags.Reset(i); return true }),
		flagOp("isflagset", "Test message flag i.", func(c *Ctx, i int) bool { return c.M.Flags.IsSet(i) }),
		flagOp("setbflag", "Set branch flag i of branch 0.", func(c *Ctx, i int) bool { c.M.BFlags.Set(i); return true }),
		flagOp("resetbflag", "Reset branch flag i of branch 0.", func(c *Ctx, i int) bool { c.M.BFlags.Reset(i); return true }),
		flagOp("isbflagset", "Test branch flag i of branch 0.", func(c *Ctx, i int) bool { return c.M.BFlags.IsSet(i) }),
		flagOp("setsflag", "Set script flag i (reset at each route execution).", func(c *Ctx, i int) bool { c.M.SFlags.Set(i); return true }),
		flagOp("resetsflag", "Reset script flag i.", func(c *Ctx, i int) bool { c.M.SFlags.Reset(i); return true }),
		flagOp("issflagset", "Test script flag i.", func(c *Ctx, i int) bool { return c.M.SFlags.IsSet(i) }),
		biOp("setbiflag", "Set branch flag i of branch b.", func(_ *Ctx, fl *msg.Flags, i int) bool { fl.Set(i); return true }),
		biOp("resetbiflag", "Reset branch flag i of branch b.", func(_ *Ctx, fl *msg.Flags, i int) bool { fl.Reset(i); return true }),
		biOp("isbiflagset", "Test branch flag i of branch b.", func(_ *Ctx, fl *msg.Flags, i int) bool { return fl.IsSet(i) }),
	}
}

// BranchFlagsHook lets tm expose the flags of additional branches (index > 0).
var BranchFlagsHook func(c *Ctx, branch int) *msg.Flags

func branchFlags(c *Ctx, b int) *msg.Flags {
	if b == 0 {
		return &c.M.BFlags
	}
	if BranchFlagsHook != nil {
		return BranchFlagsHook(c, b)
	}
	return nil
}

func uriExports() []Export {
	logFail := func(c *Ctx, fn string, err error) {
		c.Logger().Error("refused", zap.String("function", fn), zap.Error(err))
	}
	return []Export{
		FnStrBool("seturi", "Set the R-URI.", func(c *Ctx, s string) bool {
			if err := c.M.SetRURI(s); err != nil {
				logFail(c, "seturi", err)
				return false
			}
			return true
		}),
		FnStrBool("setuser", "Set the user part of the R-URI.", func(c *Ctx, s string) bool {
			if err := msg.CheckValue(s); err != nil || strings.ContainsAny(s, "@ <>;") {
				logFail(c, "setuser", errInvalid(s))
				return false
			}
			return c.M.EditRURI(func(u *sip.Uri) { u.User = s }) == nil
		}),
		FnStrBool("sethost", "Set the host part of the R-URI.", func(c *Ctx, s string) bool {
			if err := msg.CheckValue(s); err != nil || s == "" || strings.ContainsAny(s, "@ <>;") {
				logFail(c, "sethost", errInvalid(s))
				return false
			}
			return c.M.EditRURI(func(u *sip.Uri) { u.Host = s }) == nil
		}),
		FnStrBool("setdsturi", "Set the destination URI ($du).", func(c *Ctx, s string) bool {
			if err := c.M.SetDst(s); err != nil {
				logFail(c, "setdsturi", err)
			}
			return true
		}),
		Fn0Bool("resetdsturi", "Clear $du.", func(c *Ctx) bool { c.M.DstURI = ""; return true }),
		Fn0Bool("isdsturiset", "True if $du is set.", func(c *Ctx) bool { return c.M.DstURI != "" }),
		Fn0Bool("force_rport", "Reply to the source IP:port as if the top Via had ;rport.", func(c *Ctx) bool { c.M.ForceRport = true; return true }),
		Fn0Bool("add_local_rport", "Add ;rport to the Via this server adds.", func(c *Ctx) bool { c.M.AddLocalRport = true; return true }),
		Fn0Int("forward", "Forward statelessly to $du or the R-URI. 1 ok, -1 error.", func(c *Ctx) int {
			if err := c.Core.Forward(c.Context(), c.M, ""); err != nil {
				c.Logger().Info("forward failed", zap.Error(err))
				return -1
			}
			return 1
		}),
		FnStrInt("forward_uri", "Forward statelessly to the given URI. 1 ok, -1 error.", func(c *Ctx, s string) int {
			if err := msg.CheckValue(s); err != nil {
				logFail(c, "forward_uri", err)
				return -1
			}
			if err := c.Core.Forward(c.Context(), c.M, s); err != nil {
				c.Logger().Info("forward failed", zap.Error(err))
				return -1
			}
			return 1
		}),
		Fn0Bool("set_forward_close", "Close the stream connection after forwarding.", func(c *Ctx) bool { c.M.ForwardClose = true; return true }),
		Fn0Bool("set_forward_no_connect", "Forward only over an existing stream connection.", func(c *Ctx) bool { c.M.ForwardNoConnect = true; return true }),
		Fn0Bool("set_reply_close", "Close the stream connection after the reply.", func(c *Ctx) bool { c.M.ReplyClose = true; return true }),
		Fn0Bool("set_reply_no_connect", "Send replies only over an existing stream connection.", func(c *Ctx) bool { c.M.ReplyNoConnect = true; return true }),
		FnStrInt("set_advertised_address", "Advertise this address in our Via/Record-Route for this message. 1 ok, 0 error.", func(c *Ctx, s string) int {
			if err := msg.CheckValue(s); err != nil || s == "" || strings.ContainsAny(s, " ;<>") {
				logFail(c, "set_advertised_address", errInvalid(s))
				return 0
			}
			c.M.AdvAddr = s
			return 1
		}),
		FnStrInt("set_advertised_port", "Advertise this port in our Via/Record-Route for this message. 1 ok, 0 error.", func(c *Ctx, s string) int {
			if p, err := strconv.Atoi(s); err != nil || p <= 0 || p > 65535 {
				logFail(c, "set_advertised_port", errInvalid(s))
				return 0
			}
			c.M.AdvPort = s
			return 1
		}),
		FnIntInt("add_tcp_alias", "Make the incoming stream connection reachable at the source IP and this port too, so requests to a Contact on that port reuse it. 1 ok, 0 not a stream or the connection is gone.", func(c *Ctx, p int) int {
			if !c.M.Proto.Stream() || c.M.ConnID == 0 || p <= 0 || p > 65535 || c.Core == nil {
				return 0
			}
			if !c.Core.TP.AddAlias(c.M.ConnID, uint16(p)) {
				return 0
			}
			return 1
		}),
		Fn0Int("add_tcp_alias_via", "As add_tcp_alias with the port of the top Via (5060, 5061 for TLS/WSS when it has none). 1 ok, 0 error.", func(c *Ctx) int {
			v := c.M.TopVia()
			if !c.M.Proto.Stream() || c.M.ConnID == 0 || v == nil || c.Core == nil {
				return 0
			}
			p := v.Port
			if p == 0 {
				p = 5060
				if c.M.Proto == msg.TLS || c.M.Proto == msg.WSS {
					p = 5061
				}
			}
			if !c.Core.TP.AddAlias(c.M.ConnID, uint16(p)) {
				return 0
			}
			return 1
		}),
		{Name: "set_drop", Ret: RetNone, Doc: "Mark the message for drop without stopping the script.",
			Fn: func(c *Ctx, _ *Args) Value { c.M.Drop = true; return None }},
		FnStrInt("route", "Run a native route block: there are none in luasbc, so always -1.", func(c *Ctx, s string) int { return -1 }),
	}
}

type invalidErr string

func (e invalidErr) Error() string { return "invalid value " + strconv.Quote(string(e)) }

func errInvalid(s string) error { return invalidErr(s) }

func xExports() []Export {
	return []Export{
		{Name: "exit", Ret: RetNone, NoMsg: true, Doc: "Stop the script (a normal end).",
			Fn: func(c *Ctx, _ *Args) Value { return errExit }},
		{Name: "drop", Ret: RetNone, NoMsg: true, Doc: "Mark the message for drop and stop the script; the effect depends on the route (§2.4).",
			Fn: func(c *Ctx, _ *Args) Value {
				if c.M != nil {
					c.M.Drop = true
				}
				return errExit
			}},
		Fn("modf", []ParamType{Str}, RetInt, "Call a native module function: none exist in luasbc, so -1.",
			func(c *Ctx, a *Args) Value {
				c.Logger().Error("KSR.x.modf: native functions are not available", zap.String("function", a.S[0]))
				return IntV(-1)
			}),
		{Name: "probe", Ret: RetNone, NoMsg: true, Doc: "No-op.", Fn: func(*Ctx, *Args) Value { return None }},
	}
}
