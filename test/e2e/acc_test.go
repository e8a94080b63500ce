package e2e

// Accounting end to end: bin/sbc with tm and acc, SIPp callers and callees
// (testdata/sipp/calls), records in a private PostgreSQL schema
// (backendtest.Schema) reached through a TCP proxy the test can cut, to
// show that no record is lost across a database outage in the middle of a
// run.
//
//	go test ./test/e2e/ -run 'TestAcc' -v

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/luasbc/luasbc/core/backend/backendtest"
)

// accScript accounts INVITEs and BYEs with the flags of Kamailio's example
// (FLT_ACC=1, FLT_ACCMISSED=2, FLT_ACCFAILED=3); the R-URI user picks the
// callee: callee (answers), busy (486, a missed call), failed (486, with the
// failed-transaction flag: acc and missed_calls).
const accScript = `
function ksr_request_route()
	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then KSR.tm.t_relay() end
		return 1
	end
	if not KSR.is_ACK() and KSR.tm.t_check_trans() == 0 then return 1 end
	if KSR.siputils.has_totag() > 0 then
		if KSR.rr.loose_route() > 0 then
			if KSR.is_BYE() then
				KSR.setflag(1)
				KSR.setflag(3)
			end
			KSR.tm.t_relay()
			return 1
		end
		if KSR.is_ACK() and KSR.tm.t_check_trans() > 0 then KSR.tm.t_relay() end
		return 1
	end
	KSR.hdr.remove("Route")
	KSR.rr.record_route()
	local user = KSR.kx.gete_ruser()
	if KSR.is_INVITE() then
		KSR.setflag(1)
		KSR.setflag(2)
		if user == "failed" then KSR.setflag(3) end
	end
	if user == "callee" then
		KSR.setdsturi("sip:127.0.0.1:__ANSWER__")
	else
		KSR.setdsturi("sip:127.0.0.1:__BUSY__")
	end
	if KSR.tm.t_relay() < 0 then KSR.sl.sl_reply_error() end
	return 1
end
`

// accSchema creates Kamailio's acc tables (as sbcctl db create would) with
// the extra columns of the test.
func accSchema(t *testing.T) (string, *pgxpool.Pool) {
	url, sp := backendtest.Schema(t)
	for _, q := range []string{
		`CREATE TABLE acc (id SERIAL PRIMARY KEY, method VARCHAR(16) DEFAULT '' NOT NULL, from_tag VARCHAR(128) DEFAULT '' NOT NULL,
		 to_tag VARCHAR(128) DEFAULT '' NOT NULL, callid VARCHAR(255) DEFAULT '' NOT NULL, sip_code VARCHAR(3) DEFAULT '' NOT NULL,
		 sip_reason VARCHAR(128) DEFAULT '' NOT NULL, time TIMESTAMP WITHOUT TIME ZONE NOT NULL, src_ip VARCHAR(64), dst_user VARCHAR(64))`,
		`CREATE TABLE missed_calls (LIKE acc INCLUDING ALL)`,
		`CREATE TABLE acc_cdrs (id SERIAL PRIMARY KEY, start_time TIMESTAMP NOT NULL, end_time TIMESTAMP NOT NULL, duration REAL NOT NULL, callid VARCHAR(255))`,
	} {
		if _, err := sp.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	return url, sp
}

func startAccServer(t *testing.T, dbURL string, answer, busy int) *Server {
	t.Helper()
	script := filepath.Join(t.TempDir(), "acc.lua")
	if err := os.WriteFile(script, []byte(accScript), 0o644); err != nil {
		t.Fatal(err)
	}
	return StartServer(t, Opts{Script: script,
		Replace: map[string]string{"__ANSWER__": strconv.Itoa(answer), "__BUSY__": strconv.Itoa(busy)},
		Modules: []string{"sl: {}", "tm: {fr_timer: 5000, fr_inv_timer: 20000}", "tmx: {}", "rr: {}", "siputils: {}", "kx: {}",
			fmt.Sprintf(`acc: {log_flag: 1, log_missed_flag: 2, db_flag: 1, db_missed_flag: 2, failed_transaction_flag: 3,
    db_url: "%s", db_extra: "src_ip=$si;dst_user=$rU", log_extra: "src_ip=$si",
    cdr_enable: 1, cdrs_table: acc_cdrs, cdr_extra: "callid=$ci", db_spool_dir: "%s"}`, dbURL, filepath.Join(t.TempDir(), "spool"))},
	})
}

func rowsIn(t *testing.T, p *pgxpool.Pool, q string) int {
	var n int
	if err := p.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func waitCount(t *testing.T, p *pgxpool.Pool, q string, want int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		n := rowsIn(t, p, q)
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d, want %d", q, n, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func runCalls(t *testing.T, s *Server, callerScenario, user string, calls int, rate string, callee *sippAgent) {
	t.Helper()
	caller := startSIPp(t, "caller-"+user, callerScenario, freePorts(t, 6), s.Addr, "-s", user, "-m", strconv.Itoa(calls), "-r", rate)
	for _, a := range []*sippAgent{caller, callee} {
		if code, ok := a.wait(sippTimeout + 15*time.Second); !ok || code != 0 {
			t.Fatalf("sipp %s exit %d (finished %v)\n%s\nsbc:\n%s", a.Name, code, ok, a.report(), tail(s.Logs(), 3000))
		}
	}
}

// TestAccAnsweredMissedFailed: one row per accounted transaction with
// Kamailio's columns and the extras, missed calls in missed_calls, CDRs.
func TestAccAnsweredMissedFailed(t *testing.T) {
	callsEnabled(t)
	t.Parallel()
	dbURL, sp := accSchema(t)
	ansPort, busyPort := freePorts(t, 6), freePorts(t, 6)
	answer := startSIPp(t, "answer", "uas_answer.xml", ansPort, "", "-m", "2")
	busy := startSIPp(t, "busy", "uas_busy.xml", busyPort, "", "-m", "4")
	answer.waitBound(t)
	busy.waitBound(t)
	s := startAccServer(t, dbURL, ansPort, busyPort)
	runCalls(t, s, "uac_call.xml", "callee", 2, "10", answer)
	caller := startSIPp(t, "caller-busy", "uac_busy.xml", freePorts(t, 6), s.Addr, "-s", "busy", "-m", "2", "-r", "10")
	if code, ok := caller.wait(sippTimeout + 10*time.Second); !ok || code != 0 {
		t.Fatalf("busy caller exit %d\n%s", code, caller.report())
	}
	runCalls(t, s, "uac_busy.xml", "failed", 2, "10", busy)

	waitCount(t, sp, "SELECT count(*) FROM acc", 2+2+2, 10*time.Second)      // 2 INVITE + 2 BYE answered, 2 failed INVITE
	waitCount(t, sp, "SELECT count(*) FROM missed_calls", 4, 10*time.Second) // busy and failed
	waitCount(t, sp, "SELECT count(*) FROM acc_cdrs", 2+4, 10*time.Second)   // answered, and failed calls (cdr_on_failed)
	if n := rowsIn(t, sp, "SELECT count(*) FROM acc WHERE method='INVITE' AND sip_code='200' AND sip_reason='OK' AND dst_user='callee' AND src_ip='127.0.0.1' AND to_tag<>'' AND from_tag<>''"); n != 2 {
		t.Errorf("answered INVITE rows: %d", n)
	}
	if n := rowsIn(t, sp, "SELECT count(*) FROM acc WHERE method='BYE' AND sip_code='200'"); n != 2 {
		t.Errorf("BYE rows: %d", n)
	}
	if n := rowsIn(t, sp, "SELECT count(*) FROM acc WHERE method='INVITE' AND sip_code='486' AND dst_user='failed'"); n != 2 {
		t.Errorf("failed INVITE rows: %d", n)
	}
	if n := rowsIn(t, sp, "SELECT count(*) FROM missed_calls WHERE sip_code='486' AND dst_user IN ('busy','failed')"); n != 4 {
		t.Errorf("missed_calls rows: %d", n)
	}
	if n := rowsIn(t, sp, "SELECT count(*) FROM acc_cdrs WHERE duration > 0 AND end_time > start_time AND callid <> ''"); n != 2 {
		t.Errorf("CDRs of answered calls: %d", n)
	}
	for _, l := range []string{"ACC: transaction answered", "ACC: call missed", "ACC: transaction failed", "ACC: call data record"} {
		if !strings.Contains(s.Logs(), l) {
			t.Errorf("no log line %q", l)
		}
	}
}

// TestAccNoneLostAcrossOutage: PostgreSQL disappears in the middle of a run
// of calls and comes back: every record arrives, once, and SIP never waited.
func TestAccNoneLostAcrossOutage(t *testing.T) {
	callsEnabled(t)
	t.Parallel()
	dbURL, sp := accSchema(t)
	proxy := backendtest.NewProxy(t, backendtest.HostPort(t, dbURL))
	const calls = 30
	ansPort := freePorts(t, 6)
	answer := startSIPp(t, "answer", "uas_answer.xml", ansPort, "", "-m", strconv.Itoa(calls))
	answer.waitBound(t)
	s := startAccServer(t, proxy.Via(t, dbURL), ansPort, freePorts(t, 1))
	go func() {
		time.Sleep(800 * time.Millisecond)
		proxy.SetDown(true)
		time.Sleep(2 * time.Second)
		proxy.SetDown(false)
	}()
	start := time.Now()
	runCalls(t, s, "uac_call.xml", "callee", calls, "10", answer)
	if el := time.Since(start); el > 15*time.Second {
		t.Errorf("the calls took %v: SIP waited for the database", el)
	}
	waitCount(t, sp, "SELECT count(*) FROM acc", 2*calls, 40*time.Second)
	waitCount(t, sp, "SELECT count(DISTINCT callid || method) FROM acc", 2*calls, time.Second)
	waitCount(t, sp, "SELECT count(*) FROM acc_cdrs", calls, 10*time.Second)
	st := s.Stats("acc:db_spooled", "acc:spool_dropped", "acc:queue_dropped", "acc:spool_records")
	if st["acc:db_spooled"] == 0 {
		t.Errorf("no record went through the spool: the outage missed the run (%v)", st)
	}
	if st["acc:spool_dropped"] != 0 || st["acc:queue_dropped"] != 0 || st["acc:spool_records"] != 0 {
		t.Errorf("records lost or left behind: %v", st)
	}
	if !strings.Contains(s.Logs(), "accounting database unreachable") || !strings.Contains(s.Logs(), "spooled records written") {
		t.Errorf("outage and recovery not logged:\n%s", tail(s.Logs(), 3000))
	}
}
