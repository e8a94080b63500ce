// Package tm is the transaction-stateful proxy core (Kamailio's tm module):
// server and client transactions per RFC 3261 §17 with the proxy behaviour
// of §16 — forking, best-response selection, CANCEL, hop-by-hop ACK,
// retransmissions and timers — and the script callbacks t_on_branch,
// t_on_reply and t_on_failure.
//
// Locking: every transaction has its own mutex. Script callbacks (branch,
// reply and failure routes) run while it is held, on a Lua state taken
// before the lock (kemi.Engine.Hold), so no goroutine holding a transaction
// ever waits for the state pool.
package tm

import (
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core"
	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/stats"
	"github.com/luasbc/luasbc/kemi"
)

func init() {
	kemi.RegisterModule(&kemi.Module{
		Name:   "tm",
		Doc:    "Transaction-stateful forwarding: forking, failover, CANCEL, retransmissions and timers (RFC 3261 §16-17).",
		Params: params,
		New:    newTM,
	})
}

var params = []kemi.ParamDef{
	{Name: "fr_timer", Default: 30000, Doc: "Milliseconds a branch waits for a final reply before it times out (408)."},
	{Name: "fr_inv_timer", Default: 120000, Doc: "Milliseconds an INVITE branch waits for a final reply once a provisional came (RFC 3261 Timer C)."},
	{Name: "max_inv_lifetime", Default: 180000, Doc: "Milliseconds an INVITE transaction may live, whatever its branches do."},
	{Name: "max_noninv_lifetime", Default: 32000, Doc: "Milliseconds a non-INVITE transaction may live."},
	{Name: "wt_timer", Default: 5000, Doc: "Milliseconds a completed transaction stays to absorb retransmissions."},
	{Name: "retr_timer1", Default: 500, Doc: "RFC 3261 T1 in milliseconds: first UDP retransmission interval."},
	{Name: "retr_timer2", Default: 4000, Doc: "RFC 3261 T2 in milliseconds: longest UDP retransmission interval."},
	{Name: "noisy_ctimer", Default: 1, Doc: "Reply 408 to the caller when an INVITE times out after a provisional (always done here).", Ignored: true},
	{Name: "restart_fr_on_each_reply", Default: 1, Doc: "Restart fr_inv_timer on every provisional reply, not only on a higher one."},
	{Name: "auto_inv_100", Default: 1, Doc: "Send 100 Trying for an INVITE as soon as its transaction is created."},
	{Name: "auto_inv_100_reason", Default: "trying -- your call is important to us", Doc: "Reason phrase of the automatic 100."},
	{Name: "unix_tx_timeout", Default: 500, Doc: "Timeout of the Kamailio unix socket interface.", Ignored: true},
	{Name: "aggregate_challenges", Default: 1, Doc: "When the winning reply is 401/407, add the challenges of every other 401/407 branch (RFC 3261 §16.7)."},
	{Name: "reparse_invite", Default: 1, Doc: "CANCEL and ACK are always built from the branch request here.", Ignored: true},
	{Name: "ac_extra_hdrs", Default: "", Doc: "Header name prefix copied from the INVITE into local ACK/CANCEL.", Ignored: true},
	{Name: "blst_503", Default: 0, Doc: "Blocklist a destination that answers 503 (see DNS failover).", Ignored: true},
	{Name: "blst_503_def_timeout", Default: 60, Doc: "Blocklist time for a 503 without Retry-After.", Ignored: true},
	{Name: "blst_503_min_timeout", Default: 0, Doc: "Minimum blocklist time for a 503.", Ignored: true},
	{Name: "blst_503_max_timeout", Default: 3600, Doc: "Maximum blocklist time for a 503.", Ignored: true},
	{Name: "blst_methods_add", Default: 1, Doc: "Methods whose failures blocklist a destination.", Ignored: true},
	{Name: "blst_methods_lookup", Default: -5, Doc: "Methods that consult the blocklist.", Ignored: true},
	{Name: "cancel_b_method", Default: 1, Doc: "CANCEL of a branch without reply: 0 end it at once with a local 487, 1 wait for a provisional then CANCEL, 2 send CANCEL at once."},
	{Name: "reparse_on_dns_failover", Default: 1, Doc: "Re-parse the request on DNS failover.", Ignored: true},
	{Name: "on_sl_reply", Default: "", Doc: "Native cfg route for stateless replies.", Ignored: true},
	{Name: "contacts_avp", Default: "", Doc: "AVP of t_load_contacts; the contact list is kept with the transaction here.", Ignored: true},
	{Name: "contact_flows_avp", Default: "", Doc: "AVP of t_next_contact_flow.", Ignored: true},
	{Name: "fr_timer_avp", Default: "", Doc: "Obsolete AVP overriding fr_timer; use t_set_fr.", Ignored: true},
	{Name: "fr_inv_timer_avp", Default: "", Doc: "Obsolete AVP overriding fr_inv_timer; use t_set_fr.", Ignored: true},
	{Name: "unmatched_cancel", Default: 0, Doc: "t_relay of a CANCEL without INVITE transaction: 0 forward statefully, 1 statelessly, 2 drop."},
	{Name: "ruri_matching", Default: 1, Doc: "Match RFC 2543 requests on the R-URI too (always done).", Ignored: true},
	{Name: "via1_matching", Default: 1, Doc: "Match RFC 2543 requests on the top Via too (always done).", Ignored: true},
	{Name: "callid_matching", Default: 0, Doc: "Match on Call-ID too.", Ignored: true},
	{Name: "callid_cseq_matching", Default: 0, Doc: "Match on Call-ID and CSeq only.", Ignored: true},
	{Name: "pass_provisional_replies", Default: 0, Doc: "Pass provisional replies to tm API users.", Ignored: true},
	{Name: "default_code", Default: 500, Doc: "Code of t_reply_error when no internal error is known.", Ignored: true},
	{Name: "default_reason", Default: "Server Internal Error", Doc: "Reason of t_reply_error when no internal error is known.", Ignored: true},
	{Name: "disable_6xx_block", Default: 0, Doc: "1: a 6xx is treated like other negative replies (no cancelling of the other branches)."},
	{Name: "local_ack_mode", Default: 0, Doc: "Destination of ACKs for local 2xx (tm generates no requests of its own here).", Ignored: true},
	{Name: "failure_reply_mode", Default: 3, Doc: "Which replies the failure route chooses from: 0 all, 1 none by default, 2 drop the previous step, 3 only the last serial step."},
	{Name: "faked_reply_prio", Default: 0, Doc: "Penalty for locally made replies (408 on timeout) when picking the winning reply; 2000 lets received replies win."},
	{Name: "local_cancel_reason", Default: 1, Doc: "Add Reason (RFC 3326) to CANCELs made because a final reply arrived."},
	{Name: "e2e_cancel_reason", Default: 1, Doc: "Copy the Reason of a received CANCEL into the CANCELs sent on."},
	{Name: "remap_503_500", Default: 1, Doc: "Relay a winning 503 as 500 (RFC 3261 §16.7 step 6)."},
	{Name: "failure_exec_mode", Default: 0, Doc: "Add branches in failure route after a timeout even when no reply came.", Ignored: true},
	{Name: "dns_reuse_rcv_socket", Default: 0, Doc: "Reuse the receive socket on DNS failover.", Ignored: true},
	{Name: "xavp_contact", Default: "", Doc: "XAVP of t_load_contacts.", Ignored: true},
	{Name: "event_callback", Default: "", Doc: "Lua function called with \"tm:local-request\" for requests tm generates.", Ignored: true},
	{Name: "event_callback_lres_sent", Default: "", Doc: "Lua function called with \"tm:local-response\" after tm sends a local reply."},
	{Name: "relay_100", Default: 0, Doc: "1: relay 100 Trying from downstream too (a stateful proxy normally absorbs it)."},
	{Name: "rich_redirect", Default: 0, Doc: "Extra data in 3xx Contacts.", Ignored: true},
	{Name: "exec_time_check", Default: 5000, Doc: "Log callbacks running longer than this many milliseconds.", Ignored: true},
	{Name: "reply_relay_mode", Default: 1, Doc: "Reply relaying mode.", Ignored: true},
	{Name: "enable_uac_fr", Default: 0, Doc: "fr timers for local UAC transactions.", Ignored: true},
}

// config is the module configuration with timers as durations.
type config struct {
	fr, frInv, maxInv, maxNonInv, wt, t1, t2 time.Duration
	restartFR                                bool
	auto100                                  bool
	reason100                                string
	aggregate                                bool
	cancelB                                  int
	unmatchedCancel                          int
	disable6xx                               bool
	failureReplyMode                         int
	fakedPrio                                int
	localCancelReason                        bool
	e2eCancelReason                          bool
	remap503                                 bool
	relay100                                 bool
	evLocalResponse                          string
}

func ms(p kemi.Params, name string) time.Duration {
	return time.Duration(p.Int(name)) * time.Millisecond
}

// TM is the module instance.
type TM struct {
	env   *kemi.Env
	core  *core.Core
	eng   *kemi.Engine
	log   *zap.Logger
	cfg   config
	table *table

	// conns maps a stream connection to the branches waiting on it.
	connMu sync.Mutex
	conns  map[uint64]map[*Branch]struct{}

	st struct {
		uas, uac, created, freed, relayed2xx, relayedNeg, local, timeouts, retransAbsorbed, canceled *stats.Counter
		replies                                                                                      [7]*stats.Counter
	}
}

func newTM(env *kemi.Env) (kemi.Instance, error) {
	p := env.Params
	x := &TM{env: env, core: env.Core, eng: env.Engine, log: env.Log, table: newTable(),
		conns: map[uint64]map[*Branch]struct{}{}}
	x.cfg = config{
		fr: ms(p, "fr_timer"), frInv: ms(p, "fr_inv_timer"), maxInv: ms(p, "max_inv_lifetime"),
		maxNonInv: ms(p, "max_noninv_lifetime"), wt: ms(p, "wt_timer"), t1: ms(p, "retr_timer1"), t2: ms(p, "retr_timer2"),
		restartFR: p.Bool("restart_fr_on_each_reply"), auto100: p.Bool("auto_inv_100"), reason100: p.Str("auto_inv_100_reason"),
		aggregate: p.Bool("aggregate_challenges"), cancelB: p.Int("cancel_b_method"), unmatchedCancel: p.Int("unmatched_cancel"),
		disable6xx: p.Bool("disable_6xx_block"), failureReplyMode: p.Int("failure_reply_mode"), fakedPrio: p.Int("faked_reply_prio"),
		localCancelReason: p.Bool("local_cancel_reason"), e2eCancelReason: p.Bool("e2e_cancel_reason"),
		remap503: p.Bool("remap_503_500"), relay100: p.Bool("relay_100"), evLocalResponse: p.Str("event_callback_lres_sent"),
	}
	c := &x.cfg
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"fr_timer", c.fr}, {"fr_inv_timer", c.frInv}, {"max_inv_lifetime", c.maxInv}, {"max_noninv_lifetime", c.maxNonInv},
		{"retr_timer1", c.t1}, {"retr_timer2", c.t2}} {
		if d.v <= 0 {
			return nil, fmt.Errorf("%s must be a positive number of milliseconds", d.name)
		}
	}
	if c.wt < 0 {
		return nil, fmt.Errorf("wt_timer must not be negative")
	}
	if c.t2 < c.t1 {
		return nil, fmt.Errorf("retr_timer2 (%v) must not be shorter than retr_timer1 (%v)", c.t2, c.t1)
	}
	if c.cancelB < 0 || c.cancelB > 2 {
		return nil, fmt.Errorf("cancel_b_method %d: want 0, 1 or 2", c.cancelB)
	}
	if c.failureReplyMode < 0 || c.failureReplyMode > 3 {
		return nil, fmt.Errorf("failure_reply_mode %d: want 0 to 3", c.failureReplyMode)
	}
	s := &x.st
	s.uas = stats.New("tm", "UAS_transactions", "transactions created by the script")
	s.uac = stats.New("tm", "UAC_transactions", "branches (client transactions) sent")
	s.created = stats.New("tm", "created", "transactions created")
	s.freed = stats.New("tm", "freed", "transactions removed")
	s.relayed2xx = stats.New("tm", "relayed_2xx", "2xx replies relayed upstream")
	s.relayedNeg = stats.New("tm", "relayed_negative", "negative final replies relayed upstream")
	s.local = stats.New("tm", "relayed_local", "final replies generated locally")
	s.timeouts = stats.New("tm", "timeouts", "branches that timed out")
	s.retransAbsorbed = stats.New("tm", "rpl_absorbed", "request retransmissions answered from the transaction")
	s.canceled = stats.New("tm", "canceled", "transactions cancelled")
	for i := 1; i <= 6; i++ {
		s.replies[i] = stats.New("tm", fmt.Sprintf("%dxx_transactions", i), fmt.Sprintf("transactions completed with a %dxx", i))
	}
	stats.Gauge("tm", "current", func() int64 { return int64(x.table.count()) })
	if x.core != nil {
		x.core.ReplyHandlers = append(x.core.ReplyHandlers, x.onReply)
		x.core.RequestFilters = append(x.core.RequestFilters, x.ackFilter)
		x.core.ConnClosed = append(x.core.ConnClosed, x.connClosed)
	}
	return x, nil
}

// Stop ends every transaction's timers (server shutdown).
func (x *TM) Stop() {
	for _, t := range x.table.all() {
		t.mu.Lock()
		x.remove(t)
		t.mu.Unlock()
	}
}

// Count is the number of live transactions.
func (x *TM) Count() int { return x.table.count() }

// trackConn remembers that b waits on stream connection id.
func (x *TM) trackConn(b *Branch) {
	if b.conn == 0 {
		return
	}
	x.connMu.Lock()
	m := x.conns[b.conn]
	if m == nil {
		m = map[*Branch]struct{}{}
		x.conns[b.conn] = m
	}
	m[b] = struct{}{}
	x.connMu.Unlock()
}

func (x *TM) untrackConn(b *Branch) {
	if b.conn == 0 {
		return
	}
	x.connMu.Lock()
	if m := x.conns[b.conn]; m != nil {
		delete(m, b)
		if len(m) == 0 {
			delete(x.conns, b.conn)
		}
	}
	x.connMu.Unlock()
}

// connClosed fails the branches still waiting for a final reply on a stream
// connection that ended, instead of letting them wait for fr_timer.
func (x *TM) connClosed(id uint64) {
	x.connMu.Lock()
	m := x.conns[id]
	delete(x.conns, id)
	x.connMu.Unlock()
	for b := range m {
		b := b
		// Not on the transport's goroutine: failing a branch may run a
		// failure route and send.
		go x.branchFailed(b, 503, "Service Unavailable", "connection closed")
	}
}

// ctxMsg marks messages whose callbacks run with the transaction locked.
const (
	extT      = "tm.t"
	extLocked = "tm.locked"
	extBranch = "tm.branch"
)

// transOf returns the transaction attached to a message.
func transOf(m *msg.Msg) *Transaction {
	t, _ := m.GetExt(extT).(*Transaction)
	return t
}

// locked runs f with t's lock, unless m belongs to a callback that already
// holds it.
func locked(m *msg.Msg, t *Transaction, f func()) {
	if l, _ := m.GetExt(extLocked).(bool); l {
		f()
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	f()
}
