// Package acc accounts transactions as Kamailio's acc module: when a
// transaction sends its final reply, requests marked with the accounting
// flags give one record to the log and/or to PostgreSQL (tables acc and
// missed_calls with Kamailio's columns, plus extra columns from
// pseudo-variables). A minimal dialog tracker writes call data records
// (start, end, duration). Database writes are batched off the SIP path and
// spooled to disk while the database is away.
package acc

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/luasbc/luasbc/core/backend"
	"github.com/luasbc/luasbc/core/stats"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/modules/tm"
)

func init() {
	kemi.RegisterModule(&kemi.Module{
		Name:   "acc",
		Doc:    "Transaction accounting (acc, missed_calls) to the log and PostgreSQL, and call data records; batched, spooled to disk while the database is away.",
		Params: params,
		New:    newModule,
		Tables: []kemi.Table{
			{Name: "acc", Version: 5, SQL: accSQL("acc")},
			{Name: "missed_calls", Version: 4, SQL: accSQL("missed_calls")},
			{Name: "acc_cdrs", Version: 2, SQL: cdrsSQL},
		},
	})
}

// accSQL is Kamailio's acc / missed_calls table (the same columns).
func accSQL(name string) string {
	return `CREATE TABLE ` + name + ` (
    id SERIAL PRIMARY KEY NOT NULL,
    method VARCHAR(16) DEFAULT '' NOT NULL,
    from_tag VARCHAR(128) DEFAULT '' NOT NULL,
    to_tag VARCHAR(128) DEFAULT '' NOT NULL,
    callid VARCHAR(255) DEFAULT '' NOT NULL,
    sip_code VARCHAR(3) DEFAULT '' NOT NULL,
    sip_reason VARCHAR(128) DEFAULT '' NOT NULL,
    time TIMESTAMP WITHOUT TIME ZONE NOT NULL
);
CREATE INDEX ` + name + `_callid_idx ON ` + name + ` (callid);`
}

// cdrsSQL is Kamailio's acc_cdrs table.
const cdrsSQL = `CREATE TABLE acc_cdrs (
    id SERIAL PRIMARY KEY NOT NULL,
    start_time TIMESTAMP WITHOUT TIME ZONE DEFAULT '2000-01-01 00:00:00' NOT NULL,
    end_time TIMESTAMP WITHOUT TIME ZONE DEFAULT '2000-01-01 00:00:00' NOT NULL,
    duration REAL DEFAULT 0 NOT NULL
);
CREATE INDEX acc_cdrs_start_time_idx ON acc_cdrs (start_time);`

var params = []kemi.ParamDef{
	{Name: "early_media", Default: 0, Doc: "Accounting of provisional replies with a body is not supported.", Ignored: true},
	{Name: "failed_transaction_flag", Default: -1, Doc: "Request flag: account the transaction also when it fails (final reply >= 300)."},
	{Name: "failed_filter", Default: "", Doc: "Comma-separated codes (300-999) never accounted as failed transactions."},
	{Name: "report_ack", Default: 0, Doc: "End-to-end ACKs are not accounted.", Ignored: true},
	{Name: "report_cancels", Default: 0, Doc: "1: account CANCEL transactions too."},
	{Name: "detect_direction", Default: 0, Doc: "From/To are accounted as the request carries them.", Ignored: true},
	{Name: "acc_prepare_flag", Default: -1, Doc: "Every transaction is prepared for accounting here: flags set in failure and reply routes count.", Ignored: true},
	{Name: "acc_prepare_always", Default: 0, Doc: "Every transaction is prepared for accounting here.", Ignored: true},
	{Name: "acc_extra_nullable", Default: 0, Doc: "1: a null extra value is written as NULL, else as an empty string."},
	{Name: "multi_leg_info", Default: "", Doc: "Multi call-leg accounting is not supported.", Ignored: true},
	{Name: "log_flag", Default: -1, Doc: "Request flag: account the transaction to the log."},
	{Name: "log_missed_flag", Default: -1, Doc: "Request flag: log an INVITE that fails as a missed call."},
	{Name: "log_level", Default: 1, Doc: "Kamailio log level of the accounting lines: <= -1 error, 0 warning, 1 notice and 2 info (info), >= 3 debug."},
	{Name: "log_facility", Default: "LOG_DAEMON", Doc: "Logs go through the server's logger.", Ignored: true},
	{Name: "log_extra", Default: "", Doc: "Extra fields of the log line: \"name=$pv;name=$pv\"."},
	{Name: "db_flag", Default: -1, Doc: "Request flag: write the transaction to db_table_acc."},
	{Name: "db_missed_flag", Default: -1, Doc: "Request flag: write an INVITE that fails to db_table_missed_calls."},
	{Name: "db_table_acc", Default: "acc", Doc: "Table of accounted transactions; may contain PVs (acc_$time(year)_$time(mon))."},
	{Name: "db_table_missed_calls", Default: "missed_calls", Doc: "Table of missed calls; may contain PVs."},
	{Name: "db_url", Default: "", Doc: "PostgreSQL URL (default: the global db_url); empty: no database accounting."},
	{Name: "acc_method_column", Default: "method", Doc: "Column of the request method."},
	{Name: "acc_from_tag_column", Default: "from_tag", Doc: "Column of the From tag."},
	{Name: "acc_to_tag_column", Default: "to_tag", Doc: "Column of the To tag."},
	{Name: "acc_callid_column", Default: "callid", Doc: "Column of the Call-ID."},
	{Name: "acc_sip_code_column", Default: "sip_code", Doc: "Column of the final reply code."},
	{Name: "acc_sip_reason_column", Default: "sip_reason", Doc: "Column of the final reply reason."},
	{Name: "acc_time_column", Default: "time", Doc: "Column of the completion time."},
	{Name: "db_extra", Default: "", Doc: "Extra columns: \"column=$pv;column=$pv\" (add the columns to the tables)."},
	{Name: "db_insert_mode", Default: 0, Doc: "Inserts are always batched off the SIP path here.", Ignored: true},
	{Name: "cdr_enable", Default: 0, Doc: "1: track INVITE dialogs (200 starts, BYE ends) and write a call data record for each."},
	{Name: "cdr_skip", Default: "", Doc: "There are no dialog variables here.", Ignored: true},
	{Name: "cdr_expired_dlg_enable", Default: 0, Doc: "1: write a record for a dialog that ends without BYE (after 12 hours)."},
	{Name: "cdr_start_on_confirmed", Default: 0, Doc: "1: the call starts at the 200 OK; 0: at the INVITE."},
	{Name: "cdr_facility", Default: "LOG_DAEMON", Doc: "Logs go through the server's logger.", Ignored: true},
	{Name: "cdr_extra", Default: "", Doc: "Extra CDR fields \"name=$pv;...\", read from the INVITE when the call is answered."},
	{Name: "cdr_extra_nullable", Default: 0, Doc: "1: null cdr_extra values are written as NULL."},
	{Name: "cdr_start_id", Default: "start_time", Doc: "Name of the start time field/column."},
	{Name: "cdr_end_id", Default: "end_time", Doc: "Name of the end time field/column."},
	{Name: "cdr_duration_id", Default: "duration", Doc: "Name of the duration field/column."},
	{Name: "cdr_log_enable", Default: 1, Doc: "1: write call data records to the log."},
	{Name: "cdrs_table", Default: "", Doc: "Table of call data records (e.g. acc_cdrs); empty: not written to the database."},
	{Name: "time_mode", Default: 0, Doc: "0 time only; 1 time_attr = seconds, time_exten = microseconds; 2 time_attr = seconds.milliseconds; 3/4 time_attr = time_format of local/UTC time."},
	{Name: "time_attr", Default: "time_attr", Doc: "Field/column of the extra time value (time_mode 1-4)."},
	{Name: "time_exten", Default: "time_exten", Doc: "Field/column of the microseconds (time_mode 1)."},
	{Name: "time_format", Default: "%Y-%m-%d %H:%M:%S", Doc: "strftime format of time_mode 3 and 4."},
	{Name: "reason_from_hf", Default: 0, Doc: "1: sip_reason from the Reason header of the reply when there is one."},
	{Name: "clone_msg", Default: 1, Doc: "The transaction's request is always read as the routes left it.", Ignored: true},
	{Name: "cdr_on_failed", Default: 1, Doc: "1: a call data record (duration 0) also for INVITEs that fail."},
	{Name: "acc_extra_size", Default: 64, Doc: "Most extra fields of log_extra/db_extra."},
	{Name: "cdr_extra_size", Default: 64, Doc: "Most fields of cdr_extra."},
	{Name: "db_spool_dir", Default: "acc-spool", Doc: "luasbc: directory (relative to the config file) holding database records while the database is away."},
	{Name: "db_spool_max_mb", Default: 256, Doc: "luasbc: most megabytes the spool holds; beyond, records are lost and counted (acc:spool_dropped)."},
	{Name: "db_queue_size", Default: 10000, Doc: "luasbc: records waiting for the database writer; beyond, records are lost and counted (acc:queue_dropped)."},
}

// flagOf reads a flag parameter: -1 (unset) or 0..31.
func flagOf(p kemi.Params, name string) (int, error) {
	f := p.Int(name)
	if f < -1 || f > 31 {
		return 0, fmt.Errorf("%s %d: want a flag 0-31 (or -1 for none)", name, f)
	}
	return f, nil
}

// Module is the configured acc module.
type Module struct {
	env *kemi.Env
	log *zap.Logger
	lvl zapcore.Level

	logFlag, logMissed, dbFlag, dbMissed, failedFlag int
	failedFilter                                     map[int]bool
	reportCancels, reasonFromHF                      bool
	extraNullable, cdrNullable                       bool
	logExtra, dbExtra, cdrExtra                      []extra
	cols                                             coreCols
	tableAcc, tableMissed                            *kemi.Format
	tableAccRaw, tableMissedRaw                      string
	timeMode                                         int
	timeAttr, timeExten, timeFormat                  string

	dbURL      string
	spoolDir   string
	spoolMax   int64
	queueSize  int
	w          *writer
	removeHook func()

	cdr *cdrTracker

	st struct{ logged, dbRecords, missed *stats.Counter }
	mu sync.Mutex
}

// coreCols are the column names of the fixed fields.
type coreCols struct{ method, fromTag, toTag, callid, code, reason, time string }

func newModule(env *kemi.Env) (kemi.Instance, error) {
	p := env.Params
	m := &Module{env: env, log: env.Log}
	var err error
	for _, f := range []struct {
		dst  *int
		name string
	}{{&m.logFlag, "log_flag"}, {&m.logMissed, "log_missed_flag"}, {&m.dbFlag, "db_flag"}, {&m.dbMissed, "db_missed_flag"},
		{&m.failedFlag, "failed_transaction_flag"}} {
		if *f.dst, err = flagOf(p, f.name); err != nil {
			return nil, err
		}
	}
	m.failedFilter = map[int]bool{}
	for _, s := range strings.Split(p.Str("failed_filter"), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 300 || n > 999 {
			return nil, fmt.Errorf("failed_filter: %q is not a code from 300 to 999", s)
		}
		m.failedFilter[n] = true
	}
	m.reportCancels, m.reasonFromHF = p.Bool("report_cancels"), p.Bool("reason_from_hf")
	m.extraNullable, m.cdrNullable = p.Bool("acc_extra_nullable"), p.Bool("cdr_extra_nullable")
	m.lvl = kamLevel(p.Int("log_level"))
	eng := env.Engine
	if m.logExtra, err = parseExtras("log_extra", p.Str("log_extra"), eng, p.Int("acc_extra_size")); err != nil {
		return nil, err
	}
	if m.dbExtra, err = parseExtras("db_extra", p.Str("db_extra"), eng, p.Int("acc_extra_size")); err != nil {
		return nil, err
	}
	if m.cdrExtra, err = parseExtras("cdr_extra", p.Str("cdr_extra"), eng, p.Int("cdr_extra_size")); err != nil {
		return nil, err
	}
	m.cols = coreCols{p.Str("acc_method_column"), p.Str("acc_from_tag_column"), p.Str("acc_to_tag_column"),
		p.Str("acc_callid_column"), p.Str("acc_sip_code_column"), p.Str("acc_sip_reason_column"), p.Str("acc_time_column")}
	for _, c := range []string{m.cols.method, m.cols.fromTag, m.cols.toTag, m.cols.callid, m.cols.code, m.cols.reason, m.cols.time} {
		if !validName(c) {
			return nil, fmt.Errorf("column name %q: letters, digits and _ only", c)
		}
	}
	m.tableAccRaw, m.tableMissedRaw = p.Str("db_table_acc"), p.Str("db_table_missed_calls")
	if eng != nil {
		m.tableAcc, m.tableMissed = eng.ParseFormat(m.tableAccRaw), eng.ParseFormat(m.tableMissedRaw)
	}
	m.timeMode = p.Int("time_mode")
	if m.timeMode < 0 || m.timeMode > 4 {
		return nil, fmt.Errorf("time_mode %d: want 0 to 4", m.timeMode)
	}
	m.timeAttr, m.timeExten, m.timeFormat = p.Str("time_attr"), p.Str("time_exten"), p.Str("time_format")
	if m.timeMode > 0 && (!validName(m.timeAttr) || m.timeMode == 1 && !validName(m.timeExten)) {
		return nil, fmt.Errorf("time_attr/time_exten must be column names")
	}
	if p.Bool("cdr_enable") {
		names := []string{p.Str("cdr_start_id"), p.Str("cdr_end_id"), p.Str("cdr_duration_id")}
		for _, n := range names {
			if !validName(n) {
				return nil, fmt.Errorf("cdr_start_id/cdr_end_id/cdr_duration_id %q: letters, digits and _ only", n)
			}
		}
		m.cdr = newCDRTracker(m, names, p.Bool("cdr_start_on_confirmed"), p.Bool("cdr_expired_dlg_enable"),
			p.Bool("cdr_on_failed"), p.Bool("cdr_log_enable"), p.Str("cdrs_table"))
	}
	if env.Core != nil && env.Core.Cfg != nil {
		m.dbURL = backend.Resolve(p.Str("db_url"), env.Core.Cfg.DBURL)
		m.spoolDir = env.Core.Cfg.Path(p.Str("db_spool_dir"))
	} else {
		m.dbURL = p.Str("db_url")
		m.spoolDir = p.Str("db_spool_dir")
	}
	m.spoolMax = int64(p.Int("db_spool_max_mb")) << 20
	m.queueSize = p.Int("db_queue_size")
	if m.spoolMax <= 0 || m.queueSize <= 0 {
		return nil, fmt.Errorf("db_spool_max_mb and db_queue_size must be positive")
	}
	if m.dbURL == "" && (m.dbFlag >= 0 || m.dbMissed >= 0 || m.cdr != nil && m.cdr.table != "") {
		return nil, fmt.Errorf("db_flag, db_missed_flag or cdrs_table set but no db_url (module or global)")
	}
	m.st.logged = stats.New("acc", "log_records", "accounting records written to the log")
	m.st.dbRecords = stats.New("acc", "records", "accounting records made (log or database)")
	m.st.missed = stats.New("acc", "missed_calls", "missed calls accounted")
	return m, nil
}

// kamLevel maps Kamailio's log levels to zap's.
func kamLevel(l int) zapcore.Level {
	switch {
	case l <= -1:
		return zapcore.ErrorLevel
	case l == 0:
		return zapcore.WarnLevel
	case l <= 2:
		return zapcore.InfoLevel
	}
	return zapcore.DebugLevel
}

// Start connects to the database (an unreachable one is a start-up error,
// as in Kamailio), opens the spool, starts the writer and hooks into tm.
func (m *Module) Start() error {
	t, _ := m.env.Engine.Instance("tm").(*tm.TM)
	if t == nil {
		return fmt.Errorf("acc needs the tm module (list tm before acc under modules:)")
	}
	if m.dbURL != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		pool, err := backend.Postgres(ctx, m.dbURL)
		if err != nil {
			return err
		}
		sp, err := openSpool(m.spoolDir, m.spoolMax)
		if err != nil {
			return fmt.Errorf("%w (db_spool_dir %s)", err, m.spoolDir)
		}
		if n := sp.pending(); n > 0 {
			m.log.Info("accounting spool from an earlier run found: it is written to the database", zap.Int64("records", n),
				zap.String("dir", m.spoolDir))
		}
		m.w = newWriter(pool, sp, m.queueSize, m.log)
		go m.w.run()
	}
	if m.cdr != nil {
		m.cdr.start()
	}
	m.removeHook = t.OnCompleted(m.completed)
	return nil
}

// Stop unhooks, ends the dialog tracker and flushes the writer: what the
// database does not take now stays in the spool for the next start.
func (m *Module) Stop() {
	if m.removeHook != nil {
		m.removeHook()
	}
	if m.cdr != nil {
		m.cdr.stop()
	}
	if m.w != nil {
		close(m.w.stop)
		<-m.w.done
	}
}
