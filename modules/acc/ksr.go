package acc

import (
	"strconv"
	"strings"
	"time"

	"github.com/luasbc/luasbc/kemi"
)

// Exports implements kemi.Instance: Kamailio's KSR.acc functions.
func (m *Module) Exports() []kemi.Export {
	return []kemi.Export{
		kemi.FnStrInt("acc_log_request", "Account the current request to the log now; comment \"CODE TEXT\" gives sip_code and sip_reason (PVs expanded). 1 ok.",
			func(c *kemi.Ctx, comment string) int { return m.request(c, comment, "", true, false) }),
		kemi.FnStrStrInt("acc_db_request", "Account the current request to table (PVs expanded) now. 1 ok, -1 no database.",
			func(c *kemi.Ctx, comment, table string) int { return m.request(c, comment, table, false, true) }),
		kemi.FnStrStrInt("acc_request", "Account the current request to the log and, with a database, to table. 1 ok.",
			func(c *kemi.Ctx, comment, table string) int { return m.request(c, comment, table, true, m.w != nil) }),
	}
}

// request is acc_*_request: a record for the message being routed.
func (m *Module) request(c *kemi.Ctx, comment, table string, toLog, toDB bool) int {
	if c.M == nil || c.M.SIP == nil {
		return -1
	}
	if toDB && m.w == nil {
		c.Logger().Error("acc_db_request: no database (db_url)")
		return -1
	}
	comment = c.Engine.ParseFormat(comment).Expand(c)
	code, reason := splitComment(comment)
	ev := event{req: c.M, method: c.M.Method(), callid: c.M.CallID(), code: code, reason: reason, at: time.Now()}
	if f := c.M.SIP.From(); f != nil {
		ev.fromTag, _ = f.Params.Get("tag")
	}
	if t := c.M.SIP.To(); t != nil {
		ev.toTag, _ = t.Params.Get("tag")
	}
	if toLog {
		m.logRecord(c, "ACC: request accounted", ev)
	}
	if toDB {
		table = c.Engine.ParseFormat(table).Expand(c)
		if table == "" {
			c.Logger().Error("acc_db_request: empty table name")
			return -1
		}
		m.dbRecord(c, table, ev)
	}
	return 1
}

// splitComment reads "CODE TEXT": a three-digit code 100-699 then the
// reason; without a code the code is 0 and the whole comment the reason.
func splitComment(s string) (string, string) {
	s = strings.TrimSpace(s)
	if len(s) >= 3 {
		if n, err := strconv.Atoi(s[:3]); err == nil && n >= 100 && n <= 699 && (len(s) == 3 || s[3] == ' ') {
			return s[:3], strings.TrimSpace(s[3:])
		}
	}
	return "0", s
}
