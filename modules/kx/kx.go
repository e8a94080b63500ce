// Package kx provides Kamailio's kemix module: fast getters for common
// message attributes (KSR.kx.*), without going through a PV name.
package kx

import (
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

func init() {
	kemi.RegisterModule(&kemi.Module{
		Name: "kx",
		Doc:  "Kamailio's kemix: getters for message attributes, defines and environment variables (KSR.kx.*). The get_* forms return nil when a value is missing, gete_* return \"\" and getw_* return \"<null>\".",
		New:  func(*kemi.Env) (kemi.Instance, error) { return kx{}, nil },
	})
}

type kx struct{}

// getter returns a value and whether it exists.
type getter func(c *kemi.Ctx) (string, bool)

// triple declares the get/gete/getw forms of one attribute (§1.4).
func triple(name, what string, g getter) []kemi.Export {
	mk := func(prefix, doc string, missing kemi.Value) kemi.Export {
		return kemi.Fn0X(prefix+name, what+doc, func(c *kemi.Ctx) kemi.Value {
			if s, ok := g(c); ok {
				return kemi.StrV(s)
			}
			return missing
		})
	}
	return []kemi.Export{
		mk("get_", "; nil when missing.", kemi.Nil),
		mk("gete_", "; \"\" when missing.", kemi.StrV("")),
		mk("getw_", "; \"<null>\" when missing.", kemi.StrV("<null>")),
	}
}

func single(name, doc string, g getter) kemi.Export {
	return kemi.Fn0X(name, doc+"; nil when missing.", func(c *kemi.Ctx) kemi.Value {
		if s, ok := g(c); ok {
			return kemi.StrV(s)
		}
		return kemi.Nil
	})
}

func ruri(c *kemi.Ctx) *sip.Uri { return c.M.RURI() }

func fromURI(c *kemi.Ctx) *sip.Uri {
	if f := c.M.SIP.From(); f != nil {
		return &f.Address
	}
	return nil
}

func toURI(c *kemi.Ctx) *sip.Uri {
	if t := c.M.SIP.To(); t != nil {
		return &t.Address
	}
	return nil
}

func uriStr(f func(c *kemi.Ctx) *sip.Uri) getter {
	return func(c *kemi.Ctx) (string, bool) {
		if u := f(c); u != nil {
			return u.String(), true
		}
		return "", false
	}
}

func uriUser(f func(c *kemi.Ctx) *sip.Uri) getter {
	return func(c *kemi.Ctx) (string, bool) {
		if u := f(c); u != nil && u.User != "" {
			return u.User, true
		}
		return "", false
	}
}

func uriHost(f func(c *kemi.Ctx) *sip.Uri) getter {
	return func(c *kemi.Ctx) (string, bool) {
		if u := f(c); u != nil && u.Host != "" {
			return u.Host, true
		}
		return "", false
	}
}

func pvGetter(name string) getter {
	return func(c *kemi.Ctx) (string, bool) {
		v := c.GetPV(name)
		return v.Text(), !v.IsNil()
	}
}

// contactURI is the URI of the first Contact value ("*" for a wildcard).
func contactURI(c *kemi.Ctx) (string, bool) {
	v, ok := c.M.HeaderType(msg.HContact)
	if !ok || v == "" {
		return "", false
	}
	first := msg.SplitComma(v)[0]
	if first == "*" {
		return first, true
	}
	if i := strings.IndexByte(first, '<'); i >= 0 {
		if j := strings.IndexByte(first[i:], '>'); j > 0 {
			return first[i+1 : i+j], true
		}
		return "", false
	}
	if i := strings.IndexByte(first, ';'); i >= 0 {
		first = first[:i]
	}
	return strings.TrimSpace(first), first != ""
}

func hostPort(a string, port int) string {
	if strings.Contains(a, ":") {
		a = "[" + a + "]"
	}
	return a + ":" + strconv.Itoa(port)
}

func srcURI(c *kemi.Ctx) (string, bool) {
	m := c.M
	s := "sip:" + hostPort(m.Src.Addr().Unmap().String(), int(m.Src.Port()))
	// UDP is the default transport and is left out (Kamailio's short form).
	if m.Proto != msg.UDP && m.Proto != msg.ProtoNone {
		s += ";transport=" + m.Proto.String()
	}
	return s, true
}

func rcv(c *kemi.Ctx) *msg.Socket { return c.M.Rcv }

func define(c *kemi.Ctx, name string) (string, bool) {
	if c.Engine == nil || c.Engine.Cfg == nil || c.Engine.Cfg.Lua.Defines == nil {
		return "", false
	}
	v, ok := c.Engine.Cfg.Lua.Defines[name]
	return v, ok
}

func atoi(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0
	}
	return n
}

// Exports implements kemi.Instance.
func (kx) Exports() []kemi.Export {
	var out []kemi.Export
	add := func(xs ...kemi.Export) { out = append(out, xs...) }
	add(single("get_ruri", "Request-URI (current, after rewrites); nil for replies", func(c *kemi.Ctx) (string, bool) {
		if c.M.Req == nil {
			return "", false
		}
		return c.M.RURIString(), true
	}))
	add(triple("ruser", "R-URI user", uriUser(ruri))...)
	add(triple("rhost", "R-URI host", uriHost(ruri))...)
	add(single("get_ouri", "Request-URI as received", func(c *kemi.Ctx) (string, bool) {
		if c.M.Req == nil {
			return "", false
		}
		return c.M.OrigRURIString(), true
	}))
	add(single("get_furi", "From URI", uriStr(fromURI)))
	add(triple("fuser", "From URI user", uriUser(fromURI))...)
	add(triple("fhost", "From URI host", uriHost(fromURI))...)
	add(single("get_turi", "To URI", uriStr(toURI)))
	add(triple("tuser", "To URI user", uriUser(toURI))...)
	add(triple("thost", "To URI host", uriHost(toURI))...)
	add(triple("duri", "Destination URI ($du)", func(c *kemi.Ctx) (string, bool) { return c.M.DstURI, c.M.DstURI != "" })...)
	add(triple("cturi", "URI of the first Contact", contactURI)...)
	add(single("get_nhuri", "Next hop: $du if set, else the R-URI", func(c *kemi.Ctx) (string, bool) {
		if c.M.Req == nil {
			return "", false
		}
		return c.M.NextHop(), true
	}))
	add(single("get_srcip", "Source IP address", func(c *kemi.Ctx) (string, bool) {
		return c.M.Src.Addr().Unmap().String(), c.M.Src.IsValid()
	}))
	add(kemi.Fn0X("get_srcport", "Source port (number).", func(c *kemi.Ctx) kemi.Value { return kemi.IntV(int(c.M.Src.Port())) }))
	add(single("get_srcuri", "Source as sip:ip:port, with ;transport= when not UDP", srcURI))
	add(single("get_srcaddr_sock", "Source as proto:ip:port", func(c *kemi.Ctx) (string, bool) {
		return c.M.Proto.String() + ":" + hostPort(c.M.Src.Addr().Unmap().String(), int(c.M.Src.Port())), true
	}))
	add(single("get_rcvip", "Local IP the message was received on", func(c *kemi.Ctx) (string, bool) {
		if s := rcv(c); s != nil {
			return s.Addr.Addr().String(), true
		}
		return "", false
	}))
	add(kemi.Fn0X("get_rcvport", "Local port the message was received on (number); nil if unknown.", func(c *kemi.Ctx) kemi.Value {
		if s := rcv(c); s != nil {
			return kemi.IntV(int(s.Addr.Port()))
		}
		return kemi.Nil
	}))
	add(single("get_rcv_sock_name", "Name of the receiving socket (sockets have no names in luasbc)", func(*kemi.Ctx) (string, bool) { return "", false }))
	add(single("get_rcvadvip", "Advertised address of the receiving socket (its IP when none is set)", func(c *kemi.Ctx) (string, bool) {
		s := rcv(c)
		if s == nil {
			return "", false
		}
		if s.AdvHost != "" {
			return s.AdvHost, true
		}
		return s.Addr.Addr().String(), true
	}))
	add(kemi.Fn0X("get_rcvadvport", "Advertised port of the receiving socket (its port when none is set); nil if unknown.", func(c *kemi.Ctx) kemi.Value {
		s := rcv(c)
		if s == nil {
			return kemi.Nil
		}
		if s.AdvPort != 0 {
			return kemi.IntV(s.AdvPort)
		}
		return kemi.IntV(int(s.Addr.Port()))
	}))
	add(single("get_rcvaddr_sock", "Receiving socket as proto:ip:port", func(c *kemi.Ctx) (string, bool) {
		if s := rcv(c); s != nil {
			return s.Name, true
		}
		return "", false
	}))
	add(single("get_send_sock", "Forced send socket as proto:ip:port", func(c *kemi.Ctx) (string, bool) {
		if s := c.M.ForceSocket; s != nil {
			return s.Name, true
		}
		return "", false
	}))
	add(single("get_send_sock_name", "Name of the forced send socket (sockets have no names in luasbc)", func(*kemi.Ctx) (string, bool) { return "", false }))
	add(kemi.Fn0Int("get_send_sock_port", "Port of the forced send socket, 0 when none.", func(c *kemi.Ctx) int {
		if s := c.M.ForceSocket; s != nil {
			return int(s.Addr.Port())
		}
		return 0
	}))
	add(single("get_proto", "Receiving transport: udp, tcp, tls, sctp, ws, wss", func(c *kemi.Ctx) (string, bool) { return c.M.Proto.String(), true }))
	add(kemi.Fn0Int("get_protoid", "Receiving transport id: 1 udp, 2 tcp, 3 tls, 4 sctp, 5 ws, 6 wss.", func(c *kemi.Ctx) int { return int(c.M.Proto) }))
	add(triple("ua", "User-Agent header", func(c *kemi.Ctx) (string, bool) { return c.M.HeaderType(msg.HUserAgent) })...)
	add(triple("au", "Username (user part) in the credentials", pvGetter("$au"))...)
	add(single("get_method", "Method (CSeq method for replies)", func(c *kemi.Ctx) (string, bool) { return c.M.Method(), c.M.SIP != nil }))
	add(kemi.Fn0Int("get_status", "Reply status code; -1 for requests.", func(c *kemi.Ctx) int { return c.M.Status() }))
	add(single("gets_status", "Reply status code as a string; nil for requests", func(c *kemi.Ctx) (string, bool) {
		if c.M.Res == nil {
			return "", false
		}
		return strconv.Itoa(c.M.Res.StatusCode), true
	}))
	add(triple("body", "Message body", func(c *kemi.Ctx) (string, bool) { b := c.M.Body(); return b, b != "" })...)
	add(kemi.Fn0Int("get_bodylen", "Body length in bytes.", func(c *kemi.Ctx) int { return len(c.M.Body()) }))
	add(kemi.Fn0Int("get_timestamp", "Current Unix time in seconds.", func(*kemi.Ctx) int { return int(time.Now().Unix()) }))
	add(single("get_callid", "Call-ID", func(c *kemi.Ctx) (string, bool) { return c.M.CallID(), c.M.SIP != nil && c.M.SIP.CallID() != nil }))
	add(kemi.Fn0Int("get_conid", "Stream connection id; -1 for UDP.", func(c *kemi.Ctx) int {
		if !c.M.Proto.Stream() {
			return -1
		}
		return int(c.M.ConnID)
	}))
	add(single("get_msgbuf", "The received message", func(c *kemi.Ctx) (string, bool) { return c.M.Buf, c.M.Buf != "" }))
	add(kemi.Fn0Int("get_msglen", "Length of the received message.", func(c *kemi.Ctx) int { return len(c.M.Buf) }))
	add(kemi.Fn0Int("get_msgtype", "1 for a request, 2 for a reply.", func(c *kemi.Ctx) int {
		if c.M.Req != nil {
			return 1
		}
		return 2
	}))
	add(kemi.FnStrX("get_def", "Value of a define (lua.defines in the config); nil when not defined.", func(c *kemi.Ctx, n string) kemi.Value {
		if v, ok := define(c, n); ok {
			return kemi.StrV(v)
		}
		return kemi.Nil
	}))
	add(kemi.Fn("get_defn", []kemi.ParamType{kemi.Str}, kemi.RetInt, "Integer value of a define; 0 when not defined or not a number.",
		func(c *kemi.Ctx, a *kemi.Args) kemi.Value {
			v, _ := define(c, a.S[0])
			return kemi.IntV(atoi(v))
		}))
	add(kemi.FnStrBool("ifdef", "True if the name is defined.", func(c *kemi.Ctx, n string) bool { _, ok := define(c, n); return ok }))
	add(kemi.FnStrBool("ifndef", "True if the name is not defined.", func(c *kemi.Ctx, n string) bool { _, ok := define(c, n); return !ok }))
	add(kemi.FnStrX("get_env", "Value of an environment variable; nil when unset.", func(_ *kemi.Ctx, n string) kemi.Value {
		if v, ok := os.LookupEnv(n); ok {
			return kemi.StrV(v)
		}
		return kemi.Nil
	}))
	add(kemi.Fn("get_envn", []kemi.ParamType{kemi.Str}, kemi.RetInt, "Integer value of an environment variable; 0 when unset or not a number.",
		func(_ *kemi.Ctx, a *kemi.Args) kemi.Value { return kemi.IntV(atoi(os.Getenv(a.S[0]))) }))
	return out
}
