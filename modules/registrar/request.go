package registrar

import (
	"strings"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

// What save reads from a REGISTER besides its contacts: option tags,
// outbound, Path, the received address and the socket.

// optionTags collects the option tags of every header of type t
// (Supported, Require), lower-cased.
func optionTags(m *msg.Msg, t msg.HType) map[string]bool {
	out := map[string]bool{}
	for i := range m.Hdrs {
		if m.Hdrs[i].Type != t {
			continue
		}
		for _, tag := range strings.Split(unfold(m.Hdrs[i].Value), ",") {
			if tag = strings.ToLower(strings.TrimSpace(tag)); tag != "" {
				out[tag] = true
			}
		}
	}
	return out
}

// checkOutbound applies outbound_mode (RFC 5626 §6): mode 0 refuses a
// client that requires outbound, mode 2 one that does not support it.
func (r *Registrar) checkOutbound(m *msg.Msg, req *regRequest) *regError {
	require := optionTags(m, msg.HRequire)
	switch {
	case r.cfg.outboundMode == 0 && require["outbound"]:
		re := refuse(420, "No support for Outbound indicated")
		re.hdrs = []string{"Unsupported: outbound\r\n"}
		return re
	case r.cfg.outboundMode == 2 && !req.supported["outbound"] && !require["outbound"]:
		re := refuse(421, "Outbound required")
		re.hdrs = []string{"Require: outbound\r\n"}
		return re
	}
	return nil
}

// readPath takes the Path headers (use_path, RFC 3327) and applies path_mode.
func (r *Registrar) readPath(m *msg.Msg, req *regRequest) *regError {
	if !r.cfg.usePath {
		return nil
	}
	var parts []string
	for _, v := range m.Headers("Path") {
		for _, el := range msg.SplitComma(unfold(v)) {
			if _, err := pathURI(el); err != nil {
				return refuse(400, "Path parse error")
			}
			parts = append(parts, el)
		}
	}
	if len(parts) == 0 {
		return nil
	}
	req.path = strings.Join(parts, ",")
	if len(req.path) > maxPath {
		return refuse(400, "Path too long")
	}
	if r.cfg.pathMode == 2 && !req.supported["path"] {
		re := refuse(420, "No support for found Path indicated")
		re.hdrs = []string{"Unsupported: path\r\n"}
		return re
	}
	if r.cfg.pathUseReceived {
		if rcv := pathReceived(parts[0]); rcv != "" {
			req.received = rcv
			// The edge proxy saw the client behind a NAT.
			if f := r.natBFlag(); f >= 0 {
				req.cflags |= 1 << uint(f)
			}
		}
	}
	return nil
}

// maxPath bounds a saved Path vector (the column is VARCHAR(512)).
const maxPath = 512

func (r *Registrar) natBFlag() int {
	if ul := r.usrlocOf(r.env.Engine); ul != nil {
		return ul.NatBFlag()
	}
	return -1
}

// readReceived takes the received address nathelper left in received_avp.
func (r *Registrar) readReceived(c *kemi.Ctx, req *regRequest) *regError {
	if r.cfg.receivedAVP == "" || req.received != "" {
		return nil
	}
	v := c.GetPV(r.cfg.receivedAVP)
	if v.IsNil() {
		return nil
	}
	rcv := strings.TrimSpace(v.Text())
	if rcv == "" {
		return nil
	}
	if len(rcv) > r.cfg.contactMaxSize || msg.CheckValue(rcv) != nil || strings.ContainsAny(rcv, " \t\"<>,") {
		return refuse(400, "Contact/received too long")
	}
	req.received = rcv
	return nil
}

// socketOf is the local socket saved with the contacts: the receiving one
// (its advertised address with sock_mode=1), or with sock_flag set the one
// named by the sock_hdr_name header.
func (r *Registrar) socketOf(c *kemi.Ctx, m *msg.Msg) string {
	if r.cfg.sockFlag >= 0 && r.cfg.sockHdr != "" && m.Flags.IsSet(r.cfg.sockFlag) {
		if v, ok := m.Header(r.cfg.sockHdr); ok {
			if s := strings.TrimSpace(unfold(v)); validSocket(s) {
				return s
			}
			c.Logger().Warn("registrar: socket header is not proto:ip:port", zap.String("header", r.cfg.sockHdr))
		}
	}
	if m.Rcv == nil {
		return ""
	}
	if r.cfg.sockMode && m.Rcv.AdvHost != "" {
		return m.Rcv.Proto.String() + ":" + m.Rcv.HostPort()
	}
	return m.Rcv.Name
}

// validSocket accepts "proto:host:port".
func validSocket(s string) bool {
	proto, rest, ok := strings.Cut(s, ":")
	if !ok || msg.CheckValue(s) != nil || strings.ContainsAny(s, " \t") {
		return false
	}
	if _, ok := msg.ParseProto(proto); !ok {
		return false
	}
	i := strings.LastIndexByte(rest, ':')
	return i > 0 && i < len(rest)-1
}
