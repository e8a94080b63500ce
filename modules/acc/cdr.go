package acc

import (
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/stats"
	"github.com/luasbc/luasbc/modules/tm"
)

// cdrTracker is the minimal dialog tracking behind call data records: an
// INVITE answered 2xx starts a call (keyed by Call-ID and From tag), the
// BYE that completes (from either side) ends it. Kamailio needs the dialog
// module for this; here only what a CDR needs is kept.
type cdrTracker struct {
	m                                       *Module
	startID, endID, durID                   string
	onConfirmed, expired, onFailed, logThem bool
	table                                   string
	lifetime                                time.Duration
	maxCalls                                int

	mu    sync.Mutex
	calls map[string]*call
	stopc chan struct{}
	wg    sync.WaitGroup
	full  bool

	st struct{ written, expiredN, untracked *stats.Counter }
}

// call is one answered INVITE dialog.
type call struct {
	callid, fromTag, toTag string
	created, confirmed     time.Time
	extras                 []*string
}

const (
	// dialogLifetime is the dialog module's default_timeout: a call without
	// BYE is forgotten after it.
	dialogLifetime = 12 * time.Hour
	maxTrackedCall = 1 << 20
)

func newCDRTracker(m *Module, names []string, onConfirmed, expired, onFailed, logThem bool, table string) *cdrTracker {
	t := &cdrTracker{m: m, startID: names[0], endID: names[1], durID: names[2], onConfirmed: onConfirmed, expired: expired,
		onFailed: onFailed, logThem: logThem, table: table, lifetime: dialogLifetime, maxCalls: maxTrackedCall,
		calls: map[string]*call{}, stopc: make(chan struct{})}
	t.st.written = stats.New("acc", "cdrs", "call data records made")
	t.st.expiredN = stats.New("acc", "cdr_expired", "calls forgotten without BYE after the dialog lifetime")
	t.st.untracked = stats.New("acc", "cdr_untracked", "answered calls not tracked because the table was full")
	stats.Gauge("acc", "cdr_calls", func() int64 { return int64(t.count()) })
	return t
}

func key(callid, tag string) string { return callid + "\x00" + tag }

func (t *cdrTracker) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.calls)
}

// completed follows INVITE and BYE transactions.
func (t *cdrTracker) completed(c tm.Completion) {
	req := c.Req
	from, to := tagOf(req, true), tagOf(req, false)
	switch req.Method() {
	case "INVITE":
		if to != "" {
			return // re-INVITE inside a call
		}
		switch {
		case c.Code >= 200 && c.Code < 300:
			cl := &call{callid: req.CallID(), fromTag: from, toTag: c.ToTag, created: req.Time, confirmed: c.Time}
			cl.extras = evalExtras(t.m.ctxFor(req), t.m.cdrExtra)
			t.mu.Lock()
			if _, dup := t.calls[key(cl.callid, from)]; !dup {
				if len(t.calls) >= t.maxCalls {
					if !t.full {
						t.m.log.Error("acc: too many calls tracked for CDRs; new calls get none", zap.Int("max", t.maxCalls))
					}
					t.full = true
					t.st.untracked.Inc()
				} else {
					t.full = false
					t.calls[key(cl.callid, from)] = cl
				}
			}
			t.mu.Unlock()
		case c.Code >= 300 && t.onFailed:
			cl := &call{callid: req.CallID(), fromTag: from, toTag: c.ToTag, created: req.Time, confirmed: c.Time}
			cl.extras = evalExtras(t.m.ctxFor(req), t.m.cdrExtra)
			t.write(cl, c.Time, true)
		}
	case "BYE":
		t.mu.Lock()
		cl, ok := t.calls[key(req.CallID(), from)]
		if ok {
			delete(t.calls, key(req.CallID(), from))
		} else if cl, ok = t.calls[key(req.CallID(), to)]; ok {
			delete(t.calls, key(req.CallID(), to))
		}
		t.mu.Unlock()
		if ok {
			t.write(cl, c.Time, false)
		}
	}
}

// tagOf is the From (from) or To tag of m.
func tagOf(m *msg.Msg, from bool) string {
	if from {
		if h := m.SIP.From(); h != nil {
			tag, _ := h.Params.Get("tag")
			return tag
		}
		return ""
	}
	if h := m.SIP.To(); h != nil {
		tag, _ := h.Params.Get("tag")
		return tag
	}
	return ""
}

// write emits the record of a call that ended at end.
func (t *cdrTracker) write(cl *call, end time.Time, failed bool) {
	start := cl.created
	if t.onConfirmed {
		start = cl.confirmed
	}
	dur := end.Sub(cl.confirmed).Seconds()
	if failed || dur < 0 {
		dur = 0
	}
	if failed && t.onConfirmed {
		start = end
	}
	t.st.written.Inc()
	durS := strconv.FormatFloat(dur, 'f', 3, 64)
	if t.logThem {
		fields := []zap.Field{zap.String(t.startID, start.Local().Format(time.RFC3339Nano)), zap.String(t.endID, end.Local().Format(time.RFC3339Nano)),
			zap.String(t.durID, durS), zap.String("call_id", cl.callid), zap.String("from_tag", cl.fromTag), zap.String("to_tag", cl.toTag)}
		for i, v := range cl.extras {
			s := ""
			if v != nil {
				s = *v
			}
			fields = append(fields, zap.String(t.m.cdrExtra[i].Name, s))
		}
		if ce := t.m.log.Check(t.m.lvl, "ACC: call data record"); ce != nil {
			ce.Write(fields...)
		}
	}
	if t.table == "" || t.m.w == nil {
		return
	}
	str := func(s string) *string { return &s }
	r := record{Table: t.table, Cols: []string{t.startID, t.endID, t.durID},
		Vals: []*string{str(start.Local().Format("2006-01-02 15:04:05.000000")), str(end.Local().Format("2006-01-02 15:04:05.000000")), str(durS)}}
	for i, v := range cl.extras {
		if v == nil && !t.m.cdrNullable {
			v = str("")
		}
		r.Cols = append(r.Cols, t.m.cdrExtra[i].Name)
		r.Vals = append(r.Vals, v)
	}
	t.m.w.put(r)
}

func (t *cdrTracker) start() {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		tk := time.NewTicker(time.Minute)
		defer tk.Stop()
		for {
			select {
			case <-t.stopc:
				return
			case now := <-tk.C:
				t.expire(now)
			}
		}
	}()
}

// expire forgets calls older than the dialog lifetime (with a record when
// cdr_expired_dlg_enable is set).
func (t *cdrTracker) expire(now time.Time) {
	var gone []*call
	t.mu.Lock()
	for k, cl := range t.calls {
		if now.Sub(cl.confirmed) > t.lifetime {
			delete(t.calls, k)
			gone = append(gone, cl)
		}
	}
	t.mu.Unlock()
	for _, cl := range gone {
		t.st.expiredN.Inc()
		if t.expired {
			t.write(cl, now, false)
		}
	}
}

func (t *cdrTracker) stop() {
	close(t.stopc)
	t.wg.Wait()
}
