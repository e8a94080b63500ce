// Package corex provides a subset of Kamailio's corex module (KSR.corex.*):
// message tests, extended flags and the forced send socket.
package corex

import (
	"strings"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/kemi"
)

func init() {
	kemi.RegisterModule(&kemi.Module{
		Name: "corex",
		Doc:  "Subset of Kamailio's corex: has_ruri_user, has_user_agent, is_faked_msg, extended flags and send-socket selection.",
		Params: []kemi.ParamDef{
			{Name: "alias_subdomains", Doc: "Domain whose subdomains match myself (proto:domain:port).", Ignored: true},
			{Name: "dns_cache", Doc: "Static DNS cache records.", Ignored: true},
			{Name: "dns_file", Doc: "File with static DNS cache records.", Ignored: true},
			{Name: "evcb_reply_out", Default: "", Doc: "Lua function run for event corex:reply-out.", Ignored: true},
			{Name: "nio_intercept", Default: 0, Doc: "Run event network:msg for raw network data.", Ignored: true},
			{Name: "nio_min_msg_len", Default: 0, Doc: "Minimum packet size for network:msg.", Ignored: true},
			{Name: "nio_msg_avp", Default: "", Doc: "AVP holding the rewritten packet for network:msg.", Ignored: true},
		},
		New: func(*kemi.Env) (kemi.Instance, error) { return corex{}, nil },
	})
}

type corex struct{}

// maxXFlag is the number of extended flags Kamailio has (0..63).
const maxXFlag = 64

const xflagsKey = "corex.xflags"

func xflags(c *kemi.Ctx) uint64 {
	v, _ := c.M.GetExt(xflagsKey).(uint64)
	return v
}

func xflagOp(name, doc string, f func(c *kemi.Ctx, bit uint64) int) kemi.Export {
	return kemi.FnIntInt(name, doc, func(c *kemi.Ctx, i int) int {
		if i < 0 || i >= maxXFlag {
			c.Logger().Error("extended flag index out of range", zap.String("function", "corex."+name), zap.Int("flag", i))
			return -1
		}
		return f(c, 1<<uint(i))
	})
}

func rc(ok bool) int {
	if ok {
		return 1
	}
	return -1
}

// Exports implements kemi.Instance.
func (corex) Exports() []kemi.Export {
	return append(branchExports(),
		kemi.Fn0Int("has_ruri_user", "1 if the R-URI (current) has a user part; -1 if not or for replies.", func(c *kemi.Ctx) int {
			u := c.M.RURI()
			return rc(c.M.Req != nil && u != nil && u.User != "")
		}),
		kemi.Fn0Int("has_user_agent", "1 if a non-empty User-Agent header is present, else -1.", func(c *kemi.Ctx) int {
			v, ok := c.M.Header("User-Agent")
			return rc(ok && v != "")
		}),
		kemi.Fn0Int("is_faked_msg", "1 if the message is a faked one (event or timer callbacks), else -1.", func(c *kemi.Ctx) int {
			return rc(c.M.FakeMessage)
		}),
		xflagOp("setxflag", "Set extended message flag i (0..63). 1 ok, -1 bad index.", func(c *kemi.Ctx, b uint64) int {
			c.M.SetExt(xflagsKey, xflags(c)|b)
			return 1
		}),
		xflagOp("resetxflag", "Reset extended message flag i. 1 ok, -1 bad index.", func(c *kemi.Ctx, b uint64) int {
			c.M.SetExt(xflagsKey, xflags(c)&^b)
			return 1
		}),
		xflagOp("isxflagset", "1 if extended flag i is set, -1 if not or a bad index.", func(c *kemi.Ctx, b uint64) int {
			return rc(xflags(c)&b != 0)
		}),
		kemi.FnStrInt("set_send_socket", "Force the send socket given as proto:ip:port. 1 ok, -1 if no such socket.", func(c *kemi.Ctx, s string) int {
			for _, sock := range c.Core.TP.Sockets {
				if strings.EqualFold(sock.Name, strings.TrimSpace(s)) {
					c.M.ForceSocket = sock
					return 1
				}
			}
			c.Logger().Error("no such local socket", zap.String("function", "corex.set_send_socket"), zap.String("socket", s))
			return -1
		}),
		kemi.FnStrInt("set_send_socket_name", "Force the send socket by name: sockets have no names in luasbc, so -1.", func(c *kemi.Ctx, s string) int {
			c.Logger().Error("not supported: sockets have no names", zap.String("function", "corex.set_send_socket_name"))
			return -1
		}),
		kemi.FnStrInt("is_socket_name", "1 if a socket has that name: sockets have no names in luasbc, so -1.", func(*kemi.Ctx, string) int { return -1 }),
	)
}
