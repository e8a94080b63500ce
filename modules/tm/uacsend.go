package tm

import (
	"strings"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/transport"
	"github.com/luasbc/luasbc/kemi"
)

// uacSend is t_uac_send: a request built from its parts and sent once to
// the next hop (nexthop, else the R-URI). Replies to it end at the core's
// stateless relay, which drops them: nothing upstream waits for them.
func (x *TM) uacSend(c *kemi.Ctx, method, ruri, nexthop, socket, hdrs, body string) int {
	log := c.Logger()
	if method == "" || ruri == "" {
		log.Error("t_uac_send: method and R-URI are needed")
		return -1
	}
	for _, v := range []string{method, ruri, nexthop, socket} {
		if err := msg.CheckValue(v); err != nil {
			log.Error("t_uac_send: value refused", zap.Error(err))
			return -1
		}
	}
	if hdrs != "" {
		h, err := msg.CheckHeaderText(hdrs)
		if err != nil {
			log.Error("t_uac_send: headers refused", zap.Error(err))
			return -1
		}
		hdrs = h
	}
	dst := nexthop
	if dst == "" {
		dst = ruri
	}
	tgt, err := x.core.Resolve(c.Context(), dst)
	if err != nil {
		log.Error("t_uac_send: no destination", zap.String("nexthop", dst), zap.Error(err))
		return -1
	}
	sock := x.core.TP.PickSocket(tgt.Proto, tgt.Addr.Addr(), nil)
	if socket != "" {
		for _, s := range x.core.TP.Sockets {
			if strings.EqualFold(s.Name, socket) {
				sock = s
			}
		}
	}
	if sock == nil {
		log.Error("t_uac_send: no socket", zap.String("proto", tgt.Proto.String()))
		return -1
	}
	lower := strings.ToLower(hdrs)
	var b strings.Builder
	b.WriteString(method + " " + ruri + " SIP/2.0\r\n")
	b.WriteString("Via: SIP/2.0/" + sock.Proto.Upper() + " " + sock.HostPort() + ";branch=z9hG4bKuac" + newID() + "\r\n")
	if !strings.Contains(lower, "\nfrom:") && !strings.HasPrefix(lower, "from:") {
		b.WriteString("From: <sip:" + sock.HostPort() + ">;tag=" + newID() + "\r\n")
	}
	if !strings.Contains(lower, "\nto:") && !strings.HasPrefix(lower, "to:") {
		b.WriteString("To: <" + ruri + ">\r\n")
	}
	if !strings.Contains(lower, "\ncall-id:") && !strings.HasPrefix(lower, "call-id:") {
		b.WriteString("Call-ID: " + newID() + "@" + sock.Addr.Addr().String() + "\r\n")
	}
	if !strings.Contains(lower, "\ncseq:") && !strings.HasPrefix(lower, "cseq:") {
		b.WriteString("CSeq: 10 " + method + "\r\n")
	}
	b.WriteString("Max-Forwards: 70\r\n")
	b.WriteString(hdrs)
	if ua := x.core.UserAgentHeader(); ua != "" {
		b.WriteString(ua + "\r\n")
	}
	b.WriteString("Content-Length: " + itoa(len(body)) + "\r\n\r\n" + body)
	if _, err := x.core.TP.Send(tgt.Proto, tgt.Addr, []byte(b.String()), transport.SendOpts{From: sock, Ctx: c.Context()}); err != nil {
		log.Info("t_uac_send: not sent", zap.Error(err))
		return -1
	}
	return 1
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var d [20]byte
	i := len(d)
	for n > 0 {
		i--
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return string(d[i:])
}
