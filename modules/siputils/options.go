package siputils

import (
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/modules/sl"
)

// allowMethods is what a proxy relays; Kamailio's reply has no Allow, it is
// added here because keepalive probes and SBC peers look for it.
const allowMethods = "INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, MESSAGE, INFO, PRACK, UPDATE, REFER"

// optionsReply answers an OPTIONS addressed to this server (no user part,
// host one of ours) with 200 and the capability headers; -1 otherwise.
func (s *siputils) optionsReply(c *kemi.Ctx) int {
	m := c.M
	if m.Req == nil || m.Req.Method != sip.OPTIONS {
		c.Logger().Error("options_reply called for a non-OPTIONS message")
		return -1
	}
	u := m.RURI()
	if u == nil || u.User != "" {
		c.Logger().Debug("options_reply: R-URI has a user part")
		return -1
	}
	if !c.Core.IsMyselfURI(m.RURIString()) {
		c.Logger().Debug("options_reply: R-URI is not this server")
		return -1
	}
	hdrs := "Allow: " + allowMethods + "\r\n" +
		"Accept: " + s.accept + "\r\n" +
		"Accept-Encoding: " + s.acceptEnc + "\r\n" +
		"Accept-Language: " + s.acceptLang + "\r\n" +
		"Supported: " + s.supported + "\r\n"
	if err := m.AddReplyLump(hdrs); err != nil {
		c.Logger().Error("options_reply: header text refused", zap.Error(err))
		return -1
	}
	// Through sl when it is loaded, so its statistics and callbacks see the reply.
	if inst, ok := c.Engine.Instance("sl").(*sl.SL); ok {
		return inst.Reply(c, 200, "OK", 0)
	}
	if err := c.Core.SendReply(m, msg.ReplyOpts{Code: 200, Reason: "OK"}); err != nil {
		return -1
	}
	return 1
}
