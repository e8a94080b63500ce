package rtpengine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/modules/tm"
)

// op is one ng command the functions send.
type op struct {
	name    string // ng "command"
	sdp     bool   // carries the SDP and gets one back (offer, answer)
	toTag   bool   // sends the To tag when the message has one
	deletes bool   // ends the call's binding to its instance
}

var (
	opOffer    = &op{name: "offer", sdp: true, toTag: true}
	opAnswer   = &op{name: "answer", sdp: true, toTag: true}
	opDelete   = &op{name: "delete", deletes: true}
	opQuery    = &op{name: "query"}
	opStartRec = &op{name: "start recording", toTag: true}
	opStopRec  = &op{name: "stop recording", toTag: true}
	opBlockDT  = &op{name: "block DTMF"}
	opUnblkDT  = &op{name: "unblock DTMF"}
	opBlockMe  = &op{name: "block media"}
	opUnblkMe  = &op{name: "unblock media"}
	opSilence  = &op{name: "silence media"}
	opUnsilenc = &op{name: "unsilence media"}
	opStartFwd = &op{name: "start forwarding"}
	opStopFwd  = &op{name: "stop forwarding"}
	opPlay     = &op{name: "play media"}
	opStopPlay = &op{name: "stop media"}
	opPlayDTMF = &op{name: "play DTMF"}
)

// extSets is the set chain chosen by set_rtpengine_set for this message.
const extSets = "rtpengine.sets"

// run sends op for the message of c with the given flags and applies the
// answer: 1 done, -1 failed (logged: why, and which instance).
func (m *Module) run(c *kemi.Ctx, o *op, flags string) int {
	_, code := m.exec(c, o, flags, true)
	return code
}

// exec is run returning rtpengine's answer too (query functions). With
// chain, a second set from set_rtpengine_set2 gets the command after the
// first (daisy-chained instances).
func (m *Module) exec(c *kemi.Ctx, o *op, flags string, chain bool) (map[string]any, int) {
	log := c.Logger()
	pf, err := parseFlags(flags)
	if err != nil {
		log.Error("rtpengine: bad flags", zap.String("command", o.name), zap.Error(err))
		return nil, -1
	}
	cmd, callid, err := m.buildCmd(c, o, pf)
	if err != nil {
		log.Error("rtpengine: "+o.name+" not sent", zap.Error(err))
		return nil, -1
	}
	sets := m.sets(c)
	if !chain {
		sets = sets[:1]
	}
	var d map[string]any
	for _, set := range sets {
		reply, n, err := m.pool.call(c.Context(), set, callid, cmd)
		if err == nil {
			err = checkResult(reply)
		}
		if err != nil {
			m.st.failed.Inc()
			log.Warn("rtpengine: "+o.name+" failed", zap.Int("set", set), zap.Error(err))
			return nil, -1
		}
		m.st.ok.Inc()
		if o.deletes {
			m.pool.forget(callid)
		} else {
			m.pool.remember(callid, n)
		}
		if m.cfg.instPV != "" {
			_ = c.SetPV(m.cfg.instPV, kemi.StrV(n.def.URL))
		}
		if o.sdp {
			sdp, ok := reply["sdp"].(string)
			if !ok || sdp == "" {
				m.st.failed.Inc()
				log.Warn("rtpengine: "+o.name+" answer without SDP", zap.String("url", n.def.URL))
				return nil, -1
			}
			cmd["sdp"] = sdp // the next set of the chain works on this one
		}
		d = reply
	}
	if o.sdp {
		if err := m.writeSDP(c, cmd["sdp"].(string)); err != nil {
			log.Error("rtpengine: new SDP not applied", zap.Error(err))
			return nil, -1
		}
	}
	if o == opPlay && m.cfg.durationPV != "" {
		dur := int64(-1)
		if v, ok := d["duration"].(int64); ok {
			dur = v
		}
		_ = c.SetPV(m.cfg.durationPV, kemi.Value{K: kemi.KInt, I: dur})
	}
	return d, 1
}

// checkResult turns rtpengine's result into an error unless it is "ok".
func checkResult(d map[string]any) error {
	switch r, _ := d["result"].(string); r {
	case "ok":
		return nil
	case "error":
		reason, _ := d["error-reason"].(string)
		return fmt.Errorf("rtpengine error: %s", reason)
	default:
		return fmt.Errorf("rtpengine result %q", r)
	}
}

// sets returns the set chain for the message: setid_avp, else what
// set_rtpengine_set chose, else setid_default.
func (m *Module) sets(c *kemi.Ctx) []int {
	if m.cfg.setidAVP != "" {
		v := c.GetPV(m.cfg.setidAVP)
		if v.IsNil() {
			if req := m.transReq(c); req != nil {
				tc := *c
				tc.M = req
				v = tc.GetPV(m.cfg.setidAVP)
			}
		}
		if !v.IsNil() {
			if n, err := strconv.Atoi(strings.TrimSpace(v.String())); err == nil {
				return []int{n}
			}
		}
	}
	if s, ok := c.M.GetExt(extSets).([]int); ok && len(s) > 0 {
		return s
	}
	return []int{m.cfg.setDefault}
}

// transReq is the request of the transaction c.M belongs to, or nil.
func (m *Module) transReq(c *kemi.Ctx) *msg.Msg {
	if c.Engine == nil {
		return nil
	}
	t, _ := c.Engine.Instance("tm").(*tm.TM)
	if t == nil {
		return nil
	}
	in, ok := t.TransInfo(c.M)
	if !ok {
		return nil
	}
	return in.Req
}

// buildCmd makes the ng dictionary for the message: the flags' entries,
// the call's identity (Call-ID, tags, via-branch) and for offer/answer the
// SDP and where the message came from.
func (m *Module) buildCmd(c *kemi.Ctx, o *op, pf *parsedFlags) (map[string]any, string, error) {
	sm := c.M.SIP
	cmd := make(map[string]any, len(pf.dict)+8)
	for k, v := range pf.dict {
		cmd[k] = v
	}
	if len(pf.list) > 0 {
		cmd["flags"] = pf.list
	}
	name := o.name
	if o == opOffer && pf.forceAnswer {
		name = opAnswer.name
	}
	cmd["command"] = name
	callid := pf.callID
	if callid == "" {
		callid = c.M.CallID()
	}
	if callid == "" {
		return nil, "", errors.New("no Call-ID")
	}
	cmd["call-id"] = callid
	from := pf.fromTag
	if from == "" {
		if f := sm.From(); f != nil {
			from, _ = f.Params.Get("tag")
		}
	}
	if from == "" {
		return nil, "", errors.New("no From tag")
	}
	cmd["from-tag"] = from
	if o.toTag || pf.forceToTag {
		to := pf.toTag
		if to == "" {
			if t := sm.To(); t != nil {
				to, _ = t.Params.Get("tag")
			}
		}
		if to != "" {
			cmd["to-tag"] = to
		}
	}
	if pf.viaBranch != "" {
		vb, err := m.viaBranch(c, pf.viaBranch)
		if err != nil {
			return nil, "", err
		}
		cmd["via-branch"] = vb
	}
	if o.sdp {
		sdp, err := m.readSDP(c)
		if err != nil {
			return nil, "", err
		}
		cmd["sdp"] = sdp
		if a := c.M.Src.Addr(); a.IsValid() {
			fam := "IP4"
			if a.Unmap().Is6() {
				fam = "IP6"
			}
			cmd["received from"] = []any{fam, a.Unmap().String()}
		}
	}
	return cmd, callid, nil
}

// readSDP takes the SDP to send: read_sdp_pv, else the body the message
// would be sent with; it must be a well-formed session description.
func (m *Module) readSDP(c *kemi.Ctx) (string, error) {
	var body string
	if m.cfg.readSDPPV != "" {
		v := c.GetPV(m.cfg.readSDPPV)
		if v.IsNil() {
			return "", fmt.Errorf("read_sdp_pv %s is null", m.cfg.readSDPPV)
		}
		body = v.String()
	} else {
		if ct, ok := c.M.HeaderType(msg.HContentType); ok && !isSDPType(ct) {
			return "", fmt.Errorf("body is %q, not application/sdp", ct)
		}
		body = c.M.Body()
		if c.M.NewBody != nil {
			body = *c.M.NewBody
		}
	}
	if err := checkSDP(body); err != nil {
		return "", fmt.Errorf("malformed SDP: %w", err)
	}
	return body, nil
}

// writeSDP puts rtpengine's SDP into write_sdp_pv or the message body, which
// every copy built from the message then carries (with Content-Length).
func (m *Module) writeSDP(c *kemi.Ctx, sdp string) error {
	if m.cfg.writeSDPPV != "" {
		return c.SetPV(m.cfg.writeSDPPV, kemi.StrV(sdp))
	}
	c.M.NewBody = &sdp
	if c.M.NewBodyType == "" {
		c.M.NewBodyType = "application/sdp"
	}
	return nil
}

// viaBranch resolves the via-branch= flag.
func (m *Module) viaBranch(c *kemi.Ctx, mode string) (string, error) {
	req := c.M.Req != nil
	switch mode {
	case "auto":
		mode = map[bool]string{true: "1", false: "2"}[req]
	case "auto-next":
		mode = map[bool]string{true: "next", false: "1"}[req]
	case "auto-extra":
		mode = map[bool]string{true: "extra", false: "1"}[req]
	}
	switch mode {
	case "1", "2":
		i, _ := strconv.Atoi(mode)
		if b := viaBranchN(c.M, i); b != "" {
			return b, nil
		}
		return "", fmt.Errorf("via-branch=%s: no such Via branch", mode)
	case "extra":
		if m.cfg.extraIDPV == "" {
			return "", errors.New("via-branch=extra needs extra_id_pv")
		}
		v := c.GetPV(m.cfg.extraIDPV)
		if v.IsNil() || v.String() == "" {
			return "", fmt.Errorf("via-branch=extra: %s is empty", m.cfg.extraIDPV)
		}
		return v.String(), nil
	case "next":
		if b, ok := tm.NextBranch(c.M); ok {
			return b, nil
		}
		return "", errors.New("via-branch=next works in a branch route only")
	}
	return "", fmt.Errorf("via-branch=%s", mode)
}

// viaBranchN is the branch parameter of the n-th Via value (1-based).
func viaBranchN(m *msg.Msg, n int) string {
	k := 0
	for i := range m.Hdrs {
		if m.Hdrs[i].Type != msg.HVia {
			continue
		}
		for _, v := range msg.SplitComma(m.Hdrs[i].Value) {
			k++
			if k != n {
				continue
			}
			for _, p := range strings.Split(v, ";")[1:] {
				key, val, _ := strings.Cut(p, "=")
				if strings.EqualFold(strings.TrimSpace(key), "branch") {
					return strings.TrimSpace(val)
				}
			}
			return ""
		}
	}
	return ""
}

// hasSDP reports whether m carries an SDP body.
func hasSDP(m *msg.Msg) bool {
	if m == nil || m.BodyLen == 0 && m.NewBody == nil {
		return false
	}
	ct, ok := m.HeaderType(msg.HContentType)
	return !ok || isSDPType(ct)
}

// manage is rtpengine_manage: offer, answer or delete by what the message
// is, as Kamailio decides it.
func (m *Module) manage(c *kemi.Ctx, flags string) int {
	mm := c.M
	if mm.RouteType == msg.RouteFailure && mm.Res != nil {
		return 1 // branch failure: the failure route deletes
	}
	method := mm.Method()
	switch method {
	case "BYE", "CANCEL":
		return m.runOne(c, opDelete, flags)
	case "INVITE", "ACK", "UPDATE", "PRACK":
	default:
		return -1
	}
	withSDP := hasSDP(mm)
	if mm.Req != nil {
		switch {
		case mm.RouteType == msg.RouteFailure:
			return m.runOne(c, opDelete, flags)
		case (method == "ACK" || method == "PRACK") && withSDP:
			return m.runOne(c, opAnswer, flags)
		case (method == "INVITE" || method == "UPDATE") && withSDP:
			return m.runOne(c, opOffer, flags)
		}
		return -1
	}
	if mm.Status() >= 300 {
		if method == "INVITE" {
			return m.runOne(c, opDelete, flags)
		}
		return -1
	}
	if !withSDP {
		return -1
	}
	if method == "UPDATE" {
		return m.runOne(c, opAnswer, flags)
	}
	// A reply with SDP answers an INVITE that had one; an INVITE without
	// SDP gets the offer in the reply.
	if req := m.transReq(c); req != nil && !hasSDP(req) {
		return m.runOne(c, opOffer, flags)
	}
	return m.runOne(c, opAnswer, flags)
}

// runOne is run without set chaining (rtpengine_manage uses one set).
func (m *Module) runOne(c *kemi.Ctx, o *op, flags string) int {
	_, code := m.exec(c, o, flags, false)
	return code
}
