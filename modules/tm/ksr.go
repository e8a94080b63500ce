package tm

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/regex"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/modules/sl"
)

// t_relay_to_* flags (Kamailio's values).
const (
	flagNoAuto100   = 0x01
	flagNoErrReply  = 0x02
	flagNoDNSFailov = 0x04
)

// Exports implements kemi.Instance.
func (x *TM) Exports() []kemi.Export {
	setCB := func(name, key, doc string, field func(t *Transaction) *string) kemi.Export {
		return kemi.FnStrInt(name, doc, func(c *kemi.Ctx, fname string) int {
			if t := transOf(c.M); t != nil {
				locked(c.M, t, func() { *field(t) = fname })
			} else {
				c.M.SetExt(key, fname)
			}
			return 1
		})
	}
	return []kemi.Export{
		kemi.Fn0Int("t_relay", "Forward statefully to $du or the R-URI (and every appended branch); creates the transaction. CANCEL goes to the INVITE's branches, an ACK for a 2xx is forwarded statelessly. >0 ok, 0 retransmission absorbed, <0 error (a negative reply was already sent unless disabled).",
			func(c *kemi.Ctx) int { return x.relay(c, "", msg.ProtoNone, 0) }),
		kemi.FnIntInt("t_relay_to_flags", "t_relay with flags: 1 no automatic 100, 2 no automatic negative reply on error, 4 no DNS failover.",
			func(c *kemi.Ctx, f int) int { return x.relay(c, "", msg.ProtoNone, f) }),
		kemi.FnStrInt("t_relay_to_proxy", "t_relay to \"[proto:]host[:port]\" instead of $du/R-URI.",
			func(c *kemi.Ctx, p string) int { return x.relayProxy(c, p, 0) }),
		kemi.FnStrIntInt("t_relay_to_proxy_flags", "t_relay_to_proxy with t_relay_to_flags' flags.",
			func(c *kemi.Ctx, p string, f int) int { return x.relayProxy(c, p, f) }),
		kemi.FnStrInt("t_relay_to_proto", "t_relay forcing the transport (\"udp\", \"tcp\", \"tls\").",
			func(c *kemi.Ctx, p string) int {
				proto, ok := msg.ParseProto(p)
				if !ok {
					c.Logger().Error("t_relay_to_proto: unknown transport", zap.String("proto", p))
					return -1
				}
				return x.relay(c, "", proto, 0)
			}),
		kemi.Fn("t_relay_to_proto_addr", []kemi.ParamType{kemi.Str, kemi.Str, kemi.Int}, kemi.RetInt,
			"t_relay to host:port over the given transport.",
			func(c *kemi.Ctx, a *kemi.Args) kemi.Value {
				return kemi.IntV(x.relayProxy(c, a.S[0]+":"+hostPort(a.S[1], int(a.I[2])), 0))
			}),
		setCB("t_on_failure", extOnFailure, "Lua function to run when the transaction ends with a negative reply or timeout (failure route); \"\" resets. 1.",
			func(t *Transaction) *string { return &t.onFailure }),
		setCB("t_on_reply", extOnReply, "Lua function to run for every reply of the transaction (onreply route). 1.",
			func(t *Transaction) *string { return &t.onReply }),
		setCB("t_on_branch", extOnBranch, "Lua function to run for every branch before it is sent (branch route); drop there skips the branch. 1.",
			func(t *Transaction) *string { return &t.onBranch }),
		setCB("t_on_branch_failure", extOnBranchFailure, "Lua function to run for every negative reply of a branch, with \"tm:branch-failure\". 1.",
			func(t *Transaction) *string { return &t.onBranchFailure }),
		kemi.FnStrInt("t_is_set", "\"branch_route\", \"failure_route\" or \"onreply_route\": 1 when set, -1 not.", x.isSet),
		kemi.Fn0Int("t_check_trans", "Request route: retransmission → last reply resent, 0; ACK to a negative reply → absorbed, 0; CANCEL or ACK with its INVITE transaction → 1; otherwise -1. Other routes: 1.", x.checkTrans),
		kemi.Fn0Int("t_newtran", "Create the transaction without forwarding: 1 created, 0 retransmission handled, -10 exists already.",
			func(c *kemi.Ctx) int {
				if c.M.Req == nil || c.M.Req.Method == sip.ACK {
					return -1
				}
				_, rc := x.newTran(c.M)
				return rc
			}),
		kemi.FnIntStrInt("t_reply", "Reply statefully (needs a transaction); a 3xx lists the new R-URI as Contact. 1 ok, -1 error.", x.reply),
		kemi.FnIntStrInt("t_send_reply", "Create the transaction if needed, then t_reply.",
			func(c *kemi.Ctx, code int, reason string) int {
				if c.M.Req == nil || c.M.Req.Method == sip.ACK {
					return -1
				}
				if transOf(c.M) == nil {
					if _, rc := x.newTran(c.M); rc == 0 {
						return 0
					}
				}
				return x.reply(c, code, reason)
			}),
		kemi.Fn0Int("t_reply_error", "t_reply with the last internal error, reason \"<text> (<errno>/TM)\".",
			func(c *kemi.Ctx) int {
				code, reason := sl.ErrorReply(c.M.ErrCode, "TM")
				return x.reply(c, code, reason)
			}),
		kemi.Fn0Int("t_lookup_request", "1 if a transaction exists for this request, -1 otherwise.",
			func(c *kemi.Ctx) int {
				if c.M.Req == nil {
					return -1
				}
				method := c.M.Method()
				if method == string(sip.ACK) {
					method = string(sip.INVITE)
				}
				if x.table.lookup(matchKey(c.M, method)) != nil {
					return 1
				}
				return -1
			}),
		kemi.Fn0Int("t_lookup_cancel", "CANCEL: 1 if its INVITE transaction exists, -1 otherwise.", func(c *kemi.Ctx) int { return x.lookupCancel(c) }),
		kemi.FnIntInt("t_lookup_cancel_flags", "t_lookup_cancel; flags 1 copies the INVITE's message flags to the CANCEL.",
			func(c *kemi.Ctx, f int) int {
				rc := x.lookupCancel(c)
				if rc > 0 && f&1 != 0 {
					if t := x.table.lookup(matchKey(c.M, string(sip.INVITE))); t != nil {
						t.mu.Lock()
						if t.req != nil {
							c.M.Flags = t.req.Flags
						}
						t.mu.Unlock()
					}
				}
				return rc
			}),
		kemi.Fn0Int("t_retransmit_reply", "Resend the last reply of the transaction. 1 ok, -1 none.",
			func(c *kemi.Ctx) int {
				t := transOf(c.M)
				if t == nil {
					return -1
				}
				rc := -1
				locked(c.M, t, func() {
					if t.lastReply != nil {
						x.sendRaw(t, t.lastReply)
						rc = 1
					}
				})
				return rc
			}),
		kemi.Fn0Int("t_release", "Remove the transaction now. 1 ok, -1 none.",
			func(c *kemi.Ctx) int {
				t := transOf(c.M)
				if t == nil {
					return -1
				}
				locked(c.M, t, func() { x.remove(t) })
				return 1
			}),
		kemi.FnStrInt("t_replicate", "Send a copy of the request to the URI (statelessly here); replies to it are not relayed. 1 ok, -1 error.",
			func(c *kemi.Ctx, uri string) int {
				if err := x.core.Forward(c.Context(), c.M, uri); err != nil {
					c.Logger().Info("t_replicate failed", zap.String("uri", uri), zap.Error(err))
					return -1
				}
				return 1
			}),
		x.tBool("t_is_canceled", "1 if the transaction was cancelled, -1 otherwise.", func(c *kemi.Ctx, t *Transaction) bool { return t.canceled }),
		x.tBool("t_is_expired", "1 if the transaction outlived its maximum lifetime.", func(c *kemi.Ctx, t *Transaction) bool {
			return time.Since(t.created) > t.maxLife
		}),
		x.tBool("t_branch_timeout", "Failure route: 1 if the failed branch timed out.", func(c *kemi.Ctx, t *Transaction) bool {
			b := curBranch(c.M, t)
			return b != nil && b.timedOut
		}),
		x.tBool("t_branch_replied", "Failure route: 1 if the failed branch received a reply.", func(c *kemi.Ctx, t *Transaction) bool {
			b := curBranch(c.M, t)
			return b != nil && b.replied
		}),
		x.tBool("t_any_timeout", "1 if any branch timed out.", func(c *kemi.Ctx, t *Transaction) bool {
			for _, b := range t.branches {
				if b.timedOut {
					return true
				}
			}
			return false
		}),
		x.tBool("t_any_replied", "1 if any branch received a reply.", func(c *kemi.Ctx, t *Transaction) bool {
			for _, b := range t.branches {
				if b.replied {
					return true
				}
			}
			return false
		}),
		kemi.FnIntInt("t_grep_status", "1 if some branch's final reply has this code.",
			func(c *kemi.Ctx, code int) int {
				t := transOf(c.M)
				if t == nil {
					return -1
				}
				rc := -1
				locked(c.M, t, func() {
					for _, b := range t.branches {
						if b.final() && b.code == code {
							rc = 1
						}
					}
				})
				return rc
			}),
		kemi.FnStrInt("t_check_status", "Regular expression against the status: reply route the reply's, failure route the winning one, request route the last sent. 1 match, -1 not.",
			func(c *kemi.Ctx, re string) int {
				code := StatusCode(c)
				if code <= 0 {
					return -1
				}
				rx, err := regex.Compile(regex.Search, re)
				if err != nil {
					c.Logger().Error("t_check_status: bad regular expression", zap.String("re", re), zap.Error(err))
					return -1
				}
				if rx.MatchString(strconv.Itoa(code)) {
					return 1
				}
				return -1
			}),
		kemi.Fn0Int("t_get_status_code", "The transaction's most relevant status code, -1 if none.", StatusCode),
		kemi.Fn0Int("t_get_branch_index", "The current branch index (branch, reply and failure routes), -1 elsewhere.", BranchIndex),
		kemi.FnIntIntInt("t_set_fr", "Per-transaction fr_inv_timer and fr_timer in milliseconds; 0 keeps a value. 1.",
			func(c *kemi.Ctx, inv, non int) int { return x.setTimers(c, inv, non, 0, 0, 0, 0) }),
		kemi.FnIntInt("t_set_fr_inv", "Per-transaction fr_inv_timer in milliseconds. 1.",
			func(c *kemi.Ctx, inv int) int { return x.setTimers(c, inv, 0, 0, 0, 0, 0) }),
		kemi.Fn0Int("t_reset_fr", "fr timers back to the module values. 1.",
			func(c *kemi.Ctx) int {
				return x.setTimers(c, int(x.cfg.frInv/time.Millisecond), int(x.cfg.fr/time.Millisecond), 0, 0, 0, 0)
			}),
		kemi.FnIntIntInt("t_set_max_lifetime", "Per-transaction maximum lifetime (INVITE, non-INVITE) in milliseconds. 1.",
			func(c *kemi.Ctx, inv, non int) int { return x.setTimers(c, 0, 0, 0, 0, inv, non) }),
		kemi.Fn0Int("t_reset_max_lifetime", "Lifetimes back to the module values. 1.",
			func(c *kemi.Ctx) int {
				return x.setTimers(c, 0, 0, 0, 0, int(x.cfg.maxInv/time.Millisecond), int(x.cfg.maxNonInv/time.Millisecond))
			}),
		kemi.FnIntIntInt("t_set_retr", "Per-transaction T1 and T2 in milliseconds. 1.",
			func(c *kemi.Ctx, t1, t2 int) int { return x.setTimers(c, 0, 0, t1, t2, 0, 0) }),
		kemi.Fn0Int("t_reset_retr", "T1/T2 back to the module values. 1.",
			func(c *kemi.Ctx) int {
				return x.setTimers(c, 0, 0, int(x.cfg.t1/time.Millisecond), int(x.cfg.t2/time.Millisecond), 0, 0)
			}),
		x.tSwitch("t_set_auto_inv_100", "0 disables the automatic 100 Trying for this INVITE, 1 enables it.",
			func(o *timerOverrides, on bool) { o.noAuto100 = onOff(!on) }, func(t *Transaction, on bool) { t.noAuto100 = !on }),
		x.tSwitch("t_set_disable_6xx", "1: a 6xx does not cancel the other branches.",
			func(o *timerOverrides, on bool) { o.disable6xx = onOff(on) }, func(t *Transaction, on bool) { t.disable6xx = on }),
		x.tSwitch("t_set_disable_failover", "1: no DNS failover for this transaction.", func(*timerOverrides, bool) {}, func(*Transaction, bool) {}),
		x.tSwitch("t_set_no_e2e_cancel_reason", "1: do not copy the CANCEL's Reason into the CANCELs sent on.",
			func(o *timerOverrides, on bool) { o.noE2ECancelReason = onOff(on) }, func(t *Transaction, on bool) { t.noE2ECancelReason = on }),
		x.tSwitch("t_set_disable_internal_reply", "1: t_relay sends no negative reply of its own when it fails.",
			func(o *timerOverrides, on bool) { o.noInternalReply = onOff(on) }, func(t *Transaction, on bool) { t.noInternalReply = on }),
		x.tSwitch("t_set_no_auto_ack", "1: no automatic ACK for local transactions (tm makes none here).", func(*timerOverrides, bool) {}, func(*Transaction, bool) {}),
		kemi.Fn0Int("t_load_contacts", "Move the R-URI and appended branches into the contact list, by q (equal q = parallel). 1 ok or nothing to do, -1 error.",
			func(c *kemi.Ctx) int { return loadContacts(c.M, 0) }),
		kemi.FnIntInt("ki_t_load_contacts_mode", "t_load_contacts; mode 1 orders contacts randomly, weighted by q, one per step.",
			func(c *kemi.Ctx, mode int) int { return loadContacts(c.M, mode) }),
		kemi.Fn0Int("t_next_contacts", "Take the next group of the contact list into the R-URI and branches. 1 ok, -2 list empty, -1 error.",
			func(c *kemi.Ctx) int { return nextContacts(c.M) }),
		kemi.Fn0Int("t_next_contact_flow", "Next flow of the same instance (RFC 5626 outbound); no flows are kept here: -2.",
			func(c *kemi.Ctx) int { return -2 }),
		kemi.FnStrInt("t_drop_replies", "Failure route: forget the replies received so far (\"a\" all, \"l\" last step, \"n\" none) for the next choice. 1.",
			func(c *kemi.Ctx, mode string) int { return x.dropReplies(c, mode) }),
		kemi.Fn0Int("t_drop_replies_all", "t_drop_replies(\"a\").", func(c *kemi.Ctx) int { return x.dropReplies(c, "a") }),
		kemi.Fn0Int("t_use_uac_headers", "CANCEL/ACK are always built from the branch request here. 1.", func(*kemi.Ctx) int { return 1 }),
		kemi.Fn0Int("t_save_lumps", "Header edits are always kept for the failure route here. 1.", func(*kemi.Ctx) int { return 1 }),
		kemi.Fn("t_uac_send", []kemi.ParamType{kemi.Str, kemi.Str, kemi.Str, kemi.Str, kemi.Str, kemi.Str}, kemi.RetInt,
			"Send a new request from the server (method, ruri, nexthop, socket, headers, body). 1 sent, -1 error.",
			func(c *kemi.Ctx, a *kemi.Args) kemi.Value {
				return kemi.IntV(x.uacSend(c, a.S[0], a.S[1], a.S[2], a.S[3], a.S[4], a.S[5]))
			}),
		kemi.Fn0Int("t_is_retr_async_reply", "Asynchronous replies are not used here: -1.", func(*kemi.Ctx) int { return -1 }),
		kemi.Fn0Int("t_clean", "Transactions are removed on time by their timers. 1.", func(*kemi.Ctx) int { return 1 }),
		kemi.Fn0Int("t_exists", "1 if the message has a transaction, -1 otherwise.",
			func(c *kemi.Ctx) int {
				if transOf(c.M) != nil {
					return 1
				}
				return -1
			}),
	}
}

func onOff(on bool) int8 {
	if on {
		return 1
	}
	return -1
}

func hostPort(host string, port int) string {
	if port <= 0 {
		return host
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(port))
}

// tBool exports a test on the message's transaction: 1 true, -1 false or none.
func (x *TM) tBool(name, doc string, f func(c *kemi.Ctx, t *Transaction) bool) kemi.Export {
	return kemi.Fn0Int(name, doc, func(c *kemi.Ctx) int {
		t := transOf(c.M)
		if t == nil {
			return -1
		}
		rc := -1
		locked(c.M, t, func() {
			if f(c, t) {
				rc = 1
			}
		})
		return rc
	})
}

// tSwitch exports a per-transaction switch: on the transaction when it
// exists, else remembered for t_relay.
func (x *TM) tSwitch(name, doc string, pre func(o *timerOverrides, on bool), onT func(t *Transaction, on bool)) kemi.Export {
	return kemi.FnIntInt(name, doc, func(c *kemi.Ctx, v int) int {
		if t := transOf(c.M); t != nil {
			locked(c.M, t, func() { onT(t, v != 0) })
		} else {
			pre(overridesOf(c.M), v != 0)
		}
		return 1
	})
}

// curBranch is the branch a callback runs for (failure route: the winner).
func curBranch(m *msg.Msg, t *Transaction) *Branch {
	if i, ok := m.GetExt(extBranch).(int); ok && i >= 0 && i < len(t.branches) {
		return t.branches[i]
	}
	if t.picked >= 0 && t.picked < len(t.branches) {
		return t.branches[t.picked]
	}
	return nil
}

// StatusCode is the status most relevant to where m is: a reply's own code,
// the winning code in a failure route, the last code sent upstream in the
// request route; -1 if none.
func StatusCode(c *kemi.Ctx) int {
	m := c.M
	if m.Res != nil {
		return m.Status()
	}
	t := transOf(m)
	if t == nil {
		return -1
	}
	code := -1
	locked(m, t, func() {
		switch {
		case m.RouteType == msg.RouteFailure && t.lastCode > 0:
			code = t.lastCode
		case t.status > 0:
			code = t.status
		}
	})
	return code
}

// BranchIndex is the branch a callback runs for, -1 outside one.
func BranchIndex(c *kemi.Ctx) int {
	if i, ok := c.M.GetExt(extBranch).(int); ok {
		return i
	}
	if t := transOf(c.M); t != nil && c.M.RouteType == msg.RouteFailure {
		i := -1
		locked(c.M, t, func() { i = t.picked })
		return i
	}
	return -1
}

func (x *TM) isSet(c *kemi.Ctx, target string) int {
	if target == "" {
		return -1
	}
	var v string
	t := transOf(c.M)
	pick := func(field, key string) {
		if t != nil {
			locked(c.M, t, func() { v = field })
			return
		}
		v = extStr(c.M, key)
	}
	switch target[0] {
	case 'b':
		if t != nil {
			pick(t.onBranch, extOnBranch)
		} else {
			pick("", extOnBranch)
		}
	case 'f':
		if t != nil {
			pick(t.onFailure, extOnFailure)
		} else {
			pick("", extOnFailure)
		}
	case 'o':
		if t != nil {
			pick(t.onReply, extOnReply)
		} else {
			pick("", extOnReply)
		}
	default:
		return -1
	}
	if v != "" {
		return 1
	}
	return -1
}

func (x *TM) setTimers(c *kemi.Ctx, frInv, fr, t1, t2, maxInv, maxNon int) int {
	if t := transOf(c.M); t != nil {
		var ts timerSet
		ts.setMS(frInv, fr, t1, t2, maxInv, maxNon)
		locked(c.M, t, func() { t.applyTimers(ts) })
		return 1
	}
	overridesOf(c.M).setMS(frInv, fr, t1, t2, maxInv, maxNon)
	return 1
}

func (x *TM) dropReplies(c *kemi.Ctx, mode string) int {
	t := transOf(c.M)
	if t == nil {
		return -1
	}
	if mode == "n" {
		return 1
	}
	locked(c.M, t, func() {
		t.stepStart = len(t.branches)
		t.dropMode = "a"
	})
	return 1
}

// relayProxy is t_relay to "[proto:]host[:port]".
func (x *TM) relayProxy(c *kemi.Ctx, proxy string, flags int) int {
	uri, proto, err := proxyURI(proxy)
	if err != nil {
		c.Logger().Error("t_relay: bad proxy address", zap.String("proxy", proxy), zap.Error(err))
		return -1
	}
	return x.relay(c, uri, proto, flags)
}

// proxyURI turns "udp:1.2.3.4:5060", "host:5080", "tcp:[::1]" into a SIP URI.
func proxyURI(p string) (string, msg.Proto, error) {
	p = strings.TrimSpace(p)
	proto := msg.ProtoNone
	if head, rest, ok := strings.Cut(p, ":"); ok {
		if pr, isProto := msg.ParseProto(head); isProto {
			proto, p = pr, rest
		}
	}
	if p == "" {
		return "", 0, fmt.Errorf("empty address")
	}
	if strings.HasPrefix(strings.ToLower(p), "sip:") || strings.HasPrefix(strings.ToLower(p), "sips:") {
		return p, proto, nil
	}
	uri := "sip:" + p
	if proto != msg.ProtoNone {
		uri += ";transport=" + proto.String()
	}
	if err := msg.CheckValue(uri); err != nil {
		return "", 0, err
	}
	return uri, proto, nil
}

// relay is t_relay and its variants.
func (x *TM) relay(c *kemi.Ctx, proxy string, proto msg.Proto, flags int) int {
	m := c.M
	if m.Req == nil {
		return -1
	}
	if t := transOf(m); t != nil && (m.RouteType == msg.RouteFailure) {
		// Serial forking: a new step of branches in the same transaction.
		rc := -1
		locked(m, t, func() {
			if x.cfg.failureReplyMode != 0 {
				t.stepStart = len(t.branches)
			}
			if t.final {
				return
			}
			if x.relayBranches(c.Context(), m, t, destinations(m, proxy, proto)) > 0 {
				rc = 1
			}
		})
		return rc
	}
	switch m.Req.Method {
	case sip.ACK:
		if t := x.table.lookup(matchKey(m, string(sip.INVITE))); t != nil {
			absorbed := false
			t.mu.Lock()
			if t.status >= 300 {
				x.absorbACK(t)
				absorbed = true
			}
			t.mu.Unlock()
			if absorbed {
				return 1
			}
		}
		if err := x.core.Forward(c.Context(), m, proxy); err != nil {
			c.Logger().Info("ACK not forwarded", zap.Error(err))
			return -1
		}
		return 1
	case sip.CANCEL:
		if inv := x.table.lookup(matchKey(m, string(sip.INVITE))); inv != nil {
			return x.relayCancel(c, inv)
		}
		switch x.cfg.unmatchedCancel {
		case 1:
			if err := x.core.Forward(c.Context(), m, proxy); err != nil {
				return -1
			}
			return 1
		case 2:
			return 1
		}
	}
	if flags&flagNoAuto100 != 0 {
		overridesOf(m).noAuto100 = 1
	}
	t, rc := x.newTran(m)
	if rc == 0 {
		return 0
	}
	out := -1
	locked(m, t, func() {
		if t.final {
			return
		}
		if rc == -10 {
			refreshReq(t, m)
		}
		if x.relayBranches(c.Context(), m, t, destinations(m, proxy, proto)) > 0 {
			out = 1
			return
		}
		if flags&flagNoErrReply == 0 && !t.noInternalReply && !t.pending() {
			code, reason := sl.ErrorReply(m.ErrCode, "TM")
			x.localReply(t, m, code, reason, nil)
		}
	})
	return out
}

// refreshReq replaces the transaction's copy of the request, made at
// t_newtran, with the request as the script left it at t_relay: flags, AVPs,
// header changes and module state (the dispatcher's failover list) set in
// between must be there for failure routes, as Kamailio saves them into its
// copy at t_relay. t is locked.
func refreshReq(t *Transaction, m *msg.Msg) {
	r := cloneMsg(m)
	r.Branches = nil
	if t.req != nil {
		r.FinalReplied = t.req.FinalReplied
	}
	t.req = r
}

// relayCancel answers a CANCEL 200 from its own transaction and cancels the
// INVITE's pending branches.
func (x *TM) relayCancel(c *kemi.Ctx, inv *Transaction) int {
	m := c.M
	ct, rc := x.newTran(m)
	if rc == 0 {
		return 0
	}
	locked(m, ct, func() { x.localReply(ct, m, 200, "canceling", nil) })
	reason, _ := m.Header("Reason")
	inv.mu.Lock()
	x.cancelInvite(inv, reason, m.Script)
	inv.mu.Unlock()
	return 1
}

func (x *TM) lookupCancel(c *kemi.Ctx) int {
	if c.M.Req == nil || c.M.Req.Method != sip.CANCEL {
		return -1
	}
	if x.table.lookup(matchKey(c.M, string(sip.INVITE))) != nil {
		return 1
	}
	return -1
}

// checkTrans is t_check_trans.
func (x *TM) checkTrans(c *kemi.Ctx) int {
	m := c.M
	if m.RouteType != msg.RouteRequest || m.Req == nil {
		return 1
	}
	switch m.Req.Method {
	case sip.CANCEL:
		if x.table.lookup(matchKey(m, string(sip.INVITE))) != nil {
			return 1
		}
		return -1
	case sip.ACK:
		t := x.table.lookup(matchKey(m, string(sip.INVITE)))
		if t == nil {
			return -1
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.status >= 300 {
			x.absorbACK(t)
			return 0
		}
		return 1
	}
	if t := transOf(m); t != nil {
		return 1
	}
	t := x.table.lookup(matchKey(m, m.Method()))
	if t == nil {
		return -1
	}
	x.retransmission(t)
	return 0
}

// reply is t_reply.
func (x *TM) reply(c *kemi.Ctx, code int, reason string) int {
	m := c.M
	t := transOf(m)
	if t == nil || m.Req == nil || code < 100 || code > 699 {
		return -1
	}
	if err := msg.CheckValue(reason); err != nil {
		c.Logger().Error("t_reply: reason refused", zap.Error(err))
		return -1
	}
	rc := -1
	locked(m, t, func() { rc = x.localReply(t, m, code, reason, nil) })
	return rc
}

var _ sl.StatefulReplier = (*TM)(nil)

// StatefulReply implements sl.StatefulReplier: sl's send_reply (and auth's
// challenges, registrar's replies) go through the transaction.
func (x *TM) StatefulReply(c *kemi.Ctx, code int, reason string) (int, bool) {
	if transOf(c.M) == nil {
		return 0, false
	}
	return x.reply(c, code, reason), true
}

func (x *TM) sendRaw(t *Transaction, data []byte) {
	x.retransmitTo(t, data)
}

// contactList is the t_load_contacts list: groups sent in parallel, tried in
// order. It is shared by every copy of the request (request route, the
// transaction's copy, failure routes), so each step consumes it once.
type contactList struct{ groups [][]msg.Branch }

const extContacts = "tmc.contacts"

func loadContacts(m *msg.Msg, mode int) int {
	if m.Req == nil {
		return -1
	}
	if len(m.Branches) == 0 {
		return 1 // one destination: nothing to order
	}
	all := append([]msg.Branch{{URI: m.RURIString(), DstURI: m.DstURI, Q: ruriQ(m), Flags: m.BFlags, Socket: m.ForceSocket}}, m.Branches...)
	for i := range all {
		if all[i].Q < 0 {
			all[i].Q = 1000
		}
	}
	cl := &contactList{}
	if mode == 1 {
		// Proportional: a weighted random order, one contact per step.
		rest := all
		for len(rest) > 0 {
			total := 0
			for _, b := range rest {
				total += b.Q + 1
			}
			r := rand.IntN(total)
			i := 0
			for ; i < len(rest)-1; i++ {
				r -= rest[i].Q + 1
				if r < 0 {
					break
				}
			}
			cl.groups = append(cl.groups, []msg.Branch{rest[i]})
			rest = append(rest[:i:i], rest[i+1:]...)
		}
	} else {
		sort.SliceStable(all, func(i, j int) bool { return all[i].Q > all[j].Q })
		for i := 0; i < len(all); {
			j := i + 1
			for j < len(all) && all[j].Q == all[i].Q {
				j++
			}
			cl.groups = append(cl.groups, append([]msg.Branch(nil), all[i:j]...))
			i = j
		}
	}
	m.Branches = nil
	m.SetExt(extContacts, cl)
	return 1
}

func ruriQ(m *msg.Msg) int {
	if q, ok := m.GetExt("ruri_q").(int); ok {
		return q
	}
	return -1
}

func nextContacts(m *msg.Msg) int {
	cl, _ := m.GetExt(extContacts).(*contactList)
	if cl == nil || len(cl.groups) == 0 {
		return -2
	}
	g := cl.groups[0]
	cl.groups = cl.groups[1:]
	if err := m.SetRURI(g[0].URI); err != nil {
		return -1
	}
	_ = m.SetDst(g[0].DstURI)
	m.BFlags = g[0].Flags
	if g[0].Socket != nil {
		m.ForceSocket = g[0].Socket
	}
	m.Branches = append(m.Branches[:0], g[1:]...)
	return 1
}
