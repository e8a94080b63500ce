package tm

import (
	"sync"
	"time"

	"github.com/luasbc/luasbc/core/msg"
)

// Completion describes a transaction at the moment its final reply goes
// upstream (Kamailio's TMCB_RESPONSE_OUT for the final reply): what acc
// accounts and a dialog tracker watches.
type Completion struct {
	// Req is the transaction's request as the routes left it (flags set in a
	// failure route included). Read only: it belongs to the transaction.
	Req *msg.Msg
	// Reply is the received reply relayed upstream; nil when the reply was
	// made here (t_reply, 408 on timeout, 487 after CANCEL).
	Reply *msg.Msg
	// Flags are the request flags that decide accounting: those of the
	// message whose route sent a local reply, else the transaction's.
	Flags  msg.Flags
	Code   int
	Reason string
	// ToTag is the To tag of the final reply.
	ToTag string
	Time  time.Time
}

// completedHooks are the registered callbacks per tm instance.
var (
	hooksMu        sync.RWMutex
	completedHooks = map[*TM][]*completedHook{}
)

type completedHook struct{ f func(Completion) }

// OnCompleted registers f to run once for every transaction of this tm
// instance, when its final reply is sent upstream. f runs with the
// transaction locked, on the goroutine sending the reply: it must not block
// (queue the work). The returned function removes the registration.
func (x *TM) OnCompleted(f func(Completion)) (remove func()) {
	h := &completedHook{f: f}
	hooksMu.Lock()
	completedHooks[x] = append(completedHooks[x], h)
	hooksMu.Unlock()
	return func() {
		hooksMu.Lock()
		defer hooksMu.Unlock()
		hs := completedHooks[x]
		for i, o := range hs {
			if o == h {
				completedHooks[x] = append(hs[:i:i], hs[i+1:]...)
				break
			}
		}
		if len(completedHooks[x]) == 0 {
			delete(completedHooks, x)
		}
	}
}

// completed runs the OnCompleted hooks of t (locked), once: it is called
// where t.final becomes true. rpl is the relayed reply or nil for a local
// one; cur is the message whose route made a local reply (its flags are the
// current ones), or nil.
func (x *TM) completed(t *Transaction, rpl, cur *msg.Msg, code int, reason string) {
	hooksMu.RLock()
	hs := completedHooks[x]
	hooksMu.RUnlock()
	if len(hs) == 0 || t.req == nil {
		return
	}
	c := Completion{Req: t.req, Reply: rpl, Flags: t.req.Flags, Code: code, Reason: reason, Time: time.Now()}
	if cur != nil && cur.Req != nil {
		c.Flags = cur.Flags
	}
	if rpl != nil {
		if to := rpl.SIP.To(); to != nil {
			c.ToTag, _ = to.Params.Get("tag")
		}
	} else if code > 100 {
		c.ToTag = t.toTag
		if to := t.req.SIP.To(); to != nil {
			if tag, ok := to.Params.Get("tag"); ok && tag != "" {
				c.ToTag = tag // in-dialog request: the reply keeps the dialog's tag
			}
		}
	}
	for _, h := range hs {
		h.f(c)
	}
}

// NextBranch is the Via branch value tm writes on the request of the branch
// route m runs for (rtpengine's via-branch=next); ok is false outside a
// branch route.
func NextBranch(m *msg.Msg) (string, bool) {
	t := transOf(m)
	idx, ok := m.GetExt(extBranch).(int)
	if t == nil || !ok || m.RouteType != msg.RouteBranch {
		return "", false
	}
	return branchPrefix + t.id + "." + itoa(idx), true
}
