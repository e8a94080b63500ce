package acc

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/backend"
	"github.com/luasbc/luasbc/core/backend/backendtest"
	"github.com/luasbc/luasbc/kemi/kemitest"
	_ "github.com/luasbc/luasbc/modules/sl"
	_ "github.com/luasbc/luasbc/modules/tm"
)

type peer = kemitest.Peer

var newPeer = kemitest.NewPeer

func replyTo(req string, code int, reason, toTag string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\n", code, reason)
	for _, v := range kemitest.Headers(req, "Via") {
		b.WriteString("Via: " + v + "\n")
	}
	b.WriteString("From: " + kemitest.Headers(req, "From")[0] + "\n")
	to := kemitest.Headers(req, "To")[0]
	if !strings.Contains(to, "tag=") {
		to += ";tag=" + toTag
	}
	b.WriteString("To: " + to + "\n")
	b.WriteString("Call-ID: " + kemitest.Headers(req, "Call-ID")[0] + "\n")
	b.WriteString("CSeq: " + kemitest.Headers(req, "CSeq")[0] + "\n")
	b.WriteString("Content-Length: 0\n\n")
	return b.String()
}

// accScript marks INVITEs and BYEs like Kamailio's example (FLT_ACC=1,
// FLT_ACCMISSED=2, FLT_ACCFAILED=3) and relays to the callee.
const accScript = `
function ksr_request_route()
	if KSR.is_ACK() then
		if KSR.tm.t_check_trans() > 0 then KSR.tm.t_relay() end
		return
	end
	if KSR.tm.t_check_trans() == 0 then return end
	if KSR.is_OPTIONS() then
		KSR.pv.sets("$avp(note)", "opt")
		KSR.acc.acc_request("404 Not Here", "acc")
		KSR.acc.acc_log_request("just a comment")
		KSR.sl.sl_send_reply(404, "Not Here")
		return
	end
	if KSR.is_INVITE() then
		KSR.setflag(1)
		KSR.setflag(2)
		if KSR.pv.get("$rU") == "failed" then KSR.setflag(3) end
	elseif KSR.is_BYE() then
		KSR.setflag(1)
		KSR.setflag(3)
	end
	KSR.pv.sets("$avp(note)", "n-" .. KSR.pv.get("$rU"))
	KSR.pv.sets("$du", "sip:127.0.0.1:CALLEE")
	if KSR.tm.t_relay() < 0 then KSR.sl.sl_reply_error() end
end
`

func request(method, user string, caller *peer, sport int, callid, toTag string, cseq int) string {
	to := "<sip:" + user + "@example.com>"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	return fmt.Sprintf("%s sip:%s@127.0.0.1:%d SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%s-%d;rport\nFrom: <sip:alice@example.com>;tag=a-%s\nTo: %s\nCall-ID: %s\nCSeq: %d %s\nMax-Forwards: 70\nUser-Agent: acc-test\nContent-Length: 0\n\n",
		method, user, sport, caller.Port(), callid, cseq, callid, to, callid, cseq, method)
}

func TestAccountingAnsweredMissedFailedAndCDR(t *testing.T) {
	url, sp := backendtest.Schema(t)
	t.Cleanup(backend.CloseAll)
	ctx := context.Background()
	for _, s := range []string{accSQL("acc"), accSQL("missed_calls"), cdrsSQL,
		"ALTER TABLE acc ADD COLUMN src_ip VARCHAR(64), ADD COLUMN note VARCHAR(64), ADD COLUMN ua VARCHAR(64)",
		"ALTER TABLE missed_calls ADD COLUMN src_ip VARCHAR(64), ADD COLUMN note VARCHAR(64), ADD COLUMN ua VARCHAR(64)",
		"ALTER TABLE acc_cdrs ADD COLUMN callid VARCHAR(255)"} {
		if _, err := sp.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	caller, callee := newPeer(t), newPeer(t)
	h := kemitest.New(t, strings.ReplaceAll(accScript, "CALLEE", strconv.Itoa(callee.Port())), kemitest.Options{
		Modules: map[string]map[string]any{"sl": nil, "tm": {"fr_timer": 1000, "fr_inv_timer": 2000}, "acc": {
			"log_flag": 1, "log_missed_flag": 2, "db_flag": 1, "db_missed_flag": 2, "failed_transaction_flag": 3,
			"log_extra": "src_ip=$si;note=$avp(note)", "db_extra": "src_ip=$si;note=$avp(note);ua=$hdr(User-Agent)",
			"db_url": url, "db_spool_dir": t.TempDir(), "cdr_enable": 1, "cdrs_table": "acc_cdrs", "cdr_extra": "callid=$ci",
			"failed_filter": "404"}},
	})
	// Answered call, then BYE.
	caller.Send(h.Addr, request("INVITE", "bob", caller, h.ServerPort(), "ans-1", "", 1))
	inv := callee.Expect("INVITE ", 2*time.Second)
	callee.Send(h.Addr, replyTo(inv, 200, "OK", "b-ans"))
	caller.Expect("SIP/2.0 200", 2*time.Second)
	time.Sleep(1100 * time.Millisecond) // a measurable duration
	caller.Send(h.Addr, request("BYE", "bob", caller, h.ServerPort(), "ans-1", "b-ans", 2))
	bye := callee.Expect("BYE ", 2*time.Second)
	callee.Send(h.Addr, replyTo(bye, 200, "OK", "b-ans"))
	caller.Expect("SIP/2.0 200", 2*time.Second)
	// Missed call (busy), without the failed flag: missed_calls only.
	caller.Send(h.Addr, request("INVITE", "bob", caller, h.ServerPort(), "busy-1", "", 1))
	inv = callee.Expect("INVITE ", 2*time.Second)
	callee.Send(h.Addr, replyTo(inv, 486, "Busy Here", "b-busy"))
	caller.Expect("SIP/2.0 486", 2*time.Second)
	// Failed transaction with the failed flag: acc and missed_calls.
	caller.Send(h.Addr, request("INVITE", "failed", caller, h.ServerPort(), "fail-1", "", 1))
	inv = callee.Expect("INVITE ", 2*time.Second)
	callee.Send(h.Addr, replyTo(inv, 503, "Unavailable", "b-fail"))
	caller.Expect("SIP/2.0 500", 2*time.Second)
	// Failed, but the code is in failed_filter: missed only.
	caller.Send(h.Addr, request("INVITE", "failed", caller, h.ServerPort(), "filt-1", "", 1))
	inv = callee.Expect("INVITE ", 2*time.Second)
	callee.Send(h.Addr, replyTo(inv, 404, "Not Found", "b-filt"))
	caller.Expect("SIP/2.0 404", 2*time.Second)
	// acc_request from the script.
	caller.Send(h.Addr, request("OPTIONS", "x", caller, h.ServerPort(), "opt-1", "", 1))
	caller.Expect("SIP/2.0 404", 2*time.Second)

	waitRows(t, sp, "acc", 4, 5*time.Second)
	waitRows(t, sp, "missed_calls", 3, 5*time.Second)
	waitRows(t, sp, "acc_cdrs", 4, 5*time.Second)

	rows, err := sp.Query(ctx, "SELECT method, from_tag, to_tag, callid, sip_code, sip_reason, src_ip, note, coalesce(ua,'') FROM acc ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var f [9]string
		if err := rows.Scan(&f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8]); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.Join(f[:], "|"))
	}
	rows.Close()
	want := []string{
		"INVITE|a-ans-1|b-ans|ans-1|200|OK|127.0.0.1|n-bob|acc-test",
		"BYE|a-ans-1|b-ans|ans-1|200|OK|127.0.0.1|n-bob|acc-test",
		"INVITE|a-fail-1|b-fail|fail-1|503|Unavailable|127.0.0.1|n-failed|acc-test",
		"OPTIONS|a-opt-1||opt-1|404|Not Here|127.0.0.1|opt|acc-test",
	}
	// Records of different transactions reach the database in the order
	// their transactions completed, which workers do not fix.
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("acc rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var missed []string
	rows, _ = sp.Query(ctx, "SELECT callid || '|' || sip_code FROM missed_calls ORDER BY id")
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		missed = append(missed, s)
	}
	rows.Close()
	if strings.Join(missed, ",") != "busy-1|486,fail-1|503,filt-1|404" {
		t.Errorf("missed_calls: %v", missed)
	}
	var dur float64
	var start, end time.Time
	if err := sp.QueryRow(ctx, "SELECT duration, start_time, end_time FROM acc_cdrs WHERE callid='ans-1'").Scan(&dur, &start, &end); err != nil {
		t.Fatal(err)
	}
	if dur < 1 || dur > 3 || !end.After(start) {
		t.Errorf("CDR of the answered call: duration %v start %v end %v", dur, start, end)
	}
	var failedDur float64
	if err := sp.QueryRow(ctx, "SELECT duration FROM acc_cdrs WHERE callid='busy-1'").Scan(&failedDur); err != nil || failedDur != 0 {
		t.Errorf("CDR of the busy call: %v %v", failedDur, err)
	}
	for _, s := range []string{"ACC: transaction answered", "ACC: call missed", "ACC: transaction failed", "ACC: request accounted", "ACC: call data record"} {
		if !h.LogContains(s) {
			t.Errorf("no log line %q", s)
		}
	}
	found := false
	for _, e := range h.Logs.FilterMessage("ACC: transaction answered").All() {
		m := e.ContextMap()
		if m["call_id"] == "ans-1" && m["method"] == "INVITE" && m["code"] == "200" && m["src_ip"] == "127.0.0.1" && m["note"] == "n-bob" {
			found = true
		}
	}
	if !found {
		t.Error("log line of the answered INVITE lacks its fields")
	}
}

func TestStartRefusesBadConfig(t *testing.T) {
	for name, mod := range map[string]map[string]any{
		"var in extras":   {"log_extra": "x=$var(x)"},
		"not name=pv":     {"log_extra": "x"},
		"unknown pv":      {"db_extra": "x=$nosuchpv"},
		"bad flag":        {"log_flag": 40},
		"bad filter":      {"failed_filter": "200"},
		"db without url":  {"db_flag": 1},
		"too many extras": {"log_extra": "a=$si;b=$si", "acc_extra_size": 1},
		"bad column":      {"acc_callid_column": "call id"},
		"bad time_mode":   {"time_mode": 9},
		"duplicate extra": {"log_extra": "a=$si;a=$rU"},
		"value not pv":    {"log_extra": "a=text"},
		"cdr name":        {"cdr_enable": 1, "cdr_start_id": "bad name"},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() { _ = recover() }()
			ft := &fatalT{TB: t}
			func() {
				defer func() { _ = recover() }()
				kemitest.New(ft, "function ksr_request_route() end", kemitest.Options{
					Modules: map[string]map[string]any{"sl": nil, "tm": nil, "acc": mod}})
			}()
			if !ft.failed {
				t.Errorf("%s: started", name)
			}
		})
	}
}

// fatalT records a Fatal instead of ending the test.
type fatalT struct {
	testing.TB
	failed bool
}

func (f *fatalT) Fatal(args ...any) {
	f.failed = true
	panic("fatal")
}

func (f *fatalT) Fatalf(format string, args ...any) {
	f.failed = true
	panic("fatal")
}

func TestSplitCommentAndStrftime(t *testing.T) {
	for in, want := range map[string][2]string{"404 Not Found": {"404", "Not Found"}, "200": {"200", ""}, "hello": {"0", "hello"},
		"999 x": {"0", "999 x"}, "4040 x": {"0", "4040 x"}} {
		if c, r := splitComment(in); c != want[0] || r != want[1] {
			t.Errorf("%q: %q %q", in, c, r)
		}
	}
	tm := time.Date(2024, 3, 5, 7, 8, 9, 0, time.UTC)
	if got := strftime("%Y-%m-%d %H:%M:%S %j %% %q", tm); got != "2024-03-05 07:08:09 065 % %q" {
		t.Errorf("strftime: %q", got)
	}
}

// FuzzExtras: the xxx_extra parser never panics and accepts only names
// that can be columns.
func FuzzExtras(f *testing.F) {
	for _, s := range []string{"src_user=$fU;src_domain=$fd;src_ip=$si", " a = $hdr(X) ; ", "=;==;$", "a=$avp(x);a=$si"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		xs, err := parseExtras("log_extra", s, nil, 64)
		if err != nil {
			return
		}
		for _, x := range xs {
			if !validName(x.Name) || !strings.HasPrefix(x.PV, "$") {
				t.Fatalf("%q gave %+v", s, x)
			}
		}
	})
}
