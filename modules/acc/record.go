package acc

import (
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/modules/tm"
)

// event is one thing to account: a completed transaction or a script call
// (acc_*_request), with the fixed fields Kamailio records.
type event struct {
	req     *msg.Msg
	method  string
	fromTag string
	toTag   string
	callid  string
	code    string
	reason  string
	at      time.Time
}

// completed is the tm hook: it decides, from the request flags and the
// final code, which records the transaction gives. It runs with the
// transaction locked: it only reads the request and queues.
func (m *Module) completed(c tm.Completion) {
	method := c.Req.Method()
	if method == "ACK" || method == "CANCEL" && !m.reportCancels {
		return
	}
	if m.cdr != nil && (method == "INVITE" || method == "BYE") {
		m.cdr.completed(c)
	}
	set := func(f int) bool { return f >= 0 && c.Flags.IsSet(f) }
	failed := c.Code >= 300
	accOK := !failed || set(m.failedFlag) && !m.failedFilter[c.Code]
	doLog, doDB := set(m.logFlag) && accOK, set(m.dbFlag) && accOK
	missed := failed && method == "INVITE"
	logMissed, dbMissed := missed && set(m.logMissed), missed && set(m.dbMissed)
	if !doLog && !doDB && !logMissed && !dbMissed {
		return
	}
	ev := m.eventOf(c)
	ctx := m.ctxFor(c.Req)
	if doLog {
		txt := "ACC: transaction answered"
		if failed {
			txt = "ACC: transaction failed"
		}
		m.logRecord(ctx, txt, ev)
	}
	if logMissed {
		m.logRecord(ctx, "ACC: call missed", ev)
	}
	if doDB {
		m.dbRecord(ctx, m.table(ctx, m.tableAcc, m.tableAccRaw), ev)
	}
	if dbMissed {
		m.dbRecord(ctx, m.table(ctx, m.tableMissed, m.tableMissedRaw), ev)
	}
	if logMissed || dbMissed {
		m.st.missed.Inc()
	}
}

// eventOf takes the fixed fields from the request and the final reply.
func (m *Module) eventOf(c tm.Completion) event {
	ev := event{req: c.Req, method: c.Req.Method(), callid: c.Req.CallID(), code: strconv.Itoa(c.Code), reason: c.Reason,
		toTag: c.ToTag, at: c.Time}
	if f := c.Req.SIP.From(); f != nil {
		ev.fromTag, _ = f.Params.Get("tag")
	}
	if m.reasonFromHF && c.Reply != nil {
		if r, ok := c.Reply.Header("Reason"); ok {
			ev.reason = reasonText(r)
		}
	}
	return ev
}

// reasonText is the text= parameter of a Reason header value, else the
// whole value.
func reasonText(v string) string {
	for _, p := range strings.Split(v, ";")[1:] {
		k, val, ok := strings.Cut(p, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "text") {
			return strings.Trim(strings.TrimSpace(val), `"`)
		}
	}
	return strings.TrimSpace(v)
}

// ctxFor is the PV context of a request outside any script callback.
func (m *Module) ctxFor(req *msg.Msg) *kemi.Ctx {
	c := &kemi.Ctx{M: req, Engine: m.env.Engine, Log: m.log}
	if m.env.Core != nil {
		c.Core = m.env.Core
	}
	return c
}

// table expands a table name that may contain PVs.
func (m *Module) table(c *kemi.Ctx, f *kemi.Format, raw string) string {
	if f == nil {
		return raw
	}
	return f.Expand(c)
}

// timeFields are the time_mode fields: names and values.
func (m *Module) timeFields(at time.Time) ([]string, []string) {
	switch m.timeMode {
	case 1:
		return []string{m.timeAttr, m.timeExten}, []string{strconv.FormatInt(at.Unix(), 10), strconv.Itoa(at.Nanosecond() / 1000)}
	case 2:
		return []string{m.timeAttr}, []string{strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)}
	case 3:
		return []string{m.timeAttr}, []string{strftime(m.timeFormat, at.Local())}
	case 4:
		return []string{m.timeAttr}, []string{strftime(m.timeFormat, at.UTC())}
	}
	return nil, nil
}

// logRecord writes one structured log line.
func (m *Module) logRecord(c *kemi.Ctx, txt string, ev event) {
	ce := m.log.Check(m.lvl, txt)
	m.st.dbRecords.Inc()
	if ce == nil {
		return
	}
	fields := []zap.Field{zap.Int64("timestamp", ev.at.Unix()), zap.String("method", ev.method), zap.String("from_tag", ev.fromTag),
		zap.String("to_tag", ev.toTag), zap.String("call_id", ev.callid), zap.String("code", ev.code), zap.String("reason", ev.reason)}
	names, vals := m.timeFields(ev.at)
	for i := range names {
		fields = append(fields, zap.String(names[i], vals[i]))
	}
	for i, v := range evalExtras(c, m.logExtra) {
		s := ""
		if v != nil {
			s = *v
		}
		fields = append(fields, zap.String(m.logExtra[i].Name, s))
	}
	ce.Write(fields...)
	m.st.logged.Inc()
}

// dbRecord queues one row for table.
func (m *Module) dbRecord(c *kemi.Ctx, table string, ev event) {
	if m.w == nil || table == "" {
		return
	}
	m.st.dbRecords.Inc()
	str := func(s string) *string { return &s }
	r := record{Table: table,
		Cols: []string{m.cols.method, m.cols.fromTag, m.cols.toTag, m.cols.callid, m.cols.code, m.cols.reason, m.cols.time},
		Vals: []*string{str(ev.method), str(ev.fromTag), str(ev.toTag), str(ev.callid), str(ev.code), str(truncate(ev.reason, 128)),
			str(ev.at.Local().Format("2006-01-02 15:04:05.000000"))}}
	names, vals := m.timeFields(ev.at)
	for i := range names {
		r.Cols = append(r.Cols, names[i])
		r.Vals = append(r.Vals, str(vals[i]))
	}
	for i, v := range evalExtras(c, m.dbExtra) {
		if v == nil && !m.extraNullable {
			v = str("")
		}
		r.Cols = append(r.Cols, m.dbExtra[i].Name)
		r.Vals = append(r.Vals, v)
	}
	m.w.put(r)
}

// truncate keeps s within n bytes (the column's size) at a UTF-8 boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
