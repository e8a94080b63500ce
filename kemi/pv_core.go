package kemi

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/luasbc/luasbc/core/msg"
)

func strOrNil(s string, ok bool) Value {
	if !ok {
		return Nil
	}
	return StrV(s)
}

func ro(name, doc string, get func(c *Ctx) Value) *PVClass {
	return &PVClass{Name: name, Doc: doc, Get: func(c *Ctx, _ *PVSpec) Value { return get(c) }}
}

func alias(cl *PVClass, name string) *PVClass {
	cp := *cl
	cp.Name = name
	return &cp
}

func ruriPart(c *Ctx, f func(u *sip.Uri) Value) Value {
	u := c.M.RURI()
	if u == nil {
		return Nil
	}
	return f(u)
}

func origRURI(c *Ctx) *sip.Uri {
	if c.M.Req == nil {
		return nil
	}
	return &c.M.Req.Recipient
}

func uriPort(u *sip.Uri) string {
	if u.Port != 0 {
		return strconv.Itoa(u.Port)
	}
	if strings.EqualFold(u.Scheme, "sips") {
		return "5061"
	}
	return "5060"
}

// nameAddr gives access to From/To for $f*/$t* reads (the original header).
func nameAddr(c *Ctx, to bool) (uri *sip.Uri, display string, params sip.HeaderParams, ok bool) {
	if to {
		if h := c.M.SIP.To(); h != nil {
			return &h.Address, h.DisplayName, h.Params, true
		}
		return nil, "", nil, false
	}
	if h := c.M.SIP.From(); h != nil {
		return &h.Address, h.DisplayName, h.Params, true
	}
	return nil, "", nil, false
}

// setNameAddr rewrites From or To through a header lump, keeping earlier
// assignments in the same route (they stack on a pending copy).
func setNameAddr(c *Ctx, to bool, edit func(uri *sip.Uri, display *string) error) error {
	key, hname := "pv.from", "From"
	if to {
		key, hname = "pv.to", "To"
	}
	type pending struct {
		uri     sip.Uri
		display string
		params  sip.HeaderParams
	}
	p, _ := c.M.GetExt(key).(*pending)
	if p == nil {
		u, d, params, ok := nameAddr(c, to)
		if !ok {
			return errors.New("no " + hname + " header")
		}
		p = &pending{uri: *u.Clone(), display: d, params: params.Clone()}
		c.M.SetExt(key, p)
	}
	if err := edit(&p.uri, &p.display); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString(hname + ": ")
	if p.display != "" {
		b.WriteString("\"" + strings.Trim(p.display, "\"") + "\" ")
	}
	b.WriteString("<" + p.uri.String() + ">")
	if len(p.params) > 0 {
		b.WriteString(";" + p.params.ToString(';'))
	}
	b.WriteString("\r\n")
	// Replace any earlier lump for the same header.
	out := c.M.Lumps[:0]
	for _, l := range c.M.Lumps {
		if !(l.Op == msg.LumpReplace && strings.EqualFold(l.Name, hname)) {
			out = append(out, l)
		}
	}
	c.M.Lumps = out
	return c.M.AddLump(msg.LumpReplace, hname, b.String())
}

func parseURIValue(v Value) (*sip.Uri, error) {
	s := v.Text()
	if err := msg.CheckValue(s); err != nil {
		return nil, err
	}
	u := &sip.Uri{}
	if err := sip.ParseUri(s, u); err != nil || u.Host == "" {
		return nil, errors.New("invalid URI " + strconv.Quote(s))
	}
	return u, nil
}

func checkToken(v Value) (string, error) {
	s := v.Text()
	if err := msg.CheckValue(s); err != nil {
		return "", err
	}
	if strings.ContainsAny(s, " <>;@\"") {
		return "", errors.New("invalid value " + strconv.Quote(s))
	}
	return s, nil
}

func nameAddrClasses(prefix string, to bool) []*PVClass {
	get := func(f func(u *sip.Uri, d string, params sip.HeaderParams) Value) func(c *Ctx) Value {
		return func(c *Ctx) Value {
			u, d, params, ok := nameAddr(c, to)
			if !ok {
				return Nil
			}
			return f(u, d, params)
		}
	}
	uri := &PVClass{Name: prefix + "u", Doc: "URI (writes are applied to the outgoing message)",
		Get: func(c *Ctx, _ *PVSpec) Value {
			return get(func(u *sip.Uri, _ string, _ sip.HeaderParams) Value { return StrV(u.String()) })(c)
		},
		Set: func(c *Ctx, _ *PVSpec, v Value) error {
			nu, err := parseURIValue(v)
			if err != nil {
				return err
			}
			return setNameAddr(c, to, func(u *sip.Uri, _ *string) error { *u = *nu; return nil })
		}}
	user := &PVClass{Name: prefix + "U", Doc: "URI user",
		Get: func(c *Ctx, _ *PVSpec) Value {
			return get(func(u *sip.Uri, _ string, _ sip.HeaderParams) Value {
				if u.User == "" {
					return Nil
				}
				return StrV(u.User)
			})(c)
		},
		Set: func(c *Ctx, _ *PVSpec, v Value) error {
			s, err := checkToken(v)
			if err != nil {
				return err
			}
			return setNameAddr(c, to, func(u *sip.Uri, _ *string) error { u.User = s; return nil })
		}}
	dom := &PVClass{Name: prefix + "d", Doc: "URI host",
		Get: func(c *Ctx, _ *PVSpec) Value {
			return get(func(u *sip.Uri, _ string, _ sip.HeaderParams) Value { return StrV(u.Host) })(c)
		},
		Set: func(c *Ctx, _ *PVSpec, v Value) error {
			s, err := checkToken(v)
			if err != nil || s == "" {
				return errors.New("invalid host")
			}
			return setNameAddr(c, to, func(u *sip.Uri, _ *string) error { u.Host = s; return nil })
		}}
	disp := &PVClass{Name: prefix + "n", Doc: "display name",
		Get: func(c *Ctx, _ *PVSpec) Value {
			return get(func(_ *sip.Uri, d string, _ sip.HeaderParams) Value {
				if d == "" {
					return Nil
				}
				return StrV(d)
			})(c)
		},
		Set: func(c *Ctx, _ *PVSpec, v Value) error {
			s := v.Text()
			if err := msg.CheckValue(s); err != nil || strings.Contains(s, "\"") {
				return errors.New("invalid display name")
			}
			return setNameAddr(c, to, func(_ *sip.Uri, d *string) error { *d = s; return nil })
		}}
	tag := ro(prefix+"t", "tag", get(func(_ *sip.Uri, _ string, params sip.HeaderParams) Value {
		t, ok := params.Get("tag")
		return strOrNil(t, ok)
	}))
	return []*PVClass{uri, user, dom, disp, tag}
}

func flagsClass(name, doc string, f func(c *Ctx) *msg.Flags) *PVClass {
	return &PVClass{Name: name, Doc: doc,
		Get: func(c *Ctx, _ *PVSpec) Value { return IntV(int(*f(c))) },
		Set: func(c *Ctx, _ *PVSpec, v Value) error { *f(c) = msg.Flags(uint32(v.Int())); return nil }}
}

func hdrValues(c *Ctx, name string) []string { return c.M.Headers(name) }

func indexed(vals []string, p *PVSpec) Value {
	if len(vals) == 0 {
		return Nil
	}
	if p.All {
		return StrV(strings.Join(vals, ","))
	}
	i := 0
	if p.HasIndex {
		i = p.Index
		if i < 0 {
			i += len(vals)
		}
	}
	if i < 0 || i >= len(vals) {
		return Nil
	}
	return StrV(vals[i])
}

// authParam reads a digest parameter from the first credentials header.
func authParam(c *Ctx, param string) (string, bool) {
	v, ok := c.M.HeaderType(msg.HAuthorization)
	if !ok {
		v, ok = c.M.HeaderType(msg.HProxyAuthorization)
	}
	if !ok {
		return "", false
	}
	_, rest, _ := strings.Cut(v, " ")
	for _, kv := range msg.SplitComma(rest) {
		k, val, _ := strings.Cut(kv, "=")
		if strings.EqualFold(strings.TrimSpace(k), param) {
			return strings.Trim(strings.TrimSpace(val), "\""), true
		}
	}
	return "", false
}

var startTime = time.Now()

func corePVs() []*PVClass {
	ru := &PVClass{Name: "ru", Doc: "Request-URI (current)",
		Get: func(c *Ctx, _ *PVSpec) Value {
			if c.M.Req == nil {
				return Nil
			}
			return StrV(c.M.RURIString())
		},
		Set: func(c *Ctx, _ *PVSpec, v Value) error {
			if v.IsNil() {
				c.M.ResetRURI()
				return nil
			}
			return c.M.SetRURI(v.Text())
		}}
	rU := &PVClass{Name: "rU", Doc: "R-URI user",
		Get: func(c *Ctx, _ *PVSpec) Value {
			return ruriPart(c, func(u *sip.Uri) Value {
				if u.User == "" {
					return Nil
				}
				return StrV(u.User)
			})
		},
		Set: func(c *Ctx, _ *PVSpec, v Value) error {
			s, err := checkToken(v)
			if err != nil {
				return err
			}
			return c.M.EditRURI(func(u *sip.Uri) { u.User = s })
		}}
	rd := &PVClass{Name: "rd", Doc: "R-URI host",
		Get: func(c *Ctx, _ *PVSpec) Value { return ruriPart(c, func(u *sip.Uri) Value { return StrV(u.Host) }) },
		Set: func(c *Ctx, _ *PVSpec, v Value) error {
			s, err := checkToken(v)
			if err != nil || s == "" {
				return errors.New("invalid host")
			}
			return c.M.EditRURI(func(u *sip.Uri) { u.Host = s })
		}}
	rp := &PVClass{Name: "rp", Doc: "R-URI port (5060/5061 when absent)",
		Get: func(c *Ctx, _ *PVSpec) Value { return ruriPart(c, func(u *sip.Uri) Value { return StrV(uriPort(u)) }) },
		Set: func(c *Ctx, _ *PVSpec, v Value) error {
			n := int(v.Int())
			if v.IsNil() {
				n = 0
			} else if n <= 0 || n > 65535 {
				return errors.New("invalid port")
			}
			return c.M.EditRURI(func(u *sip.Uri) { u.Port = n })
		}}
	du := &PVClass{Name: "du", Doc: "destination URI (outbound proxy)",
		Get: func(c *Ctx, _ *PVSpec) Value { return strOrNil(c.M.DstURI, c.M.DstURI != "") },
		Set: func(c *Ctx, _ *PVSpec, v Value) error {
			if v.IsNil() {
				c.M.DstURI = ""
				return nil
			}
			return c.M.SetDst(v.Text())
		}}
	// dstPart reads a part of $du; nil when $du is not set.
	dstPart := func(c *Ctx, part func(u *sip.Uri) Value) Value {
		if c.M.DstURI == "" {
			return Nil
		}
		u := &sip.Uri{}
		if err := sip.ParseUri(c.M.DstURI, u); err != nil {
			return Nil
		}
		return part(u)
	}
	out := []*PVClass{ru, alias(ru, "ruri"), rU, rd, rp, du, alias(du, "duri"),
		ro("dd", "destination URI host ($du)", func(c *Ctx) Value {
			return dstPart(c, func(u *sip.Uri) Value { return StrV(u.Host) })
		}),
		ro("dp", "destination URI port ($du; 5060/5061 when absent)", func(c *Ctx) Value {
			return dstPart(c, func(u *sip.Uri) Value { return StrV(uriPort(u)) })
		}),
		ro("rP", "R-URI transport", func(c *Ctx) Value {
			return ruriPart(c, func(u *sip.Uri) Value {
				t, ok := u.UriParams.Get("transport")
				if !ok {
					return StrV("udp")
				}
				return StrV(strings.ToLower(t))
			})
		}),
		ro("rz", "R-URI scheme", func(c *Ctx) Value {
			return ruriPart(c, func(u *sip.Uri) Value { return StrV(strings.ToLower(u.Scheme)) })
		}),
		ro("ou", "original R-URI", func(c *Ctx) Value {
			if c.M.Req == nil {
				return Nil
			}
			return StrV(c.M.OrigRURIString())
		}),
		ro("oU", "original R-URI user", func(c *Ctx) Value {
			if u := origRURI(c); u != nil && u.User != "" {
				return StrV(u.User)
			}
			return Nil
		}),
		ro("od", "original R-URI host", func(c *Ctx) Value {
			if u := origRURI(c); u != nil {
				return StrV(u.Host)
			}
			return Nil
		}),
		ro("op", "original R-URI port", func(c *Ctx) Value {
			if u := origRURI(c); u != nil {
				return StrV(uriPort(u))
			}
			return Nil
		}),
		ro("si", "source IP", func(c *Ctx) Value { return StrV(c.M.Src.Addr().String()) }),
		ro("sp", "source port", func(c *Ctx) Value { return IntV(int(c.M.Src.Port())) }),
		ro("su", "source as URI", func(c *Ctx) Value {
			return StrV("sip:" + c.M.Src.String() + ";transport=" + c.M.Proto.String())
		}),
		ro("Ri", "local IP the message was received on", func(c *Ctx) Value {
			if c.M.Rcv == nil {
				return Nil
			}
			return StrV(c.M.Rcv.Addr.Addr().String())
		}),
		ro("Rp", "local port the message was received on", func(c *Ctx) Value {
			if c.M.Rcv == nil {
				return Nil
			}
			return IntV(int(c.M.Rcv.Addr.Port()))
		}),
		ro("Ru", "local socket the message was received on, as URI sip:ip:port;transport=proto", func(c *Ctx) Value {
			if c.M.Rcv == nil {
				return Nil
			}
			return StrV(socketURI(c.M.Rcv.Addr.Addr().String(), int(c.M.Rcv.Addr.Port()), c.M.Rcv))
		}),
		ro("RAi", "advertised IP of the receiving socket (its own IP when none)", func(c *Ctx) Value {
			if c.M.Rcv == nil {
				return Nil
			}
			if c.M.Rcv.AdvHost != "" {
				return StrV(strings.Trim(c.M.Rcv.AdvHost, "[]"))
			}
			return StrV(c.M.Rcv.Addr.Addr().String())
		}),
		ro("RAp", "advertised port of the receiving socket (its own port when none)", func(c *Ctx) Value {
			if c.M.Rcv == nil {
				return Nil
			}
			if c.M.Rcv.AdvPort != 0 {
				return IntV(c.M.Rcv.AdvPort)
			}
			return IntV(int(c.M.Rcv.Addr.Port()))
		}),
		ro("rm", "method (CSeq method for replies)", func(c *Ctx) Value { return strOrNil(c.M.Method(), c.M.SIP != nil) }),
		ro("rs", "reply status", func(c *Ctx) Value {
			if c.M.Res == nil {
				return Nil
			}
			return IntV(c.M.Res.StatusCode)
		}),
		ro("rr", "reply reason", func(c *Ctx) Value {
			if c.M.Res == nil {
				return Nil
			}
			return StrV(c.M.Res.Reason)
		}),
		ro("rv", "SIP version", func(c *Ctx) Value { return StrV("SIP/2.0") }),
		ro("ci", "Call-ID", func(c *Ctx) Value { return strOrNil(c.M.CallID(), c.M.SIP != nil) }),
		ro("cs", "CSeq number", func(c *Ctx) Value {
			if cs := c.M.SIP.CSeq(); cs != nil {
				return StrV(strconv.FormatUint(uint64(cs.SeqNo), 10))
			}
			return Nil
		}),
		ro("ct", "Contact header body", func(c *Ctx) Value { return strOrNil(c.M.HeaderType(msg.HContact)) }),
		ro("cT", "Content-Type", func(c *Ctx) Value { return strOrNil(c.M.HeaderType(msg.HContentType)) }),
		ro("cl", "Content-Length", func(c *Ctx) Value { return IntV(len(c.M.Body())) }),
		ro("ua", "User-Agent header body", func(c *Ctx) Value { return strOrNil(c.M.HeaderType(msg.HUserAgent)) }),
		ro("proto", "receiving transport", func(c *Ctx) Value { return StrV(c.M.Proto.String()) }),
		ro("pr", "receiving transport", func(c *Ctx) Value { return StrV(c.M.Proto.String()) }),
		ro("mb", "message buffer", func(c *Ctx) Value { return StrV(c.M.Buf) }),
		ro("ml", "message length", func(c *Ctx) Value { return IntV(len(c.M.Buf)) }),
		ro("rb", "message body", func(c *Ctx) Value { return StrV(c.M.Body()) }),
		ro("au", "auth username user part", func(c *Ctx) Value {
			u, ok := authParam(c, "username")
			if !ok {
				return Nil
			}
			user, _, _ := strings.Cut(u, "@")
			return StrV(user)
		}),
		ro("aU", "whole auth username", func(c *Ctx) Value { return strOrNil(authParam(c, "username")) }),
		ro("ad", "auth username domain", func(c *Ctx) Value {
			u, ok := authParam(c, "username")
			if !ok {
				return Nil
			}
			_, d, found := strings.Cut(u, "@")
			if !found {
				r, ok := authParam(c, "realm")
				return strOrNil(r, ok)
			}
			return StrV(d)
		}),
		ro("ar", "auth realm", func(c *Ctx) Value { return strOrNil(authParam(c, "realm")) }),
		ro("Ts", "current Unix time", func(c *Ctx) Value { return IntV(int(time.Now().Unix())) }),
		ro("TS", "start-up Unix time", func(c *Ctx) Value { return IntV(int(startTime.Unix())) }),
		ro("Tf", "current time, formatted", func(c *Ctx) Value { return StrV(time.Now().Format(time.ANSIC)) }),
		flagsClass("mf", "message flags", func(c *Ctx) *msg.Flags { return &c.M.Flags }),
		flagsClass("bf", "branch flags of branch 0", func(c *Ctx) *msg.Flags { return &c.M.BFlags }),
		flagsClass("sf", "script flags", func(c *Ctx) *msg.Flags { return &c.M.SFlags }),
		{Name: "hdr", Inner: true, Doc: "header body; [n] n-th, [-1] last, [*] all",
			Get: func(c *Ctx, p *PVSpec) Value { return indexed(hdrValues(c, p.Inner), p) }},
		{Name: "hdrc", Inner: true, Doc: "number of headers with that name",
			Get: func(c *Ctx, p *PVSpec) Value { return IntV(len(hdrValues(c, p.Inner))) }},
		{Name: "var", Inner: true, Doc: "per-interpreter script variable (0 after unset)",
			Get: func(c *Ctx, p *PVSpec) Value {
				if v, ok := c.State.vars[p.Inner]; ok {
					return v
				}
				return IntV(0)
			},
			Set: func(c *Ctx, p *PVSpec, v Value) error {
				if v.IsNil() {
					v = IntV(0)
				}
				c.State.vars[p.Inner] = v
				return nil
			}},
		{Name: "vn", Inner: true, Doc: "per-interpreter nullable variable",
			Get: func(c *Ctx, p *PVSpec) Value {
				if v, ok := c.State.vars["\x00"+p.Inner]; ok {
					return v
				}
				return Nil
			},
			Set: func(c *Ctx, p *PVSpec, v Value) error {
				if v.IsNil() {
					delete(c.State.vars, "\x00"+p.Inner)
					return nil
				}
				c.State.vars["\x00"+p.Inner] = v
				return nil
			}},
		{Name: "avp", Inner: true, Doc: "attribute-value pair stack (per message/transaction)",
			Get: func(c *Ctx, p *PVSpec) Value {
				st := c.M.AVPs[p.Inner]
				if len(st) == 0 {
					return Nil
				}
				if p.All {
					vals := make([]string, 0, len(st))
					for i := len(st) - 1; i >= 0; i-- {
						vals = append(vals, st[i].(Value).Text())
					}
					return StrV(strings.Join(vals, ","))
				}
				i := len(st) - 1
				if p.HasIndex {
					i = len(st) - 1 - p.Index
				}
				if i < 0 || i >= len(st) {
					return Nil
				}
				return st[i].(Value)
			},
			Set: func(c *Ctx, p *PVSpec, v Value) error {
				if c.M.AVPs == nil {
					c.M.AVPs = map[string][]any{}
				}
				st := c.M.AVPs[p.Inner]
				switch {
				case v.IsNil() && p.All:
					delete(c.M.AVPs, p.Inner)
				case v.IsNil():
					if len(st) > 0 {
						c.M.AVPs[p.Inner] = st[:len(st)-1]
					}
				case p.All:
					c.M.AVPs[p.Inner] = []any{v}
				default:
					c.M.AVPs[p.Inner] = append(st, v)
				}
				return nil
			}},
		{Name: "sndto", Inner: true, Doc: "destination of the message being sent: ip, port, proto",
			Get: func(c *Ctx, p *PVSpec) Value {
				s := c.M.SendTo
				if s == nil {
					return Nil
				}
				switch p.Inner {
				case "ip":
					return StrV(s.Addr.Addr().String())
				case "port":
					return IntV(int(s.Addr.Port()))
				case "proto":
					return StrV(s.Proto.String())
				}
				return Nil
			}},
		{Name: "fs", Doc: "forced send socket proto:ip:port",
			Get: func(c *Ctx, _ *PVSpec) Value {
				if c.M.ForceSocket == nil {
					return Nil
				}
				return StrV(c.M.ForceSocket.Name)
			},
			Set: func(c *Ctx, _ *PVSpec, v Value) error {
				if v.IsNil() {
					c.M.ForceSocket = nil
					return nil
				}
				for _, s := range c.Core.TP.Sockets {
					if strings.EqualFold(s.Name, v.Text()) {
						c.M.ForceSocket = s
						return nil
					}
				}
				return errors.New("no such socket " + strconv.Quote(v.Text()))
			}},
	}
	out = append(out, nameAddrClasses("f", false)...)
	out = append(out, nameAddrClasses("t", true)...)
	for _, cl := range out {
		switch cl.Name {
		case "fu":
			out = append(out, alias(cl, "from"))
		case "tu":
			out = append(out, alias(cl, "to"))
		}
	}
	return out
}

// socketURI renders a socket as "sip:host:port;transport=proto" ($Ru),
// brackets around an IPv6 address.
func socketURI(host string, port int, s *msg.Socket) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return "sip:" + host + ":" + strconv.Itoa(port) + ";transport=" + s.Proto.String()
}
